"""Stored page text is Markdown (trafilatura's); snippets and goal passages are shown as plain
text: no tags, no backslash escapes, links as their words. markdown-it-py parses it (CommonMark
plus tables), so what counts as markup is what a Markdown reader would render."""

from __future__ import annotations

import re
from functools import lru_cache

# what can make Markdown differ from its words: inline marks, escapes, code, links and HTML
# anywhere; an entity; table pipes on a text of several lines; and block markers at a line start
# (headings, quotes, bullets, ordered lists, rules, setext underlines)
_MARKUP = re.compile(r"[\\`*_\[<~\x00\r]|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
                     r"|^[ \t]*(?:[-+=#>]|\d{1,9}[.)])|\|(?=[^\n]*\n)|\n(?=[^\n]*\|)", re.MULTILINE)


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline(children) -> str:
    parts = []
    for token in children or ():
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "image":
            parts.append(token.content)  # its alt text
        elif token.type == "softbreak":
            parts.append(" ")
        elif token.type == "hardbreak":
            parts.append("\n")
        # html_inline, link_open/close, em/strong/s marks: markup, not text
    return "".join(parts)


def plain_text(markdown: str) -> str:
    """The words of `markdown` as a reader sees them, paragraphs apart, table cells with ` | `."""
    from w3lib.html import remove_tags

    blocks: list[str] = []
    row: list[str] | None = None
    for token in _parser().parse(markdown):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            blocks.append(" | ".join(cell for cell in row or () if cell.strip()))
            row = None
        elif token.type == "inline":
            (row if row is not None else blocks).append(_inline(token.children))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "html_block":
            blocks.append(remove_tags(token.content).strip())
    return "\n\n".join(block for block in blocks if block.strip())


def one_line(markdown: str) -> str:
    """`plain_text` with every run of whitespace made one space. Text without any Markdown
    syntax is its own plain text: it skips the parser (most snippets are such text)."""
    if not _MARKUP.search(markdown):
        return " ".join(markdown.split())
    return " ".join(plain_text(markdown).split())

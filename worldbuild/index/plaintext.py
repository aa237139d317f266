"""Stored page text is Markdown (trafilatura's); snippets and goal passages are shown as plain
text: no tags, no backslash escapes, links as their words. pyromark (pulldown-cmark, in Rust)
parses it (CommonMark plus tables), so what counts as markup is what a Markdown reader would
render; it is 10x cheaper than a parser in Python, and snippets render a fragment per hit."""

from __future__ import annotations

import re
from functools import lru_cache

# what can make Markdown differ from its words: inline marks, escapes, code, links and HTML
# anywhere; an entity; table pipes on a text of several lines; and block markers at a line start
# (headings, quotes, bullets, ordered lists, rules, setext underlines)
_MARKUP = re.compile(r"[\\`*_\[<~\x00\r]|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
                     r"|^[ \t]*(?:[-+=#>]|\d{1,9}[.)])|\|(?=[^\n]*\n)|\n(?=[^\n]*\|)", re.MULTILINE)


_INLINE = frozenset({"Emphasis", "Strong", "Strikethrough", "Link", "Image", "TableCell", "Superscript", "Subscript"})


@lru_cache(maxsize=1)
def _options():
    import pyromark

    return pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH


def plain_text(markdown: str) -> str:
    """The words of `markdown` as a reader sees them, paragraphs apart, table cells with ` | `:
    the text of pulldown-cmark's events (links and images as their words, no inline HTML),
    a block of HTML without its tags."""
    import pyromark
    from w3lib.html import remove_tags

    blocks: list[str] = []
    parts: list[str] = []
    row: list[str] = []
    html = False

    def end_block() -> None:
        text = "".join(parts)
        parts.clear()
        if html:
            text = remove_tags(text).strip()
        if text.strip():
            blocks.append(text.rstrip("\n"))

    for event in pyromark.events(markdown, options=_options()):
        if type(event) is str:  # SoftBreak, HardBreak, Rule
            if event == "SoftBreak":
                parts.append(" ")
            elif event == "HardBreak":
                parts.append("\n")
            continue
        (kind, value), = event.items()
        if kind in ("Text", "Code", "Html"):
            parts.append(value)
        elif kind in ("Start", "End"):
            name = value if type(value) is str else next(iter(value))
            if name == "TableCell":
                if kind == "End":
                    row.append("".join(parts))
                    parts.clear()
            elif name in ("TableHead", "TableRow"):
                if kind == "Start":
                    end_block()
                    row = []
                else:
                    blocks.append(" | ".join(cell for cell in row if cell.strip()))
            elif name not in _INLINE:  # a block starts or ends
                end_block()
                html = kind == "Start" and name == "HtmlBlock"
    end_block()
    return "\n\n".join(block for block in blocks if block.strip())


def one_line(markdown: str) -> str:
    """`plain_text` with every run of whitespace made one space. Text without any Markdown
    syntax is its own plain text: it skips the parser (most snippets are such text)."""
    if not _MARKUP.search(markdown):
        return " ".join(markdown.split())
    return " ".join(plain_text(markdown).split())

"""Stored page text is Markdown (trafilatura's); snippets and goal passages are shown as plain
text: no tags, no backslash escapes, links as their words. pyromark (pulldown-cmark, in Rust)
parses it (CommonMark plus tables), so what counts as markup is what a Markdown reader would
render; it is 10x cheaper than a parser in Python, and snippets render a fragment per hit."""

from __future__ import annotations

import re
from html import unescape
from functools import lru_cache

from worldbuild.whitespace import squeeze

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


# pulldown-cmark's HTML, read back as words: tags go (a table's cells are kept apart by ` | `,
# empty ones dropped; an image stands for its alt text), entities are decoded
_EMPTY_CELL = re.compile(r"<t([hd])(?:\s[^>]*)?>\s*</t\1>")
_CELL_END = re.compile(r"</t[hd]>\s*(?=<t[hd][\s>])")
_IMAGE = re.compile(r'<img\b[^>]*?\balt="([^"]*)"[^>]*>')
_TAG = re.compile(r"<!--[\s\S]*?-->|</?[A-Za-z][^<>]*>|<[!?][^<>]*>")


# what can make Markdown of plain words: a character of inline markup, an entity or a tag, NUL
# (read as U+FFFD), or a block's marker at the start of a line (a list, a heading, a quote, a rule)
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>&|~\x00]")
_BLOCK_MARKER = re.compile(r"[ \t]*(?:[-+*#>=]|\d+[.)])")
_LINE_BLOCK_MARKER = re.compile(r"[\r\n][ \t]*(?:[-+*#>=]|\d+[.)])")  # (CommonMark ends lines at either)


def has_markup(markdown: str) -> bool:
    """Whether `markdown` holds anything a Markdown reader would not show as it stands (three C
    scans, each cheaper than one pattern with `^` in multiline mode)."""
    return bool(_INLINE_MARKUP.search(markdown) or _BLOCK_MARKER.match(markdown)
                or (("\n" in markdown or "\r" in markdown) and _LINE_BLOCK_MARKER.search(markdown)))


def one_line(markdown: str) -> str:
    """`plain_text` with every run of whitespace made one space, for snippets (one per hit).
    A fragment without markup (about 4 in 10 of real snippets' fragments) is its own words;
    any other is read from pulldown-cmark's HTML rendering (`rendered_line`)."""
    if not has_markup(markdown):
        return squeeze(markdown)
    return rendered_line(markdown)


def rendered_line(markdown: str) -> str:
    """`one_line` read from pulldown-cmark's HTML rendering, whose tags a C regex removes,
    instead of from its events in a Python loop (the same words on each of 33,143 real snippet
    fragments, in 0.71-0.85x the CPU: bench/snippet_text.py)."""
    import pyromark

    rendered = pyromark.html(markdown, options=_options())
    if "<t" in rendered:
        rendered = _CELL_END.sub(" | ", _EMPTY_CELL.sub("", rendered))
    if "<img" in rendered:
        rendered = _IMAGE.sub(r" \1 ", rendered)
    text = _TAG.sub("", rendered)
    return squeeze(unescape(text) if "&" in text else text)

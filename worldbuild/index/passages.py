"""Pages cut into passages for embedding: a page vector made from its opening alone misses a
sentence from deep in the page, and a small encoder reads only ~256 tokens at a time.

A passage is the page's title and a window of about `PASSAGE_CHARS` characters of its text, cut
at a sentence end or a space where one is near (CJK text has no spaces: it is cut at a sentence
end or wherever the window ends). Windows overlap by `OVERLAP_CHARS`, so a sentence cut by one
window is whole in the next. A page gives at most `MAX_PASSAGES` passages."""

from __future__ import annotations

PASSAGE_CHARS = 600
OVERLAP_CHARS = 100
MAX_PASSAGES = 32


def passages(title: str, text: str, chars: int = PASSAGE_CHARS, overlap: int = OVERLAP_CHARS,
             limit: int = MAX_PASSAGES) -> list[str]:
    """The page as `title + window` passages (at least one, even for an empty page)."""
    text = text.strip()
    windows: list[str] = []
    start = 0
    while start < len(text) and len(windows) < limit:
        end = min(len(text), start + chars)
        if end < len(text):
            end = _cut(text, start, end)
        windows.append(text[start:end].strip())
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
        start = _word_start(text, start, end)
    return [f"{title}\n{window}" for window in windows if window] or [title]


def _cut(text: str, start: int, end: int) -> int:
    """After the last sentence end (else space) in the window's second half; the window's end if none."""
    half = start + (end - start) // 2
    window = text[half:end]
    for marks in (".!?。！？\n", " \t"):
        at = max(window.rfind(mark) for mark in marks)
        if at >= 0:
            return half + at + 1
    return end


def _word_start(text: str, start: int, end: int) -> int:
    """Move a window's start forward to the next word's beginning (never past `end`)."""
    space = text.find(" ", start, end)
    return space + 1 if 0 <= space < start + 40 else start

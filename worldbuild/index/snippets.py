"""Query-biased snippets: the window of a page where the query's rarest terms cluster.

The rarest query term present on the page (highest idf) anchors candidate windows; each
candidate scores the idf of the distinct query terms it holds (the word, or its stem as a
prefix: "cities" for city), found by substring search in C. Only the anchor's first
occurrences are walked in Python, so a 200 KB page full of a common query word costs little
more than a short one. Ties go to the earliest window: deterministic.
"""

from __future__ import annotations

from worldbuild.index.bm25 import QueryTerms

_MARKUP = "#*_`|>[]"
MAX_ANCHORS = 64


def _clean(fragment: str) -> str:
    """Markdown marks and runs of whitespace out: a snippet is one line of prose. (`str.replace`
    per mark: ~20x faster than `str.translate` on text with any non-ASCII character.)"""
    for mark in _MARKUP:
        if mark in fragment:
            fragment = fragment.replace(mark, " ")
    return " ".join(fragment.split())


def _keys(terms: QueryTerms) -> list[tuple[str, ...]]:
    """What to look for per term: its stem when the word starts with it (the stem's matches
    cover the word's), else both."""
    return [(stem,) if word.startswith(stem) else (word, stem) for word, stem in zip(terms.words, terms.stems)]


def _find(lowered: str, keys: tuple[str, ...], start: int = 0, end: int | None = None) -> int:
    """First position of any key in lowered[start:end], or -1 (plain substring search, in C)."""
    best = -1
    for key in keys:
        position = lowered.find(key, start, end)
        if position != -1 and (best == -1 or position < best):
            best = position
    return best


def _best_window(lowered: str, terms: QueryTerms, width: int) -> int | None:
    """Start of the best window, or None when no query term occurs in `lowered` (the text, lowercased)."""
    keys = _keys(terms)
    weights = [w if w > 0 else 0.1 for w in terms.weights]
    present = [i for i, k in enumerate(keys) if _find(lowered, k) != -1]
    if not present:
        return None
    anchor = max(present, key=lambda i: (weights[i], -i))
    best_score, best_start, position = -1.0, None, -1
    for _ in range(MAX_ANCHORS):
        position = _find(lowered, keys[anchor], position + 1)
        if position == -1:
            break
        start = max(0, position - width // 3)
        score = sum(weights[i] for i in present if _find(lowered, keys[i], start, start + width) != -1)
        if score > best_score + 1e-9:
            best_score, best_start = score, start
    return best_start


def passages(text: str, size: int = 700) -> list[tuple[int, int]]:
    """Cut `text` into (start, end) passages of about `size` characters at paragraph breaks."""
    spans, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n\n", start + size // 3, end)
            end = cut + 2 if cut != -1 else (text.rfind(" ", start + size // 3, end) + 1 or end)
        spans.append((start, end))
        start = end
    return spans


def rank_passages(text: str, terms: QueryTerms, size: int = 700) -> list[tuple[float, int, int]]:
    """(score, start, end) of the passages that hold query terms, best first, ties by position.
    A passage scores the idf of each distinct term it holds, plus a little per repeat."""
    lowered = text.lower()
    keys = _keys(terms)
    weights = [w if w > 0 else 0.1 for w in terms.weights]
    present = [i for i, k in enumerate(keys) if _find(lowered, k) != -1]
    scored = []
    for start, end in passages(text, size) if present else ():
        score = 0.0
        for i in present:
            count = max(lowered.count(key, start, end) for key in keys[i])
            if count:
                score += weights[i] * (1 + 0.05 * (min(count, 20) - 1))
        if score:
            scored.append((round(score, 6), start, end))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def snippet(text: str, terms: QueryTerms, width: int = 240, lowered: str | None = None) -> str:
    """The best-matching passage of `text` (about `width` characters) for the query; `lowered`
    is `text.lower()` when the caller already has it (a page hit by several queries)."""
    start = _best_window(text.lower() if lowered is None else lowered, terms, width) if terms.words else None
    if start is None:
        body = _clean(text[: width * 2])
        return body[:width].rsplit(" ", 1)[0] + (" …" if len(body) > width else "")
    begin = start
    if begin > 0:  # start on a word boundary, preferably a sentence start
        sentence = max(text.rfind(". ", begin - 60, start), text.rfind("\n", begin - 60, start))
        begin = sentence + 1 if sentence >= 0 else text.find(" ", begin) + 1
    fragment = _clean(text[begin : begin + width + 80])
    if len(fragment) > width:
        fragment = fragment[:width].rsplit(" ", 1)[0] + " …"
    return ("… " if begin > 0 else "") + fragment

"""Query-biased snippets and goal passages: where on a page the query's rarest terms cluster.

The page is analysed as the index analysed it (`worldbuild.index.analysis`, by the page's
language), so a query word matches whole words with the same stem, never a piece of another
word (`ai` is not in `said`). The rarest query word present (highest idf) anchors candidate
windows; each window scores the idf of the distinct query words it holds. Ties go to the
earliest window: deterministic. What is shown is plain text (`worldbuild.index.plaintext`).
"""

from __future__ import annotations

from bisect import bisect_left
from heapq import merge
from itertools import islice
from typing import Iterator

from worldbuild.index.analysis import analyzer_name, find_terms, scan_key, scan_quick
from worldbuild.index.bm25 import QueryTerms
from worldbuild.index.plaintext import one_line, plain_text

MAX_ANCHORS = 64
FAR = 8  # a page longer than this many windows has its anchor's first window checked before its other places
CONTEXT = 300  # characters of Markdown read around a snippet, so that its links and tags are whole


def matches(text: str, terms: QueryTerms, lang: str) -> list[list[int]]:
    """Per query group: the start of every page word that is one of its terms, in order."""
    group_of = terms.group_of
    found: list[list[int]] = [[] for _ in terms.groups]
    if not group_of:
        return found
    for start, term in find_terms(text, terms.wanted, analyzer_name(lang)):
        for number in group_of[term]:
            found[number].append(start)
    return found


def _weights(terms: QueryTerms) -> list[float]:
    return [w if w > 0 else 0.1 for w in terms.weights]


def _held(positions: list[int], start: int, end: int) -> int:
    """How many of the sorted `positions` fall in [start, end)."""
    return bisect_left(positions, end) - bisect_left(positions, start)


def _best_window(text: str, terms: QueryTerms, width: int, lang: str, low: str | None = None) -> int | None:
    """Start of the best window, or None when no query word occurs in `text`.

    The rarest query word present (highest idf; ties to the earliest word) anchors the windows:
    it is looked for first, word by word in order of idf, and only its first MAX_ANCHORS places
    count. The other words are then looked for only where those windows lie, not on the whole
    page (most of a long page's words are elsewhere); not at all when it stands once (one
    window: 4 hits in 10 on real pages, 8 in 10 on short passages); and the anchor's later places
    are not looked for when its first window holds every query word (no later window can score
    more, and ties go to the earliest): the same window as a scan of the whole page, for a
    fraction of the work. Words are found by their stable starts (`scan_key`); when none is
    found, or CJK terms are wanted, every word of the page is scanned. `low` is `text.lower()`
    where the caller has it."""
    weights = _weights(terms)
    wanted, group_of = terms.wanted, terms.group_of
    low = text.lower() if low is None else low
    keys = terms.group_keys
    if None in keys or len(low) != len(text):  # a CJK term is wanted, or lowercasing moved characters
        return _window(matches(text, terms, lang), weights, width)
    analyzer = analyzer_name(lang)
    order = sorted(range(len(terms.groups)), key=lambda i: (-weights[i], i))
    far = len(text) > FAR * width
    for rank, anchor in enumerate(order):
        if far:  # its first place only, for now
            later = _places(text, low, keys[anchor], wanted, analyzer, anchor, group_of)
            places = list(islice(later, 1))
        else:
            hits = scan_quick(text, low, keys[anchor], wanted, analyzer, limit=MAX_ANCHORS)
            places = sorted({start for start, term in hits if anchor in group_of[term]})[:MAX_ANCHORS]
        if places:
            break
    else:  # no word found by its start: every word of the page is scanned
        return _window(matches(text, terms, lang), weights, width)
    start = max(0, places[0] - width // 3)
    if not far and len(places) == 1:  # one window only: where the other words are cannot change it
        return start
    rest = {key for i in order[rank + 1:] for key in keys[i]}
    if far:  # a long page: its first window may hold every query word, with no need to look further
        held = {anchor}.union(*(group_of[term] for _, term in scan_quick(text, low, rest, wanted, analyzer, start,
                                                                        start + width)))
        if len(held) == len(terms.groups):  # the most a window can hold, in the earliest window
            return start
        places += islice(later, MAX_ANCHORS - 1)
        if len(places) == 1:
            return start
    found: list[list[int]] = [[] for _ in terms.groups]
    found[anchor] = places
    for begin, end in _spans(places, width):
        for place, term in scan_quick(text, low, rest, wanted, analyzer, begin, end):
            for number in group_of[term]:
                if number != anchor:
                    found[number].append(place)
    return _window([sorted(positions) for positions in found], weights, width, anchor)


def _places(text: str, low: str, keys: tuple[str, ...], wanted: set[str], analyzer: str, anchor: int,
            group_of: dict[str, list[int]]) -> Iterator[int]:
    """The anchor group's places in text order, as the caller asks for them: its keys' words
    (each key's first MAX_ANCHORS words of a wanted term) that are a term of the group."""
    streams = [scan_key(text, low, key, wanted, analyzer, limit=MAX_ANCHORS) for key in keys]
    last = -1
    for place, term in streams[0] if len(streams) == 1 else merge(*streams):
        if place != last and anchor in group_of[term]:
            last = place
            yield place


def _spans(places: list[int], width: int) -> list[tuple[int, int]]:
    """The windows of the sorted anchor `places`, overlapping ones merged: only there can another
    word change a window's score (on a long page, most of it lies between them)."""
    spans: list[tuple[int, int]] = []
    for place in places:
        start = max(0, place - width // 3)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], start + width)
        else:
            spans.append((start, start + width))
    return spans


def _window(found: list[list[int]], weights: list[float], width: int, anchor: int | None = None) -> int | None:
    """The best window's start: each of the anchor's first MAX_ANCHORS places starts one (a
    third of the width before it), scored by the weights of the words it holds."""
    present = [i for i, positions in enumerate(found) if positions]
    if not present:
        return None
    if anchor is None:
        anchor = max(present, key=lambda i: (weights[i], -i))
    best_score, best_start = -1.0, None
    for position in found[anchor][:MAX_ANCHORS]:
        start = max(0, position - width // 3)
        score = sum(weights[i] for i in present if _held(found[i], start, start + width))
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


def rank_passages(text: str, terms: QueryTerms, size: int = 700, lang: str = "") -> list[tuple[float, int, int]]:
    """(score, start, end) of the passages that hold query words, best first, ties by position.
    A passage scores the idf of each distinct query word it holds, plus a little per repeat."""
    found = matches(text, terms, lang)
    weights = _weights(terms)
    present = [i for i, positions in enumerate(found) if positions]
    scored = []
    for start, end in passages(text, size) if present else ():
        score = 0.0
        for i in present:
            count = _held(found[i], start, end)
            if count:
                score += weights[i] * (1 + 0.05 * (min(count, 20) - 1))
        if score:
            scored.append((round(score, 6), start, end))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def passage_text(text: str, start: int, end: int) -> str:
    """A passage as plain text (its paragraphs kept apart)."""
    return plain_text(text[start:end])


def _around(text: str, begin: int, end: int) -> int:
    """Where to start reading Markdown so that the line holding `begin` is whole (at most
    CONTEXT characters back, then at a space)."""
    line = text.rfind("\n", max(0, begin - CONTEXT), begin) + 1
    if line == 0 and begin > CONTEXT:
        line = text.find(" ", begin - CONTEXT, begin) + 1
    return line


def _cut(fragment: str, width: int) -> str:
    if len(fragment) <= width:
        return fragment
    cut = fragment[:width]
    return (cut.rsplit(" ", 1)[0] if " " in cut[width // 2:] else cut) + " …"


def snippet(text: str, terms: QueryTerms, width: int = 240, lang: str = "", low: str | None = None) -> str:
    """The best-matching passage of `text` (about `width` characters of plain text). `low`:
    `text.lower()`, when the caller keeps it for a page that answers several queries."""
    if width <= 0:
        return ""
    start = _best_window(text, terms, width, lang, low) if terms.groups else None
    if start is None:
        return _cut(one_line(text[: width * 3]), width)
    begin = start
    if begin > 0:  # start on a word boundary, preferably a sentence start
        sentence = max(text.rfind(mark, max(0, begin - 60), start) for mark in (". ", "\n", "。", "！", "？"))
        begin = sentence + 1 if sentence >= 0 else text.find(" ", begin, begin + 40) + 1 or begin
    read_from = _around(text, begin, begin + width)
    end, limit = begin + width + 80, begin + width + 80 + CONTEXT
    stop = text.find("\n", end, limit)
    if stop == -1:  # no line end near: stop at a space (CJK text may have none)
        stop = text.rfind(" ", end, limit) if limit < len(text) else len(text)
        stop = limit if stop == -1 else stop
    whole = one_line(text[read_from:stop])
    skip = len(one_line(text[read_from:begin])) if begin > read_from else 0  # before the window, as plain text
    if skip:
        space = whole.find(" ", max(0, skip - 1))
        skip = space + 1 if space != -1 and space - skip < 20 else skip
    fragment = _cut(whole[skip:], width)
    return ("… " if begin > 0 else "") + fragment

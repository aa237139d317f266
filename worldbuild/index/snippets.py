"""Query-biased snippets: the window of a page where the query's rarest terms cluster.

One compiled regex finds every occurrence of every query word (or its stem's prefix) in C;
a two-pointer sweep scores each window by the idf of the distinct terms it holds. Ties go
to the earliest window, so a snippet is deterministic.
"""

from __future__ import annotations

import bisect
import re

from worldbuild.index.bm25 import QueryTerms

_MARKUP = re.compile(r"[#*_`|>]+|\[|\]\([^)]*\)|\s+")
MAX_MATCHES = 4000


def _term_pattern(terms: QueryTerms) -> re.Pattern | None:
    groups = []
    for word, stem in zip(terms.words, terms.stems):
        alternatives = sorted({re.escape(word), re.escape(stem) + r"\w*"}, key=len, reverse=True)
        groups.append("(" + "|".join(alternatives) + ")")
    if not groups:
        return None
    return re.compile(r"\b(?:" + "|".join(groups) + r")", re.IGNORECASE)


def _clean(fragment: str) -> str:
    return _MARKUP.sub(" ", fragment).strip()


def _best_window(text: str, terms: QueryTerms, pattern: re.Pattern, width: int) -> int | None:
    hits = []
    for match in pattern.finditer(text):
        hits.append((match.start(), match.lastindex - 1))
        if len(hits) >= MAX_MATCHES:
            break
    if not hits:
        return None
    weights = [w if w > 0 else 0.1 for w in terms.weights]
    counts = [0] * len(weights)
    best_score, best_start, score, right = -1.0, hits[0][0], 0.0, 0
    for left, (start, _) in enumerate(hits):
        while right < len(hits) and hits[right][0] < start + width:
            term = hits[right][1]
            score += weights[term] if counts[term] == 0 else weights[term] * 0.05
            counts[term] += 1
            right += 1
        if score > best_score + 1e-9:
            best_score, best_start = score, start
        term = hits[left][1]
        counts[term] -= 1
        score -= weights[term] if counts[term] == 0 else weights[term] * 0.05
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
    pattern = _term_pattern(terms)
    if pattern is None:
        return []
    spans = passages(text, size)
    starts = [s for s, _ in spans]
    seen: list[dict[int, int]] = [{} for _ in spans]

    for count, match in enumerate(pattern.finditer(text)):
        if count >= MAX_MATCHES:
            break
        index = bisect.bisect_right(starts, match.start()) - 1
        term = match.lastindex - 1
        seen[index][term] = seen[index].get(term, 0) + 1
    weights = [w if w > 0 else 0.1 for w in terms.weights]
    scored = []
    for (start, end), counts in zip(spans, seen):
        if counts:
            score = sum(weights[t] * (1 + 0.05 * (n - 1)) for t, n in counts.items())
            scored.append((round(score, 6), start, end))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def snippet(text: str, terms: QueryTerms, width: int = 240) -> str:
    """The best-matching passage of `text` (about `width` characters) for the query."""
    pattern = _term_pattern(terms)
    start = _best_window(text, terms, pattern, width) if pattern else None
    if start is None:
        body = _clean(text[: width * 2])
        return body[:width].rsplit(" ", 1)[0] + (" …" if len(body) > width else "")
    begin = max(0, start - width // 6)
    if begin > 0:  # start on a word boundary, preferably a sentence start
        sentence = max(text.rfind(". ", begin - 60, start), text.rfind("\n", begin - 60, start))
        begin = sentence + 1 if sentence >= 0 else text.find(" ", begin) + 1
    fragment = _clean(text[begin : begin + width + 80])
    if len(fragment) > width:
        fragment = fragment[:width].rsplit(" ", 1)[0] + " …"
    return ("… " if begin > 0 else "") + fragment

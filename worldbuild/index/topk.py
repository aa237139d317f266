"""The compiled BM25 kernel of servers (numba: nogil, so a batch split across threads uses every
core; cached on disk, so it is compiled once per machine).

bm25s sums a query's columns as they are; a world of several languages weighs each variant of a
word by its word's idf (`bm25.group_weights`), which bm25s cannot express. `weighted_top_k` is that
weighted sum for a whole batch; it reads only the postings that can change the top k.
Imported only where a server searches: importing numba costs a fraction of a second."""

from __future__ import annotations

import numpy as np
from numba import njit


MARGIN = 1e-6  # pruning keeps anything within this fraction of the bar (float rounding)
LOOKUP_COST = 8  # postings read through in the time one page is looked up in a posting (see weighted_top_k)


@njit(nogil=True, cache=True)
def prune(scores, seen, touched, count, left, bar):
    """Keep in touched[:count] (in order) the pages that can still reach `bar` with at most
    `left` more; forget the others. Returns how many are kept."""
    kept = 0
    for c in range(count):
        doc = touched[c]
        if scores[doc] + left >= bar * (1 - MARGIN):
            touched[kept] = doc
            kept += 1
        else:
            scores[doc] = 0
            seen[doc] = False
    return kept


@njit(nogil=True, cache=True)
def add(scores, doc, amount, best, best_docs):
    """Add to a page's score; best (descending) keeps the k best scores of distinct pages as
    they rise, best_docs their pages (-1: none yet), so the k-th best is always at hand."""
    before = scores[doc]
    value = before + amount
    scores[doc] = value
    if value > best[len(best) - 1]:
        rise(best, best_docs, doc, before, value)


@njit(nogil=True, cache=True)
def rise(best, best_docs, doc, before, value):
    """`add`: `doc`'s score rose from `before` to `value`, above the k-th best."""
    k = len(best)
    slot = k - 1
    if before > 0 and before >= best[k - 1]:  # it may hold a place: the places after it move up
        for c in range(k):
            if best_docs[c] == doc:
                slot = c
                break
    while slot > 0 and best[slot - 1] < value:
        best[slot] = best[slot - 1]
        best_docs[slot] = best_docs[slot - 1]
        slot -= 1
    best[slot] = value
    best_docs[slot] = doc


@njit(nogil=True, cache=True)
def add_term(token, weight, data, indptr, indices, scores, seen, touched, count, best, best_docs):
    """Score every page of one term's posting (weighted, `add`); returns how many pages are touched."""
    for j in range(indptr[token], indptr[token + 1]):
        doc = indices[j]
        if not seen[doc]:
            seen[doc] = True
            touched[count] = doc
            count += 1
        add(scores, doc, data[j] * weight, best, best_docs)
    return count


def workspace(num_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What `weighted_top_k` scores in (per page: a sum, a seen flag, a list slot). It is left
    clean after every call, so a thread keeps one for all its calls: a fresh one per call of a
    few queries cost more than scoring them (it is a page-sized allocation, faulted in anew)."""
    return np.zeros(num_docs, dtype=np.float64), np.zeros(num_docs, dtype=np.bool_), np.empty(num_docs, dtype=np.int64)


@njit(nogil=True, cache=True)
def weighted_top_k(token_ids, weights, pointers, k, data, indptr, indices, upper, scores, seen, touched, lookup_cost):
    """Per query (token_ids[pointers[q]:pointers[q + 1]] with their weights): the k best
    (position, score) with a positive score, best first, ties by position; -1 / 0 pad.
    `scores`, `seen` and `touched` are a `workspace`, clean on entry and left clean.

    Exact top-k with score bounds (MaxScore-style): a term can add at most its posting's
    largest score (`upper`, filled on first use) times its weight. Terms are added in the order
    of that bound, every page of their postings scored, until the bounds of the terms left sum
    below the k-th best score so far (kept as scores rise: `add`): no page outside the postings
    read can reach the top k then. The terms left add only to the pages that still can: each
    such page is looked up in a term's posting (gallop, then binary search; a posting's pages
    are sorted) while they are few against it (`lookup_cost` postings read per page looked up),
    else the posting is read through and only those pages are scored (`seen` marks them). Sums
    are kept in float64, so the order of adding does not show in the float32 scores returned."""
    queries = len(pointers) - 1
    top_positions = np.full((queries, k), -1, dtype=np.int64)
    top_scores = np.zeros((queries, k), dtype=np.float32)
    best = np.zeros(k, dtype=np.float64)
    best_docs = np.full(k, -1, dtype=np.int64)
    for q in range(queries):
        best[:] = 0
        best_docs[:] = -1
        first, terms = pointers[q], pointers[q + 1] - pointers[q]
        bound = np.empty(terms, dtype=np.float64)
        for i in range(terms):
            token = token_ids[first + i]
            if upper[token] < 0:
                top = np.float32(0)
                for j in range(indptr[token], indptr[token + 1]):
                    top = max(top, data[j])
                upper[token] = top
            bound[i] = np.float64(upper[token]) * weights[first + i]
        order = np.argsort(-bound, kind="mergesort")
        left = bound.sum()
        count, added = 0, terms
        for r in range(terms):
            if count >= k and left < best[k - 1] * (1 - MARGIN):  # the bar the rest must reach: the k-th best
                added = r
                break
            i = order[r]
            count = add_term(token_ids[first + i], np.float64(weights[first + i]), data, indptr, indices,
                             scores, seen, touched, count, best, best_docs)
            left -= bound[i]
        kept = count if added == terms else prune(scores, seen, touched, count, left, best[k - 1])
        ordered = False
        for r in range(added, terms):
            i = order[r]
            token, weight = token_ids[first + i], np.float64(weights[first + i])
            start, stop = indptr[token], indptr[token + 1]
            if kept * lookup_cost < stop - start:  # few pages left in the race: look each one up
                if not ordered:
                    touched[:kept].sort()  # the lookups walk the posting forward once
                    ordered = True
                at = start
                for c in range(kept):
                    doc = touched[c]
                    step = 1  # gallop, then binary search
                    while at + step < stop and indices[at + step] < doc:
                        step *= 2
                    low, high = at + step // 2, min(at + step, stop)
                    while low < high:
                        middle = (low + high) >> 1
                        if indices[middle] < doc:
                            low = middle + 1
                        else:
                            high = middle
                    at = low
                    if at == stop:
                        break
                    if indices[at] == doc:
                        add(scores, doc, data[at] * weight, best, best_docs)
            else:  # many: read the posting through, scoring only the pages still in the race
                for j in range(start, stop):
                    doc = indices[j]
                    if seen[doc]:
                        add(scores, doc, data[j] * weight, best, best_docs)
            left -= bound[i]
            if r + 1 < terms:
                kept = prune(scores, seen, touched, kept, left, best[k - 1])
        held = 0
        for c in range(kept):
            doc = touched[c]
            score = np.float32(scores[doc])
            scores[doc] = 0
            seen[doc] = False
            if score <= 0:
                continue
            if held == k:  # full: beat the last (worst) one, or tie it from an earlier position
                last_score, last_doc = top_scores[q, k - 1], top_positions[q, k - 1]
                if score < last_score or (score == last_score and doc > last_doc):
                    continue
                held -= 1
            slot = held  # insertion into the sorted row
            while slot > 0 and (top_scores[q, slot - 1] < score
                                or (top_scores[q, slot - 1] == score and top_positions[q, slot - 1] > doc)):
                top_scores[q, slot] = top_scores[q, slot - 1]
                top_positions[q, slot] = top_positions[q, slot - 1]
                slot -= 1
            top_scores[q, slot] = score
            top_positions[q, slot] = doc
            held += 1
    return top_positions, top_scores

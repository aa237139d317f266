"""The compiled BM25 kernel of servers.

bm25s sums a query's columns as they are; a world of several languages weighs each variant of a
word by its word's idf (`bm25.group_weights`), which bm25s cannot express. `weighted_top_k` is that
weighted sum for a whole batch, touching only the pages a query's postings hold (not every page of
the index), so a query costs its postings, not the world's size. It is kept in numba's on-disk
cache: compiled once per machine, loaded in well under a second by later processes."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _weighted_top_k(token_ids, weights, pointers, k, data, indptr, indices, num_docs):
    """Per query (token_ids[pointers[q]:pointers[q + 1]] with their weights): the k best
    (position, score) with a positive score, best first, ties by position; -1 / 0 pad."""
    queries = len(pointers) - 1
    top_positions = np.full((queries, k), -1, dtype=np.int64)
    top_scores = np.zeros((queries, k), dtype=np.float32)
    scores = np.zeros(num_docs, dtype=np.float32)
    seen = np.zeros(num_docs, dtype=np.bool_)
    touched = np.empty(num_docs, dtype=np.int64)
    for q in range(queries):
        count = 0
        for t in range(pointers[q], pointers[q + 1]):
            token, weight = token_ids[t], np.float32(weights[t])
            for j in range(indptr[token], indptr[token + 1]):
                doc = indices[j]
                if not seen[doc]:
                    seen[doc] = True
                    touched[count] = doc
                    count += 1
                scores[doc] += data[j] * weight
        held = 0
        for doc in touched[:count]:
            score = scores[doc]
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


@lru_cache(maxsize=1)
def weighted_top_k():
    """The compiled `_weighted_top_k` (nogil: a batch split across threads uses every core;
    cached on disk: compiled once per machine)."""
    from numba import njit

    return njit(nogil=True, cache=True)(_weighted_top_k)

"""Synthetic-but-anchored vectors for ANN benchmarks: encoding millions of pages is out of reach
on a CPU, so real embeddings are extended by perturbed mixtures of them.

Each made vector is normalise(a * v_i + (1 - a) * v_j + sigma * g / sqrt(d)): v_i and v_j are two
real embeddings drawn at random, a ~ U(0.5, 1), g a standard Gaussian, sigma = 0.35. The result
keeps the real vectors' distribution (their anisotropy, their clusters by topic) while no two
made vectors coincide. Queries are separate real embeddings perturbed the same way (new seed)."""

from __future__ import annotations

import numpy as np

SIGMA = 0.35


def perturbed(base: np.ndarray, count: int, seed: int, chunk: int = 200_000) -> np.ndarray:
    """`count` normalised float32 vectors made from the rows of `base` (see the module doc)."""
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    for start in range(0, count, chunk):
        out[start : start + chunk] = _chunk(base, min(chunk, count - start), seed * 1_000_003 + start)
    return out


def _chunk(base: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dims = base.shape[1]
    i, j = rng.integers(0, len(base), count), rng.integers(0, len(base), count)
    a = rng.uniform(0.5, 1.0, (count, 1)).astype(np.float32)
    made = a * base[i] + (1 - a) * base[j] + rng.standard_normal((count, dims), dtype=np.float32) * (SIGMA / dims**0.5)
    made /= np.linalg.norm(made, axis=1, keepdims=True)
    return made


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, masks: list[np.ndarray] | None = None,
              chunk: int = 250_000) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the exact top k by inner product, best first: the reference for recall.
    `masks[q]` are rows hidden from query q. One pass over `vectors`, all queries at once."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk])
        scores = queries @ block.T
        for q, hidden in enumerate(masks or ()):
            inside = hidden[(hidden >= start) & (hidden < start + len(block))] - start
            scores[q, inside] = -np.inf
        rows = np.broadcast_to(np.arange(start, start + len(block)), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argpartition(-best_scores, min(k, best_scores.shape[1]) - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, 1)
        best_rows = np.take_along_axis(best_rows, keep, 1)
    order = np.argsort(-best_scores, axis=1)
    return np.take_along_axis(best_rows, order, 1), np.take_along_axis(best_scores, order, 1)


def recall_at(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))

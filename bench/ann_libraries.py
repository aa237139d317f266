"""Which ANN library: faiss, usearch and hnswlib side by side on the same vectors (HNSW, M=32,
efConstruction=80, inner product), with a per-query mask of hidden rows.

    python bench/ann_libraries.py [--base FILE.npy] [--vectors 200000] [--queries 200]

Reports build time, recall@10 against exact search and per-query latency (p50/p99, one thread)
with a mask of 50 hidden rows that includes the query's own exact top 5 (so the mask bites).
A library whose search takes no filter answers with k + |mask| and drops the hidden rows after."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.ann_vectors import exact_top, perturbed, recall_at  # noqa: E402
from bench.realdata import save_results  # noqa: E402

M, EF_CONSTRUCTION, K = 32, 80, 10


def masks_for(truth: np.ndarray, total: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.unique(np.concatenate([t[:5], rng.integers(0, total, 45)])) for t in truth]


def faiss_runner(vectors, ef):
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(vectors.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(vectors)
    faiss.omp_set_num_threads(1)

    def search(query, hidden):
        params = faiss.SearchParametersHNSW(efSearch=ef, sel=faiss.IDSelectorNot(faiss.IDSelectorBatch(hidden)))
        _, rows = index.search(query[None], K, params=params)
        return rows[0].tolist()
    return search


def hnswlib_runner(vectors, ef):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=M, ef_construction=EF_CONSTRUCTION)
    index.add_items(vectors, num_threads=2)
    index.set_ef(ef)

    def search(query, hidden):
        blocked = set(hidden.tolist())
        rows, _ = index.knn_query(query[None], k=K, num_threads=1, filter=lambda row: row not in blocked)
        return rows[0].tolist()
    return search


def usearch_runner(vectors, ef):
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", connectivity=M, expansion_add=EF_CONSTRUCTION,
                  expansion_search=ef)
    index.add(np.arange(len(vectors)), vectors, threads=2)

    def search(query, hidden):  # no filter in the Python API: ask for more, drop the hidden
        blocked = set(hidden.tolist())
        keys = index.search(query, K + len(hidden), threads=1).keys.tolist()
        return [row for row in keys if row not in blocked][:K]
    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=os.path.join("bench", "data", "sample_passage_vectors.npy"),
                        help="real embeddings (.npy)")
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, default=64)
    parser.add_argument("--out", default=os.path.join("bench", "out", "ann_libraries.json"))
    args = parser.parse_args()
    base = np.load(args.base).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors, queries = perturbed(base, args.vectors, 1), perturbed(base, args.queries, 2)
    truth_free, _ = exact_top(vectors, queries, K + 5)
    masks = masks_for(truth_free, len(vectors), 3)
    truth, _ = exact_top(vectors, queries, K, masks)
    results = {"vectors": len(vectors), "dims": vectors.shape[1], "queries": len(queries), "M": M,
               "efConstruction": EF_CONSTRUCTION, "efSearch": args.ef, "load": os.getloadavg()[0], "libraries": {}}
    for name, runner in (("faiss", faiss_runner), ("hnswlib", hnswlib_runner), ("usearch", usearch_runner)):
        started = time.perf_counter()
        search = runner(vectors, args.ef)
        build = time.perf_counter() - started
        found, cpu = [], []
        for query, hidden in zip(queries, masks):
            tick = time.process_time()
            found.append(search(query, hidden))
            cpu.append((time.process_time() - tick) * 1000)
        leaks = sum(bool(set(f) & set(m.tolist())) for f, m in zip(found, masks))
        short = sum(len(f) < K for f in found)
        results["libraries"][name] = {
            "build_s": round(build, 1), "recall@10": round(recall_at(found, truth, K), 4),
            "p50_cpu_ms": round(float(np.percentile(cpu, 50)), 3), "p99_cpu_ms": round(float(np.percentile(cpu, 99)), 3),
            "masked_leaks": leaks, "short_lists": short}
        print(name, results["libraries"][name], flush=True)
    save_results(args.out, results)


if __name__ == "__main__":
    main()

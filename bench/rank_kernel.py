"""The compiled BM25 kernel (`worldbuild/index/topk.py`) per query, on a world's own index, against
another checkout's kernel in the same process (rounds alternated; the same top k is checked).

    python bench/rank_kernel.py --world W [--sentences S] [--against OTHER/worldbuild/index/topk.py]

Queries: 2,560 of the peer kit's load (4 words of a real sentence, `--sentences`), else made from the
world's own paragraphs. Each query is ranked alone (wall time of one kernel call, best of 3), so the
spread shows: the few queries of common words only (`es des die der`) read most postings."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.peer_side_by_side import KIT  # noqa: E402
from bench.realdata import save_results  # noqa: E402
from bench.search import world_queries  # noqa: E402
from worldbuild.index import topk  # noqa: E402
from worldbuild.world import World  # noqa: E402


def kit_queries(sentences: str, count: int) -> list[str]:
    sys.path.insert(0, KIT)
    from load_tree import make_queries  # the kit's own query maker

    return make_queries(sentences, count, 0)


def load_kernel(path: str):
    spec = importlib.util.spec_from_file_location("topk_against", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_query(kernel, index, batch, k: int) -> tuple[list[float], list]:
    """Wall µs of one kernel call per query (best of 3) and its top k."""
    scores = index.retriever.scores
    space = kernel.workspace(index.size)
    upper = np.full(len(index._indptr) - 1, -1, dtype=np.float32)
    times, tops = [], []
    for terms in batch:
        ids, weights, pointers = index.kernel_queries([terms], [0])
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            top = kernel.weighted_top_k(ids, weights, pointers, k, scores["data"], scores["indptr"],
                                        scores["indices"], upper, *space, kernel.LOOKUP_COST)
            best = min(best, time.perf_counter() - began)
        times.append(best * 1e6)
        tops.append((top[0].tolist(), top[1].tolist()))
    return times, tops


def summary(times: list[float]) -> dict:
    ordered = sorted(times, reverse=True)
    total = sum(times)
    return {"mean_us": round(total / len(times), 1), "median_us": round(statistics.median(times), 1),
            "p99_us": round(ordered[len(ordered) // 100], 1), "max_us": round(ordered[0], 1),
            "share_of_top_10pct": round(sum(ordered[:len(ordered) // 10]) / total, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--sentences", help="the peer kit's sentences.jsonl (its load's queries)")
    parser.add_argument("--against", help="another checkout's worldbuild/index/topk.py")
    parser.add_argument("--queries", type=int, default=2560)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("bench", "out", "rank_kernel.json"))
    args = parser.parse_args()

    world = World.open(args.world, backend="numba")
    queries = kit_queries(args.sentences, args.queries) if args.sentences else world_queries(args.world, args.queries)
    batch = [terms for terms in (world.index.terms(query) for query in queries) if terms.token_ids]
    kernels = {"this": topk}
    if args.against:
        kernels["against"] = load_kernel(args.against)
    runs: dict[str, list[dict]] = {name: [] for name in kernels}
    answers = {}
    for _ in range(args.rounds):
        for name, kernel in kernels.items():
            times, answers[name] = per_query(kernel, world.index, batch, args.k)
            runs[name].append(summary(times))
    result = {"world": os.path.abspath(args.world), "pages": world.index.size, "queries": len(batch), "k": args.k,
              "rounds": args.rounds, "runs": runs, "load_average_1m": os.getloadavg()[0]}
    if args.against:
        result["against"] = args.against
        result["same_top_k"] = answers["this"] == answers["against"]
        result["mean_this_over_against"] = [round(a["mean_us"] / b["mean_us"], 3)
                                            for a, b in zip(runs["this"], runs["against"])]
    print(json.dumps(result, indent=1))
    save_results(args.out, result)


if __name__ == "__main__":
    main()

"""One Search-R1 training batch in one POST: 2,560 distinct queries (train_batch_size 512 x
n_agent 5) to `/retrieve` at topk 3, as Search-R1's `_batch_search` sends it, against a live
`worldbuild serve`.

    python bench/retrieve_batch.py --pages 100000            # builds a recombined-page world first
    python bench/retrieve_batch.py --world /path/to/world     # or measures an existing world
    python bench/retrieve_batch.py --world W --stages         # CPU per stage, in one process
    python bench/retrieve_batch.py --world W --route queries  # the same batch through R1-Searcher's /queries
                                                              # (or flashrag: FlashRAG's /flashrag/batch_search)

Reports each POST's wall time and the server's CPU time for it (user + system time of the serving
process and its search processes, which share a large batch once the first one has started them:
on a shared machine the wall time also holds other processes' turns, the CPU time does not), and
the load average while it ran. Queries are 2-5 consecutive real words
from the world's own pages, all distinct (no rollout shares a query: the worst case)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from bench.search import build_pool, build_world, world_queries  # noqa: E402
from bench.serve_load import start_server  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """CPU time of the server and of its processes (its search processes work on large batches)."""
    import psutil

    total = 0.0
    server = psutil.Process(pid)
    for process in [server, *server.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def wait_for_search_processes(base: str, timeout: float = 180) -> list[int]:
    """The pids of the server's search processes once they answer ([] when it has none)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.get(base + "/stats").json().get("search_processes")
        if not found or found["pids"]:
            return found["pids"] if found else []
        time.sleep(0.5)
    raise RuntimeError("the server's search processes did not start")


# Each route's training batch: (path, body, the answer's lists, one per query). Search-R1 asks for
# scores; the others' clients do not, so their answers are a little smaller.
ROUTES = {
    "retrieve": ("/retrieve", lambda queries, k: {"queries": queries, "topk": k, "return_scores": True},
                 lambda answer: answer["result"]),
    "queries": ("/queries", lambda queries, k: {"queries": queries, "k": k}, lambda answer: answer["answers"]),
    "flashrag": ("/flashrag/batch_search", lambda queries, k: {"query": queries, "top_n": k}, lambda answer: answer),
}


def stage_times(world_dir: str, queries: list[str], topk: int, repeats: int) -> dict:
    """The batch's CPU time per stage, as the server spends it, in this process (no HTTP):
    analyse the queries, rank (the compiled kernel, batch split over threads), read the pages,
    snippets, serialise. Each stage's minimum and median over `repeats` (after one warm run):
    CPU time, so other processes on the machine do not count."""
    import orjson

    from worldbuild.serve.peers import RETRIEVE_PASSAGE_CHARS, retrieve_body
    from worldbuild.world import World

    world = World.open(world_dir, backend="numba")
    world.index.warmup()
    clock = time.process_time
    runs = []
    for _ in range(repeats + 1):
        marks = [clock()]
        batch = [world.index.terms(query) for query in queries]
        marks.append(clock())
        ranked = world.index.search_many(batch, topk)
        marks.append(clock())
        pages = world.store.by_ids({doc for hits in ranked for doc, _ in hits})
        marks.append(clock())
        hits = world._hits(batch, ranked, pages, RETRIEVE_PASSAGE_CHARS)
        marks.append(clock())
        orjson.dumps(retrieve_body(queries, True, list(range(len(queries))), hits))
        marks.append(clock())
        runs.append([b - a for a, b in zip(marks, marks[1:])])
    names = ["analyse", "rank", "pages", "snippets", "serialise"]
    counted = runs[1:]
    stages = {name: {"cpu_s_min": round(min(run[i] for run in counted), 3),
                     "cpu_s_median": round(statistics.median(run[i] for run in counted), 3)}
              for i, name in enumerate(names)}
    total = [sum(run) for run in counted]
    return {"stages": stages, "cpu_s_total_min": round(min(total), 3),
            "cpu_s_total_median": round(statistics.median(total), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", help="an existing world (else one of --pages recombined pages is built)")
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2560)
    parser.add_argument("--topk", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stages", action="store_true", help="CPU per stage in this process, no server")
    parser.add_argument("--route", choices=sorted(ROUTES), default="retrieve",
                        help="whose batch shape: Search-R1's /retrieve, R1-Searcher's /queries, FlashRAG's batch_search")
    parser.add_argument("--search-processes", type=int, help="the server's --search-processes (default: its own)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.stages and args.route != "retrieve":
        parser.error("--stages measures the search in this process, for any route: leave --route out")
    suffix = "" if args.route == "retrieve" else f"_{args.route}"
    args.out = args.out or os.path.join("bench", "out", "retrieve_batch_stages.json" if args.stages
                                        else f"retrieve_batch{suffix}.json")
    import httpx

    scratch = tempfile.mkdtemp(prefix="wb-bench-retrieve-")
    world_dir = args.world
    if world_dir is None:
        world_dir = os.path.join(scratch, "world")
        build_world(args.pages, build_pool(scratch), world_dir)
    queries = world_queries(world_dir, args.queries)
    if args.stages:
        summary = {"queries": len(queries), "topk": args.topk, "cores": os.cpu_count(),
                   "load_average_1m": os.getloadavg()[0], **stage_times(world_dir, queries, args.topk, args.repeats)}
        print(json.dumps(summary))
        save_results(args.out, summary)
        shutil.rmtree(scratch, ignore_errors=True)
        return
    path, make_body, lists_of = ROUTES[args.route]
    body = json.dumps(make_body(queries, args.topk)).encode()
    extra = [] if args.search_processes is None else ["--search-processes", str(args.search_processes)]
    proc, base = start_server(world_dir, 1, extra)
    runs = []
    try:
        pid = httpx.get(base + "/stats").json()["worker"]["pid"]
        pages = httpx.get(base + "/health").json()["pages"]
        for number in range(args.repeats + 1):  # the first POST warms the page cache; not counted
            before, began = cpu_seconds(pid), time.perf_counter()
            response = httpx.post(base + path, content=body, timeout=120,
                                  headers={"Content-Type": "application/json"})
            wall = time.perf_counter() - began
            assert response.status_code == 200, response.text[:300]
            result = lists_of(response.json())
            assert len(result) == len(queries)
            runs.append({"wall_s": round(wall, 3), "server_cpu_s": round(cpu_seconds(pid) - before, 3),
                         "load_average_1m": os.getloadavg()[0],
                         "hits": sum(len(docs) for docs in result), "response_mb": round(len(response.content) / 1e6, 2)})
            print(json.dumps(runs[-1]), flush=True)
            if number == 0:  # the counted POSTs run with the search processes up (they start with the server)
                helpers = wait_for_search_processes(base)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
    counted = runs[1:]
    summary = {"route": path, "pages": pages, "queries": len(queries), "topk": args.topk, "cores": os.cpu_count(),
               "search_processes": len(helpers),
               "first_wall_s": runs[0]["wall_s"],  # the first POST once /health is ok (not in the medians)
               "wall_s_median": statistics.median(r["wall_s"] for r in counted),
               "wall_s_min": min(r["wall_s"] for r in counted),
               "server_cpu_s_median": statistics.median(r["server_cpu_s"] for r in counted),
               "runs": runs}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    save_results(args.out, summary)


if __name__ == "__main__":
    main()

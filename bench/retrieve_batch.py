"""One Search-R1 training batch in one POST: 2,560 distinct queries (train_batch_size 512 x
n_agent 5) to `/retrieve` at topk 3, as Search-R1's `_batch_search` sends it, against a live
`worldbuild serve`.

    python bench/retrieve_batch.py --pages 100000            # builds a recombined-page world first
    python bench/retrieve_batch.py --world /path/to/world     # or measures an existing world

Reports each POST's wall time and the server's CPU time for it (utime + stime of the serving
process, read from /proc: on a shared machine the wall time also holds other processes' turns,
the CPU time does not), and the load average while it ran. Queries are 2-5 consecutive real words
from the world's own pages, all distinct (no rollout shares a query: the worst case)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from bench.search import build_pool, build_world, make_queries  # noqa: E402
from bench.serve_load import start_server  # noqa: E402
from worldbuild.store import STORE_FILE, PageStore  # noqa: E402


def world_queries(world_dir: str, count: int) -> list[str]:
    store = PageStore(os.path.join(world_dir, STORE_FILE))
    paragraphs = [p.strip() for (text,) in store.db.execute("SELECT text FROM pages ORDER BY doc_id LIMIT 3000")
                  for p in text.split("\n\n") if len(p.strip()) >= 40]
    store.close()
    found = list(dict.fromkeys(make_queries(paragraphs, count * 2)))[:count]
    random.Random(7).shuffle(found)
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", help="an existing world (else one of --pages recombined pages is built)")
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2560)
    parser.add_argument("--topk", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join("bench", "out", "retrieve_batch.json"))
    args = parser.parse_args()
    import httpx

    scratch = tempfile.mkdtemp(prefix="wb-bench-retrieve-")
    world_dir = args.world
    if world_dir is None:
        world_dir = os.path.join(scratch, "world")
        build_world(args.pages, build_pool(scratch), world_dir)
    queries = world_queries(world_dir, args.queries)
    body = json.dumps({"queries": queries, "topk": args.topk, "return_scores": True}).encode()
    proc, base = start_server(world_dir, 1)
    runs = []
    try:
        pid = httpx.get(base + "/stats").json()["worker"]["pid"]
        pages = httpx.get(base + "/health").json()["pages"]
        for _ in range(args.repeats + 1):  # the first POST warms the page cache; not counted
            before, began = cpu_seconds(pid), time.perf_counter()
            response = httpx.post(base + "/retrieve", content=body, timeout=120,
                                  headers={"Content-Type": "application/json"})
            wall = time.perf_counter() - began
            assert response.status_code == 200, response.text[:300]
            result = response.json()["result"]
            assert len(result) == len(queries)
            runs.append({"wall_s": round(wall, 3), "server_cpu_s": round(cpu_seconds(pid) - before, 3),
                         "load_average_1m": os.getloadavg()[0],
                         "hits": sum(len(docs) for docs in result), "response_mb": round(len(response.content) / 1e6, 2)})
            print(json.dumps(runs[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
    counted = runs[1:]
    summary = {"pages": pages, "queries": len(queries), "topk": args.topk, "cores": os.cpu_count(),
               "wall_s_median": statistics.median(r["wall_s"] for r in counted),
               "wall_s_min": min(r["wall_s"] for r in counted),
               "server_cpu_s_median": statistics.median(r["server_cpu_s"] for r in counted),
               "runs": runs}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    save_results(args.out, summary)


if __name__ == "__main__":
    main()

"""Reading a search's pages from the store: SQLite memory-mapped (what `PageStore` opens read-only
with) against SQLite's own reads, on the same world, in one process, rounds alternated.

    python bench/page_reads.py --world W [--reads 3000] [--ids 3] [--rounds 5]

Each read is `PageStore.by_ids` of `--ids` random doc ids (a /retrieve at topk 3), a fresh set
every time, as the hits of queries never seen before are; CPU time per read, median of rounds.
The file is in the OS's cache either way (a first pass over other ids warms both)."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from worldbuild.store import STORE_FILE, PageStore  # noqa: E402


def cpu_per_read(store: PageStore, reads: list[list[int]]) -> float:
    began = time.process_time()
    for ids in reads:
        store.by_ids(ids)
    return (time.process_time() - began) / len(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--ids", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=os.path.join("bench", "out", "page_reads.json"))
    args = parser.parse_args()
    path = os.path.join(args.world, STORE_FILE)
    mapped = PageStore(path)
    unmapped = PageStore(path, memory_mapped=False)
    top = mapped.db.execute("SELECT MAX(doc_id) FROM pages").fetchone()[0]
    rng = random.Random(0)

    def fresh() -> list[list[int]]:
        return [[rng.randint(0, top) for _ in range(args.ids)] for _ in range(args.reads)]

    for store in (mapped, unmapped):
        cpu_per_read(store, fresh())
    times: dict[str, list[float]] = {"mmap": [], "read": []}
    for _ in range(args.rounds):
        for name, store in (("read", unmapped), ("mmap", mapped)):
            times[name].append(cpu_per_read(store, fresh()))
    mmap_us, read_us = (statistics.median(times[name]) * 1e6 for name in ("mmap", "read"))
    summary = {"world": os.path.abspath(args.world), "pages": top, "ids_per_read": args.ids, "reads": args.reads,
               "rounds": args.rounds, "cpu_us_per_read_median": {"mmap": round(mmap_us, 1), "read": round(read_us, 1)},
               "mmap_over_read": round(mmap_us / read_us, 3),
               "mmap_size": mapped.db.execute("PRAGMA mmap_size").fetchone()[0],
               "store_bytes": os.path.getsize(path), "load_average_1m": os.getloadavg()[0]}
    print(json.dumps(summary))
    save_results(args.out, summary)


if __name__ == "__main__":
    main()

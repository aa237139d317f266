"""What `site:` costs a search, in one process, as a server ranks (the compiled kernel).

    python bench/site_search.py --world W [--queries 300] [--rounds 3] [--out bench/out/site_search.json]

For real queries of the world's own pages (`bench.search.world_queries`), the CPU time per query of:
the query alone; with `site:` of one host (the world's most common host and a typical one); with
`site:` of every host under a suffix (`site:example`: the whole world, the most pages a `site:` can
name); and with `-site:` of one host. Each kind runs in turn, `--rounds` times (this host's speed
drifts over minutes), and the median of its rounds is given with its ratio to the query alone in
the same round. A site's pages are read from the store on the first query that names it: that
first read is timed apart (a world ingested before the domain index reads its hosts once, then).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from bench.search import world_queries  # noqa: E402
from worldbuild.world import World  # noqa: E402


def cpu_per_query(world: World, queries: list[str], suffix: str) -> float:
    began = time.process_time()
    for query in queries:
        world.search(f"{query} {suffix}".strip(), 10, snippet_chars=0)
    return (time.process_time() - began) / len(queries) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="bench/out/site_search.json")
    args = parser.parse_args()

    queries = world_queries(args.world, args.queries)
    world = World.open(args.world, backend="numba")
    world.index.warmup()
    hosts = Counter(domain for (domain,) in world.store.db.execute("SELECT domain FROM pages"))
    largest, typical = hosts.most_common(1)[0][0], sorted(hosts)[len(hosts) // 2]
    suffix = largest.rsplit(".", 1)[-1]
    began = time.perf_counter()
    world.site_pages.of(typical)
    first_read_ms = (time.perf_counter() - began) * 1e3
    kinds = {"alone": "", f"site:{largest}": f"site:{largest}", f"site:{typical}": f"site:{typical}",
             f"site:{suffix}": f"site:{suffix}", f"-site:{largest}": f"-site:{largest}"}
    for operator in kinds.values():  # the sites' pages read, the kernel's code paths warm
        cpu_per_query(world, queries[:10], operator)
    rounds: dict[str, list[float]] = {name: [] for name in kinds}
    ratios: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.rounds):
        alone = cpu_per_query(world, queries, "")
        rounds["alone"].append(alone)
        for name, operator in kinds.items():
            if operator:
                value = cpu_per_query(world, queries, operator)
                rounds[name].append(value)
                ratios[name].append(value / alone)
    results = {
        "world": args.world, "pages": len(world), "hosts": len(hosts), "domain_index": world.store.has_domain_index,
        "pages_of": {largest: hosts[largest], typical: hosts[typical], suffix: sum(hosts.values())},
        "queries": len(queries), "rounds": args.rounds, "k": 10,
        "first_read_of_a_site_ms": round(first_read_ms, 1),
        "cpu_us_per_query": {name: round(statistics.median(values), 1) for name, values in rounds.items()},
        "cpu_us_per_query_rounds": {name: [round(v, 1) for v in values] for name, values in rounds.items()},
        "ratio_to_alone": {name: round(statistics.median(values), 2) for name, values in ratios.items() if values},
    }
    print(results)
    save_results(args.out, results)


if __name__ == "__main__":
    main()

"""Snippet text two ways on the Markdown fragments real searches render: `plaintext.one_line`
(pulldown-cmark's HTML with its tags removed) against the words of `plaintext.plain_text`
(pulldown-cmark's events read in Python, what one_line used to be): how many fragments give
the same text, and the CPU of each, in alternating rounds.

    python bench/snippet_text.py --world W [--queries 2560] [--rounds 5]

The fragments are the ones `snippets.snippet` renders for the top 3 hits of `--queries`
queries made from the world's own pages (bench/search.py's `world_queries`)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from bench.search import world_queries  # noqa: E402


def fragments(world_dir: str, count: int) -> list[str]:
    """What the snippets of `count` queries' top-3 hits pass to `one_line`."""
    from worldbuild.index import snippets
    from worldbuild.world import World

    seen: list[str] = []
    render = snippets.one_line

    def spy(markdown: str) -> str:
        seen.append(markdown)
        return render(markdown)

    snippets.one_line = spy
    try:
        World.open(world_dir).search_many(world_queries(world_dir, count), 3, 600)
    finally:
        snippets.one_line = render
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--queries", type=int, default=2560)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=os.path.join("bench", "out", "snippet_text.json"))
    args = parser.parse_args()
    from worldbuild.index.plaintext import one_line, plain_text

    def by_events(markdown: str) -> str:
        return " ".join(plain_text(markdown).split())

    found = fragments(args.world, args.queries)
    differ = [(a, b) for a, b in ((by_events(f), one_line(f)) for f in found) if a != b]
    times: dict[str, list[float]] = {"events": [], "html": []}
    for _ in range(args.rounds):
        for name, render in (("events", by_events), ("html", one_line)):
            began = time.process_time()
            for fragment in found:
                render(fragment)
            times[name].append(time.process_time() - began)
    events, rendered = statistics.median(times["events"]), statistics.median(times["html"])
    summary = {"world": os.path.abspath(args.world), "queries": args.queries, "fragments": len(found),
               "same_text": len(found) - len(differ),
               "differences": [[op for op in difflib.ndiff([a], [b])] for a, b in differ[:5]],
               "cpu_s_median": {"events": round(events, 3), "html": round(rendered, 3)},
               "html_over_events_cpu": round(rendered / events, 3), "rounds": args.rounds,
               "load_average_1m": os.getloadavg()[0]}
    print(json.dumps({k: v for k, v in summary.items() if k != "differences"}))
    save_results(args.out, summary)


if __name__ == "__main__":
    main()

"""MCP tool calls (BrowseComp-Plus's `search`, over SSE, through the official client) against one
worker and two, rounds alternated: what a session's calls cost when they land on a worker that
does not hold the session and are handed on to the one that does (`worldbuild/serve/relay.py`).

    python bench/mcp_workers.py --world W [--rounds 2] [--sessions 5] [--calls 20] [--out F]

Wall time of each call as the client sees it, one session at a time, on an idle server."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from bench.serve_load import start_server  # noqa: E402


async def call_times(base: str, calls: int) -> list[float]:
    """Milliseconds of each `search` call of one session."""
    from mcp.client.session import ClientSession
    from mcp.client.sse import sse_client

    async with sse_client(base + "/mcp") as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            await session.call_tool("search", {"query": "root servers"})
            times.append((time.perf_counter() - began) * 1000)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out", default="bench/out/mcp_workers.json")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            proc, base = start_server(args.world, workers)
            try:
                asyncio.run(call_times(base, 3))  # untimed: the first calls load what a search needs
                for _ in range(args.sessions):
                    times[workers] += asyncio.run(call_times(base, args.calls))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    results = {"world": args.world, "rounds": args.rounds, "sessions": args.sessions, "calls": args.calls,
               "workers": {str(w): {"median_ms": round(statistics.median(t), 2),
                                    "p90_ms": round(statistics.quantiles(t, n=10)[-1], 2), "calls": len(t)}
                           for w, t in times.items()}}
    save_results(args.out, results)
    for workers, row in results["workers"].items():
        print(f"{workers} worker(s): {row['median_ms']} ms a call (median), p90 {row['p90_ms']} ms, {row['calls']} calls")


if __name__ == "__main__":
    main()

"""Is our synthesis overhead the bottleneck? The LLM-bound stages against an endpoint with a
fixed latency, compared with the ideal request rate (concurrency / latency).

    python bench/synth_throughput.py [--latency 0.2] [--concurrency 64] [--pages 1000]

The endpoint is tests/llm_double.py in its own process, answering every request after
`--latency` seconds with one JSON object that serves both prompts (5 pairs for extraction,
seven passing verdicts for the rubric). The world: 10,000 pages recombined from real text
(as bench/search.py). Rate = LLM requests / wall time of the extraction and rubric stages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from bench.search import build_pool, build_world  # noqa: E402
from tests.services import free_port  # noqa: E402
from worldbuild.llm import LLM  # noqa: E402
from worldbuild.synth.pipeline import SynthConfig, run_single_hop  # noqa: E402

CONDITIONS = ("independent", "specific", "unambiguous", "answerable", "closed", "not_common_sense", "time_fixed")
REPLY = {"pairs": [{"question": f"In which year did the event number {i} described here happen?", "answer": "1987"}
                   for i in range(5)],
         **{c: {"ok": True, "why": "bench"} for c in CONDITIONS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pages", type=int, default=1000, help="seed pages (each gives 1 + 5 requests)")
    parser.add_argument("--out", default=os.path.join("bench", "out", "synth_throughput.json"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="wb-bench-synth-")
    world = os.path.join(scratch, "world")
    build_world(10_000, build_pool(scratch), world)
    script = os.path.join(scratch, "script.json")
    with open(script, "w") as handle:
        json.dump([{"delay": args.latency, "json": REPLY}], handle)
    port = free_port()
    double = subprocess.Popen([sys.executable, "-m", "tests.llm_double", "--port", str(port), "--script", script],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    double.stdout.readline()  # it prints its address once it listens

    async def run() -> dict:
        llm = LLM(f"http://127.0.0.1:{port}/v1", "bench-model", concurrency=args.concurrency, timeout=60)
        try:
            return await run_single_hop(world, llm, SynthConfig(out_dir=os.path.join(scratch, "out"),
                                                                max_pages=args.pages, min_chars=200))
        finally:
            await llm.aclose()

    began = time.perf_counter()
    summary = asyncio.run(run())
    total = time.perf_counter() - began
    double.terminate()
    llm_seconds = summary["seconds"]["extract"] + summary["seconds"]["rubric"]
    rate = summary["llm"]["requests"] / llm_seconds
    ideal = args.concurrency / args.latency
    result = {"requests": summary["llm"]["requests"], "llm_stage_seconds": round(llm_seconds, 2),
              "requests_per_s": round(rate, 1), "ideal_requests_per_s": round(ideal, 1),
              "ratio": round(rate / ideal, 3), "stage_seconds": summary["seconds"], "total_seconds": round(total, 1),
              "tasks": summary["tasks"], "latency_s": args.latency, "concurrency": args.concurrency}
    print(f"{result['requests']} LLM requests in {llm_seconds:.1f} s: {rate:.0f} req/s vs ideal {ideal:.0f} "
          f"({args.concurrency} / {args.latency} s) = {rate / ideal:.1%}; stages {summary['seconds']}")
    save_results(args.out, result)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

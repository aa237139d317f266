"""Time from `worldbuild serve` starting to its first answered search, and to /health saying ready.

    python bench/serve_start.py --world WORLD [--runs 5] [--out bench/out/serve_start.json]

Each run starts a real `worldbuild serve` process and polls every 20 ms; the first run after a
change to the code or the index pays one-time compiles, later runs show a warm disk."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.services import free_port  # noqa: E402


def one_run(world: str) -> dict:
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", world, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, first_answer, ready = f"http://127.0.0.1:{port}", None, None
    try:
        while time.perf_counter() - began < 180 and (first_answer is None or ready is None):
            try:
                if first_answer is None:
                    reply = httpx.post(f"{base}/search", json={"query": "web archive", "k": 3}, timeout=60)
                    if reply.status_code == 200:
                        first_answer = time.perf_counter() - began
                if ready is None:
                    health = httpx.get(f"{base}/health", timeout=5)
                    if health.status_code == 200 and health.json().get("status") == "ok":
                        ready = time.perf_counter() - began
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"first_answer_s": round(first_answer, 3) if first_answer else None,
            "ready_s": round(ready, 3) if ready else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = [one_run(args.world) for _ in range(args.runs)]
    answers = [r["first_answer_s"] for r in runs[1:] if r["first_answer_s"]] or [None]
    result = {"world": os.path.basename(os.path.abspath(args.world)), "runs": runs,
              "first_run": runs[0], "warm_median_first_answer_s": statistics.median(answers) if answers[0] else None,
              "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()

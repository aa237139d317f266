"""Ray's overhead on ingest, and what 32M pages would cost.

Ingests every real page in ../shared/data (one gzipped WARC, see bench/realdata.py) with the
local executor (process pool) and with the Ray executor on a local head of the same CPUs,
alternating, and reports medians and their ratio (target: Ray ≤ 1.15× local). From the
measured per-core rate it then estimates wall time and cost of 32M pages on N nodes.

    python bench/scale.py [--repeats 3] [--cpus 2] [--out bench/out/scale.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results, write_one_file  # noqa: E402
from worldbuild.executor import LocalExecutor, RayExecutor  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.records import IngestSettings  # noqa: E402

PAPER_PAGES = 32_000_000
NODE_CORES = (32, 64, 96)
NODES = (1, 4, 16, 64)
CORE_HOUR_USD = 0.04  # on-demand price of one vCPU-hour on a general-purpose cloud VM (our assumption)


def timed(paths: list[str], executor, scratch: str) -> tuple[float, dict]:
    world = os.path.join(scratch, f"world-{time.monotonic_ns()}")
    began = time.perf_counter()
    result = ingest(paths, world, IngestSettings(), executor)
    seconds = time.perf_counter() - began
    shutil.rmtree(world, ignore_errors=True)
    return seconds, {"snapshot": result.manifest["snapshot"], "pages": result.manifest["pages"],
                     "records": result.report.records_read}


def start_head(cpus: int, temp: str) -> str:
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    port = 6400 + os.getpid() % 500
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", str(cpus), "--include-dashboard=false", "--disable-usage-stats",
                    "--temp-dir", temp], check=True, capture_output=True)
    return f"127.0.0.1:{port}"


def estimate(seconds_per_page_core: float) -> list[dict]:
    rows = []
    for cores in NODE_CORES:
        for nodes in NODES:
            hours = PAPER_PAGES * seconds_per_page_core / (cores * nodes) / 3600
            rows.append({"cores_per_node": cores, "nodes": nodes, "wall_hours": round(hours, 2),
                         "core_hours": round(PAPER_PAGES * seconds_per_page_core / 3600),
                         "usd": round(PAPER_PAGES * seconds_per_page_core / 3600 * CORE_HOUR_USD)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default=os.path.join("bench", "out", "scale.json"))
    args = parser.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    scratch = tempfile.mkdtemp(prefix="wb-scale-")
    try:
        paths = [write_one_file(os.path.join(scratch, "all.warc.gz"))]
        address = start_head(args.cpus, os.path.join(scratch, "ray"))
        ray_executor = RayExecutor(address)
        local_executor = LocalExecutor(args.cpus)
        timed(paths, ray_executor, scratch)  # warm: worker processes and imports on the Ray side
        local, on_ray, shapes = [], [], set()
        for repeat in range(args.repeats):
            seconds, shape = timed(paths, local_executor, scratch)
            local.append(seconds)
            shapes.add(tuple(sorted(shape.items())))
            seconds, shape = timed(paths, ray_executor, scratch)
            on_ray.append(seconds)
            shapes.add(tuple(sorted(shape.items())))
            print(f"repeat {repeat + 1}: local {local[-1]:.2f} s, ray {on_ray[-1]:.2f} s", flush=True)
        assert len(shapes) == 1, f"executors disagree: {shapes}"
        shape = dict(next(iter(shapes)))
        local_median, ray_median = statistics.median(local), statistics.median(on_ray)
        per_page_core = local_median * args.cpus / shape["pages"]
        results = {
            "machine": f"{os.cpu_count()} cores", "cpus": args.cpus, "repeats": args.repeats, **shape,
            "local_seconds": [round(s, 2) for s in local], "ray_seconds": [round(s, 2) for s in on_ray],
            "local_median_s": round(local_median, 2), "ray_median_s": round(ray_median, 2),
            "ray_over_local": round(ray_median / local_median, 3),
            "seconds_per_kept_page_per_core": round(per_page_core, 4),
            "estimate_32M_pages": estimate(per_page_core), "core_hour_usd": CORE_HOUR_USD,
        }
        save_results(args.out, results)
        print(f"local median {local_median:.2f} s, ray median {ray_median:.2f} s, "
              f"ray/local {ray_median / local_median:.3f}; {per_page_core:.4f} s per kept page per core")
    finally:
        import ray

        ray.shutdown()
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ray"), "stop", "--force"], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""`worldbuild ingest` beside DataTrove's own pipeline, on the same real WARC inputs, in one run.

    python bench/datatrove_side_by_side.py --datatrove-python VENV/bin/python [--runs 2]
        [--extractor trafilatura/markdown --extractor resiliparse/text] [--workers 1,2]

DataTrove is `bench/datatrove_pipeline.py` (WarcReader -> Trafilatura -> JsonlWriter, its README's
pipeline and its defaults) in a venv of its own: `pip install 'datatrove[io,processing]'
lxml_html_clean` (DataTrove pins trafilatura < 1.12, whose justext import needs lxml_html_clean;
without it every page times out in DataTrove's extraction sandbox and nothing is written).
Ours is `python -m worldbuild ingest FILES --world W --workers N --extractor X` into a fresh world.
Both are fresh processes timed from outside: wall clock, and CPU summed over the process tree
(worker processes included; a process is counted as last seen, polled every 50 ms). Each run measures DataTrove, then ours with each extractor, per
layout and worker count, so the ratios come from alternating runs on one machine.

The inputs are `bench/ingest.py`'s two layouts of every real page in ../shared/data (the real
WARC files' records plus the standalone HTML pages wrapped as WARC records): everything in one
file, and many files. DataTrove's tasks are its files (it splits work by file), so on one file its
second worker has nothing to do; ours splits a large file by byte ranges.

The two do different work: DataTrove writes each page's plain text (trafilatura with
favour_precision, no metadata) to JSONL; ours writes a searchable world (Markdown with title and
date by the chosen extractor, language id, MinHash mirrors, dedup, page store, BM25 index).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results, write_many_files, write_one_file  # noqa: E402

PIPELINE = os.path.join(REPO, "bench", "datatrove_pipeline.py")
POLL = 0.05  # seconds between looks at the process tree


def timed(command: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, stdout) of one fresh process. CPU is each process's
    user + system time as last seen, polled every POLL s: a parent's count of its children would
    miss those it never waits for (DataTrove's pool workers)."""
    import psutil

    seen: dict[int, float] = {}
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=err, text=True)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for process in tree:
                try:
                    times = process.cpu_times()
                    seen[process.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            time.sleep(POLL)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[:3])} ... failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return wall, sum(seen.values()), stdout


def run_datatrove(python: str, folder: str, files: int, workers: int, scratch: str) -> dict:
    out, logs = os.path.join(scratch, "dt-out"), os.path.join(scratch, "dt-logs")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    wall, cpu, stdout = timed([python, PIPELINE, "--inputs", folder, "--out", out, "--logs", logs,
                               "--tasks", str(files), "--workers", str(workers)])
    found = json.loads(stdout.strip().splitlines()[-1])
    if not found["documents"]:  # e.g. its trafilatura cannot import in the sandbox: every page times out
        raise SystemExit("DataTrove wrote no documents; is lxml_html_clean in its venv? Its log ends:\n"
                         + _log_tail(os.path.join(logs, "logs")))
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), **found}


def run_ours(paths: list[str], workers: int, extractor: str, scratch: str) -> dict:
    world = os.path.join(scratch, "world")
    shutil.rmtree(world, ignore_errors=True)
    wall, cpu, _ = timed([sys.executable, "-m", "worldbuild", "ingest", *paths, "--world", world,
                          "--workers", str(workers), "--extractor", extractor])
    with open(os.path.join(world, "world.json")) as handle:
        pages = json.load(handle)["pages"]
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "pages": pages}


def _log_tail(folder: str, lines: int = 5) -> str:
    try:
        names = sorted(os.listdir(folder))
        with open(os.path.join(folder, names[0])) as handle:
            return "".join(handle.readlines()[-lines:])
    except (OSError, IndexError):
        return "(no log)"


def layouts(scratch: str) -> dict[str, list[str]]:
    """Each layout's files, also linked into a folder of its own for DataTrove's reader."""
    found = {"one file": [write_one_file(os.path.join(scratch, "one.warc.gz"))],
             "many files": write_many_files(os.path.join(scratch, "many"))}
    for name, paths in found.items():
        folder = os.path.join(scratch, "dt-in", name.replace(" ", "-"))
        os.makedirs(folder)
        for path in paths:
            os.symlink(os.path.abspath(path), os.path.join(folder, os.path.basename(path)))
    return found


def median(values) -> float:
    return round(statistics.median(values), 2)


def summary(runs: list[dict], extractors: list[str]) -> list[dict]:
    """Medians per layout and worker count, and ours / DataTrove in wall time (within each run)."""
    rows = []
    for key in dict.fromkeys((run["layout"], run["workers"]) for run in runs):
        same = [run for run in runs if (run["layout"], run["workers"]) == key]
        row = {"layout": key[0], "workers": key[1],
               "datatrove_wall_s": median(run["datatrove"]["wall_s"] for run in same),
               "datatrove_cpu_s": median(run["datatrove"]["cpu_s"] for run in same),
               "datatrove_documents": same[0]["datatrove"]["documents"]}
        for extractor in extractors:
            ours = [run["ours"][extractor] for run in same]
            row[extractor] = {"wall_s": median(o["wall_s"] for o in ours),
                              "cpu_s": median(o["cpu_s"] for o in ours), "pages": ours[0]["pages"],
                              "ours_over_datatrove_wall": [round(o["wall_s"] / run["datatrove"]["wall_s"], 2)
                                                           for o, run in zip(ours, same)]}
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datatrove-python", required=True, help="a Python with datatrove[io,processing]")
    parser.add_argument("--extractor", action="append", help="ours, each (default: the default and resiliparse/text)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", default=os.path.join("bench", "out", "datatrove_side_by_side.json"))
    args = parser.parse_args()
    extractors = args.extractor or ["trafilatura/markdown", "resiliparse/text"]
    load_before = os.getloadavg()[0]
    scratch = tempfile.mkdtemp(prefix="wb-datatrove-")
    try:
        inputs = layouts(scratch)
        runs = []
        for number in range(args.runs):
            for layout, paths in inputs.items():
                folder = os.path.join(scratch, "dt-in", layout.replace(" ", "-"))
                for workers in map(int, args.workers.split(",")):
                    run = {"run": number, "layout": layout, "files": len(paths), "workers": workers,
                           "datatrove": run_datatrove(args.datatrove_python, folder, len(paths), workers, scratch),
                           "ours": {extractor: run_ours(paths, workers, extractor, scratch) for extractor in extractors}}
                    print(json.dumps(run), flush=True)
                    runs.append(run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = {"command": " ".join(sys.argv), "load_before": load_before, "load_after": os.getloadavg()[0], "runs": runs,
               "summary": summary(runs, extractors)}
    save_results(args.out, results)
    print(json.dumps(results["summary"], indent=1))


if __name__ == "__main__":
    main()

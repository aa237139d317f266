"""Ingest throughput on real pages, per extractor: 1 vs 2 workers, and our total time vs the
extractor's bare call.

    python bench/ingest.py [--extractor NAME ...] [--repeats 3] [--out bench/out/ingest.json]

Two layouts of the same real pages (../shared/data: the WARC files' HTML responses plus the
standalone HTML pages wrapped as WARC records): many files, and everything in one file.
"Bare" is the extractor's library call alone, run in one process over pages read and decoded
beforehand (untimed): for trafilatura/markdown `trafilatura.extract_with_metadata(...,
output_format="markdown")`, for trafilatura/fast `extract(load_html(html), fast=True, ...)`,
for resiliparse/text `extract_plain_text(HTMLTree.parse(html), main_content=True)`. "Ours" is
the whole `worldbuild ingest` into a fresh world: reading, decoding, extraction, language id,
hashing, MinHash, shards, dedup, SQLite page store, BM25 index and manifest.

The machine is shared, so beside wall-clock medians each run reports CPU seconds (this
process plus its worker processes): "ours / bare" is given both ways, and "2 vs 1 workers"
as wall speedup and as the CPU ratio (work added by splitting; 1.0 is none). Runs go in rounds
(the bare call, then each layout's ingests) and each ratio is the median of its rounds' ratios,
since this host's CPU rate drifts by up to a third over minutes. One untimed pass
of every extractor over the pages runs first, then an untimed ingest of the sample corpus (for
what an ingest imports on first use), and workers fork from the warmed parent: the
figures are a long run's steady state (a cold process spends seconds compiling dateparser's
regexes per locale).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from bench.realdata import REPO, save_results, write_many_files, write_one_file  # noqa: E402
from worldbuild.executor import LocalExecutor  # noqa: E402
from worldbuild.ingest.decode import decode_html  # noqa: E402
from worldbuild.ingest.extract import extract_page, warm_up  # noqa: E402
from worldbuild.ingest.pipeline import Progress, ingest  # noqa: E402
from worldbuild.records import EXTRACTORS, IngestSettings  # noqa: E402


SAMPLE = os.path.join(REPO, "corpora", "sample-pages.warc.gz")


def html_responses(path: str) -> list[tuple[str, str]]:
    """(url, decoded html) of the HTTP 200 HTML responses of one file: the baseline's input."""
    pages = []
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle, arc2warc=True):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            content_type = record.http_headers.get_header("Content-Type") or ""
            if record.http_headers.get_statuscode() != "200" or "html" not in content_type.lower():
                continue
            body = record.content_stream().read()
            pages.append((record.rec_headers.get_header("WARC-Target-URI"), decode_html(body, content_type)[0]))
    return pages


def library_call(extractor: str, settings: IngestSettings):
    """The extractor's own public call, as a user of the library would make it."""
    if extractor == "trafilatura/markdown":
        import trafilatura

        return lambda url, html: trafilatura.extract_with_metadata(
            html, url=url, output_format="markdown", include_comments=settings.include_comments,
            include_tables=settings.include_tables)
    if extractor == "trafilatura/fast":
        import trafilatura

        def fast(url, html):
            tree = trafilatura.load_html(html)
            return tree is not None and (tree.findtext(".//title"), trafilatura.extract(
                tree, url=url, fast=True, output_format="markdown", include_comments=settings.include_comments,
                include_tables=settings.include_tables))
        return fast
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    def resiliparse(url, html):
        tree = HTMLTree.parse(html)
        return tree.title, extract_plain_text(tree, main_content=True, comments=settings.include_comments)
    return resiliparse


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool workers, once joined)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare_extraction(pages: list[tuple[str, str]], call) -> tuple[float, float]:
    began, cpu = time.perf_counter(), cpu_seconds()
    for url, html in pages:
        call(url, html)
    return time.perf_counter() - began, cpu_seconds() - cpu


class StageClock(Progress):
    """Notes when the merge starts: the map step's wall time is everything before it."""

    def __init__(self):
        self.began = time.perf_counter()
        self.map_s = 0.0

    def stage(self, name: str) -> None:
        self.map_s = time.perf_counter() - self.began


def timed_ingest(paths: list[str], workers: int, scratch: str, settings: IngestSettings) -> dict:
    world = tempfile.mkdtemp(dir=scratch)
    clock = StageClock()
    began, cpu = time.perf_counter(), cpu_seconds()
    result = ingest(paths, world, settings, LocalExecutor(workers), clock)
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    shutil.rmtree(world)
    return {"s": seconds, "cpu_s": cpu, "map_s": clock.map_s, "merge_s": seconds - clock.map_s,
            "report": result.report.to_dict()}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def bench_extractor(extractor: str, pages, layouts, repeats: int, scratch: str) -> dict:
    """`repeats` rounds, each the bare call then every layout's ingests: this host's CPU rate drifts
    by up to a third over minutes, so each ratio is taken within a round and the medians quoted."""
    settings = IngestSettings(extractor=extractor)
    warm_up(settings)
    for url, html in pages:  # untimed: every library fills its caches before workers fork
        extract_page(html, url, settings)
    # untimed: what an ingest imports on first use (bm25s and numba, about 0.5 s) would land on round one
    timed_ingest([SAMPLE], 1, scratch, settings)
    call = library_call(extractor, settings)
    bare: list[tuple[float, float]] = []
    runs: dict[tuple[str, int], list[dict]] = {(layout, workers): [] for layout in layouts for workers in (1, 2)}
    for _ in range(repeats):
        bare.append(bare_extraction(pages, call))
        for layout, paths in layouts.items():
            for workers in (1, 2):
                runs[layout, workers].append(timed_ingest(paths, workers, scratch, settings))
    result = {"bare_s": statistics.median(b[0] for b in bare), "bare_cpu_s": statistics.median(b[1] for b in bare),
              "bare_pages_per_s": len(pages) / statistics.median(b[1] for b in bare),
              "bare_all_s": [round(b[0], 2) for b in bare], "layouts": {}}
    print(f"\n{extractor}: bare {result['bare_s']:.2f} s wall, {result['bare_cpu_s']:.2f} s CPU "
          f"({result['bare_pages_per_s']:.1f} pages/s per core)", flush=True)
    for layout, paths in layouts.items():
        row = {"files": len(paths)}
        one, two = runs[layout, 1], runs[layout, 2]
        for workers, timed in ((1, one), (2, two)):
            for key in ("s", "cpu_s", "map_s", "merge_s"):
                row[f"workers_{workers}_{key}"] = median_of(timed, key)
            row[f"workers_{workers}_all_s"] = [round(run["s"], 2) for run in timed]
        report = two[-1]["report"]
        row.update(records_read=report["records_read"], pages_extracted=report["pages_extracted"],
                   pages_kept=report["pages_kept"])
        # ratios within each round, then their median
        row["speedup_2_vs_1_rounds"] = [round(x["s"] / y["s"], 3) for x, y in zip(one, two)]
        row["cpu_2_vs_1_rounds"] = [round(y["cpu_s"] / x["cpu_s"], 3) for x, y in zip(one, two)]
        row["ours_vs_bare_rounds"] = [round(x["s"] / b[0], 3) for x, b in zip(one, bare)]
        row["ours_vs_bare_cpu_rounds"] = [round(x["cpu_s"] / b[1], 3) for x, b in zip(one, bare)]
        for key in ("speedup_2_vs_1", "cpu_2_vs_1", "ours_vs_bare", "ours_vs_bare_cpu"):
            row[key] = statistics.median(row[f"{key}_rounds"])
        result["layouts"][layout] = row
        print(f"  {layout:>10} ({row['files']} files): {row['pages_extracted']} extracted, {row['pages_kept']} kept | "
              f"1 worker {row['workers_1_s']:.2f} s (map {row['workers_1_map_s']:.2f}, merge "
              f"{row['workers_1_merge_s']:.2f}; CPU {row['workers_1_cpu_s']:.2f}) | 2 workers {row['workers_2_s']:.2f} s "
              f"(CPU {row['workers_2_cpu_s']:.2f}) | speedup {row['speedup_2_vs_1']:.2f}x, CPU ratio "
              f"{row['cpu_2_vs_1']:.2f} | ours/bare {row['ours_vs_bare']:.2f}x wall, {row['ours_vs_bare_cpu']:.2f}x CPU "
              f"(rounds: {row['ours_vs_bare_rounds']})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", action="append", choices=EXTRACTORS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("bench", "out", "ingest.json"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="wb-bench-ingest-")
    layouts = {
        "one file": [write_one_file(os.path.join(scratch, "all.warc.gz"))],
        "many files": write_many_files(os.path.join(scratch, "many")),
    }
    pages = html_responses(layouts["one file"][0])
    results = {"html_pages": len(pages), "repeats": args.repeats, "load_before": os.getloadavg()[0], "extractors": {}}
    for extractor in args.extractor or EXTRACTORS:
        results["extractors"][extractor] = bench_extractor(extractor, pages, layouts, args.repeats, scratch)
    results["load_after"] = os.getloadavg()[0]
    save_results(args.out, results)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

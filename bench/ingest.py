"""Ingest throughput on real pages: 1 vs 2 workers, and our total time vs bare trafilatura.

    python bench/ingest.py [--repeats 3] [--out bench/out/ingest.json]

Two layouts of the same real pages (../shared/data: the WARC files' HTML responses plus the
standalone HTML pages wrapped as WARC records): many files, and everything in one file.
"Bare" is trafilatura's extraction alone (the same call and options the ingest makes), run
in one process over pages read and decoded beforehand (untimed). "Ours" is the whole
`worldbuild ingest` into a fresh world: reading, decoding, extraction, language id, shards,
dedup, SQLite page store, BM25 index and manifest. Figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import trafilatura  # noqa: E402
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from bench.realdata import save_results, write_many_files, write_one_file  # noqa: E402
from worldbuild.ingest.decode import decode_html  # noqa: E402
from worldbuild.ingest.executor import LocalExecutor  # noqa: E402
from worldbuild.ingest.extract import warm_up  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.records import IngestSettings  # noqa: E402


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


def bare_extraction(pages: list[tuple[str, str]], settings: IngestSettings) -> float:
    began = time.perf_counter()
    for url, html in pages:
        trafilatura.extract_with_metadata(html, url=url, output_format="markdown",
                                          include_comments=settings.include_comments,
                                          include_tables=settings.include_tables)
    return time.perf_counter() - began


def timed_ingest(paths: list[str], workers: int, scratch: str) -> tuple[float, dict]:
    world = tempfile.mkdtemp(dir=scratch)
    began = time.perf_counter()
    result = ingest(paths, world, IngestSettings(), LocalExecutor(workers))
    seconds = time.perf_counter() - began
    shutil.rmtree(world)
    return seconds, result.report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("bench", "out", "ingest.json"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="wb-bench-ingest-")
    settings = IngestSettings()
    warm_up()
    layouts = {
        "one file": [write_one_file(os.path.join(scratch, "all.warc.gz"))],
        "many files": write_many_files(os.path.join(scratch, "many")),
    }
    baseline_pages = html_responses(layouts["one file"][0])
    bare = [bare_extraction(baseline_pages, settings) for _ in range(args.repeats)]
    results = {"pages_extracted_by_bare": len(baseline_pages), "bare_s": statistics.median(bare), "layouts": {}}
    print(f"bare trafilatura: {len(baseline_pages)} HTML pages, median {results['bare_s']:.2f} s "
          f"({len(baseline_pages) / results['bare_s']:.1f} pages/s)", flush=True)
    for layout, paths in layouts.items():
        row = {"files": len(paths)}
        for workers in (1, 2):
            times, report = [], None
            for _ in range(args.repeats):
                seconds, report = timed_ingest(paths, workers, scratch)
                times.append(seconds)
            row[f"workers_{workers}_s"] = statistics.median(times)
            row[f"workers_{workers}_all_s"] = [round(t, 2) for t in times]
            row["records_read"] = report["records_read"]
            row["pages_extracted"] = report["pages_extracted"]
            row["pages_kept"] = report["pages_kept"]
        row["pages_per_s_1"] = row["pages_extracted"] / row["workers_1_s"]
        row["pages_per_s_2"] = row["pages_extracted"] / row["workers_2_s"]
        row["speedup_2_vs_1"] = row["workers_1_s"] / row["workers_2_s"]
        row["ratio_1_worker_vs_bare"] = row["workers_1_s"] / results["bare_s"]
        results["layouts"][layout] = row
        print(f"{layout:>10} ({row['files']} files): {row['pages_extracted']} pages extracted, {row['pages_kept']} kept | "
              f"1 worker {row['workers_1_s']:.2f} s ({row['pages_per_s_1']:.1f} pages/s) | "
              f"2 workers {row['workers_2_s']:.2f} s ({row['pages_per_s_2']:.1f} pages/s) | "
              f"speedup {row['speedup_2_vs_1']:.2f}x | ours/bare {row['ratio_1_worker_vs_bare']:.2f}x", flush=True)
    save_results(args.out, results)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

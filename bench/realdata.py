"""Real inputs for the benchmarks, from `../shared/data/` (see its PROVENANCE.md)."""

from __future__ import annotations

import json
import os

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from worldbuild.ingest.wrap import write_html_response

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("WORLDBUILD_SHARED", os.path.join(REPO, "..", "shared", "data"))
DATE = "2024-01-01T00:00:00Z"


def save_results(path: str, results) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")


def crawl_files(shared: str = SHARED) -> list[str]:
    """The well-formed real WARC/ARC files."""
    folder = os.path.join(shared, "warc")
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith((".warc", ".warc.gz", ".arc.gz")))


def html_pages(shared: str = SHARED) -> list[tuple[str, bytes]]:
    """The real standalone HTML pages with a web URL, as (url, bytes)."""
    rows = [json.loads(line) for line in open(os.path.join(shared, "html", "pages.jsonl"))]
    return [(r["url"], open(os.path.join(shared, "html", r["file"]), "rb").read())
            for r in sorted(rows, key=lambda r: r["file"]) if r["url"].startswith(("http://", "https://"))]


def write_one_file(path: str, shared: str = SHARED) -> str:
    """Every record of every real WARC plus every HTML page, in one gzipped WARC."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for name in crawl_files(shared):
            if name.endswith(".arc.gz"):
                continue
            with open(name, "rb") as handle:
                for record in ArchiveIterator(handle):
                    writer.write_record(record)
        for url, body in html_pages(shared):
            write_html_response(writer, url, body, DATE)
    return path


def write_many_files(folder: str, shared: str = SHARED, parts: int = 8) -> list[str]:
    """The real WARC files as they are, plus the HTML pages spread over `parts` WARC files."""
    os.makedirs(folder, exist_ok=True)
    pages = html_pages(shared)
    paths = []
    for part in range(parts):
        path = os.path.join(folder, f"pages-{part}.warc.gz")
        with open(path, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for url, body in pages[part::parts]:
                write_html_response(writer, url, body, DATE)
        paths.append(path)
    return crawl_files(shared) + paths

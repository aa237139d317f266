"""Rebuild the sample corpus in `corpora/` from the real data in `../shared/data/`.

    python corpora/build_sample.py [--shared ../shared/data]

Writes two gzipped WARC files, byte-identical on every run (fixed record ids and dates):
- `sample-crawls.warc.gz`: every HTTP 200 HTML response record copied as-is from the real
  crawls in `shared/data/warc/` (Heritrix, wget, Common Crawl, Webrecorder captures), plus a
  few of their non-HTML, redirect and revisit records so the demo shows what ingest skips;
- `sample-pages.warc.gz`: real HTML pages from `shared/data/html/` wrapped as WARC response
  records under their original URLs (HTTP headers are reconstructed: status 200 and a
  Content-Type without charset, so the page's own <meta> charset governs decoding).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from worldbuild.ingest.wrap import record_id, write_html_response

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SHARED = os.path.join(HERE, "..", "..", "shared", "data")
PAGES_DATE = "2024-01-01T00:00:00Z"  # the pages carry no capture date; a fixed one keeps builds identical
MAX_PAGE_BYTES = 60_000
MAX_NON_HTML_PER_FILE = 2


def _warcinfo(writer: WARCWriter, filename: str, note: str) -> None:
    info = {"software": "worldbuild corpora/build_sample.py", "format": "WARC File Format 1.0", "description": note}
    record = writer.create_warcinfo_record(filename, info)
    record.rec_headers.replace_header("WARC-Record-ID", record_id("warcinfo", filename))
    record.rec_headers.replace_header("WARC-Date", PAGES_DATE)
    writer.write_record(record)


def _is_html_200(record) -> bool:
    if record.rec_type != "response" or record.http_headers is None:
        return False
    content_type = record.http_headers.get_header("Content-Type") or ""
    return record.http_headers.get_statuscode() == "200" and "html" in content_type.lower()


def build_crawls(shared: str, out_path: str) -> int:
    """Copy the real records; returns how many were written."""
    meta = [json.loads(line) for line in open(os.path.join(shared, "warc", "warcs.jsonl"))]
    names = sorted(m["file"].split("/")[-1] for m in meta if "/bad/" not in m["file"] and "bad/" not in m["file"])
    written = 0
    with open(out_path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        _warcinfo(writer, os.path.basename(out_path), "real records copied from public WARC test fixtures")
        for name in names:
            path = os.path.join(shared, "warc", name)
            if not os.path.exists(path) or name.endswith(".arc.gz"):
                continue
            others = 0
            with open(path, "rb") as handle:
                for record in ArchiveIterator(handle):
                    keep = _is_html_200(record)
                    if not keep and record.rec_type in ("response", "revisit") and others < MAX_NON_HTML_PER_FILE:
                        keep, others = True, others + 1
                    if keep:
                        writer.write_record(record)
                        written += 1
    return written


def _selected_pages(shared: str) -> list[dict]:
    rows = [json.loads(line) for line in open(os.path.join(shared, "html", "pages.jsonl"))]
    rows = sorted((r for r in rows if r["url"].startswith(("http://", "https://"))), key=lambda r: r["file"])
    chosen = []
    for position, row in enumerate(rows):
        unusual_charset = row["meta_charset"] not in ("utf-8",)
        if row["bytes"] <= MAX_PAGE_BYTES and (unusual_charset or position % 2 == 0):
            chosen.append(row)
    return chosen


def build_pages(shared: str, out_path: str) -> int:
    pages = _selected_pages(shared)
    with open(out_path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        _warcinfo(writer, os.path.basename(out_path), "real HTML pages (trafilatura test cache) under their URLs")
        for row in pages:
            body = open(os.path.join(shared, "html", row["file"]), "rb").read()
            write_html_response(writer, row["url"], body, PAGES_DATE)
    return len(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=DEFAULT_SHARED, help="the shared/data folder")
    parser.add_argument("--out", default=HERE, help="where to write the .warc.gz files")
    args = parser.parse_args()
    crawls = build_crawls(args.shared, os.path.join(args.out, "sample-crawls.warc.gz"))
    pages = build_pages(args.shared, os.path.join(args.out, "sample-pages.warc.gz"))
    for name in ("sample-crawls.warc.gz", "sample-pages.warc.gz"):
        path = os.path.join(args.out, name)
        print(f"{name}: {os.path.getsize(path) / 1e6:.2f} MB, sha256 {hashlib.sha256(open(path, 'rb').read()).hexdigest()}")
    print(f"{crawls} crawl records, {pages} wrapped pages")


if __name__ == "__main__":
    main()

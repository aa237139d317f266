"""The map step: one work unit (a byte range of one archive) → one shard of page records.

Pure apart from the two files it writes, so any executor (a local process pool, a cluster)
can run it; a shard whose summary file exists is finished and never redone.
"""

from __future__ import annotations

import json
from urllib.parse import urljoin

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.bufferedreaders import ChunkedDataReader
from warcio.recordloader import ArcWarcRecord

from worldbuild import storage
from worldbuild.ingest.content_encoding import ContentDecodingError, decode_body
from worldbuild.ingest.decode import decode_html
from worldbuild.ingest.extract import extract_page
from worldbuild.ingest.warc import ARCHIVE_ERRORS, WorkUnit, describe_error, is_truncated, iter_unit
from worldbuild.mirrors import MirrorSettings, signature
from worldbuild.records import PAGE_SCHEMA, IngestReport, IngestSettings, Page, content_hash
from worldbuild.urls import BadURL, canonical_url, domain_of

HTML_TYPES = ("text/html", "application/xhtml+xml")
SNIFF_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title")
SNIFF_OTHER = {b"%PDF-": "application/pdf", b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"GIF8": "image/gif", b"PK\x03\x04": "application/zip", b"{": "application/json"}


SHARD_SCHEMA = PAGE_SCHEMA.append(pa.field("minhash", pa.binary()))  # a page and its mirror signature


class Skip(Exception):
    """A record that does not become a page; the message is the report's reason."""


class Redirect(Skip):
    """A 3xx response with a Location: no page, but browse follows it to the page it names."""

    def __init__(self, status: str, source: str, target: str):
        super().__init__(f"redirect (HTTP {status}): followed on browse")
        self.status, self.source, self.target = int(status), source, target


def _redirect(record: ArcWarcRecord, status: str, canonical: str, target: str) -> Redirect | None:
    """The redirect a 3xx response records, or None without a usable Location."""
    if not (status.isdigit() and 300 <= int(status) < 400):
        return None
    location = (record.http_headers.get_header("Location") or "").strip()
    if not location:
        return None
    try:
        to = canonical_url(urljoin(target, location))
    except (BadURL, ValueError):
        return None
    return Redirect(status, canonical, to) if to != canonical else None


def _payload_kind(mime: str, head: bytes) -> str:
    """The payload's real type: HTML, or the non-HTML type to report."""
    start = head.lstrip()[:64].lower()
    for magic, kind in SNIFF_OTHER.items():
        if head.lstrip().startswith(magic):
            return kind
    if mime in HTML_TYPES or "html" in mime or start.startswith(SNIFF_HTML):
        return "html"
    return mime or "(no content type)"


def _looks_like_html(body: bytes) -> bool:
    return body.lstrip()[:64].lower().startswith(SNIFF_HTML)


def _read_body(record: ArcWarcRecord, max_bytes: int) -> bytes:
    """The payload as the server meant it: de-chunked, then every Content-Encoding undone (by
    our decoders, not warcio's: see content_encoding)."""
    if record.length is not None and record.length > max_bytes + 65536:
        raise Skip("body over --max-bytes")
    stream = record.raw_stream
    if "chunked" in (record.http_headers.get_header("Transfer-Encoding") or "").lower():
        stream = ChunkedDataReader(record.raw_stream, decomp_type=None)
    try:
        raw = stream.read(max_bytes + 1)
    except ARCHIVE_ERRORS + (OSError,) as exc:
        raise Skip(f"payload decoding failed ({type(exc).__name__})") from exc
    if len(raw) > max_bytes:
        raise Skip("body over --max-bytes")
    record.raw_stream.read()
    if is_truncated(record):
        raise Skip("record truncated (file ends inside it)")
    encoding = record.http_headers.get_header("Content-Encoding")
    try:
        body, _ = decode_body(raw, encoding, max_bytes + 1)
    except ContentDecodingError as exc:
        if not _looks_like_html(raw):  # some archivers store the body decoded but keep the header
            raise Skip(f"payload decoding failed ({str(exc).split(':')[0]})") from exc
        body = raw
    if len(body) > max_bytes:
        raise Skip("body over --max-bytes")
    return body


def record_to_page(record: ArcWarcRecord, source: str, settings: IngestSettings) -> Page:
    """Turn one record into a page, or raise Skip with the reason."""
    if record.rec_type == "revisit":
        raise Skip("revisit record (no payload)")
    if record.rec_type != "response":
        raise Skip(f"record type: {record.rec_type}")
    target = (record.rec_headers.get_header("WARC-Target-URI") or "").strip()
    try:
        canonical = canonical_url(target)
    except BadURL:
        raise Skip("URL not http(s)") from None
    if record.http_headers is None:
        raise Skip("response without HTTP headers")
    status = record.http_headers.get_statuscode()
    if status != "200":
        raise _redirect(record, status, canonical, target.strip("<>").strip()) or Skip(f"HTTP status {status}")
    content_type = record.http_headers.get_header("Content-Type") or ""
    mime = content_type.split(";")[0].strip().lower()
    body = _read_body(record, settings.max_bytes)
    kind = _payload_kind(mime, body[:512])
    if kind != "html":
        raise Skip(f"non-HTML payload: {kind}")
    html, _ = decode_html(body, content_type)
    try:
        extracted = extract_page(html, target, settings)
    except Exception as exc:  # noqa: BLE001 - one bad page must never stop a run
        raise Skip(f"extraction failed ({type(exc).__name__})") from exc
    if extracted is None:
        raise Skip("no extractable text")
    if len(extracted.text) < settings.min_chars:
        raise Skip("text shorter than --min-chars")
    if settings.langs and extracted.lang not in settings.langs:
        raise Skip(f"language not allowed: {extracted.lang}")
    title = extracted.title or extracted.text.split("\n", 1)[0].lstrip("#* ")[:200] or canonical
    return Page(
        url=target.strip("<>").strip(),
        canonical_url=canonical,
        title=title,
        text=extracted.text,
        crawl_date=record.rec_headers.get_header("WARC-Date") or "",
        lang=extracted.lang,
        domain=domain_of(canonical),
        content_hash=content_hash(extracted.text),
        source=source,
        length=len(extracted.text),
        published_date=extracted.published_date,
    )


def extract_unit(unit: WorkUnit, settings: IngestSettings) -> tuple[list[Page], IngestReport]:
    """Every page of one unit, and the report of what was skipped and why. Redirects recorded in
    the unit are in `report.redirects`."""
    pages: list[Page] = []
    report = IngestReport()
    last_offset = None
    try:
        for offset, record in iter_unit(unit):
            report.records_read += 1
            last_offset = offset
            source = f"{unit.name}#{offset}"
            try:
                pages.append(record_to_page(record, source, settings))
            except Redirect as redirect:
                report.skip(str(redirect), source)
                report.redirects.append([redirect.source, redirect.target, redirect.status, source])
            except Skip as skip:
                report.skip(str(skip), source)
            except ARCHIVE_ERRORS + (OSError,):
                raise
            except Exception as exc:  # noqa: BLE001 - a record we did not foresee is skipped, not fatal
                report.skip(f"record failed ({type(exc).__name__})", source)
    except ARCHIVE_ERRORS + (OSError,) as exc:
        reason, detail = describe_error(exc, mid_way=report.records_read > 0 or unit.start > 0)
        report.skip(reason, unit.name)
        where = f" after the record at offset {last_offset}" if last_offset is not None else ""
        report.file_error(unit.name, f"{reason}{where}: {detail} (kept the {report.records_read} records before it)")
    report.pages_extracted = len(pages)
    return pages, report


def shard_paths(shard_dir: str, unit: WorkUnit) -> tuple[str, str]:
    base = storage.join(shard_dir, unit.unit_id)
    return base + ".parquet", base + ".json"


def map_unit(unit: WorkUnit, settings: IngestSettings, shard_dir: str,
             mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """Extract one unit into `<shard_dir>/<unit_id>.parquet` (each page with its MinHash
    signature, the costly half of mirror detection) plus its summary `.json` (written last: its
    presence marks the shard finished). `shard_dir` is a folder or an object-store URL. Returns
    the summary."""
    pages, report = extract_unit(unit, settings)
    return write_shard(shard_dir, unit, pages, report, mirrors)


def write_shard(shard_dir: str, unit: WorkUnit, pages: list[Page], report: IngestReport,
                mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """Write a unit's pages, then its summary (whose presence marks the shard finished)."""
    parquet_path, summary_path = shard_paths(shard_dir, unit)
    rows = [{**page.to_dict(), "minhash": signature(page.text, mirrors)} for page in pages]
    table = pa.Table.from_pylist(rows, schema=SHARD_SCHEMA)
    with storage.open_write(parquet_path) as handle:
        pq.write_table(table, handle, compression="zstd")
    summary = {"unit": unit.to_dict(), "pages": len(pages), "report": report.to_dict()}
    with storage.open_write(summary_path) as handle:
        handle.write(json.dumps(summary).encode())
    return summary


def read_shard(shard_dir: str, unit: WorkUnit) -> pa.Table:
    path = shard_paths(shard_dir, unit)[0]
    if not storage.is_url(path):
        return pq.read_table(storage.local(path))
    with storage.open_input(path) as handle:
        return pq.read_table(handle)


def read_summary(shard_dir: str, unit: WorkUnit) -> dict | None:
    """The summary of a finished shard, or None when the unit still has to run."""
    parquet_path, summary_path = shard_paths(shard_dir, unit)
    if not (storage.exists(summary_path) and storage.exists(parquet_path)):
        return None
    return json.loads(storage.read_bytes(summary_path))

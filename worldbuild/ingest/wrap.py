"""Wrap saved HTML pages (URL + bytes) as WARC response records, so that pages saved outside
a crawler enter a world through the same ingest as real crawls."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Iterable

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def record_id(*parts: str) -> str:
    """A WARC-Record-ID derived from its parts: rebuilding a file gives identical bytes."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()[:16]
    return f"<urn:uuid:{uuid.UUID(bytes=digest)}>"


def write_html_response(writer: WARCWriter, url: str, body: bytes, date: str, content_type: str = "text/html") -> None:
    """One HTTP 200 response record; the Content-Type carries no charset unless given, so
    the page's own <meta> charset governs decoding."""
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                               protocol="HTTP/1.1")
    record = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers,
        warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": record_id("page", url, date)},
    )
    writer.write_record(record)


def write_html_warc(path: str, pages: Iterable[tuple[str, bytes]], date: str) -> int:
    """Write `(url, html bytes)` pairs into one gzipped WARC; returns how many were written."""
    count = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, body in pages:
            write_html_response(writer, url, body, date)
            count += 1
    return count

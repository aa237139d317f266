"""Write small WARC files for tests with warcio, the same library that reads them."""

from __future__ import annotations

import io

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

LOREM = (
    "The harbour authority of Valdora recorded {n} ship arrivals in the spring of 1987, "
    "a figure the municipal archive later confirmed in its annual ledger. "
)


def article(title: str, words: str = "", paragraphs: int = 8, extra: str = "") -> str:
    """An HTML article with enough text to pass the default --min-chars."""
    body = "".join(f"<p>{LOREM.format(n=100 + i)} {words}</p>\n" for i in range(paragraphs))
    return (f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>\n{body}{extra}</article></body></html>")


def response(url: str, body: bytes | str, content_type: str = "text/html; charset=utf-8",
             status: str = "200 OK", date: str = "2024-05-01T12:00:00Z") -> dict:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return {"type": "response", "url": url, "body": body, "content_type": content_type, "status": status,
            "date": date}


def write_warc(path: str, records: list[dict], gzip: bool = True) -> str:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip)
        for spec in records:
            kind = spec["type"]
            if kind == "warcinfo":
                writer.write_record(writer.create_warcinfo_record(path, {"software": "tests"}))
                continue
            body = spec.get("body", b"")
            headers = None
            if kind in ("response", "revisit"):
                headers = StatusAndHeaders(spec.get("status", "200 OK"),
                                           [("Content-Type", spec.get("content_type", "text/html")),
                                            ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            elif kind == "request":
                headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
            record = writer.create_warc_record(
                spec["url"], kind, payload=io.BytesIO(body), length=len(body), http_headers=headers,
                warc_headers_dict={"WARC-Date": spec.get("date", "2024-05-01T12:00:00Z")},
            )
            writer.write_record(record)
    return path

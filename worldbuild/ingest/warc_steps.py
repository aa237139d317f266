"""The steps that make a page of a WARC/ARC record, one job each, in the order `warc_steps` lists
them: which records hold a page (type, URL, status), the payload (size, transfer and content
encodings, real type, charset), then the text (extraction, length, language)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from warcio.bufferedreaders import ChunkedDataReader

from worldbuild.ingest.content_encoding import ContentDecodingError, decode_body
from worldbuild.ingest.decode import decode_html
from worldbuild.ingest.extract import extract_page
from worldbuild.ingest.steps import AllowedLanguages, Draft, MinChars, Redirect, Skip, Step
from worldbuild.ingest.warc import ARCHIVE_ERRORS, is_truncated
from worldbuild.records import IngestSettings
from worldbuild.urls import BadURL, canonical_url

HTML_TYPES = ("text/html", "application/xhtml+xml")
SNIFF_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title")
SNIFF_OTHER = {b"%PDF-": "application/pdf", b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"GIF8": "image/gif", b"PK\x03\x04": "application/zip", b"{": "application/json"}


def response_records(draft: Draft) -> Draft:
    """Only response records hold a page."""
    kind = draft.record.rec_type
    if kind == "revisit":
        raise Skip("revisit record (no payload)")
    if kind != "response":
        raise Skip(f"record type: {kind}")
    return draft


def http_url(draft: Draft) -> Draft:
    """The page's URL and its canonical form; only http(s) pages."""
    target = (draft.record.rec_headers.get_header("WARC-Target-URI") or "").strip()
    try:
        draft.canonical_url = canonical_url(target)
    except BadURL:
        raise Skip("URL not http(s)") from None
    draft.url = target.strip("<>").strip()
    draft.crawl_date = draft.record.rec_headers.get_header("WARC-Date") or ""
    return draft


def http_ok(draft: Draft) -> Draft:
    """Only HTTP 200 responses; a 3xx with a usable Location is a redirect browse follows."""
    headers = draft.record.http_headers
    if headers is None:
        raise Skip("response without HTTP headers")
    status = headers.get_statuscode()
    if status != "200":
        raise _redirect(draft, status) or Skip(f"HTTP status {status}")
    draft.content_type = headers.get_header("Content-Type") or ""
    return draft


def _redirect(draft: Draft, status: str) -> Redirect | None:
    """The redirect a 3xx response records, or None without a usable Location."""
    if not (status.isdigit() and 300 <= int(status) < 400):
        return None
    location = (draft.record.http_headers.get_header("Location") or "").strip()
    if not location:
        return None
    try:
        to = canonical_url(urljoin(draft.url, location))
    except (BadURL, ValueError):
        return None
    return Redirect(status, draft.canonical_url, to) if to != draft.canonical_url else None


@dataclass(frozen=True)
class ReadPayload:
    """The payload as the server meant it, at most `--max-bytes`: de-chunked, then every
    Content-Encoding undone (by our decoders, not warcio's: see content_encoding)."""

    max_bytes: int

    def __call__(self, draft: Draft) -> Draft:
        record, max_bytes = draft.record, self.max_bytes
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
            if not looks_like_html(raw):  # some archivers store the body decoded but keep the header
                raise Skip(f"payload decoding failed ({str(exc).split(':')[0]})") from exc
            body = raw
        if len(body) > max_bytes:
            raise Skip("body over --max-bytes")
        draft.body = body
        return draft


def looks_like_html(body: bytes) -> bool:
    return body.lstrip()[:64].lower().startswith(SNIFF_HTML)


def payload_kind(mime: str, head: bytes) -> str:
    """The payload's real type: HTML, or the non-HTML type to report."""
    start = head.lstrip()[:64].lower()
    for magic, kind in SNIFF_OTHER.items():
        if head.lstrip().startswith(magic):
            return kind
    if mime in HTML_TYPES or "html" in mime or start.startswith(SNIFF_HTML):
        return "html"
    return mime or "(no content type)"


def html_only(draft: Draft) -> Draft:
    """Only HTML payloads, by content as much as by the declared type."""
    kind = payload_kind(draft.content_type.split(";")[0].strip().lower(), draft.body[:512])
    if kind != "html":
        raise Skip(f"non-HTML payload: {kind}")
    return draft


def decode_charset(draft: Draft) -> Draft:
    """The HTML as text, in the charset the headers, the page or its bytes say."""
    draft.html, _ = decode_html(draft.body, draft.content_type)
    return draft


@dataclass(frozen=True)
class Extract:
    """Main text, title, date and language by the world's extractor (docs/benchmarks.md)."""

    settings: IngestSettings

    def __call__(self, draft: Draft) -> Draft:
        target = (draft.record.rec_headers.get_header("WARC-Target-URI") or "").strip()  # as the record has it
        try:
            extracted = extract_page(draft.html, target, self.settings)
        except Exception as exc:  # noqa: BLE001 - one bad page must never stop a run
            raise Skip(f"extraction failed ({type(exc).__name__})") from exc
        if extracted is None:
            raise Skip("no extractable text")
        draft.title, draft.text = extracted.title, extracted.text
        draft.published_date, draft.lang = extracted.published_date, extracted.lang
        return draft


def warc_steps(settings: IngestSettings) -> list[Step]:
    """A record → page, as every world's ingest does it, before the world's extra steps."""
    return [response_records, http_url, http_ok, ReadPayload(settings.max_bytes), html_only, decode_charset,
            Extract(settings), MinChars(settings.min_chars), AllowedLanguages(tuple(settings.langs))]

"""The crawl's WARC file: warcinfo, request, response and revisit records written with warcio,
appended across resumed runs. A record torn by a crash is cut off on reopen, so the file always
reads to the end; payloads already stored become revisit records that point at the first copy."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import datetime, timezone

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# headers that describe the bytes on the wire, not the (de-chunked) body we store
HOP_BY_HOP = {"transfer-encoding", "connection", "keep-alive"}


def payload_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def warc_date(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def complete_length(path: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """Bytes of whole records at the start of `path`, and the payload digests of its responses
    (digest -> (uri, date)) so a resumed crawl still writes revisits for them."""
    digests: dict[str, tuple[str, str]] = {}
    end = 0
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle)
        try:
            for record in iterator:
                headers = record.rec_headers
                iterator.read_to_end(record)  # the raw block: no content decoding to trip on
                if getattr(record.raw_stream, "limit", 0):  # cut short: the stream ended mid-record
                    break
                end = iterator.get_record_offset() + iterator.get_record_length()
                digest = headers.get_header("WARC-Payload-Digest")
                if record.rec_type == "response" and digest and digest not in digests:
                    digests[digest] = (headers.get_header("WARC-Target-URI"), headers.get_header("WARC-Date"))
        except Exception:  # a torn gzip member or header: everything before it is kept
            pass
    return end, digests


class WarcFile:
    def __init__(self, path: str, info: dict[str, str]):
        self.path = path
        self.digests: dict[str, tuple[str, str]] = {}
        self.repaired_bytes = 0
        if os.path.exists(path) and os.path.getsize(path):
            end, self.digests = complete_length(path)
            self.repaired_bytes = os.path.getsize(path) - end
            if self.repaired_bytes:
                with open(path, "rb+") as handle:
                    handle.truncate(end)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.handle = open(path, "ab")
        self.writer = WARCWriter(self.handle, gzip=path.endswith(".gz"))
        self.writer.write_record(self.writer.create_warcinfo_record(os.path.basename(path), info))
        self.handle.flush()

    def write_exchange(self, method: str, url: str, request_headers: list[tuple[str, str]], protocol: str,
                       status: int, reason: str, response_headers: list[tuple[str, str]], body: bytes,
                       ip: str | None = None) -> str:
        """One request/response pair; returns "response" or "revisit" (a payload stored before)."""
        date = warc_date()
        headers = [(k, v) for k, v in response_headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        http = StatusAndHeaders(f"{status} {reason}".strip(), headers, protocol=protocol or "HTTP/1.1")
        warc_headers = {"WARC-Date": date}
        if ip:
            warc_headers["WARC-IP-Address"] = ip
        digest = payload_digest(body)
        first = self.digests.get(digest) if body else None
        if first:
            response = self.writer.create_revisit_record(url, digest, first[0], first[1], http_headers=http,
                                                         warc_headers_dict=warc_headers)
            kind = "revisit"
        else:
            response = self.writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                                      warc_headers_dict=warc_headers)
            self.digests.setdefault(digest, (url, date))
            kind = "response"
        target = url.split("://", 1)[-1]
        path = "/" + target.split("/", 1)[1] if "/" in target else "/"
        request = self.writer.create_warc_record(
            url, "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(f"{method} {path} {protocol or 'HTTP/1.1'}", request_headers,
                                          is_http_request=True),
            warc_headers_dict={"WARC-Date": date,
                               "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
        self.writer.write_record(response)
        self.writer.write_record(request)
        self.handle.flush()
        return kind

    def close(self) -> None:
        self.handle.close()

"""A CDX index server over local WARC files, in the shape of Common Crawl's index API
(`GET /cdx?url=U&output=json` → one JSON capture per line with filename, offset, length), and
the files themselves under `/warcs/` with HTTP Range support: what `worldbuild expand` meets
at index.commoncrawl.org and data.commoncrawl.org, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from warcio.archiveiterator import ArchiveIterator

from worldbuild.urls import canonical_url


def index_warcs(folder: str) -> dict[str, list[dict]]:
    """canonical URL → captures of every response record in the folder's readable WARC files."""
    index: dict[str, list[dict]] = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or not name.endswith((".warc", ".warc.gz")):
            continue
        try:
            with open(path, "rb") as handle:
                iterator = ArchiveIterator(handle)
                for record in iterator:
                    if record.rec_type != "response" or not record.http_headers:
                        continue
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    status = record.http_headers.get_statuscode()
                    mime = record.http_headers.get_header("Content-Type") or ""
                    date = record.rec_headers.get_header("WARC-Date") or ""
                    iterator.read_to_end(record)
                    capture = {"url": uri, "filename": name, "offset": iterator.get_record_offset(),
                               "length": iterator.get_record_length(), "status": status, "mime": mime,
                               "timestamp": "".join(ch for ch in date if ch.isdigit())[:14]}
                    index.setdefault(canonical_url(uri), []).append(capture)
        except Exception:
            continue  # a file warcio cannot read is simply not in the index
    return index


class CdxServer:
    def __init__(self, folder: str):
        self.folder = folder
        self.index = index_warcs(folder)
        self.lookups: list[str] = []
        self.ranges: list[tuple[str, str]] = []

    def __enter__(self) -> str:
        server_state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def reply(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/cdx":
                    url = parse_qs(parts.query).get("url", [""])[0]
                    server_state.lookups.append(url)
                    captures = server_state.index.get(canonical_url(url)) if url else None
                    if not captures:
                        return self.reply(404, b'{"message": "No Captures found"}')
                    return self.reply(200, "\n".join(json.dumps(c) for c in captures).encode() + b"\n")
                if parts.path.startswith("/warcs/"):
                    path = os.path.join(server_state.folder, os.path.basename(unquote(parts.path)))
                    if not os.path.isfile(path):
                        return self.reply(404, b"no such file")
                    data = open(path, "rb").read()
                    wanted = self.headers.get("Range", "")
                    server_state.ranges.append((os.path.basename(path), wanted))
                    if not wanted.startswith("bytes="):
                        return self.reply(200, data)
                    start, end = (int(x) for x in wanted[6:].split("-"))
                    return self.reply(206, data[start:end + 1],
                                      {"Content-Range": f"bytes {start}-{end}/{len(data)}"})
                return self.reply(404, b"not found")

            def do_HEAD(self):
                path = os.path.join(server_state.folder, os.path.basename(unquote(urlsplit(self.path).path)))
                if not urlsplit(self.path).path.startswith("/warcs/") or not os.path.isfile(path):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(os.path.getsize(path)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that stop reading mid-range are expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

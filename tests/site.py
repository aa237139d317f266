"""A small web on 127.0.0.1 made of real pages from ../shared/data/html, for crawl tests: the
pages link to each other, and the index links to the awkward cases a crawler meets (a path
robots.txt forbids, a redirect, a 404, a slow page, a huge page, a PDF, a byte-identical copy,
another host). A real threaded HTTP server; it records every path it served."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import SHARED

HTML_DIR = os.path.join(SHARED, "html")
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def real_pages(count: int) -> list[bytes]:
    """`count` real UTF-8 pages of moderate size, in manifest order (deterministic)."""
    pages = []
    with open(os.path.join(HTML_DIR, "pages.jsonl")) as handle:
        for line in handle:
            entry = json.loads(line)
            if entry.get("meta_charset") == "utf-8" and 5_000 < entry["bytes"] < 150_000:
                pages.append(open(os.path.join(HTML_DIR, entry["file"]), "rb").read())
            if len(pages) == count:
                break
    return pages


def with_links(page: bytes, hrefs: list[str]) -> bytes:
    nav = ("<nav>" + " ".join(f'<a href="{h}">link {i}</a>' for i, h in enumerate(hrefs)) + "</nav>").encode()
    cut = page.lower().rfind(b"</body>")
    return page[:cut] + nav + page[cut:] if cut != -1 else page + nav


class Site:
    def __init__(self, pages: int = 8, slow_seconds: float = 3.0, huge_bytes: int = 3 * 1024 * 1024):
        self.bodies = real_pages(pages)
        self.slow_seconds, self.huge_bytes = slow_seconds, huge_bytes
        self.served: list[str] = []
        self.delay = 0.0  # added to every page (for interrupting a crawl midway)

    def page(self, i: int) -> bytes:
        n = len(self.bodies)
        return with_links(self.bodies[i], [f"/page/{(i + 1) % n}", f"/page/{(i + 2) % n}"])

    def index(self) -> bytes:
        specials = ["/page/0", "/private/secret", "/old", "/missing", "/slow", "/huge", "/doc.pdf", "/dup",
                    "http://other.invalid/elsewhere"]
        return with_links(b"<html><head><title>Index</title></head><body><h1>Index</h1></body></html>", specials)

    def answer_with(self, path: str, accept: str):
        """(status, headers, body) for a path, given the request's Accept-Encoding."""
        return self.answer(path)

    def answer(self, path: str):
        """(status, headers, body) for a path."""
        html = [("Content-Type", "text/html; charset=utf-8")]
        if path == "/robots.txt":
            return 200, [("Content-Type", "text/plain")], ROBOTS
        if path == "/":
            return 200, html, self.index()
        if path.startswith("/page/") and path[6:].isdigit() and int(path[6:]) < len(self.bodies):
            time.sleep(self.delay)
            return 200, html, self.page(int(path[6:]))
        if path == "/dup":
            return 200, html, self.page(1)
        if path == "/old":
            return 301, [("Location", "/page/3")], b""
        if path == "/private/secret":
            return 200, html, b"<html><body>secret</body></html>"
        if path == "/slow":
            time.sleep(self.slow_seconds)
            return 200, html, b"<html><body>slow</body></html>"
        if path == "/huge":
            return 200, html, b"<html><body>" + b"x" * self.huge_bytes + b"</body></html>"
        if path == "/doc.pdf":
            return 200, [("Content-Type", "application/pdf")], b"%PDF-1.4\n% a tiny PDF\n%%EOF\n"
        return 404, html, b"<html><body>not found</body></html>"

    def __enter__(self) -> str:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.served.append(self.path)
                status, headers, body = site.answer_with(self.path, self.headers.get("Accept-Encoding", ""))
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a crawler that drops a huge download mid-body is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def encode(body: bytes, coding: str) -> bytes:
    """`body` in one HTTP content coding, each by its own library."""
    import gzip
    import zlib

    import brotli
    import zstandard

    coders = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
              "zstd": zstandard.ZstdCompressor().compress}
    return coders[coding](body)


class EncodedSite(Site):
    """Real pages, each served in one content coding (or a stack of them, applied left to right)
    when the client's Accept-Encoding allows it, as a server that honours it does."""

    CODINGS = ("gzip", "deflate", "br", "zstd", "gzip, br", "deflate, zstd")

    def __init__(self):
        super().__init__(pages=len(self.CODINGS))
        self.accepted: list[str] = []

    def index(self) -> bytes:
        links = [f"/enc/{i}" for i in range(len(self.CODINGS))]
        return with_links(b"<html><head><title>Codings</title></head><body><h1>Codings</h1></body></html>", links)

    def answer_with(self, path: str, accept: str):
        if path.startswith("/enc/") and path[5:].isdigit():
            i = int(path[5:])
            coding = self.CODINGS[i]
            names = [c.strip() for c in coding.split(",")]
            allowed = {a.split(";")[0].strip() for a in accept.split(",")}
            self.accepted.append(accept)
            body = self.bodies[i]
            if not set(names) <= allowed:
                return 200, [("Content-Type", "text/html; charset=utf-8")], body
            for name in names:
                body = encode(body, name)
            return 200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", coding)], body
        return self.answer(path)

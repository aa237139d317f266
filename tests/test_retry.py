"""The one retry policy of every HTTP client: a real local server that answers 429 with
`Retry-After` (seconds or an HTTP date) before it serves; the clients wait what it asks."""

import asyncio
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worldbuild.retry import Backoff, retry_after_seconds


class ThrottlingServer:
    """Answers the first `throttle` requests with 429 and `Retry-After: <retry_after>`, then
    `body` (JSON) with 200; records when each request arrived."""

    def __init__(self, body, throttle: int = 1, retry_after: str = "1", status: int = 429):
        self.body, self.throttle, self.retry_after, self.status = body, throttle, retry_after, status
        self.arrivals: list[float] = []

    def __enter__(self) -> str:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                state.arrivals.append(time.monotonic())
                if len(state.arrivals) <= state.throttle:
                    body, status, extra = b'{"error": "slow down"}', state.status, {"Retry-After": state.retry_after}
                else:
                    body, status, extra = json.dumps(state.body).encode(), 200, {}
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:])]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", lambda: now) == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), lambda: now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), lambda: now) == 0.0
    for unreadable in (None, "", "soon", "-"):
        assert retry_after_seconds(unreadable, lambda: now) is None


def test_backoff_has_jitter_and_a_cap_and_honours_the_server():
    backoff = Backoff(retries=5, base=1.0, cap=4.0, max_retry_after=60)
    delays = [backoff.delay(3) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in delays)  # 1 * 2**3 = 8, capped at 4
    assert len({round(d, 6) for d in delays}) > 100  # jittered: clients that failed together spread out
    assert backoff.delay(0, "2") == 2.0 and backoff.delay(0, "3600") == 60  # the server's word, within reason


def test_expand_sources_honour_retry_after_and_give_up_with_one_error():
    from worldbuild.expand.backends import CdxIndex, SerperSearch, SourceError

    organic = {"organic": [{"title": "Valdora", "link": "https://valdora.example/", "snippet": "x"}]}
    server = ThrottlingServer(organic, throttle=2, retry_after="1")
    with server as base:
        search = SerperSearch(base + "/search", retries=3, backoff=0.01)
        try:
            assert search.search("valdora")[0]["link"] == "https://valdora.example/"
        finally:
            search.close()
    # without Retry-After the 0.01 s backoff would retry at once; the server asked for 1 s twice
    assert len(server.arrivals) == 3 and all(gap >= 0.95 for gap in server.gaps())

    capture = {"url": "https://valdora.example/", "filename": "a.warc.gz", "offset": 0, "length": 10,
               "timestamp": "20260101000000", "status": "200", "mime": "text/html"}
    server = ThrottlingServer(capture, throttle=1, retry_after=format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True))
    with server as base:
        index = CdxIndex(base + "/cdx", base + "/warcs/", retries=2, backoff=0.01)
        try:
            found = index.lookup("https://valdora.example/")
        finally:
            index.close()
    assert found is not None and found.filename == "a.warc.gz"
    assert len(server.arrivals) == 2 and server.gaps()[0] >= 0.9  # an HTTP date, a second or two away

    server = ThrottlingServer(organic, throttle=10, retry_after="0")
    with server as base:
        search = SerperSearch(base + "/search", retries=2, backoff=0.01)
        try:
            with pytest.raises(SourceError, match="429"):
                search.search("valdora")
        finally:
            search.close()
    assert len(server.arrivals) == 3  # one try and two retries, then one clear error


def test_world_client_and_llm_share_the_policy():
    from tests.llm_double import LLMDouble
    from worldbuild.llm import LLM
    from worldbuild.client import AsyncWorldClient

    server = ThrottlingServer({"results": [{"url": "https://valdora.example/", "title": "V"}]}, throttle=1,
                              retry_after="1", status=503)
    with server as base:
        async def go():
            client = AsyncWorldClient(base, retries=2, backoff=0.01)
            try:
                return await client.search("valdora")
            finally:
                await client.aclose()

        hits = asyncio.run(go())
    assert hits[0]["url"] == "https://valdora.example/" and server.gaps()[0] >= 0.95

    script = [{"status": 429, "headers": {"Retry-After": "1"}}, {"content": "fine"}]
    with LLMDouble(script) as double:
        async def ask():
            llm = LLM(double.base_url, "m", max_retries=2, backoff=0.01)
            try:
                began = time.monotonic()
                reply = await llm.complete([{"role": "user", "content": "hi"}])
                return reply, time.monotonic() - began, llm.usage.retries
            finally:
                await llm.aclose()

        reply, waited, retries = asyncio.run(ask())
    assert reply.text == "fine" and retries == 1 and waited >= 0.95

"""The two outside sources of an expansion round, as HTTP clients: a Serper-shaped search API
(Serper itself with a key, or another `worldbuild serve` at /serper/search) and a CDX index
server plus the WARC files it names (Common Crawl's index API and data.commoncrawl.org, or a
pywb/our own test server), fetched by byte range so only the needed records travel."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from worldbuild.retry import Backoff, request


class SourceError(RuntimeError):
    """A source refused or failed a request for good (after retries)."""


def _get_with_retries(client: httpx.Client, method: str, url: str, backoff: Backoff, **kwargs) -> httpx.Response:
    """The shared retry policy (jitter, `Retry-After`); a connection that never comes is a SourceError."""
    try:
        return request(client, method, url, backoff, **kwargs)
    except httpx.TransportError as exc:
        raise SourceError(f"{url}: {type(exc).__name__}: {exc}") from exc


class SerperSearch:
    """POST {"q", "num"} → {"organic": [{"title", "link", "snippet", ...}]}."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 2,
                 backoff: float = 1.0):
        headers = {"X-API-KEY": api_key} if api_key else {}
        self.url, self.backoff = url, Backoff(retries=retries, base=backoff)
        self.http = httpx.Client(timeout=timeout, headers=headers)

    def search(self, query: str, num: int = 10) -> list[dict]:
        response = _get_with_retries(self.http, "POST", self.url, self.backoff, json={"q": query, "num": num})
        if response.status_code != 200:
            raise SourceError(f"search backend answered {response.status_code}: {response.text[:200]}")
        return [hit for hit in response.json().get("organic", []) if isinstance(hit, dict) and hit.get("link")]

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class Capture:
    url: str
    filename: str
    offset: int
    length: int
    timestamp: str
    status: str
    mime: str


class CdxIndex:
    """GET {cdx_url}?url=U&output=json → one JSON capture per line; records fetched from
    {warc_base}/{filename} with a Range header."""

    def __init__(self, cdx_url: str, warc_base: str, timeout: float = 30.0, retries: int = 2, backoff: float = 1.0):
        self.cdx_url, self.warc_base = cdx_url, warc_base.rstrip("/") + "/"
        self.backoff = Backoff(retries=retries, base=backoff)
        self.http = httpx.Client(timeout=timeout, follow_redirects=True)

    def lookup(self, url: str) -> Capture | None:
        """The newest HTTP-200 HTML capture of `url`, or None."""
        response = _get_with_retries(self.http, "GET", self.cdx_url, self.backoff,
                                     params={"url": url, "output": "json"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceError(f"CDX server answered {response.status_code}: {response.text[:200]}")
        captures = []
        for line in response.text.splitlines():
            try:
                entry = json.loads(line)
                captures.append(Capture(entry["url"], entry["filename"], int(entry["offset"]), int(entry["length"]),
                                        str(entry.get("timestamp", "")), str(entry.get("status", "")),
                                        str(entry.get("mime", ""))))
            except (ValueError, KeyError, TypeError):
                continue
        good = [c for c in captures if c.status in ("200", "") and "html" in c.mime.lower()]
        return max(good, key=lambda c: c.timestamp) if good else None

    def fetch(self, capture: Capture) -> bytes:
        """The capture's record, gzip-compressed as one member (appendable to a .warc.gz)."""
        end = capture.offset + capture.length - 1
        response = _get_with_retries(self.http, "GET", urljoin(self.warc_base, capture.filename), self.backoff,
                                     headers={"Range": f"bytes={capture.offset}-{end}"})
        if response.status_code != 206 or len(response.content) != capture.length:
            raise SourceError(f"byte range of {capture.filename} answered {response.status_code} with "
                              f"{len(response.content)} of {capture.length} bytes")
        data = response.content
        return data if data[:2] == b"\x1f\x8b" else gzip.compress(data)

    def close(self) -> None:
        self.http.close()


def describe(url: str) -> str:
    """A source's address without credentials or query, for the manifest."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def env_key(name: str = "SERPER_API_KEY") -> str | None:
    return os.environ.get(name) or None

"""What the crawl follows: links of HTML pages, within the depth, host and pattern limits, up
to the page budget. Every link not followed is counted with its reason (the closing report)."""

from __future__ import annotations

import re
from collections import Counter, deque
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from worldbuild.urls import canonical_url


def is_html(response) -> bool:
    kind = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
    return "html" in kind or (not kind and response.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")))


def failure_reason(failure) -> str:
    if failure.check(HttpError):
        return f"http {failure.value.response.status}"
    name = type(failure.value).__name__
    if failure.check(TimeoutError, TCPTimedOutError) or "Timeout" in name:
        return "timeout"
    if failure.check(DNSLookupError) or "Resolve" in name or "DNS" in name:
        return "host not found"
    message = str(failure.value)
    if "max size" in message or "maxsize" in message.lower():
        return "too large"
    if "robots.txt" in message:
        return "robots.txt"
    return name


class WorldSpider(scrapy.Spider):
    """`start_urls`, `max_depth`, `max_pages`, `same_host`, `include`, `exclude` come as arguments."""

    name = "worldbuild"

    def __init__(self, start_urls: list[str], max_depth: int = 2, max_pages: int = 1000, same_host: bool = False,
                 include: list[str] | None = None, exclude: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = list(start_urls)
        self.max_depth, self.max_pages, self.same_host = max_depth, max_pages, same_host
        self.include = [re.compile(p) for p in include or []]
        self.exclude = [re.compile(p) for p in exclude or []]
        self.hosts = {urlsplit(u).hostname for u in start_urls}
        self.links = LinkExtractor(deny_extensions=[])
        self.counts: Counter = Counter()  # this run
        self.pending = 0  # requests scheduled in this run and not answered yet
        self.waiting: deque = deque()  # links the budget held back while requests were in flight
        self.state: dict = {}  # Scrapy persists it in JOBDIR: totals across resumed runs

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    def dropped(self, request, spider=None):
        """The scheduler refused a request (seen before): it gives its budget place back."""
        self.pending = max(0, self.pending - 1)

    def idle(self, spider=None):
        """Nothing in flight: links the budget held back get the places that were freed."""
        scheduled = False
        while self.waiting and self._take():
            self.crawler.engine.crawl(self._request(*self.waiting.popleft()))
            scheduled = True
        if scheduled:
            raise DontCloseSpider

    async def start(self):
        self.state.setdefault("fetched", 0)
        self.state.setdefault("requested", set())
        for url in self.start_urls:
            if self._take():
                yield self._request(url, 0)

    def _take(self) -> bool:
        """Follow while the budget lasts: pages fetched over all runs of this crawl, plus the
        requests of this run still in flight (so the crawl does not overshoot)."""
        if self.state["fetched"] + self.pending >= self.max_pages:
            return False
        self.pending += 1
        return True

    def _request(self, url: str, depth: int) -> scrapy.Request:
        self.state["requested"].add(canonical_url(url))  # kept in JOBDIR: a resumed run knows them too
        return scrapy.Request(url, callback=self.parse, errback=self.failed, meta={"depth": depth})

    def closed(self, reason):
        if self.waiting:
            self.counts["not followed: page budget"] += len(self.waiting)

    def _fetched(self) -> None:
        self.pending = max(0, self.pending - 1)
        self.state["fetched"] = self.state.get("fetched", 0) + 1
        if self.state["fetched"] >= self.max_pages:  # what is queued stays in JOBDIR for a larger budget
            raise CloseSpider("page budget")

    def _refusal(self, url: str) -> str | None:
        if self.same_host and urlsplit(url).hostname not in self.hosts:
            return "not followed: other host"
        if self.include and not any(p.search(url) for p in self.include):
            return "not followed: --include"
        if any(p.search(url) for p in self.exclude):
            return "not followed: --exclude"
        return None

    def parse(self, response):
        if not is_html(response):
            self.counts["fetched: not HTML (kept in the WARC, not parsed)"] += 1
            self._fetched()
            return
        self.counts["fetched: HTML pages"] += 1
        self._fetched()
        depth = response.meta.get("depth", 0)
        if depth >= self.max_depth:
            return
        seen = set()
        for link in self.links.extract_links(response):
            key = canonical_url(link.url)
            if key in seen or key in self.state["requested"]:  # asked for already: costs no budget
                continue
            seen.add(key)
            refusal = self._refusal(link.url)
            if refusal:
                self.counts[refusal] += 1
            elif self._take():
                yield self._request(link.url, depth + 1)
            else:  # a request that fails gives its place back to one of these
                self.waiting.append((link.url, depth + 1))

    def failed(self, failure):
        self.pending = max(0, self.pending - 1)
        self.counts[f"skipped: {failure_reason(failure)}"] += 1
        while self.waiting and self._take():
            yield self._request(*self.waiting.popleft())

"""A Scrapy downloader middleware that records every exchange in the WARC file. It sits next to
the downloader (order 950), so it sees responses before decompression, redirects and retries
touch them: redirects, error pages and robots.txt are recorded as they came."""

from __future__ import annotations

from collections import Counter

from scrapy import signals

from worldbuild.crawl.warcfile import WarcFile

ORDER = 950


class WarcRecorder:
    def __init__(self, warc: WarcFile):
        self.warc = warc
        self.counts: Counter = Counter()

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        info = {"software": f"worldbuild crawl (Scrapy {__import__('scrapy').__version__})",
                "format": "WARC File Format 1.1", "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
                "http-header-user-agent": settings.get("USER_AGENT")}
        recorder = cls(WarcFile(settings.get("WORLDBUILD_WARC"), info))
        crawler.signals.connect(recorder.closed, signal=signals.spider_closed)
        crawler.warc_recorder = recorder  # the runner reads its counts after the crawl
        crawler.stats.set_value("worldbuild/warc_repaired_bytes", recorder.warc.repaired_bytes)
        return recorder

    def process_response(self, request, response, spider=None):
        protocol = getattr(response, "protocol", None) or "HTTP/1.1"
        reason = _reason(response.status)
        kind = self.warc.write_exchange(
            request.method, response.url, _pairs(request.headers), protocol.upper(), response.status, reason,
            _pairs(response.headers), response.body, str(response.ip_address) if response.ip_address else None)
        self.counts[f"WARC {kind} records"] += 1
        if 300 <= response.status < 400:
            self.counts["redirects recorded"] += 1
        return response

    def closed(self, spider=None):
        self.warc.close()


def _pairs(headers) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers.items() for value in values]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""

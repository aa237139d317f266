"""Run a crawl: Scrapy's scheduler, robots.txt handling, autothrottle, retries, timeouts and
size limit, with `JOBDIR` beside the WARC so Ctrl-C keeps the frontier and a rerun continues."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from worldbuild.crawl.recorder import ORDER

DEFAULT_AGENT = "worldbuild-crawler/0.1 (+https://github.com/worldbuild; offline research corpora)"


@dataclass(frozen=True)
class CrawlSettings:
    max_depth: int = 2
    max_pages: int = 1000
    same_host: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    delay: float = 1.0  # seconds between requests to one host
    concurrency: int = 16  # requests in flight over all hosts (one per host at a time)
    timeout: float = 30.0
    retries: int = 2
    max_bytes: int = 10 * 1024 * 1024
    user_agent: str = DEFAULT_AGENT
    obey_robots: bool = True
    autothrottle: bool = True


@dataclass
class CrawlReport:
    out: str
    counts: dict = field(default_factory=dict)
    finish_reason: str = ""
    repaired_bytes: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def job_dir(out: str) -> str:
    return out + ".jobdir"


def scrapy_settings(out: str, settings: CrawlSettings) -> dict:
    return {
        "BOT_NAME": "worldbuild",
        "USER_AGENT": settings.user_agent,
        "ROBOTSTXT_OBEY": settings.obey_robots,
        "ROBOTSTXT_USER_AGENT": settings.user_agent,
        "DOWNLOAD_DELAY": settings.delay,
        "CONCURRENT_REQUESTS": settings.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "AUTOTHROTTLE_ENABLED": settings.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(settings.delay, 0.01),
        "AUTOTHROTTLE_MAX_DELAY": max(30.0, settings.delay),
        "DOWNLOAD_TIMEOUT": settings.timeout,
        "RETRY_TIMES": settings.retries,
        "DOWNLOAD_MAXSIZE": settings.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "HTTPERROR_ALLOW_ALL": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "LOG_INSTALL_ROOT_HANDLER": False,
        "JOBDIR": job_dir(out),
        "WORLDBUILD_WARC": out,
        "DOWNLOADER_MIDDLEWARES": {"worldbuild.crawl.recorder.WarcRecorder": ORDER},
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }


def crawl(urls: list[str], out: str, settings: CrawlSettings = CrawlSettings(),
          on_response: Callable[[int], None] | None = None) -> CrawlReport:
    """Crawl from `urls` into the WARC at `out` (appended when it exists). Blocks until done or
    interrupted (Ctrl-C: in-flight requests finish, the frontier stays in OUT.jobdir)."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from worldbuild.crawl.spider import WorldSpider

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    process = CrawlerProcess(scrapy_settings(out, settings))
    crawler = process.create_crawler(WorldSpider)
    fetched = {"n": 0}

    def response_received(response=None, request=None, spider=None):
        fetched["n"] += 1
        if on_response:
            on_response(fetched["n"])

    crawler.signals.connect(response_received, signal=signals.response_received)
    process.crawl(crawler, start_urls=urls, max_depth=settings.max_depth, max_pages=settings.max_pages,
                  same_host=settings.same_host, include=list(settings.include), exclude=list(settings.exclude))
    process.start()
    spider, stats = crawler.spider, crawler.stats
    counts = dict(spider.counts)
    recorder = getattr(crawler, "warc_recorder", None)
    if recorder:
        counts.update(recorder.counts)
    for key, label in (("retry/count", "retries"), ("downloader/response_count", "HTTP responses")):
        if stats.get_value(key):
            counts[label] = stats.get_value(key)
    return CrawlReport(out=out, counts=dict(sorted(counts.items())),
                       finish_reason=stats.get_value("finish_reason") or "",
                       repaired_bytes=stats.get_value("worldbuild/warc_repaired_bytes") or 0)

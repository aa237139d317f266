"""Executors run the map step over work units; they know nothing about WARC or pages.

The local one is a process pool; a cluster executor only has to offer the same
`map_unordered(fn, items)` to run the same map step elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """Run `fn` over items in a local process pool (in this process when workers == 1)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self.workers == 1:
            for item in items:
                yield fn(item)
            return
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        pool = context.Pool(self.workers, initializer=_ignore_sigint)
        try:
            yield from pool.imap_unordered(fn, items, chunksize=1)
            pool.close()
        finally:
            pool.terminate()
            pool.join()

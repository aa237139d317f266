"""Executors run the map step over work units; they know nothing about WARC or pages.

The local one is a process pool; a cluster executor only has to offer the same
`map_unordered(fn, items)` to run the same map step elsewhere.
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import os
import queue
import signal
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        """`fn` over `items`, results as they finish; with `window`, at most that many items are
        out (sent and not yet answered), read from `items` in the caller's thread as room opens."""


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, which taskset, Slurm and container
    cpusets set, not the machine's count (a job given 8 cores of a 128-core node gets 8)."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13+: the affinity, as below
    if counted is not None:
        return counted() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """Run `fn` over items in a local process pool (in this process when workers == 1)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or usable_cores())

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        if self.workers == 1:
            for item in items:
                yield fn(item)
            return
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        pool = context.Pool(self.workers, initializer=_ignore_sigint)
        try:
            if window is None:  # the pool reads `items` ahead, on a thread of its own
                yield from pool.imap_unordered(fn, items, chunksize=1)
            else:
                yield from _windowed(pool, fn, iter(items), window)
            pool.close()
        finally:
            pool.terminate()
            pool.join()


def _windowed(pool, fn: Callable[[T], R], items: Iterator[T], window: int) -> Iterator[R]:
    """Results of `fn` as they finish, at most `window` items out at once; the next item is read
    (in this thread) when a result is taken. An item's error is raised here."""
    finished: queue.SimpleQueue = queue.SimpleQueue()
    out = 0

    def send(item: T) -> None:
        pool.apply_async(fn, (item,), callback=lambda result: finished.put((True, result)),
                         error_callback=lambda error: finished.put((False, error)))

    for item in itertools.islice(items, window):
        send(item)
        out += 1
    while out:
        ok, value = finished.get()
        out -= 1
        if not ok:
            raise value
        yield value
        item = next(items, _DONE)
        if item is not _DONE:
            send(item)
            out += 1


def _apply(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


class RayExecutor:
    """Run `fn` over items as Ray tasks on a cluster (`address`: "auto", "ray://HOST:10001",
    or HOST:PORT; None starts a local one). Items and results travel by value; the map step
    writes its shard to storage every node reads, so paths must be shared (a network mount).

    A worker or node that dies mid-task is retried by Ray (`max_retries`); an exception raised
    by `fn` itself is not retried and ends the map, as it does locally."""

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        from worldbuild.raycluster import connect

        ray = connect(address, include_dashboard=False if address is None else None)
        self.ray = ray
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.max_retries = max_retries
        self.task_memory: int | None = None  # bytes each task reserves (Ray places tasks by it)

    def with_task_memory(self, task_memory: int) -> "RayExecutor":
        """The same cluster, with tasks that each reserve `task_memory` bytes: a node runs no
        more of them at once than its memory holds."""
        largest = max((node["Resources"].get("memory", 0) for node in self.ray.nodes() if node.get("Alive")), default=0)
        sized = copy.copy(self)
        # a task asking more than any node has would wait forever: ask at most the largest node's
        sized.task_memory = int(min(task_memory, largest)) if largest else None
        return sized

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        ray = self.ray
        options = {"memory": self.task_memory} if self.task_memory else {}
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False, **options)(_apply)
        fn_ref = ray.put(fn)
        pending = iter(items)
        in_flight: list = []
        window = window or self.workers * 2  # by default enough queued to keep every CPU busy, no more
        try:
            while True:
                while len(in_flight) < window:
                    item = next(pending, _DONE)
                    if item is _DONE:
                        break
                    in_flight.append(task.remote(fn_ref, item))
                if not in_flight:
                    return
                done, in_flight = ray.wait(in_flight, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)


_DONE = object()


class ExecutorUnavailable(RuntimeError):
    """The executor a command named cannot run here; the message says why, in one line."""


def executor_for(kind: str, address: str | None = None, workers: int | None = None) -> Executor:
    """The executor a command names: "local" (a process pool of `workers`) or "ray" (tasks on the
    cluster at `address`; None starts a local one)."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind != "ray":
        raise ExecutorUnavailable(f"unknown executor {kind!r}: local or ray")
    try:
        return RayExecutor(address, workers)
    except ImportError:
        raise ExecutorUnavailable("the ray executor needs Ray: pip install 'worldbuild[ray]'") from None
    except ConnectionError as exc:  # RayUnavailable says which address and why in one line
        raise ExecutorUnavailable(str(exc)) from None

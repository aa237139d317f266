"""One large batch on every core: a training batch (Search-R1 sends 2,560 queries in one POST)
is cut into one piece per process, each searched by a process of its own with the world open.

Python runs one thread at a time, and most of a batch's time is query analysis and snippets in
Python, so threads would not help; processes do. Each process opens the world read-only once
(memory-mapped: the index's pages are shared, not copied) and warms it up; a piece is searched
exactly as `World.search_many` searches it, so the answer is the same as in one process. The
processes start with `worldbuild serve` (it says ready once they answer, so a trainer's first
batch is shared too: a first batch answered alone while they start took twice the time), else
(`create_app` without `processes_at_start`) when the first large batch comes; a batch that comes
before they are ready is searched in the caller's process.
A piece that fails (a process killed) is searched again in the caller's process, and the pool is
started anew.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from worldbuild.index.ann import AnnSearch
from worldbuild.world import SearchHit, World

log = logging.getLogger("worldbuild.serve")

_world: World | None = None  # in a pool process: the world it searches


def _open(world_dir: str, parent: int, ann_search: AnnSearch | None = None) -> None:
    global _world
    threading.Thread(target=_end_with, args=(parent,), name="end-with-server", daemon=True).start()
    _world = World.open(world_dir, backend="numba", ann_search=ann_search)
    _world.index.warmup()


def _end_with(parent: int) -> None:
    """End this process when the server that started it has ended (killed, it cannot say so)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _ready(_=None) -> int:
    time.sleep(0.2)  # held a moment, so that every process of the pool takes one
    return os.getpid()


def _search(queries: list[str], k: int, snippet_chars: int, mask: list[str], mode: str,
            offset: int) -> list[list[SearchHit]]:
    return _world.search_many(queries, k, snippet_chars, mask, mode, offset)


class SearchPool:
    """`processes` searcher processes for the world at `world_dir` (spawned, so the server's
    threads are not copied into them); `search_many` as `World.search_many` does."""

    def __init__(self, world_dir: str, processes: int, ann_search: AnnSearch | None = None):
        self.world_dir, self.processes, self.ann_search = world_dir, processes, ann_search
        self._executor: ProcessPoolExecutor | None = None
        self._ready = threading.Event()
        self._starting = threading.Lock()
        self.pids: list[int] = []  # of the processes, once they answer

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_open, initargs=(self.world_dir, os.getpid(), self.ann_search))
        return self._executor

    def warmup(self) -> list[int]:
        """Start every process now (each opens and warms the world): the pids."""
        pids: set[int] = set()
        for _ in range(5):
            pids.update(self._pool().map(_ready, [None] * self.processes, chunksize=1))
            if len(pids) >= self.processes:
                break
        self.pids = sorted(pids)
        self._ready.set()
        return self.pids

    def _start_in_background(self) -> None:
        if self._starting.acquire(blocking=False):
            def start() -> None:
                try:
                    self.warmup()
                except Exception as exc:  # the batches stay in the caller's process
                    log.warning("search processes did not start: %s", exc)
                finally:
                    self._starting.release()
            threading.Thread(target=start, name="search-pool-start", daemon=True).start()

    def search_many(self, world: World, queries: list[str], k: int, snippet_chars: int, mask: list[str],
                    mode: str, offset: int = 0) -> list[list[SearchHit]]:
        """The batch in `processes` contiguous pieces, one per process; `world` (the caller's own)
        searches any piece whose process failed, and the whole batch while the processes start."""
        if not queries:
            return []
        if not self._ready.is_set():
            self._start_in_background()
            return world.search_many(queries, k, snippet_chars, mask, mode, offset)
        distinct = list(dict.fromkeys(queries))
        size = -(-len(distinct) // self.processes)
        pieces = [distinct[start:start + size] for start in range(0, len(distinct), size)]
        args = (k, snippet_chars, list(mask), mode, offset)
        try:
            futures = [self._pool().submit(_search, piece, *args) for piece in pieces]
        except BrokenProcessPool:
            futures = []
        answers: dict[str, list[SearchHit]] = {}
        broken = not futures
        for number, piece in enumerate(pieces):
            try:
                lists = futures[number].result()
            except (BrokenProcessPool, IndexError):
                broken = True
                lists = world.search_many(piece, k, snippet_chars, mask, mode, offset)
            answers.update(zip(piece, lists))
        if broken:
            log.warning("a search process ended; its queries were searched in the server, the pool restarts")
            self.close()
        return [answers[query] for query in queries]

    def close(self, wait: bool = False) -> None:
        """Stop the processes (`wait`: until they have ended)."""
        self._ready.clear()
        self.pids = []
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None

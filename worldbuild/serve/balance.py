"""Workers share out connections evenly: a worker accepts a new connection only while it holds
no more than the least loaded of the others.

uvicorn's workers accept from one shared socket, and whichever wakes first takes the connections
waiting. A training stack opens its keep-alive connections at once, so they split unevenly and stay
that way: 64 of them split 49/15, 34/30 and 21/43 between two workers in three starts (the peer
kit's load), and the fuller worker's requests wait in proportion. Here each worker keeps its number
of open connections in a ledger the workers share (a small memory-mapped file, a slot each); a
worker holding more than another stops listening for RETRY seconds so that the other takes the
connection. After PATIENCE it takes a few (AFTER_PATIENCE): the others are in long batches, or
gone. (Taking one then, a burst of 256 new connections waited seconds; taking all that waited
left the split as uneven as without a ledger.)

It overrides three methods of asyncio's selector event loop: `_accept_connection` (and the
`_remove_reader` / `_start_serving` pair it backs off with, as asyncio does when out of file
descriptors), `_start_serving` and `_stop_serving` (a worker takes its slot when it starts
listening, not while it loads the world, and frees it when it stops). Where they are missing, or
the ledger cannot be read, the loop is asyncio's own. A protocol switched on a websocket upgrade
would never count its connection down, so the workers serve no websockets (`ws="none"`).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import mmap
import os
import socket
import tempfile
import time

import psutil

LEDGER_ENV = "WORLDBUILD_SERVE_LEDGER"
RETRY = 0.002  # seconds a fuller worker stops listening before it looks again
PATIENCE = 0.02  # seconds a connection waits for another worker before this one takes some
AFTER_PATIENCE = 8  # connections taken then, at most: a burst is taken fast, and still shared


def new_ledger(workers: int) -> str:
    """A fresh ledger file for one server's `workers` (its path; the caller removes it): a slot
    for each, and as many again for a worker restarted while its slot still looks taken."""
    handle, path = tempfile.mkstemp(prefix="worldbuild-ledger-")
    with os.fdopen(handle, "wb") as out:
        out.write(bytes(2 * max(workers, 1) * 8))
    return path


class Ledger:
    """This worker's slot in the shared ledger (two int32 a slot: its pid, its open
    connections), and a look at the others'."""

    def __init__(self, path: str):
        self.pid = os.getpid()
        with open(path, "r+b") as handle:
            self.map = mmap.mmap(handle.fileno(), 0)
            self.cells = memoryview(self.map).cast("i")
            self.slots = len(self.cells) // 2
            fcntl.flock(handle, fcntl.LOCK_EX)  # two workers starting at once claim different slots
            try:
                self.slot = self._claim()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        self.count = 0

    def _claim(self) -> int:
        cells = self.cells
        for slot in range(0, 2 * self.slots, 2):
            if cells[slot] == 0 or cells[slot] == self.pid or not psutil.pid_exists(cells[slot]):  # free, or its worker is gone
                cells[slot], cells[slot + 1] = self.pid, 0
                return slot
        raise RuntimeError(f"the connection ledger is full ({self.slots} workers alive)")

    def change(self, by: int) -> None:
        """Count connections opened (+1) and closed (-1); nothing once released (a server that
        stopped listening still closes its last connections)."""
        if not self.map.closed:
            self.count += by
            self.cells[self.slot + 1] = self.count

    def allowance(self) -> int | None:
        """How many connections this worker may take now to be level with the least loaded
        live worker (plus one); None when it is the only one."""
        cells, fewest = self.cells, None
        for slot in range(0, 2 * self.slots, 2):
            pid = cells[slot]
            if pid and slot != self.slot and (fewest is None or cells[slot + 1] < fewest) and psutil.pid_exists(pid):
                fewest = cells[slot + 1]
        return None if fewest is None else fewest + 1 - self.count

    def release(self) -> None:
        self.cells[self.slot] = self.cells[self.slot + 1] = 0
        self.cells.release()
        self.map.close()


_WRAPS = all(hasattr(asyncio.SelectorEventLoop, name) for name in ("_accept_connection", "_start_serving",
                                                                    "_stop_serving", "_remove_reader"))
log = logging.getLogger(__name__)


class BalancedLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, accepting by the ledger named in $WORLDBUILD_SERVE_LEDGER
    (uvicorn's `loop` setting takes this class)."""

    def __init__(self) -> None:
        super().__init__()
        self._ledger_path = os.environ.get(LEDGER_ENV) if _WRAPS else None
        self._ledger: Ledger | None = None
        self._waiting_since: float | None = None

    def _start_serving(self, protocol_factory, sock, *args, **kwargs):
        if self._ledger is None and self._ledger_path and _shared(sock):
            try:
                self._ledger = Ledger(self._ledger_path)
            except (OSError, RuntimeError) as exc:  # serve on, taking connections as they come
                log.warning("connections are not shared out evenly: %s", exc)
                self._ledger_path = None
        return super()._start_serving(protocol_factory, sock, *args, **kwargs)

    def _stop_serving(self, sock) -> None:
        if _shared(sock):
            self._release()
        super()._stop_serving(sock)

    def _accept_connection(self, protocol_factory, sock, *args, **kwargs):
        # asyncio re-arms a backed-off reader with what it was given: our counting wrapper
        protocol_factory = getattr(protocol_factory, "__wrapped__", protocol_factory)
        ledger = self._ledger
        if ledger is None or not _shared(sock):
            return super()._accept_connection(protocol_factory, sock, *args, **kwargs)
        allowance = ledger.allowance()
        if allowance is not None and allowance <= 0:
            now = time.monotonic()
            self._waiting_since = self._waiting_since or now
            if now - self._waiting_since < PATIENCE:
                self._remove_reader(sock.fileno())
                self.call_later(RETRY, self._listen_again, protocol_factory, sock, *args, **kwargs)
                return None
            allowance = AFTER_PATIENCE  # the others are busy
        self._waiting_since = None
        if allowance is not None:  # at most `allowance` now: the ledger is read again before more
            if len(args) >= 3:  # (sslcontext, server, backlog, ...) as asyncio passes them
                args = (*args[:2], allowance, *args[3:])
            else:
                kwargs["backlog"] = allowance
        return super()._accept_connection(self._counted(protocol_factory), sock, *args, **kwargs)

    def _listen_again(self, protocol_factory, sock, *args, **kwargs) -> None:
        if sock.fileno() >= 0 and not self.is_closed():  # not while the server shuts down
            self._start_serving(protocol_factory, sock, *args, **kwargs)

    def _counted(self, protocol_factory):
        ledger = self._ledger

        def counted():
            protocol = protocol_factory()
            lost = protocol.connection_lost

            def connection_lost(exc):
                ledger.change(-1)
                return lost(exc)

            protocol.connection_lost = connection_lost
            ledger.change(+1)
            return protocol

        counted.__wrapped__ = protocol_factory
        return counted

    def _release(self) -> None:
        if self._ledger is not None:
            self._ledger.release()
            self._ledger = None
            self._ledger_path = None  # not taken again by a late re-arm

    def close(self) -> None:
        super().close()
        self._release()


def _shared(sock) -> bool:
    """Whether `sock` is the workers' shared public socket (TCP), not a worker's own Unix socket
    (`worldbuild.serve.relay`), which only the other workers reach and which is not balanced."""
    return sock.family != socket.AF_UNIX

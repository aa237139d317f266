"""Run the service: bind the port first (a taken port fails at once, in one line), then serve the
world with one process or several uvicorn workers over that very socket.

Several workers start from an import string and a factory (`worldbuild.serve.run:app_from_config`),
so the `ServeConfig` reaches them as JSON in one environment variable, `WORLDBUILD_SERVE_CONFIG`,
which the factory reads. Their shared connection ledger's path is in another,
`WORLDBUILD_SERVE_LEDGER` (`worldbuild.serve.balance`), and the folder of their own sockets in a
third, `WORLDBUILD_SERVE_SOCKETS` (`worldbuild.serve.relay`); nothing else about the service comes from
the environment."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from fastapi import FastAPI

from worldbuild.executor import usable_cores
from worldbuild.index.ann import AnnSearch
from worldbuild.serve import balance, relay
from worldbuild.serve.app import announce_ready, create_app
from worldbuild.serve.summarize import Summarizer
from worldbuild.world import World

CONFIG_ENV = "WORLDBUILD_SERVE_CONFIG"

# uvloop accepts new connections slowly while its loop is busy (measured: 167 connections
# waiting in the listen queue at 256 clients, and timeouts); asyncio's loop accepts them all.
SERVE_LOOP = "asyncio"
# several workers: asyncio's loop, taking a share of new connections (`worldbuild.serve.balance`)
WORKERS_LOOP = "worldbuild.serve.balance:BalancedLoop"

# Search processes a worker starts by default, at most. Each opens the world (about 115 MB of its
# own on the 100k-page benchmark world, more with a larger vocabulary), and about 0.1 s of a
# 2,560-query batch stays in the worker however many there are (bench/out/search_processes.json,
# 2 cores): by that measure 8 would answer it in about 0.24 s and 128 in 0.11 s, at 16x the memory.
DEFAULT_SEARCH_PROCESSES_CAP = 8


class CannotListen(OSError):
    """The address cannot be bound (taken, or not this host's)."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything a worker needs to serve the world. `summarizer_url` and `summarizer_model` go
    together; the summary cache defaults to WORLD/.cache/summaries.sqlite."""

    world_dir: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "warning"
    summarizer_url: Optional[str] = None
    summarizer_model: Optional[str] = None
    summarizer_timeout: float = 60.0
    summary_cache: Optional[str] = None
    search_processes: Optional[int] = None  # per worker, for large batches; None: the cores each worker has, up to 8
    ef_search: Optional[int] = None  # the dense ANN index's efSearch (HNSW) / nprobe (IVF); None: as recorded
    nprobe: Optional[int] = None

    def __post_init__(self) -> None:
        if bool(self.summarizer_url) != bool(self.summarizer_model):
            raise ValueError("--summarizer-url and --summarizer-model go together")
        self.ann_search  # a bad value is refused here, before any worker starts

    @property
    def ann_search(self) -> AnnSearch:
        return AnnSearch(self.ef_search, self.nprobe)

    @property
    def processes_per_worker(self) -> int:
        """Search processes each worker shares a large batch with (0: none, the batch stays in it):
        by default the cores this process may use (its affinity, not the machine's count) shared
        among the workers, at most DEFAULT_SEARCH_PROCESSES_CAP."""
        if self.search_processes is not None:
            return self.search_processes
        share = min(usable_cores() // self.workers, DEFAULT_SEARCH_PROCESSES_CAP)
        return share if share >= 2 else 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        return cls(**json.loads(text))

    @property
    def summary_cache_path(self) -> str:
        return self.summary_cache or os.path.join(self.world_dir, ".cache", "summaries.sqlite")

    def summarizer(self) -> Summarizer | None:
        if not self.summarizer_model:
            return None
        return Summarizer(self.summarizer_url, self.summarizer_model, cache_path=self.summary_cache_path,
                          timeout=self.summarizer_timeout)


def app_for(config: ServeConfig) -> FastAPI:
    """The service one worker runs for `config`."""
    return create_app(config.world_dir, summarizer=config.summarizer(), on_ready=announce_ready(config.url),
                      search_processes=config.processes_per_worker, ann_search=config.ann_search,
                      processes_at_start=True)


def app_from_config() -> FastAPI:
    """Factory for uvicorn's workers: the `ServeConfig` that `serve` put in $WORLDBUILD_SERVE_CONFIG."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"${CONFIG_ENV} is not set: start the service with `worldbuild serve`")
    return app_for(ServeConfig.from_json(text))


def listen(host: str, port: int) -> socket.socket:
    """The bound socket the workers inherit. uvicorn creates its own without the TCP protocol
    number, so asyncio skips TCP_NODELAY on accepted connections (a 40 ms stall per answer under
    Nagle + delayed ACK); this one sets it."""
    try:
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    listener.set_inheritable(True)  # the workers serve on this very socket
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def serve(config: ServeConfig, on_listening: Callable[[ServeConfig], None] | None = None) -> None:
    """Serve until stopped. The world opens first (WorldNotFound before any worker starts), then the
    port is bound (CannotListen), then `on_listening(config)`, then the workers warm up and serve."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    World.open(config.world_dir).close()  # fail fast, before any worker starts
    listener = listen(config.host, config.port)
    if on_listening is not None:
        on_listening(config)
    if config.workers == 1:
        uvicorn_config = uvicorn.Config(app_for(config), host=config.host, port=config.port, loop=SERVE_LOOP,
                                        log_level=config.log_level)
        uvicorn.Server(uvicorn_config).run(sockets=[listener])
        return
    os.environ[CONFIG_ENV] = config.to_json()  # inherited by the worker processes, read by app_from_config
    ledger = balance.new_ledger(config.workers)
    sockets = tempfile.mkdtemp(prefix="worldbuild-serve-")
    try:
        os.environ[balance.LEDGER_ENV] = ledger  # read by the workers' loop
        os.environ[relay.SOCKETS_ENV] = sockets  # each worker's own socket, for calls of MCP sessions it holds
        # no websockets: a protocol switched on upgrade would never count its connection down
        uvicorn_config = uvicorn.Config("worldbuild.serve.run:app_from_config", factory=True, host=config.host,
                                        port=config.port, workers=config.workers, loop=WORKERS_LOOP, ws="none",
                                        log_level=config.log_level)
        Multiprocess(uvicorn_config, sockets=[listener]).run()
    finally:
        os.unlink(ledger)
        shutil.rmtree(sockets, ignore_errors=True)
        for name in (CONFIG_ENV, balance.LEDGER_ENV, relay.SOCKETS_ENV):  # (an app made later here is a new one)
            os.environ.pop(name, None)

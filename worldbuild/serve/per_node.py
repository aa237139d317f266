"""One `worldbuild serve` on every node of a Ray cluster (the one verl trains on), so each node's
tools call a service on 127.0.0.1 and no tool call crosses the network; the services scale with
the cluster. Each is a detached Ray actor pinned to its node that runs the ordinary server as a
child process over the shared, read-only, memory-mapped world.

    worldbuild serve-cluster --world /shared/world --port 8000 --workers 8 [--address auto]
    worldbuild serve-cluster --stop
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from worldbuild.serve.wait import wait_ready

NAME_PREFIX = "worldbuild-serve-"
NAMESPACE = "worldbuild"


class NodeService:
    """The actor: starts the server on its node and reports when /health answers."""

    def __init__(self, world: str, port: int, workers: int, host: str):
        import tempfile

        self.base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
        # a log file, not a pipe: a pipe nobody reads fills up and blocks the server
        self.log_path = os.path.join(tempfile.gettempdir(), f"worldbuild-serve-{port}.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", world, "--host", host,
                                      "--port", str(port), "--workers", str(workers)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_healthy(self, timeout: float) -> dict:
        import socket

        why = wait_ready(self.base, timeout, self.proc.pid)
        if why is None and self.proc.poll() is not None:  # a leftover on the port answered, not ours
            why = "it exited"
        if why is not None:
            if self.proc.poll() is None:
                raise TimeoutError(why)
            with open(self.log_path, "rb") as log:
                raise RuntimeError(f"worldbuild serve exited ({why}): "
                                   f"{log.read()[-1000:].decode(errors='replace')}")
        snapshot = httpx.get(self.base + "/health", timeout=10).json().get("snapshot")
        return {"node": socket.gethostname(), "url": self.base, "snapshot": snapshot, "pid": self.proc.pid,
                "log": self.log_path}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _connect(address: str | None):
    from worldbuild.raycluster import connect

    return connect(address or "auto", namespace=NAMESPACE)


def start(world: str, port: int = 8000, workers: int = 1, host: str = "127.0.0.1", address: str | None = None,
          timeout: float = 600.0) -> list[dict]:
    """A service on every alive node (an existing one is kept); returns one line per node. The
    world must open here first (WorldNotFound before any node is asked)."""
    from worldbuild.world import World

    World.open(world).close()
    ray = _connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_class = ray.remote(num_cpus=0)(NodeService)
    handles = []
    for node in (n for n in ray.nodes() if n["Alive"]):
        name = NAME_PREFIX + node["NodeID"][:12]
        try:
            handle = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            handle = actor_class.options(
                name=name, namespace=NAMESPACE, lifetime="detached",
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(world, port, workers, host)
        handles.append(handle)
    return ray.get([h.wait_healthy.remote(timeout) for h in handles])


def stop(address: str | None = None) -> int:
    """Stop every node's service; returns how many were stopped."""
    ray = _connect(address)
    stopped = 0
    for node in ray.nodes():
        try:
            handle = ray.get_actor(NAME_PREFIX + node["NodeID"][:12], namespace=NAMESPACE)
        except ValueError:
            continue
        ray.get(handle.stop.remote())
        ray.kill(handle)
        stopped += 1
    return stopped

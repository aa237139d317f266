"""Live `worldbuild serve` processes for tests (a real server on 127.0.0.1, a free port)."""

import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(world_dir: str, workers: int = 1, extra: list[str] = ()):
    """(process, base URL) once /health answers; the caller terminates the process."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", world_dir, "--port", str(port),
                             "--workers", str(workers), *extra], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # numba compiles at start: slow on a loaded machine
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")

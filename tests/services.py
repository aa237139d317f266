"""Live `worldbuild serve` processes for tests (a real server on 127.0.0.1, a free port)."""

import socket
import subprocess
import sys

from tests.conftest import REPO
from worldbuild.serve.wait import wait_ready


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(world_dir: str, workers: int = 1, extra: list[str] = ()):
    """(process, base URL) once /health answers; the caller terminates the process. Without
    search processes unless `extra` asks for them: most tests send small batches, and each pair
    of processes costs seconds of a 2-core machine's start (tests/test_pool.py asks for them)."""
    port = free_port()
    if "--search-processes" not in extra:
        extra = [*extra, "--search-processes", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "worldbuild", "serve", "--world", world_dir, "--port", str(port),
                             "--workers", str(workers), *extra], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    why = wait_ready(base, 300, proc.pid)  # a loaded test machine can take minutes to import and index
    if why:
        proc.kill()
        raise AssertionError(f"server did not start: {why}\n{proc.stderr.read().decode()[-3000:]}")
    return proc, base

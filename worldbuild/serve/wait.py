"""Wait until a `worldbuild serve` is ready (/health 200 "ok"), for scripts and recipes:

    python -m worldbuild.serve.wait http://127.0.0.1:8000 --timeout 180 [--pid PID]

Exits 0 when ready, 1 with one line when the time runs out or the server process has ended."""

from __future__ import annotations

import argparse
import sys
import time

import httpx


def wait_ready(base: str, timeout: float, pid: int | None = None) -> str | None:
    """None once `base` answers ready; else why not, in one line."""
    deadline, last = time.monotonic() + timeout, "no answer yet"
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            return f"the server process {pid} has ended ({last})"
        try:
            reply = httpx.get(base.rstrip("/") + "/health", timeout=2)
            if reply.status_code == 200:
                return None
            last = f"/health answered {reply.status_code} {reply.text[:80]}"
        except httpx.TransportError as exc:
            last = f"not answering: {type(exc).__name__}"
        time.sleep(0.2)
    return f"{base} was not ready within {timeout:.0f} s ({last})"


def _alive(pid: int) -> bool:
    """A child that exited but was not reaped yet is a zombie: ended."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description="Wait until a worldbuild service answers ready.")
    parser.add_argument("base", help="the service's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait (default: %(default)s)")
    parser.add_argument("--pid", type=int, help="give up at once when this process (the server) ends")
    args = parser.parse_args()
    why = wait_ready(args.base, args.timeout, args.pid)
    if why:
        print(f"error: {why}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

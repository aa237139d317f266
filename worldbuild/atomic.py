"""Files and folders that are either whole or absent: written beside their place, then renamed
over it, so a crash never leaves half a manifest, report, index or table for a reader or a
resumed run to trip on. Every writer in the project goes through here (or `storage.open_write`,
which adds object stores)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def replacing(path: str) -> Iterator[str]:
    """A temporary path beside `path` to write (with any library that takes a path); renamed
    over `path` when the block ends, removed when it raises."""
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path: str, data: dict | list) -> None:
    with replacing(path) as tmp, open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def publish_dir(tmp: str, out_dir: str) -> None:
    """Put the finished folder `tmp` in the place of `out_dir` (and whatever was there): the old
    one is moved aside first, so readers find one or the other except for the instant between
    two renames, and a crash leaves `tmp` for the rerun to rebuild."""
    old = f"{out_dir}.old-{os.getpid()}"
    if os.path.lexists(out_dir):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)

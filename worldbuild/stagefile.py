"""Append-only JSONL outputs: what makes every stage resumable.

A record is written (and flushed) as soon as it is made, so a crash or Ctrl-C loses at most
the requests in flight. On reopen, a torn last line is cut off and the keys already done are
skipped.
"""

from __future__ import annotations

import json
import os
from typing import Iterator


class StageFile:
    def __init__(self, path: str, key: str = "key"):
        self.path = path
        self.key = key
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._repair()
        self.done = {record[key] for record in self.read()}
        self._handle = open(path, "a", encoding="utf-8")

    def _repair(self) -> None:
        """Drop a partial last line left by a crash mid-write."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)

    def read(self) -> Iterator[dict]:
        return read_records(self.path)

    def append(self, record: dict) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.done.add(record[self.key])

    def close(self) -> None:
        self._handle.close()


def read_records(path: str) -> Iterator[dict]:
    """The records of a stage file (none when it does not exist yet)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)

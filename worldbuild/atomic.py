"""Files that are either whole or absent: written beside their place, synced, then renamed over it,
so a crash never leaves half a manifest or report for a reader or a resumed run to trip on."""

from __future__ import annotations

import json
import os


def write_json_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)

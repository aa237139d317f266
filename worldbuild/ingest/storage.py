"""Where inputs live: local paths, or URLs that fsspec opens (s3://, gs://, http(s)://, ... with
the user's fsspec backend installed), so every node of a cluster can read the same inputs. Reads
are by byte range, so a worker reads only its unit of a remote file."""

from __future__ import annotations

import os
from typing import BinaryIO


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def open_input(path: str) -> BinaryIO:
    """A seekable binary handle on a local file or a URL."""
    if not is_url(path):
        return open(local(path), "rb")
    import fsspec

    return fsspec.open(path, "rb", block_size=1 << 20).open()


def size_of(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(local(path))
    import fsspec

    filesystem, inner = fsspec.core.url_to_fs(path)
    return int(filesystem.size(inner))


def expand_url(pattern: str, suffixes: tuple[str, ...]) -> list[str]:
    """The archive files a URL names: itself, a glob's matches, or a folder's archives."""
    import fsspec

    filesystem, inner = fsspec.core.url_to_fs(pattern)
    if any(ch in inner for ch in "*?["):
        return sorted(filesystem.unstrip_protocol(p) for p in filesystem.glob(inner))
    if filesystem.isdir(inner):
        return sorted(filesystem.unstrip_protocol(p) for p in filesystem.find(inner) if p.lower().endswith(suffixes))
    return [pattern] if filesystem.exists(inner) else []

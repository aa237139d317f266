"""Where inputs and map shards live: local paths, or URLs that fsspec opens (s3://, gs://,
http(s)://, ... with the user's fsspec backend installed), so every node of a cluster can read
the same inputs and write shards the merge reads. Reads are by byte range, so a worker reads
only its unit of a remote file."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from worldbuild.atomic import replacing


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def open_input(path: str) -> BinaryIO:
    """A seekable binary handle on a local file or a URL."""
    if not is_url(path):
        return open(local(path), "rb")
    filesystem, inner = _filesystem(path)
    return filesystem.open(inner, "rb", block_size=1 << 20)


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


# -- staging: where map shards go (a local or shared folder, or an object store) ---------------

def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_url(base) else os.path.join(local(base), *parts)


def _filesystem(path: str):
    import fsspec

    return fsspec.core.url_to_fs(path)


def make_dirs(path: str) -> None:
    if is_url(path):
        filesystem, inner = _filesystem(path)
        filesystem.makedirs(inner, exist_ok=True)
    else:
        os.makedirs(local(path), exist_ok=True)


@contextmanager
def open_write(path: str) -> Iterator[BinaryIO]:
    """A handle whose file readers see whole or not at all: a local file is renamed into place
    when the block ends; an object store makes an object visible only when its upload completes."""
    if is_url(path):
        filesystem, inner = _filesystem(path)
        with filesystem.open(inner, "wb") as handle:
            yield handle
        return
    with replacing(local(path)) as tmp, open(tmp, "wb") as handle:
        yield handle


def read_bytes(path: str) -> bytes:
    if is_url(path):
        filesystem, inner = _filesystem(path)
        return filesystem.cat_file(inner)
    with open(local(path), "rb") as handle:
        return handle.read()


def exists(path: str) -> bool:
    if is_url(path):
        filesystem, inner = _filesystem(path)
        filesystem.invalidate_cache(inner)  # other workers write here: never trust a cached listing
        return filesystem.exists(inner)
    return os.path.exists(local(path))


def remove_tree(path: str) -> None:
    if is_url(path):
        filesystem, inner = _filesystem(path)
        if filesystem.exists(inner):
            filesystem.rm(inner, recursive=True)
    else:
        shutil.rmtree(local(path), ignore_errors=True)

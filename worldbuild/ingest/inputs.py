"""Which files an ingest reads: paths, directories and globs → archive files with their sha256."""

from __future__ import annotations

import glob
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from worldbuild.ingest.storage import expand_url, is_url, local, open_input, size_of

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int
    sha256: str
    format: str | None  # "warc", "arc", or None when the file is neither

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip("/"))

    @property
    def is_arc(self) -> bool:
        return self.format == "arc"

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "size": self.size, "sha256": self.sha256}


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open_input(path) as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(path: str) -> str | None:
    """"warc" or "arc" from the first bytes (gzipped or not); None for anything else.
    warcio reads almost any text as an ARC record, so this gate must come first."""
    with open_input(path) as handle:
        head = handle.read(1 << 16)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return None
    first = head.lstrip(b"\r\n")[:16]
    if first.startswith(b"WARC/"):
        return "warc"
    if first.startswith(b"filedesc://"):
        return "arc"
    return None


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def expand_paths(patterns: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files named directly are taken whatever their suffix (a bad one is reported when read);
    directories and globs contribute their archive files, sorted. Returns (files, problems)."""
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for pattern in patterns:
        if is_url(pattern):
            try:
                found = expand_url(pattern, ARCHIVE_SUFFIXES)
            except (ImportError, ValueError) as exc:
                problems.append((pattern, f"cannot read this URL: {exc} (install the fsspec backend for it)"))
                continue
            except OSError as exc:
                problems.append((pattern, f"cannot list: {exc}"))
                continue
            if not found:
                problems.append((pattern, "URL matches no files"))
            files.extend(found)
            continue
        pattern = local(pattern)
        path = Path(pattern)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_archive(p))
            if not found:
                problems.append((pattern, "directory holds no .warc/.warc.gz/.arc/.arc.gz files"))
            files.extend(found)
        elif path.exists() or path.is_symlink():
            files.append(str(path))
        elif glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not found:
                problems.append((pattern, "glob matches no files"))
            files.extend(found)
        else:
            problems.append((pattern, "path not found"))
    unique = list(dict.fromkeys(f if is_url(f) else os.path.abspath(f) for f in files))
    return unique, problems


def describe(path: str) -> InputFile:
    """Size and sha256 of one input; raises OSError with the reason when it cannot be read."""
    if not is_url(path) and os.path.isdir(path):
        raise IsADirectoryError(f"is a directory: {path}")
    size = size_of(path)
    return InputFile(path=path, size=size, sha256=sha256_file(path), format=sniff_format(path) if size else None)

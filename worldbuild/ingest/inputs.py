"""Which files an ingest reads: paths, directories and globs → archive files with their sha256."""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from worldbuild.ingest import framing
from worldbuild.storage import expand_url, is_url, local, open_input, size_of

ARCHIVE_SUFFIXES = tuple(f".{kind}{packed}" for kind in ("warc", "arc")
                         for packed in ("", ".gz", ".gzip", ".lz4", ".zst", ".zstd"))


class NotRegularFile(OSError):
    """A FIFO, device or socket: reading it could block forever or never end."""


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int
    sha256: str
    format: str | None  # "warc", "arc", or None when the file is neither
    framing: str = framing.PLAIN  # see worldbuild.ingest.framing

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip("/"))

    @property
    def is_arc(self) -> bool:
        return self.format == "arc"

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "size": self.size, "sha256": self.sha256,
                "framing": self.framing}


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open_input(path) as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(path: str) -> str | None:
    """"warc" or "arc" from the first decompressed bytes (any framing); None for anything else.
    warcio reads almost any text as an ARC record, so this gate must come first."""
    with open_input(path) as handle:
        head = handle.read(1 << 16)
    return format_of_head(path, head)


def format_of_head(path: str, head: bytes) -> str | None:
    compression = framing.compression_of(head)
    if compression == framing.GZIP_RECORDS:
        try:  # zlib on the head alone: a member cut short still shows its first line
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return None
    elif compression != framing.PLAIN:
        try:
            head = framing.read_head(path, compression, 4096)
        except Exception:  # noqa: BLE001 - a broken LZ4/zstd head is simply not an archive we can read
            return None
    first = head.lstrip(b"\r\n")[:16]
    if first.startswith(b"WARC/"):
        return "warc"
    if first.startswith(b"filedesc://"):
        return "arc"
    return None


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


@dataclass
class Found:
    """What a set of paths expands to: the files to read, problems (each a file error) and
    files passed over inside directories (each counted with its reason, not an error)."""

    files: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)

    def __iter__(self):  # (files, problems), as callers unpack it
        return iter((self.files, self.problems))


def _walk(root: str, found: Found) -> None:
    """Every archive under `root`, following links once: a link back to a folder already on the
    path is a loop, reported and not entered. A file without an archive name is still taken
    when its content is a WARC/ARC (any framing); anything else there gets a counted reason."""
    seen: set[tuple[int, int]] = set()
    taken = 0
    for folder, dirs, names in os.walk(root, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            found.problems.append((folder, "directory loop: a link leads back to a folder already read; not followed"))
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                mode = os.stat(path).st_mode
            except OSError:
                found.problems.append((path, "dangling or unreadable link in a directory"))
                continue
            if not stat.S_ISREG(mode):
                found.problems.append((path, f"not a regular file ({_kind(mode)}): not read"))
                continue
            if _is_archive(Path(path)):
                found.files.append(path)
                taken += 1
                continue
            try:
                kind = sniff_format(path) if os.path.getsize(path) else None
            except OSError as exc:
                found.problems.append((path, f"unreadable file: {type(exc).__name__}: {exc.strerror or exc}"))
                continue
            if kind:
                found.files.append(path)
                taken += 1
            else:
                found.passed_over.append((path, "in a directory: not a WARC/ARC file (by name and content)"))
    if not taken:
        found.problems.append((root, "directory holds no WARC/ARC files"))


def url_matches(pattern: str, suffixes: tuple[str, ...], problems: list[tuple[str, str]]) -> list[str]:
    """The files a URL or URL glob names (through fsspec); when none can be listed, the reason
    goes to `problems` as (pattern, reason)."""
    try:
        matched = expand_url(pattern, suffixes)
    except (ImportError, ValueError) as exc:
        problems.append((pattern, f"cannot read this URL: {exc} (install the fsspec backend for it)"))
        return []
    except OSError as exc:
        problems.append((pattern, f"cannot list: {exc}"))
        return []
    if not matched:
        problems.append((pattern, "URL matches no files"))
    return matched


def expand_paths(patterns: list[str]) -> Found:
    """Files named directly are taken whatever their suffix (a bad one is reported when read);
    directories contribute every archive under them; globs their matches. Unpacks as
    (files, problems)."""
    found = Found()
    files, problems = found.files, found.problems
    for pattern in patterns:
        if is_url(pattern):
            files.extend(url_matches(pattern, ARCHIVE_SUFFIXES, problems))
            continue
        pattern = local(pattern)
        path = Path(pattern)
        if path.is_dir():
            _walk(pattern, found)
        elif path.exists() or path.is_symlink():
            files.append(str(path))
        elif glob.has_magic(pattern):
            matched = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matched:
                problems.append((pattern, "glob matches no files"))
            files.extend(matched)
        else:
            problems.append((pattern, "path not found"))
    found.files = list(dict.fromkeys(f if is_url(f) else os.path.abspath(f) for f in files))
    return found


def describe(path: str) -> InputFile:
    """Size, sha256, format and framing of one input; raises OSError with the reason when it
    cannot be read (NotRegularFile for a FIFO or device, before anything opens it)."""
    if not is_url(path):
        mode = os.stat(local(path)).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(f"is a directory: {path}")
            raise NotRegularFile(f"not a regular file ({_kind(mode)}): not read")
    size = size_of(path)
    if not size:
        return InputFile(path=path, size=0, sha256=sha256_file(path), format=None)
    with open_input(path) as handle:
        head = handle.read(1 << 16)
    kind = format_of_head(path, head)
    packing = framing.framing_of(path, head) if kind else framing.compression_of(head)
    return InputFile(path=path, size=size, sha256=sha256_file(path), format=kind, framing=packing)

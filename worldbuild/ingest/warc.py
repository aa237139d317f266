"""Reading WARC/ARC files with warcio: cut a file into work units, stream the records of one.

A work unit is a byte range of one file that starts at a record boundary. Cutting a big file
into many units is what keeps every worker busy on one 1 GB Common Crawl file.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import asdict, dataclass
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from worldbuild.ingest.framing import PLAIN, STREAMED, open_records
from worldbuild.ingest.inputs import InputFile

logging.getLogger("warcio").setLevel(logging.ERROR)  # our skip report says it once, per file


class TruncatedArchive(EOFError):
    """The file ends inside a record: warcio stops quietly, so we check each record's length."""


# What a broken archive raises inside warcio (its own errors, zlib, or the parser's).
ARCHIVE_ERRORS = (TruncatedArchive, ArchiveLoadFailed, zlib.error, EOFError, ValueError, IndexError, KeyError, AttributeError)


@dataclass(frozen=True)
class WorkUnit:
    """Records of `path` whose offsets lie in [start, end); `end=None` reads to the end."""

    path: str
    name: str
    sha256: str
    seq: int
    start: int
    end: int | None
    framing: str = PLAIN  # a streamed framing is read from the start, as one unit
    arc: bool = False  # only an ARC file is read in warcio's ARC mode (which takes stray lines for records)

    @property
    def unit_id(self) -> str:
        key = f"{self.sha256}:{self.start}:{self.end}"
        return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)


def describe_error(exc: BaseException, mid_way: bool = False) -> tuple[str, str]:
    """(reason, one-line detail) for an archive that cannot be read on; `mid_way` when records
    were read before the break (the file was an archive: what follows is damage, not a format)."""
    message = " ".join(str(exc).split())[:300] or type(exc).__name__
    if isinstance(exc, OSError):
        return "unreadable file", f"{type(exc).__name__}: {message}"
    if isinstance(exc, ArchiveLoadFailed) and "Unknown archive format" in message:
        return ("archive breaks mid-way" if mid_way else "not a WARC/ARC file"), message
    if isinstance(exc, TruncatedArchive):
        return "archive truncated mid-record", message
    if isinstance(exc, (zlib.error, EOFError)) or "gzip" in message.lower():
        return "truncated or corrupt gzip", f"{type(exc).__name__}: {message}"
    return ("archive breaks mid-way" if mid_way else "corrupt archive"), f"{type(exc).__name__}: {message}"


def plan_units(source: InputFile, batch_size: int) -> Iterator[WorkUnit]:
    """Cut `source` after every `batch_size` response records. ARC files stay whole (their
    records depend on the file header). A read error ends the plan quietly: the last unit
    runs to the end of the file, and the worker that reads it reports the error once."""
    start, seq, responses = 0, 0, 0
    if source.framing in STREAMED:
        yield WorkUnit(source.path, source.name, source.sha256, 0, 0, None, source.framing, source.is_arc)
        return
    if not source.is_arc:
        try:
            with open_records(source.path, source.framing) as handle:
                records = ArchiveIterator(handle, arc2warc=False)
                for record in records:
                    offset = records.offset  # get_record_offset() would read the record to its end
                    if responses >= batch_size:
                        yield WorkUnit(source.path, source.name, source.sha256, seq, start, offset, source.framing)
                        start, seq, responses = offset, seq + 1, 0
                    responses += record.rec_type == "response"
        except ARCHIVE_ERRORS:
            pass
        except OSError:
            pass  # unreadable: the worker reports it
    yield WorkUnit(source.path, source.name, source.sha256, seq, start, None, source.framing, source.is_arc)


def is_truncated(record: ArcWarcRecord) -> bool:
    """True when the file ended before the record's declared length (call after reading it)."""
    return getattr(record.raw_stream, "limit", 0) > 0


def iter_unit(unit: WorkUnit) -> Iterator[tuple[int, ArcWarcRecord]]:
    """Yield (offset, record) for the records of one unit; archive errors propagate."""
    last = None
    with open_records(unit.path, unit.framing) as handle:
        if unit.start:
            handle.seek(unit.start)
        records = ArchiveIterator(handle, arc2warc=unit.arc)
        for record in records:
            offset = records.offset  # get_record_offset() would read the record to its end
            if unit.end is not None and offset >= unit.end:
                return
            last = (offset, record)
            yield offset, record
    if last is not None and is_truncated(last[1]):
        raise TruncatedArchive(f"the file ends inside the record at offset {last[0]}")

"""How an archive file is framed on disk, and a stream of its records whatever the framing.

warcio reads plain files and gzip with one member per record (the WARC standard), which is
what lets a big file be cut into work units by byte offset. Many tools write other framings:
`gzip -c file.warc` (one member for the whole file), LZ4 frames (`.warc.lz4`), zstd
(`.warc.zst`, optionally with the dictionary the WARC-zstd spec puts in a skippable frame).
Those are read as one decompressed stream, from the start, by the maintained library of each.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from worldbuild.storage import open_input

GZIP_MAGIC = b"\x1f\x8b"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_DICT_FRAME = b"\x5d\x2a\x4d\x18"  # the skippable frame .warc.zst puts its dictionary in

PLAIN, GZIP_RECORDS, GZIP_STREAM, LZ4, ZSTD = "plain", "gzip", "gzip-stream", "lz4", "zstd"
STREAMED = {GZIP_STREAM, LZ4, ZSTD}  # read from the start as one stream: a file is one work unit


def compression_of(head: bytes) -> str:
    """PLAIN, GZIP_RECORDS (possibly one whole-file member: see `framing_of`), LZ4 or ZSTD."""
    if head.startswith(GZIP_MAGIC):
        return GZIP_RECORDS
    if head.startswith(LZ4_MAGIC):
        return LZ4
    if head.startswith(ZSTD_MAGIC) or head.startswith(ZSTD_DICT_FRAME):
        return ZSTD
    return PLAIN


def _gzip_is_one_stream(path: str) -> bool:
    """True when a gzip member holds more than one record (`gzip -c file.warc`): warcio says so
    after the first record of such a file, so reading two records is enough to know."""
    with open_input(path) as handle:
        records = ArchiveIterator(handle, arc2warc=True)  # also an ARC file's format
        try:
            for count, record in enumerate(records):
                records.read_to_end(record)
                if count >= 1:
                    break
        except ArchiveLoadFailed as exc:
            return "non-chunked" in str(exc)
        except Exception:  # noqa: BLE001 - other damage is the reader's to report, with its offset
            return False
    return False


def framing_of(path: str, head: bytes) -> str:
    compression = compression_of(head)
    if compression == GZIP_RECORDS and _gzip_is_one_stream(path):
        return GZIP_STREAM
    return compression


def _zstd_reader(handle: BinaryIO) -> BinaryIO:
    import zstandard

    head = handle.read(8)
    dictionary = None
    if head[:4] == ZSTD_DICT_FRAME:
        (size,) = struct.unpack("<I", head[4:8])
        data = handle.read(size)
        if data[:4] == ZSTD_MAGIC:  # the spec allows the dictionary itself to be compressed
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        dictionary = zstandard.ZstdCompressionDict(data)
    else:
        handle.seek(0)
    decompressor = zstandard.ZstdDecompressor(dict_data=dictionary) if dictionary else zstandard.ZstdDecompressor()
    return decompressor.stream_reader(handle, read_across_frames=True, closefd=True)


class _Closing(io.RawIOBase):
    """A decompressing reader that also closes the file under it."""

    def __init__(self, reader, handle):
        self.reader, self.handle = reader, handle

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.reader.read(size)

    def readinto(self, buffer) -> int:
        data = self.reader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.reader.tell()

    def close(self) -> None:
        if not self.closed:
            self.reader.close()
            self.handle.close()
        super().close()


def open_records(path: str, framing: str) -> BinaryIO:
    """A handle warcio can iterate: the file itself for what warcio reads natively, else its
    decompressed stream (offsets are then positions in the decompressed bytes)."""
    handle = open_input(path)
    if framing == GZIP_STREAM:
        import gzip

        return _Closing(gzip.GzipFile(fileobj=handle, mode="rb"), handle)
    if framing == LZ4:
        import lz4.frame

        return _Closing(lz4.frame.LZ4FrameFile(handle, mode="rb"), handle)
    if framing == ZSTD:
        return _Closing(_zstd_reader(handle), handle)
    return handle


def read_head(path: str, framing_hint: str, size: int = 1 << 16) -> bytes:
    """The first `size` decompressed bytes (for sniffing the format)."""
    with open_records(path, GZIP_STREAM if framing_hint == GZIP_RECORDS else framing_hint) as handle:
        return handle.read(size)

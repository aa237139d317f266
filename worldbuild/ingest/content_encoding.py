"""HTTP Content-Encoding → the body's bytes, for every coding a crawler asks for.

warcio decodes gzip and deflate itself, but its brotli path breaks on Google's `brotli`
package and it knows no zstd; a crawl that sends `Accept-Encoding: gzip, deflate, br, zstd`
(Scrapy's default) stores bodies in all four, sometimes stacked (`gzip, br`). Decoding here,
with the maintained codec of each, keeps every one of them. Output is bounded, so a small
compressed body cannot expand past `--max-bytes` (a decompression bomb costs nothing).
"""

from __future__ import annotations

import io
import zlib


class ContentDecodingError(ValueError):
    """A body that says it is coded one way but does not decode that way."""


def _zlib(data: bytes, wbits: int, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = decompressor.decompress(data, limit)
    while decompressor.eof and decompressor.unused_data and len(out) < limit:  # gzip members back to back
        rest = decompressor.unused_data
        decompressor = zlib.decompressobj(wbits)
        out += decompressor.decompress(rest, limit - len(out))
    return out


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib(data, 16 + zlib.MAX_WBITS, limit)


def _deflate(data: bytes, limit: int) -> bytes:
    """`deflate` is zlib-wrapped by the RFC, raw in many servers: browsers accept both."""
    try:
        return _zlib(data, zlib.MAX_WBITS, limit)
    except zlib.error:
        return _zlib(data, -zlib.MAX_WBITS, limit)


def _brotli(data: bytes, limit: int) -> bytes:
    import brotli

    try:
        return brotli.Decompressor().process(data, output_buffer_limit=limit)[:limit]
    except brotli.error as exc:
        raise ContentDecodingError(f"brotli: {exc}") from exc


def _zstd(data: bytes, limit: int) -> bytes:
    import zstandard

    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            return reader.read(limit)
    except zstandard.ZstdError as exc:
        raise ContentDecodingError(f"zstd: {exc}") from exc


DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli, "zstd": _zstd}
IDENTITY = {"", "identity", "none"}


def codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header in the order the server applied them."""
    return [part.strip().lower() for part in (header or "").split(",") if part.strip().lower() not in IDENTITY]


def decode_body(body: bytes, header: str | None, limit: int) -> tuple[bytes, list[str]]:
    """Undo each coding, last applied first; returns (bytes, codings undone). An unknown coding
    is left as it is (browsers pass it through and so do we: the sniffing that follows decides);
    a known one that fails raises ContentDecodingError."""
    undone = []
    for coding in reversed(codings(header)):
        decoder = DECODERS.get(coding)
        if decoder is None:
            continue
        try:
            body = decoder(body, limit)
        except zlib.error as exc:
            raise ContentDecodingError(f"{coding}: {exc}") from exc
        undone.append(coding)
    return body, undone

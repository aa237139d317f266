"""Bytes → text for HTML payloads whose declared charset may be missing or wrong.

Order: a BOM; the HTTP header charset; the `<meta>` charset; then detection. A declared
single-byte charset (latin-1 family) never fails to decode, so when such a page is in fact
valid UTF-8 (a common lie) UTF-8 wins.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SINGLE_BYTE = {"iso8859-1", "cp1252", "ascii", "iso8859-15"}


def _codec(name: str | None) -> str | None:
    """Python's codec name for a declared charset, or None if unknown."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode `body`; returns (text, how) where `how` names the charset that was used."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = _strict(body, codec)
            if text is not None:
                return text, f"{codec} (BOM)"
    for declared in (header_charset(content_type), meta_charset(body)):
        codec = _codec(declared)
        if codec is None:
            continue
        if codec in _SINGLE_BYTE and not body.isascii():
            as_utf8 = _strict(body, "utf-8")
            if as_utf8 is not None:
                return as_utf8, f"utf-8 (declared {declared} but bytes are UTF-8)"
        text = _strict(body, codec)
        if text is not None:
            return text, codec
    as_utf8 = _strict(body, "utf-8")
    if as_utf8 is not None:
        return as_utf8, "utf-8"
    guess = from_bytes(body[:65536]).best()
    if guess is not None and (text := _strict(body, guess.encoding)) is not None:
        return text, f"{guess.encoding} (detected)"
    return body.decode("cp1252", errors="replace"), "cp1252 (fallback, undecodable bytes replaced)"

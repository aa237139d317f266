"""Bytes → text for HTML payloads, as a browser decodes them.

Order (the WHATWG encoding sniffing algorithm, by w3lib): a BOM; the HTTP header charset; the
`<meta>` charset; then detection. Labels go through the WHATWG label table (latin-1 and ascii →
windows-1252, gb2312 → gb18030, shift_jis → windows-31j, euc-kr → windows-949, ...). Two
departures, both for pages that lie: a page declared in a legacy charset whose bytes are valid
non-ASCII UTF-8 is UTF-8 (no legacy text is valid UTF-8 by chance); a page declared UTF-8 that
is mostly not UTF-8 is detected instead (a stray bad byte in a UTF-8 page stays one U+FFFD).
C1 control characters never reach stored text: each is read as the windows-1252 character a
browser shows for that byte, or dropped when windows-1252 has none.
"""

from __future__ import annotations

import codecs
import re

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

# what detection may answer: encodings a browser supports (Python codec names), nothing exotic
WHATWG_CODECS = [
    "utf_8", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "iso8859_2", "iso8859_4", "iso8859_5", "iso8859_6", "iso8859_7", "iso8859_8", "iso8859_13", "iso8859_15",
    "koi8_r", "koi8_u", "cp866", "cp874", "mac_cyrillic", "gb18030", "big5hkscs", "euc_jp", "cp932", "cp949",
    "iso2022_jp",
]
UTF8_MIN_SHARE = 0.9  # declared or not, bytes are UTF-8 when this share of non-ASCII characters decodes


def _c1_table() -> dict[int, str]:
    table = {}
    for code in range(0x80, 0xA0):
        try:
            table[code] = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            table[code] = ""  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: no glyph in any browser
    return table


C1_TO_CP1252 = _c1_table()


_C1 = re.compile("[\x80-\x9f]")
_C1_IN_UTF8 = re.compile(b"\xc2[\x80-\x9f]")  # the only bytes UTF-8 decodes to U+0080-U+009F


def without_c1(text: str) -> str:
    """C1 controls (U+0080-U+009F) read as windows-1252, the way browsers show such bytes.
    (A search first: most pages have none, and `str.translate` walks every character.)"""
    if _C1.search(text) is None:
        return text
    return _C1.sub(lambda match: C1_TO_CP1252[ord(match.group())], text)


def header_charset(content_type: str | None) -> str | None:
    """The header's charset as a Python codec, through the WHATWG label table."""
    return http_content_type_encoding(content_type) if content_type else None


def meta_charset(body: bytes) -> str | None:
    return html_body_declared_encoding(body[:4096])


def _utf8_share(body: bytes) -> float:
    """Share of the non-ASCII characters that decode as UTF-8 (1.0 when all do)."""
    try:
        body.decode("utf-8")
        return 1.0  # the common case, settled in C
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    good = non_ascii - text.count("\ufffd")
    return 1.0 if bad <= 0 else good / (good + bad)


def _detect(body: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    if _utf8_share(body) >= UTF8_MIN_SHARE:
        return "utf-8", "utf-8 (detected)"
    guess = from_bytes(body[:65536], cp_isolation=WHATWG_CODECS).best()
    if guess is not None:
        codec = resolve_encoding(guess.encoding) or guess.encoding
        return codec, f"{codec} (detected)"
    return "cp1252", "cp1252 (fallback)"


def _choose(body: bytes, content_type: str | None) -> tuple[str, str]:
    bom_codec, _ = read_bom(body)
    if bom_codec:
        return bom_codec, f"{bom_codec} (BOM)"
    for declared, where in ((header_charset(content_type), "header"), (meta_charset(body), "meta")):
        if not declared:
            continue
        codec = codecs.lookup(declared).name
        if codec == "utf-8":
            if body.isascii() or _utf8_share(body) >= UTF8_MIN_SHARE:
                return "utf-8", f"utf-8 ({where})"
            codec, how = _detect(body)
            return codec, f"{how}; {where} said utf-8"
        if not body.isascii() and _utf8_share(body) == 1.0:
            return "utf-8", f"utf-8 ({where} said {codec} but bytes are UTF-8)"
        return codec, f"{codec} ({where})"
    return _detect(body)


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode `body`; returns (text, how) where `how` names the charset used and why. Never
    raises: undecodable bytes become U+FFFD, as in a browser."""
    codec, how = _choose(body, content_type)
    if codec.startswith("utf-8") and body.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    try:
        text = body.decode(codec, "replace")
    except LookupError:
        text, how = body.decode("cp1252", "replace"), "cp1252 (fallback)"
    if codec.startswith("utf-16") and text.startswith("\ufeff"):
        text = text[1:]
    if codec.startswith("utf-8") and _C1_IN_UTF8.search(body) is None:
        return text, how  # (scanning the bytes for the pair that makes C1 is 3x cheaper than the text)
    return without_c1(text), how

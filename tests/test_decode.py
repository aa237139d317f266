from worldbuild.ingest.decode import decode_html

TEXT = "Müller & Söhne — Straße"


def test_header_charset_used():
    text, how = decode_html(TEXT.encode("cp1252", "replace"), "text/html; charset=windows-1252")
    assert "Müller" in text and how == "cp1252 (header)"


def test_header_says_utf8_but_bytes_are_latin1():
    text, how = decode_html(("<p>" + TEXT.replace("—", "-") + "</p>").encode("latin-1"), "text/html; charset=utf-8")
    assert "Müller" in text and "Straße" in text


def test_header_says_latin1_but_bytes_are_utf8():
    text, how = decode_html(TEXT.encode("utf-8"), "text/html; charset=ISO-8859-1")
    assert text == TEXT and "UTF-8" in how


def test_meta_charset_when_header_has_none():
    html = '<html><head><meta charset="windows-1250"></head><body>Łódź žluťoučký</body></html>'
    text, how = decode_html(html.encode("cp1250"), "text/html")
    assert "Łódź žluťoučký" in text and how == "cp1250 (meta)"


def test_unknown_charset_name_falls_back():
    text, _ = decode_html(TEXT.encode("utf-8"), "text/html; charset=x-no-such-charset")
    assert text == TEXT


def test_bom_wins():
    text, how = decode_html("\ufeffhello ü".encode("utf-8"), "text/html; charset=iso-8859-1")
    assert text == "hello ü" and "BOM" in how


def test_undecodable_bytes_never_raise():
    text, _ = decode_html(bytes(range(256)) * 4, None)
    assert isinstance(text, str) and len(text) > 0


def test_every_content_coding_and_stacks_decode():
    from tests.site import encode
    from worldbuild.ingest.content_encoding import decode_body

    body = ("<html><body>" + TEXT * 50 + "</body></html>").encode()
    for header in ("gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br", "br, zstd, gzip", "identity, gzip"):
        coded = body
        for name in header.split(","):
            name = name.strip()
            if name != "identity":
                coded = encode(coded, "gzip" if name == "x-gzip" else name)
        assert coded != body
        assert decode_body(coded, header, 1 << 20)[0] == body, header


def test_raw_deflate_and_unknown_codings_pass():
    import zlib

    from worldbuild.ingest.content_encoding import decode_body

    raw = zlib.compressobj(wbits=-15)
    coded = raw.compress(b"<html>raw deflate</html>") + raw.flush()
    assert decode_body(coded, "deflate", 1000)[0] == b"<html>raw deflate</html>"
    assert decode_body(b"<html>plain</html>", "utf-8", 1000) == (b"<html>plain</html>", [])


def test_decoding_is_bounded_and_lies_are_caught():
    import pytest

    from tests.site import encode
    from worldbuild.ingest.content_encoding import ContentDecodingError, decode_body

    bomb = encode(b"\0" * (50 << 20), "br")
    assert len(bomb) < 100_000 and len(decode_body(bomb, "br", 1001)[0]) == 1001
    with pytest.raises(ContentDecodingError):
        decode_body(b"<html>not brotli at all</html>", "br", 1000)
    with pytest.raises(ContentDecodingError):
        decode_body(b"<html>not zstd</html>", "zstd", 1000)

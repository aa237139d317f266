from worldbuild.ingest.decode import decode_html

TEXT = "Müller & Söhne — Straße"


def test_header_charset_used():
    text, how = decode_html(TEXT.encode("cp1252", "replace"), "text/html; charset=windows-1252")
    assert "Müller" in text and how == "cp1252"


def test_header_says_utf8_but_bytes_are_latin1():
    text, how = decode_html(("<p>" + TEXT.replace("—", "-") + "</p>").encode("latin-1"), "text/html; charset=utf-8")
    assert "Müller" in text and "Straße" in text


def test_header_says_latin1_but_bytes_are_utf8():
    text, how = decode_html(TEXT.encode("utf-8"), "text/html; charset=ISO-8859-1")
    assert text == TEXT and "UTF-8" in how


def test_meta_charset_when_header_has_none():
    html = '<html><head><meta charset="windows-1250"></head><body>Łódź žluťoučký</body></html>'
    text, how = decode_html(html.encode("cp1250"), "text/html")
    assert "Łódź žluťoučký" in text and how == "cp1250"


def test_unknown_charset_name_falls_back():
    text, _ = decode_html(TEXT.encode("utf-8"), "text/html; charset=x-no-such-charset")
    assert text == TEXT


def test_bom_wins():
    text, how = decode_html("\ufeffhello ü".encode("utf-8"), "text/html; charset=iso-8859-1")
    assert text == "hello ü" and "BOM" in how


def test_undecodable_bytes_never_raise():
    text, _ = decode_html(bytes(range(256)) * 4, None)
    assert isinstance(text, str) and len(text) > 0

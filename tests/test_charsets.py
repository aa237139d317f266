"""Decoding as browsers do, on real pages: legacy CJK and Cyrillic charsets, latin-1 labels on
windows-1252 bytes (no C1 controls left), UTF-8 pages that lie or carry one bad byte."""

import gzip
import json
import os
import re

import pytest

from tests.conftest import SHARED, needs_shared
from tests.warcs import response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.decode import decode_html, without_c1
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World

pytestmark = needs_shared
HTML, INTL = os.path.join(SHARED, "html"), os.path.join(SHARED, "html-intl")
C1 = re.compile("[\x80-\x9f]")
SCRIPTS = {"han": r"[\u4e00-\u9fff]", "han+kana": r"[\u4e00-\u9fff\u3040-\u30ff]", "hangul": r"[\uac00-\ud7af]",
           "cyrillic": r"[\u0400-\u04ff]"}


def manifest(folder: str) -> list[dict]:
    with open(os.path.join(folder, "pages.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def body(folder: str, entry: dict) -> bytes:
    data = open(os.path.join(folder, entry["file"]), "rb").read()
    return gzip.decompress(data) if entry.get("compression") else data


def legacy_pages() -> list[dict]:
    """html-intl pages really stored in a legacy encoding (checked upstream by strict decoding);
    none without ../shared (the module's tests skip then, with that reason)."""
    if not os.path.isdir(INTL):
        return []
    return [e for e in manifest(INTL) if "strict decode ok" in e["actual_encoding"]]


def test_the_legacy_pages_are_there():
    found = {e["actual_encoding"].split()[0] for e in legacy_pages()}
    assert found == {"big5", "euc-jp", "euc-kr", "shift-jis", "cp932"}


@pytest.mark.parametrize("entry", legacy_pages(), ids=lambda e: e["file"])
@pytest.mark.parametrize("content_type", ["text/html", None], ids=["no-header-charset", "no-header"])
def test_legacy_cjk_pages_decode_like_the_bytes_say(entry, content_type):
    data = body(INTL, entry)
    text, how = decode_html(data, content_type)
    actual = entry["actual_encoding"].split()[0]
    assert text == without_c1(data.decode(actual)), how  # every character, as the strict decode has it
    assert "\ufffd" not in text
    assert len(re.findall(SCRIPTS[entry["script"]], text)) >= entry["script_chars"]


def test_gb2312_label_is_read_as_gb18030():
    (entry,) = [e for e in manifest(HTML) if e["meta_charset"] == "gb2312"]
    data = body(HTML, entry)
    text, how = decode_html(data, "text/html; charset=gb2312")
    assert how.startswith("gb18030") and "\ufffd" not in text
    assert len(re.findall(SCRIPTS["han"], text)) > 500


def _latin1_pages_with_c1() -> list[dict]:
    """Pages labelled ISO-8859-1 whose bytes are not UTF-8 and hold 0x80-0x9F (windows-1252
    punctuation): read as latin-1 they would keep C1 control characters."""
    found = []
    for entry in manifest(HTML):
        if entry["meta_charset"] != "iso-8859-1":
            continue
        data = body(HTML, entry)
        try:
            data.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        if C1.search(data.decode("latin-1")):
            found.append(entry)
    return found


def test_windows_1252_bytes_under_a_latin1_label_leave_no_c1(tmp_path):
    pages = _latin1_pages_with_c1()
    assert len(pages) >= 5
    for entry in pages:
        text, how = decode_html(body(HTML, entry), "text/html; charset=ISO-8859-1")
        assert how.startswith("cp1252") and not C1.search(text), entry["file"]
    warc = write_warc(str(tmp_path / "latin1.warc.gz"), [
        response(e["url"], body(HTML, e), "text/html; charset=iso-8859-1") for e in pages])
    ingest([warc], str(tmp_path / "w"), IngestSettings(min_chars=200), LocalExecutor(1))
    with World.open(str(tmp_path / "w")) as world:
        stored = [world.page(e["url"]) for e in pages]
        assert sum(p is not None for p in stored) >= 4
        for page in filter(None, stored):
            assert not C1.search(page.text) and not C1.search(page.title)
        assert any(ch in page.text for page in filter(None, stored) for ch in "–—„“”’…")


def test_c1_characters_spelled_in_utf8_read_as_windows_1252():
    """A UTF-8 page whose text went through a windows-1252 mix-up once (U+0092 for an apostrophe,
    as bytes C2 92) shows the punctuation a browser shows; U+00A0 (bytes C2 A0) stays itself."""
    entry, original = _russian_page()
    html = original.replace("</title>", " \u0092quoted\u0094\u00a0</title>", 1)
    text, how = decode_html(html.encode("utf-8"), "text/html; charset=utf-8")
    assert how.startswith("utf-8")
    assert " \u2019quoted\u201d\u00a0</title>" in text and not C1.search(text)
    assert decode_html(original.encode("utf-8"), "text/html; charset=utf-8")[0] == original


def _russian_page() -> tuple[dict, str]:
    entry = max((e for e in manifest(INTL) if e["language"] == "ru" and e["actual_encoding"] == "utf-8"),
                key=lambda e: e["script_chars"])
    return entry, body(INTL, entry).decode("utf-8")


@pytest.mark.parametrize("label", ["text/html; charset=windows-1251", "text/html"], ids=["labelled", "unlabelled"])
def test_windows_1251_russian(label):
    """No page in ../shared is stored in windows-1251: a real Russian page, re-encoded as a
    Russian server of the 2000s would send it (characters windows-1251 lacks become NCRs)."""
    entry, original = _russian_page()
    html = re.sub(r"(?i)charset\s*=\s*[\"']?utf-8", "charset=windows-1251", original)
    data = html.encode("cp1251", "xmlcharrefreplace")
    text, how = decode_html(data, label)
    assert how.startswith("cp1251"), how
    assert text == html.encode("cp1251", "xmlcharrefreplace").decode("cp1251")


def test_unlabelled_cp1251_without_meta_is_detected():
    entry, original = _russian_page()
    html = re.sub(r"(?i)<meta[^>]*charset[^>]*>", "", original)
    text, how = decode_html(html.encode("cp1251", "xmlcharrefreplace"), "text/html")
    assert how.startswith("cp1251"), how
    assert len(re.findall(SCRIPTS["cyrillic"], text)) >= entry["script_chars"]


def test_a_utf8_page_with_one_bad_byte_stays_utf8():
    entry = next(e for e in manifest(HTML) if e["url"].endswith(".de") or ".de/" in e["url"]
                 if e["meta_charset"] == "utf-8" and "ü".encode() in body(HTML, e))
    data = body(HTML, entry)
    cut = data.index("ü".encode())
    broken = data[:cut] + b"\xff" + data[cut:]
    for content_type in ("text/html", "text/html; charset=utf-8"):
        text, how = decode_html(broken, content_type)
        assert how.startswith("utf-8"), how
        assert text.count("\ufffd") == data.decode("utf-8").count("\ufffd") + 1

"""Bad input: every case gets a one-line reason in the report and never stops the other files."""

import gzip
import os
import shutil

import pytest

from tests.conftest import CORPORA, SHARED_WARC, needs_shared
from tests.warcs import article, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World

PAGES = os.path.join(CORPORA, "sample-pages.warc.gz")


def run(paths, world_dir, **settings):
    return ingest(paths, str(world_dir), IngestSettings(**settings), LocalExecutor(1))


@pytest.fixture
def good_warc(tmp_path):
    return write_warc(str(tmp_path / "good.warc.gz"), [
        {"type": "warcinfo"},
        response("https://good.example.org/a", article("Good page A", "albatross")),
        response("https://good.example.org/b", article("Good page B", "bittern")),
    ])


def _one_line(text: str) -> bool:
    return "\n" not in text and 0 < len(text) < 400


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    data = open(PAGES, "rb").read()
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(data[: len(data) // 2])
    result = run([str(truncated)], tmp_path / "w")
    report = result.report
    assert report.skips["archive truncated mid-record"] == 1
    assert 30 < result.manifest["pages"] < 128  # the first half survived
    (problem,) = report.file_errors
    assert problem["file"] == "truncated.warc.gz" and _one_line(problem["error"])


def test_not_a_warc_and_the_other_files_go_on(tmp_path, good_warc):
    bogus = tmp_path / "notes.warc.gz"
    bogus.write_text("this is a plain text file, not an archive\n" * 50)
    html = tmp_path / "page.warc"
    html.write_text(article("not wrapped in WARC"))
    result = run([str(bogus), str(html), good_warc], tmp_path / "w")
    assert result.report.skips["not a WARC/ARC file"] == 2
    assert result.manifest["pages"] == 2
    assert all(_one_line(p["error"]) for p in result.report.file_errors)


def test_gzip_of_garbage(tmp_path, good_warc):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(gzip.compress(os.urandom(5000)))
    result = run([str(junk), good_warc], tmp_path / "w")
    assert result.manifest["pages"] == 2
    assert len(result.report.file_errors) == 1


def test_empty_file(tmp_path, good_warc):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    result = run([str(empty), good_warc], tmp_path / "w")
    assert result.report.skips["empty file"] == 1
    assert result.manifest["pages"] == 2


def test_missing_and_unreadable_paths(tmp_path, good_warc):
    directory_as_file = tmp_path / "folder.warc.gz"
    directory_as_file.mkdir()
    (directory_as_file / "readme.txt").write_text("no archives here")
    dangling = tmp_path / "dangling.warc.gz"
    dangling.symlink_to(tmp_path / "does-not-exist.warc.gz")
    result = run([str(tmp_path / "missing.warc.gz"), str(directory_as_file), str(dangling),
                  str(tmp_path / "nothing-*.warc.gz"), good_warc], tmp_path / "w")
    skips = result.report.skips
    assert skips["path not found"] == 1
    assert skips["directory holds no WARC/ARC files"] == 1
    assert skips["unreadable file"] == 1
    assert skips["glob matches no files"] == 1
    assert result.manifest["pages"] == 2


def test_nothing_readable_at_all(tmp_path):
    result = run([str(tmp_path / "missing.warc.gz")], tmp_path / "w")
    assert result.manifest is None and result.report.skips["path not found"] == 1


def test_broken_and_lying_charsets(tmp_path):
    text = "Die Müllerstraße in Köln wurde 1887 gepflastert, wie das Stadtarchiv berichtet. " * 20
    html = f"<html><head><title>Straße</title></head><body><article><p>{text}</p></article></body></html>"
    warc = write_warc(str(tmp_path / "charsets.warc.gz"), [
        response("https://a.example/utf8-says-latin1", html, "text/html; charset=iso-8859-1"),
        response("https://b.example/latin1-says-utf8", html.encode("latin-1"), "text/html; charset=utf-8"),
        response("https://c.example/unknown-charset", html.encode("cp1252"), "text/html; charset=klingon-8"),
        response("https://d.example/garbage-bytes", html.encode("utf-8")[:500] + bytes(range(128, 256)) * 8
                 + html.encode("utf-8")[500:], "text/html; charset=utf-8"),
    ])
    result = run([warc], tmp_path / "w")
    assert result.report.pages_extracted == 4
    with World.open(str(tmp_path / "w")) as world:
        for url in ("https://a.example/utf8-says-latin1", "https://b.example/latin1-says-utf8",
                    "https://c.example/unknown-charset"):
            page = world.page(url) or world.page(url)
            if page is not None:  # same text: two of them are content duplicates of the first
                assert "Müllerstraße" in page.text
        assert result.report.skips["duplicate content"] == 2


def test_fifty_megabyte_body_is_skipped_without_stopping(tmp_path):
    giant = b"<html><body><p>" + b"word " * (10 * 1024 * 1024) + b"</p></body></html>"
    assert len(giant) > 50 * 1024 * 1024
    warc = write_warc(str(tmp_path / "giant.warc.gz"), [
        response("https://giant.example/", giant),
        response("https://after.example/", article("After the giant", "cormorant")),
    ])
    result = run([warc], tmp_path / "w")
    assert result.report.skips["body over --max-bytes"] == 1
    assert result.manifest["pages"] == 1


def test_non_html_payloads(tmp_path):
    warc = write_warc(str(tmp_path / "types.warc.gz"), [
        response("https://x.example/doc.pdf", b"%PDF-1.4\n%...binary...", "application/pdf"),
        response("https://x.example/img.png", b"\x89PNG\r\n\x1a\n" + os.urandom(200), "image/png"),
        response("https://x.example/data.json", b'{"a": 1}', "application/json"),
        response("https://x.example/lying.html", b"%PDF-1.7 really a pdf", "text/html"),
        response("https://x.example/none", article("no content type"), ""),
    ])
    result = run([warc], tmp_path / "w")
    skips = result.report.skips
    assert skips["non-HTML payload: application/pdf"] == 2  # one of them says text/html
    assert skips["non-HTML payload: image/png"] == 1
    assert skips["non-HTML payload: application/json"] == 1
    assert result.manifest["pages"] == 1  # HTML sniffed despite the missing Content-Type


def test_revisit_request_metadata_and_status(tmp_path):
    warc = write_warc(str(tmp_path / "kinds.warc.gz"), [
        {"type": "warcinfo"},
        {"type": "request", "url": "https://k.example/"},
        response("https://k.example/", article("Kinds", "heron")),
        {"type": "revisit", "url": "https://k.example/", "body": b""},
        {"type": "metadata", "url": "https://k.example/", "body": b"outlinks: none"},
        response("https://k.example/gone", article("Gone"), status="404 Not Found"),
        response("https://k.example/moved", b"", status="301 Moved Permanently"),
    ])
    result = run([warc], tmp_path / "w")
    skips = result.report.skips
    assert skips["record type: request"] == 1 and skips["record type: metadata"] == 1
    assert skips["record type: warcinfo"] == 1
    assert skips["revisit record (no payload)"] == 1
    assert skips["HTTP status 404"] == 1 and skips["HTTP status 301"] == 1
    assert result.report.records_read == 7 and result.manifest["pages"] == 1


def test_duplicate_urls_across_files(tmp_path):
    first = write_warc(str(tmp_path / "one.warc.gz"), [
        response("https://dup.example/page", article("First capture", "puffin"), date="2024-01-01T00:00:00Z"),
    ])
    second = write_warc(str(tmp_path / "two.warc.gz"), [
        response("http://WWW.dup.example/page/?utm_source=feed", article("Later capture", "gannet"),
                 date="2024-06-01T00:00:00Z"),
        response("https://mirror.example/copy", article("First capture", "puffin")),
    ])
    result = run([first, second], tmp_path / "w")
    assert result.report.skips["duplicate content"] == 1
    assert result.manifest["pages"] == 2  # the http/www spelling is another canonical URL
    with World.open(str(tmp_path / "w")) as world:
        assert world.page("https://dup.example/page").title == "First capture"
    # the same URL again in a third file: a duplicate by URL
    third = write_warc(str(tmp_path / "three.warc.gz"), [
        response("https://dup.example/page#again", article("Third capture", "shag")),
    ])
    again = run([third], tmp_path / "w")
    assert again.report.skips["duplicate URL"] == 1 and not again.changed


@needs_shared
def test_real_malformed_archives(tmp_path):
    bad = os.path.join(SHARED_WARC, "bad")
    result = run([bad], tmp_path / "w")
    errors = {p["file"]: p["error"] for p in result.report.file_errors}
    inputs = {entry["name"]: entry for entry in result.manifest["inputs"]}
    # gzipped as one stream (warcio refuses it after the first record): every record is read
    assert "warcio-example-bad-non-chunked.warc.gz" not in errors
    assert inputs["warcio-example-bad-non-chunked.warc.gz"]["framing"] == "gzip-stream"
    assert inputs["warcio-example-bad-non-chunked.warc.gz"]["records_read"] == 6
    # a record with a wrong length: the file breaks after it, and says so (it is a WARC file)
    assert errors["warcio-example-wrong-chunks.warc.gz"].startswith("archive breaks mid-way")
    assert all(_one_line(e) for e in errors.values())


def test_same_file_twice_under_two_names(tmp_path, good_warc):
    copy = tmp_path / "copy.warc.gz"
    shutil.copy(good_warc, copy)
    result = run([good_warc, str(copy)], tmp_path / "w")
    assert result.known_inputs == ["copy.warc.gz"] and result.manifest["pages"] == 2


def test_an_unforeseen_error_in_one_record_skips_only_that_record(tmp_path, monkeypatch):
    import worldbuild.ingest.warc_steps as warc_steps

    real_decode = warc_steps.decode_html

    def flaky_decode(body, content_type):
        if b"cursed" in body:
            raise RuntimeError("boom")
        return real_decode(body, content_type)

    monkeypatch.setattr(warc_steps, "decode_html", flaky_decode)
    warc = write_warc(str(tmp_path / "flaky.warc.gz"), [
        response("https://f.example/1", article("Fine one", "kestrel")),
        response("https://f.example/2", article("Cursed", "cursed")),
        response("https://f.example/3", article("Fine three", "merlin")),
    ])
    result = run([warc], tmp_path / "w")
    assert result.report.skips["record failed (RuntimeError)"] == 1
    assert result.manifest["pages"] == 2

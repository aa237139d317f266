"""`worldbuild crawl` against a local web of real pages (tests/site.py): what was fetched, what
was refused and why, the WARC it writes (valid, with request/response/revisit records, readable
by `worldbuild ingest`), budgets, and Ctrl-C then resume."""

import os
import signal
import subprocess
import sys
import time

from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, needs_shared
from tests.site import EncodedSite, Site
from worldbuild.crawl.warcfile import WarcFile
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World

pytestmark = needs_shared
ONLY_SITE = r"^http://127\.0\.0\.1:\d+/(page/\d+|dup|old|missing|slow|huge|doc\.pdf|private/.*|robots\.txt)?$"


def crawl_cmd(base: str, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "worldbuild", "crawl", base + "/", "--out", out, "--delay", "0", "--timeout", "1",
            "--retries", "0", "--max-bytes", "1000000", "--json", *extra]


def run_crawl(base: str, out: str, *extra: str) -> dict:
    import json

    result = subprocess.run(crawl_cmd(base, out, *extra), capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def warc_types(path: str) -> list[tuple[str, str, dict]]:
    out = []
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            out.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or "",
                        dict(record.rec_headers.headers)))
            record.content_stream().read()
    return out


def test_crawl_a_small_site_into_valid_warc(tmp_path):
    out = str(tmp_path / "crawl.warc.gz")
    site = Site()
    with site as base:
        report = run_crawl(base, out, "--depth", "20", "--same-host", "--include", ONLY_SITE)
    counts = report["counts"]
    assert "/private/secret" not in site.served and "/robots.txt" in site.served
    assert counts["skipped: robots.txt"] == 1
    assert counts["skipped: http 404"] == 1 and counts["skipped: timeout"] == 1
    assert counts["skipped: too large"] == 1
    assert counts["redirects recorded"] == 1
    assert counts["fetched: not HTML (kept in the WARC, not parsed)"] == 1
    assert counts["not followed: other host"] >= 1 and counts["not followed: --include"] > 0
    assert counts["fetched: HTML pages"] == len(site.bodies) + 2  # every page, the index and /dup
    assert report["finish_reason"] == "finished"

    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", out], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    seen = warc_types(out)
    assert seen[0][0] == "warcinfo"
    responses = {uri for kind, uri, _ in seen if kind == "response"}
    copies = {f"{base}/page/1", f"{base}/dup"}  # the same bytes: one response, then a revisit
    assert {f"{base}/page/{i}" for i in range(len(site.bodies))} - copies <= responses
    assert f"{base}/old" in responses and f"{base}/missing" in responses  # a redirect and a 404, as they came
    (revisit,) = [(uri, h) for kind, uri, h in seen if kind == "revisit" and uri in copies]
    (first,) = copies & responses
    assert revisit[1]["WARC-Refers-To-Target-URI"] == first and revisit[0] != first
    requests = [h for kind, _, h in seen if kind == "request"]
    assert len(requests) == len(responses) + sum(kind == "revisit" for kind, _, _ in seen)
    assert all(h.get("WARC-Concurrent-To") for h in requests)

    world = str(tmp_path / "world")
    result = ingest([out], world)
    with World.open(world) as opened:
        assert opened.page(f"{base}/page/0") is not None
        assert opened.page(f"{base}/doc.pdf") is None and opened.page(f"{base}/private/secret") is None
        moved = opened.browse(f"{base}/old")  # the crawl recorded a 301 to /page/3: browse follows it
        assert moved is not None and moved.url == f"{base}/page/3" and moved.redirected_from == f"{base}/old"
    assert result.manifest["pages"] >= len(site.bodies) - 1  # short pages may fall under the length filter


def test_every_content_coding_the_crawl_stores_is_ingested(tmp_path):
    """The crawl asks for gzip, deflate, br and zstd and stores bodies as they came; the ingest
    decodes each (stacked codings too) and keeps every page."""
    out = str(tmp_path / "codings.warc.gz")
    site = EncodedSite()
    with site as base:
        run_crawl(base, out, "--depth", "3", "--same-host", "--include", r"/enc/\d+$|:\d+/$")
    codings = {}
    with open(out, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response" and "/enc/" in record.rec_headers.get_header("WARC-Target-URI"):
                codings[record.rec_headers.get_header("WARC-Target-URI")] = \
                    record.http_headers.get_header("Content-Encoding")
    expected = {f"{base}/enc/{i}": coding for i, coding in enumerate(EncodedSite.CODINGS)}
    assert codings == expected  # the server honoured every coding the crawl asked for
    world = str(tmp_path / "world")
    result = ingest([out], world, IngestSettings(min_chars=200))
    assert not any("decoding" in reason for reason in result.report.skips), result.report.skips
    with World.open(world) as opened:
        for i, url in enumerate(expected):
            page = opened.page(url)
            assert page is not None, (url, expected[url], result.report.to_dict())
            first_words = " ".join(page.text.split()[:5]).lstrip("#* ")
            assert first_words[:20].encode() in site.bodies[i] or page.title.encode()[:20] in site.bodies[i]


def test_depth_and_page_budgets(tmp_path):
    site = Site()
    with site as base:
        shallow = run_crawl(base, str(tmp_path / "d.warc.gz"), "--depth", "1", "--same-host", "--include", ONLY_SITE)
    # the index's own links only: page/0's links (page/1, page/2) are one level too deep
    assert "/page/0" in site.served and "/page/1" not in site.served and "/page/2" not in site.served
    assert shallow["counts"]["fetched: HTML pages"] == 4  # the index, page/0, /dup and /old → page/3
    site = Site()
    with site as base:
        budget = run_crawl(base, str(tmp_path / "b.warc.gz"), "--depth", "20", "--max-pages", "3", "--same-host",
                           "--include", ONLY_SITE)
    assert budget["finish_reason"] == "page budget"
    pages = budget["counts"]["fetched: HTML pages"] + budget["counts"].get("fetched: not HTML (kept in the WARC, "
                                                                            "not parsed)", 0)
    assert pages == 3


def test_links_seen_twice_do_not_use_up_the_budget(tmp_path):
    site = Site()  # every page links to the next two: most links were asked for already
    with site as base:
        report = run_crawl(base, str(tmp_path / "c.warc.gz"), "--depth", "20", "--max-pages", "6", "--same-host",
                           "--include", r"/page/\d+$|:\d+/$")
    assert report["finish_reason"] == "page budget" and report["counts"]["fetched: HTML pages"] == 6
    assert len([p for p in site.served if p.startswith("/page/")]) == 5  # the index and 5 pages


def test_ctrl_c_keeps_a_valid_warc_and_a_rerun_continues(tmp_path):
    out = str(tmp_path / "crawl.warc.gz")
    site = Site()
    site.delay = 0.4
    with site as base:
        args = crawl_cmd(base, out, "--depth", "20", "--same-host", "--include", r"/page/\d+$|:\d+/$")
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while sum(p.startswith("/page/") for p in site.served) < 3 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        first = [p for p in site.served if p.startswith("/page/")]
        assert 3 <= len(first) < len(site.bodies)
        check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", out], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        run_crawl(base, out, "--depth", "20", "--same-host", "--include", r"/page/\d+$|:\d+/$")
    pages = [p for p in site.served if p.startswith("/page/")]
    assert sorted(set(pages)) == sorted(f"/page/{i}" for i in range(len(site.bodies)))
    assert len(pages) == len(set(pages))  # nothing fetched twice across the two runs
    responses = [uri for kind, uri, _ in warc_types(out) if kind == "response" and "/page/" in uri]
    assert len(responses) == len(site.bodies)
    assert sum(kind == "warcinfo" for kind, _, _ in warc_types(out)) == 2  # one per run


def test_a_torn_last_record_is_cut_on_reopen(tmp_path):
    out = str(tmp_path / "t.warc.gz")
    warc = WarcFile(out, {"software": "test"})
    warc.write_exchange("GET", "http://a.example/", [("Host", "a.example")], "HTTP/1.1", 200, "OK",
                        [("Content-Type", "text/html")], b"<html>hello</html>")
    warc.close()
    whole = os.path.getsize(out)
    with open(out, "ab") as handle:
        handle.write(open(out, "rb").read()[: whole // 2])  # half a copy: a crash mid-write
    again = WarcFile(out, {"software": "test"})
    # the copy's whole warcinfo record stays; its torn response is cut; the stored payload is remembered
    assert 0 < again.repaired_bytes < whole // 2 and again.digests
    kind = again.write_exchange("GET", "http://b.example/", [], "HTTP/1.1", 200, "OK", [], b"<html>hello</html>")
    again.close()
    assert kind == "revisit"
    assert [t for t, _, _ in warc_types(out)] == ["warcinfo", "response", "request", "warcinfo", "warcinfo", "revisit",
                                                  "request"]


def test_bad_arguments_fail_clearly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "worldbuild", "crawl", "http://127.0.0.1:9/", "--out",
                             str(tmp_path / "x.warc.gz"), "--include", "(unclosed"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 2 and "--include" in result.stderr

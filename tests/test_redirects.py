"""Browse follows redirects recorded in the archive (3xx with a Location inside the world) to
the stored page and says it did; chains, loops, targets outside the world and masks."""

import subprocess
import sys

from warcio.statusandheaders import StatusAndHeaders

from tests.conftest import REPO
from tests.warcs import article, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World


def redirect(url: str, location: str, status: str = "301 Moved Permanently") -> dict:
    return {"type": "redirect", "url": url, "location": location, "status": status}


def write(path, specs):
    """write_warc plus 3xx responses that carry a Location header."""
    import io

    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for spec in specs:
            if spec["type"] != "redirect":
                body = spec["body"]
                headers = StatusAndHeaders(spec["status"], [("Content-Type", spec["content_type"])],
                                           protocol="HTTP/1.1")
            else:
                body = b""
                headers = StatusAndHeaders(spec["status"], [("Location", spec["location"]),
                                                            ("Content-Length", "0")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(spec["url"], "response", payload=io.BytesIO(body),
                                                          length=len(body), http_headers=headers))
    return str(path)


def build(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    warc = write(tmp_path / "r.warc.gz", [
        response("https://new.example/story", article("The story", "godwit")),
        redirect("http://old.example/story?id=7", "https://new.example/story"),
        redirect("https://new.example/s/7", "/story", "302 Found"),  # relative Location
        redirect("https://a.example/1", "https://a.example/2"),  # a chain: 1 -> 2 -> the story
        redirect("https://a.example/2", "http://old.example/story?id=7"),
        redirect("https://loop.example/x", "https://loop.example/y"),
        redirect("https://loop.example/y", "https://loop.example/x"),
        redirect("https://out.example/gone", "https://elsewhere.example/never-crawled"),
    ])
    result = ingest([warc], str(tmp_path / "w"), IngestSettings(), LocalExecutor(1))
    return result, str(tmp_path / "w")


def test_browse_follows_recorded_redirects_and_says_so(tmp_path):
    result, world_dir = build(tmp_path)
    assert result.report.skips["redirect (HTTP 301): followed on browse"] == 6
    assert result.manifest["pages"] == 1 and result.manifest["redirects"] == 7
    with World.open(world_dir) as world:
        for asked in ("http://old.example/story?id=7", "https://new.example/s/7", "https://a.example/1"):
            found = world.browse(asked)
            assert found is not None and found.url == "https://new.example/story"
            assert found.redirected_from is not None and found.title == "The story"
        assert world.browse("https://a.example/1").redirected_from == "https://a.example/1"
        assert world.browse("https://new.example/story").redirected_from is None
        assert world.browse("https://loop.example/x") is None  # a loop ends, with nothing
        assert world.browse("https://out.example/gone") is None  # leads outside the world
        # a mask on the old address hides the page it leads to, in search too
        assert world.browse("https://new.example/story", mask=["http://old.example/story?id=7"]) is None
        assert world.search("godwit", mask=["https://a.example/1"]) == []


def test_the_cli_text_view_notes_the_redirect(tmp_path):
    _, world_dir = build(tmp_path)
    shown = subprocess.run([sys.executable, "-m", "worldbuild", "browse", "http://old.example/story?id=7",
                            "--world", world_dir], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert "redirected from http://old.example/story?id=7" in first and "https://new.example/story" in first


def test_redirects_are_part_of_the_snapshot(tmp_path):
    first, _ = build(tmp_path / "one")
    only_page = write_warc(str(tmp_path / "p.warc.gz"), [
        response("https://new.example/story", article("The story", "godwit"))])
    second = ingest([only_page], str(tmp_path / "two"), IngestSettings(), LocalExecutor(1))
    assert first.manifest["pages"] == second.manifest["pages"]
    assert first.manifest["snapshot"] != second.manifest["snapshot"]


def test_pages_of_many_urls_follow_redirects_and_resolve_the_mask_once(tmp_path, monkeypatch):
    """`World.pages` answers as `page` does for each URL (redirects followed, masked ones None),
    the mask resolved once for the whole list, not once per URL."""
    _, world_dir = build(tmp_path)
    with World.open(world_dir) as world:
        urls = ["http://old.example/story?id=7", "https://loop.example/x", " ", "https://new.example/story"] * 50
        assert [p and p.url for p in world.pages(urls)] == [p and p.url for p in map(world.page, urls)]
        assert world.pages(urls)[0].title == "The story" and world.pages(urls)[1] is None
        resolved = []
        real = world.store.masked_ids
        monkeypatch.setattr(world.store, "masked_ids", lambda mask: resolved.append(mask) or real(mask))
        hidden = world.pages(urls, mask=["https://a.example/1"])
        assert resolved == [["https://a.example/1"]] and set(hidden) == {None}

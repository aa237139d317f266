"""`worldbuild expand` against local sources only: a larger world served by `worldbuild serve`
as the Serper-shaped search backend, and a CDX + byte-range server over the real WARC files in
../shared/data/warc. The small sample world grows into a new snapshot whose parent is the old
one; a task's masked source is never fetched; budgets and the manifest's record are checked."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.cdx_server import CdxServer
from tests.conftest import FAST, REPO, SHARED_WARC, needs_extra, needs_shared
from tests.services import start_server
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World

pytestmark = needs_shared
SMALL = ("pywb-iana.warc.gz", "nodewarc-books.toscrape.warc")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """A world of every readable WARC in ../shared/data/warc, served (the search backend: the web
    that expansion searches, so built with the fast extractor; what it fetches from the WARCs is
    extracted as the world to grow says)."""
    needs_extra("resiliparse", "fast")
    world = str(tmp_path_factory.mktemp("big") / "world")
    files = [os.path.join(SHARED_WARC, n) for n in sorted(os.listdir(SHARED_WARC)) if n.endswith((".warc", ".warc.gz"))]
    ingest(files, world, FAST, LocalExecutor(2))
    proc, base = start_server(world)
    yield world, base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def small_original(tmp_path_factory):
    """The world to grow: two of the WARC files only, ingested once (read-only: see small_world)."""
    world = str(tmp_path_factory.mktemp("small") / "world")
    ingest([os.path.join(SHARED_WARC, name) for name in SMALL], world, IngestSettings(), LocalExecutor(2))
    return world


@pytest.fixture
def small_world(small_original, tmp_path):
    """A test's own copy of the world to grow, since growing changes it."""
    world = str(tmp_path / "small")
    shutil.copytree(small_original, world)
    return world


def missing_pages(big: str, small: str, count: int) -> list[tuple[str, str]]:
    """(url, title) of pages the big world has and the small one lacks, with distinct titles."""
    found = []
    with World.open(big) as big_world, World.open(small) as small_world:
        titles = set()
        pages = big_world.store.by_ids(range(big_world.store.count() + 1))
        for _doc_id, page in sorted(pages.items()):
            if small_world.page(page.url) is None and page.title and page.title not in titles and len(page.title) > 12:
                titles.add(page.title)
                found.append((page.url, page.title))
    return found[:count]


def write_tasks(path, rows) -> str:
    with open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return str(path)


def run_expand(world: str, tasks: str, search: str, cdx: str, *extra: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "worldbuild", "expand", "--world", world, "--tasks", tasks,
                             "--search-url", f"{search}/serper/search", "--cdx-url", f"{cdx}/cdx",
                             "--warc-base", f"{cdx}/warcs/", "--json", *extra],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_expansion_grows_the_world_as_a_child_snapshot(backend, small_world, tmp_path):
    big, search = backend
    wanted = missing_pages(big, small_world, 4)
    assert len(wanted) == 4
    (kept_url, kept_title), (masked_url, masked_title) = wanted[0], wanted[1]
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"id": "a", "question": kept_title, "answer": kept_title},
        {"id": "b", "question": masked_title, "answer": masked_title, "mask_urls": [masked_url]},
    ])
    with World.open(small_world) as world:
        before = world.manifest
    cdx = CdxServer(SHARED_WARC)
    with cdx as cdx_base:
        report = run_expand(small_world, tasks, search, cdx_base, "--per-task", "3")
    assert report["parent"] == before["snapshot"] and report["snapshot"] != before["snapshot"]
    assert report["pages_after"] > report["pages_before"] == before["pages"]
    assert report["counts"]["fetched"] >= 1 and report["counts"]["queries"] >= 2
    assert report["counts"]["skipped: a task's masked source"] >= 1
    assert all(r.startswith("bytes=") for _, r in cdx.ranges) and cdx.ranges  # only byte ranges travelled
    with World.open(small_world) as world:
        manifest = world.manifest
        assert world.page(kept_url) is not None  # found by search, fetched from its WARC by range
        assert world.page(masked_url) is None  # the masked source was never fetched
        assert world.search(masked_title, k=10, mask=[masked_url]) and all(
            hit.url != masked_url for hit in world.search(masked_title, k=10, mask=[masked_url]))
    assert manifest["parent"] == before["snapshot"]
    (step,) = manifest["expansions"]
    assert step["tasks"]["file"] == "tasks.jsonl" and step["tasks"]["count"] == 2 and len(step["tasks"]["sha256"]) == 64
    assert step["sources"]["search"].endswith("/serper/search") and step["sources"]["cdx"].endswith("/cdx")
    assert step["snapshot"] == manifest["snapshot"] and manifest["history"][-1]["expansion"]["round"] == 1
    assert step["cost_usd"] == pytest.approx(report["queries"] * 0.001)


def test_budgets_and_a_second_round(backend, small_world, tmp_path):
    big, search = backend
    wanted = missing_pages(big, small_world, 3)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": str(i), "question": t, "answer": t}
                                                   for i, (_u, t) in enumerate(wanted)])
    with CdxServer(SHARED_WARC) as cdx_base:
        capped = run_expand(small_world, tasks, search, cdx_base, "--max-queries", "2", "--max-fetches", "1")
        assert capped["queries"] == 2 and capped["counts"]["queries skipped: --max-queries"] > 0
        assert capped["counts"]["fetch attempts"] == 1 and capped["round"] == 1
        second = run_expand(small_world, tasks, search, cdx_base)
    assert second["round"] == 2 and second["parent"] == capped["snapshot"]
    assert second["pages_after"] >= capped["pages_after"]
    with World.open(small_world) as world:
        assert [e["round"] for e in world.manifest["expansions"]] == [1, 2]


def test_unreachable_sources_are_counted_not_fatal(small_world, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"question": "root zone", "answer": "IANA"}])
    report = run_expand(small_world, tasks, "http://127.0.0.1:9", "http://127.0.0.1:9")
    assert report["counts"]["query errors"] >= 1 and report["pages_after"] == report["pages_before"]


def test_a_killed_round_resumes_where_it_stopped(backend, small_world, tmp_path):
    from worldbuild.expand.backends import CdxIndex, SerperSearch
    from worldbuild.expand.round import expand

    big, search_base = backend
    wanted = missing_pages(big, small_world, 3)
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": str(i), "question": t, "answer": t}
                                                   for i, (_u, t) in enumerate(wanted)])

    class Dying(SerperSearch):
        calls = 0

        def search(self, query, num=10):
            Dying.calls += 1
            if Dying.calls == 4:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the round
            return super().search(query, num)

    with CdxServer(SHARED_WARC) as cdx_base:
        cdx = CdxIndex(f"{cdx_base}/cdx", f"{cdx_base}/warcs/")
        with pytest.raises(KeyboardInterrupt):
            expand(small_world, tasks, Dying(f"{search_base}/serper/search"), cdx)
        round_dir = os.path.join(small_world, "expansions", "round-1")
        assert not os.path.exists(os.path.join(round_dir, "done"))
        fetched_before = sum(1 for _ in open(os.path.join(round_dir, "fetches.jsonl")))
        report = expand(small_world, tasks, SerperSearch(f"{search_base}/serper/search"), cdx)
    assert report["round"] == 1 and report["counts"]["queries resumed"] == 3
    assert report["counts"].get("fetches resumed", 0) == fetched_before
    assert report["pages_after"] > report["pages_before"]

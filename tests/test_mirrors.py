"""Mirror clusters, built through ingest: a near-mirror of a task's source on another host is
clustered with it and hidden with it on every route; an exact duplicate's URL is an alias of
the kept page; an extension clusters new pages against old ones; the clusters and the
snapshot id do not depend on input order or worker count."""

import gzip
import os

import pytest

from tests.conftest import SHARED, needs_extra, needs_shared
from tests.warcs import response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.store import PageStore
from worldbuild.world import World

RARE = "Zephyrine Quillfeather"
ORIGIN = "https://harbour-news.example/2019/quillfeather-lighthouse"
NEAR_MIRROR = "https://syndicate.example/stories/lighthouse-keeper"
EXACT_COPY = "https://copies.example/lighthouse"
SAME_SITE = "https://harbour-news.example/2019/ferry-timetable"

STORY = [
    f"{RARE} kept the Skerryvane lighthouse for thirty-one years, longer than any keeper before her.",
    "She arrived on the island in the winter of 1958 with two trunks, a barometer and a cat named Brine.",
    "The lamp was converted from paraffin to electricity in 1971, a change she opposed in four letters.",
    "Her logbooks record every ship that passed the reef, including the trawler that ran aground in 1966.",
    "Visitors remember the brass telescope she polished each Sunday and the garden of sea kale by the door.",
    "When the light was automated in 1989 she moved to the harbour town and taught navigation at night.",
    "The maritime museum now holds her logbooks, which historians use to date storms along the coast.",
    "A plaque by the slipway was unveiled in 2019 on the hundredth anniversary of her birth.",
]
FERRIES = [
    "The winter ferry timetable starts on the first Monday of November and runs until the end of March.",
    "Crossings to the outer islands leave at seven in the morning and return by four in the afternoon.",
    "Vehicles must be booked at least two days ahead; foot passengers may buy tickets on the pier.",
    "In strong gales the harbour master may cancel sailings with one hour of notice posted on the board.",
    "Bicycles travel free of charge, while dogs must stay on a lead in the outside seating area.",
    "The cafe on board serves soup, sandwiches and tea, and closes twenty minutes before arrival.",
    "Season tickets for islanders are sold at the council office with proof of address.",
    "A summer timetable with extra evening sailings will be published in the spring edition.",
]
NAV = "<nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/sport'>Sport</a></nav>"


def page(title: str, paragraphs: list[str], extra_top: str = "", extra_bottom: str = "", template: str = "") -> str:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{template or NAV}<main><article>"
            f"<h1>{title}</h1>\n{extra_top}{body}{extra_bottom}</article></main>"
            f"<footer>(c) {title[:12]} media</footer></body></html>")


def origin() -> dict:
    return response(ORIGIN, page("The keeper of Skerryvane", STORY))


def near_mirror() -> dict:
    """The same story syndicated on another host: another template, a syndication line, one
    boilerplate line added, two paragraphs swapped."""
    story = STORY[:]
    story[2], story[3] = story[3], story[2]
    return response(NEAR_MIRROR, page(
        "The keeper of Skerryvane | Syndicate", story,
        extra_top="<p>This story first appeared in the Harbour News and is republished with permission.</p>",
        extra_bottom="<p>Sign up for our weekly newsletter to get more stories like this one.</p>",
        template="<header><a href='/'>Syndicate</a> <a href='/about'>About us</a></header>"))


def exact_copy() -> dict:
    return response(EXACT_COPY, page("The keeper of Skerryvane", STORY))


def same_site() -> dict:
    return response(SAME_SITE, page("Winter ferry timetable", FERRIES))


@pytest.fixture(scope="module")
def mirror_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrors")
    warc = write_warc(str(root / "news.warc.gz"), [origin(), same_site(), near_mirror(), exact_copy()])
    world_dir = str(root / "world")
    result = ingest([warc], world_dir, IngestSettings(min_chars=200), LocalExecutor(1))
    return world_dir, result


def clusters(world_dir: str) -> set[frozenset[str]]:
    """The world's clusters as sets of page URLs (doc ids aside), from the store itself."""
    store = PageStore(os.path.join(world_dir, "pages.sqlite"))
    try:
        grouped: dict[int, set[str]] = {}
        for url, cluster in store.db.execute(
                "SELECT p.canonical_url, m.cluster FROM pages p JOIN mirrors m USING (doc_id)"):
            grouped.setdefault(cluster, set()).add(url)
        return {frozenset(urls) for urls in grouped.values()}
    finally:
        store.close()


def test_ingest_clusters_the_near_mirror_and_aliases_the_exact_copy(mirror_world):
    world_dir, result = mirror_world
    assert result.report.skips["duplicate content"] == 1 and result.manifest["pages"] == 3
    assert clusters(world_dir) == {frozenset({ORIGIN, NEAR_MIRROR}), frozenset({SAME_SITE})}
    recorded = result.manifest["mirrors"]
    assert recorded["settings"]["threshold"] > 0 and recorded["settings"]["shingle_words"] > 0
    assert (recorded["clusters"], recorded["pages_in_clusters"], recorded["aliases"]) == (1, 2, 1)
    with World.open(world_dir) as world:
        assert world.page(EXACT_COPY).url == ORIGIN  # browse by the duplicate's URL reaches the kept page
        assert world.page("http://www.copies.example/lighthouse/").url == ORIGIN


@pytest.mark.parametrize("masked", [ORIGIN, "http://www.harbour-news.example/2019/quillfeather-lighthouse/",
                                    EXACT_COPY, NEAR_MIRROR])
def test_a_mask_hides_the_whole_cluster_in_search_and_browse(mirror_world, masked):
    with World.open(mirror_world[0]) as world:
        open_hits = {hit.url for hit in world.search(RARE, k=10)}
        assert {ORIGIN, NEAR_MIRROR} <= open_hits
        for mode in ("bm25",):
            hits = world.search(RARE, k=10, mask=[masked], mode=mode)
            assert not {hit.url for hit in hits} & {ORIGIN, NEAR_MIRROR}
        for url in (ORIGIN, NEAR_MIRROR, EXACT_COPY):
            assert world.page(url) is not None and world.browse(url, mask=[masked]) is None
        assert world.browse(SAME_SITE, mask=[masked]) is not None  # the same site's other page stays
        assert set(world.masked_urls([masked])) == {ORIGIN, NEAR_MIRROR, EXACT_COPY}


def test_every_route_of_the_service_hides_the_cluster(mirror_world):
    from fastapi.testclient import TestClient

    from worldbuild.serve.app import create_app

    with TestClient(create_app(mirror_world[0], warm_up=False)) as http:
        mask = [ORIGIN]
        assert {h["url"] for h in http.post("/search", json={"query": RARE, "k": 10}).json()["results"]} >= {
            ORIGIN, NEAR_MIRROR}
        search = http.post("/search", json={"query": RARE, "k": 10, "mask": mask}).json()["results"]
        serper = http.post("/serper/search", json={"q": RARE, "num": 10, "mask": mask}).json()["organic"]
        retrieve = http.post("/retrieve", json={"queries": [RARE], "topk": 10, "mask": mask,
                                                "return_scores": False}).json()["result"][0]
        shown = {h["url"] for h in search} | {h["link"] for h in serper} | {d["url"] for d in retrieve}
        assert not shown & {ORIGIN, NEAR_MIRROR}
        for url in (NEAR_MIRROR, EXACT_COPY):
            assert http.post("/browse", json={"url": url}).status_code == 200
            assert http.get(f"/r/{url}").status_code == 200
            assert http.post("/browse", json={"url": url, "mask": mask}).status_code == 404
            assert http.get(f"/r/{url}", headers={"X-Worldbuild-Mask": ORIGIN}).status_code == 404
        assert set(http.post("/mask", json={"urls": mask}).json()["urls"]) == {ORIGIN, NEAR_MIRROR, EXACT_COPY}


def test_an_extension_clusters_new_pages_against_old_ones(mirror_world, tmp_path):
    import shutil

    world_dir = str(tmp_path / "world")
    shutil.copytree(mirror_world[0], world_dir)
    later = "https://print.example/lighthouse?print=1"
    printed = response(later, page("Print: The keeper of Skerryvane", STORY[:-1],
                                   extra_bottom="<p>Printed from harbour-news.example. All rights reserved.</p>"))
    warc = write_warc(str(tmp_path / "later.warc.gz"), [printed])
    result = ingest([warc], world_dir, IngestSettings(min_chars=200), LocalExecutor(1))
    assert result.manifest["pages"] == 4
    assert frozenset({ORIGIN, NEAR_MIRROR, "https://print.example/lighthouse?print=1"}) in clusters(world_dir)
    with World.open(world_dir) as world:
        assert world.browse(later, mask=[ORIGIN]) is None
        assert not {h.url for h in world.search(RARE, k=10, mask=[EXACT_COPY])} & {ORIGIN, NEAR_MIRROR, later}


def test_clusters_and_snapshot_ignore_workers_and_clusters_ignore_input_order(tmp_path):
    first = write_warc(str(tmp_path / "a.warc.gz"), [exact_copy(), near_mirror()])
    second = write_warc(str(tmp_path / "b.warc.gz"), [same_site(), origin()])
    results = {}
    for order, inputs in (("ab", [first, second]), ("ba", [second, first])):
        for workers in (1, 2):
            world_dir = str(tmp_path / f"{order}{workers}")
            results[order, workers] = (ingest(inputs, world_dir, IngestSettings(min_chars=200, batch_size=1),
                                              LocalExecutor(workers)).manifest["snapshot"], clusters(world_dir))
    assert results["ab", 1] == results["ab", 2] and results["ba", 1] == results["ba", 2]  # workers change nothing
    # the kept page of the exact pair differs by order (the first one read wins), and the snapshot id,
    # which covers every stored field, says so; the clusters, read through aliases, do not differ
    for name in ("ab1", "ba2"):
        with World.open(str(tmp_path / name)) as world:
            assert set(world.masked_urls([ORIGIN])) == {ORIGIN, NEAR_MIRROR, EXACT_COPY}
            assert set(world.masked_urls([SAME_SITE])) == {SAME_SITE}


def test_expand_never_fetches_a_url_of_a_masked_cluster(mirror_world):
    from worldbuild.expand.round import _masked_keys
    from worldbuild.tasks import Task
    from worldbuild.urls import url_key

    task = Task("t", f"Who kept the Skerryvane light? ({RARE})", RARE, [ORIGIN], [])
    with World.open(mirror_world[0]) as world:
        keys = _masked_keys(world, [task])
    for url in (ORIGIN, NEAR_MIRROR, EXACT_COPY, "http://www.syndicate.example/stories/lighthouse-keeper/"):
        assert url_key(url) in keys
    assert url_key(SAME_SITE) not in keys


def test_a_world_from_before_mirror_clusters_gets_them_at_its_next_ingest(mirror_world, tmp_path):
    import shutil
    import sqlite3

    world_dir = str(tmp_path / "world")
    shutil.copytree(mirror_world[0], world_dir)
    db = sqlite3.connect(os.path.join(world_dir, "pages.sqlite"))  # the store as older releases wrote it
    db.executescript("DROP TABLE mirrors; DROP TABLE mirror_bands; DROP TABLE aliases;")
    db.close()
    with World.open(world_dir) as world:  # readable as before: a mask covers the named page only
        assert world.masked_urls([ORIGIN]) == [ORIGIN] and world.page(NEAR_MIRROR, mask=[ORIGIN]) is not None
    # a near-copy well over the threshold (shingle Jaccard 0.90): at 0.6, as reversed paragraphs
    # give, LSH makes a pair candidates in 99 of 100 draws of the hashes, so the test would test luck
    moved = FERRIES[4:] + FERRIES[:4]
    warc = write_warc(str(tmp_path / "more.warc.gz"), [response("https://other.example/ferries",
                                                                page("Ferries this winter", moved))])
    ingest([warc], world_dir, IngestSettings(min_chars=200), LocalExecutor(1))
    assert frozenset({ORIGIN, NEAR_MIRROR}) in clusters(world_dir)
    assert frozenset({SAME_SITE, "https://other.example/ferries"}) in clusters(world_dir)
    with World.open(world_dir) as world:
        assert world.page(NEAR_MIRROR, mask=[ORIGIN]) is None


def test_a_world_signed_with_sha1_shingles_keeps_them_when_extended(mirror_world, tmp_path):
    """A world whose manifest names no shingle hash was signed by hashing each shingle's text
    with SHA-1 (as releases before the word hashes did): an extension signs its new pages the
    same way, so they still cluster with the old ones."""
    import shutil
    import sqlite3

    from worldbuild.mirrors import MirrorSettings, signature

    world_dir = str(tmp_path / "world")
    shutil.copytree(mirror_world[0], world_dir)
    path = os.path.join(world_dir, "pages.sqlite")
    store = PageStore(path, writable=True)  # the manifest as those releases wrote it
    manifest = store.manifest()
    del manifest["mirrors"]["settings"]["shingle_hash"]
    store.begin()
    store.set_manifest(manifest)
    store.commit()
    store.close()
    db = sqlite3.connect(path)  # and their signatures: made again at the next ingest, by the recorded settings
    db.executescript("DROP TABLE mirrors; DROP TABLE mirror_bands;")
    db.close()
    later = "https://print.example/lighthouse?print=1"
    warc = write_warc(str(tmp_path / "later.warc.gz"), [response(later, page("Print: The keeper of Skerryvane",
                                                                             STORY[:-1]))])
    result = ingest([warc], world_dir, IngestSettings(min_chars=200), LocalExecutor(1))
    assert result.manifest["mirrors"]["settings"]["shingle_hash"] == "sha1"
    assert frozenset({ORIGIN, NEAR_MIRROR, later}) in clusters(world_dir)
    sha1 = MirrorSettings(shingle_hash="sha1")
    store = PageStore(path)
    try:
        rows = store.db.execute("SELECT p.text, m.minhash FROM pages p JOIN mirrors m USING (doc_id)").fetchall()
    finally:
        store.close()
    assert rows and all(bytes(blob) == signature(text, sha1) for text, blob in rows)


@needs_shared
def test_word_hashed_shingles_estimate_the_shingles_jaccard_as_sha1_does():
    """On real pages in several scripts, each cut at a different point against its whole (a
    near-copy), the estimated Jaccard similarity of the word-hashed signatures is as close to
    the exact Jaccard of the shingle sets as SHA-1's: the faster hashing loses no accuracy."""
    needs_extra("resiliparse", "fast")
    import json

    from worldbuild.ingest.decode import decode_html
    from worldbuild.ingest.extract import extract_page
    from worldbuild.mirrors import MirrorSettings, shingles, signature, similarity

    words, sha1 = MirrorSettings(), MirrorSettings(shingle_hash="sha1")
    folder = os.path.join(SHARED, "html-intl")
    rows = [json.loads(line) for line in open(os.path.join(folder, "pages.jsonl"))]
    errors = {"words": [], "sha1": []}
    for number, row in enumerate(rows[::3]):
        with open(os.path.join(folder, row["file"]), "rb") as handle:
            raw = handle.read()
        html = decode_html(gzip.decompress(raw) if row["file"].endswith(".gz") else raw, "text/html")[0]
        page_ = extract_page(html, row["url"], IngestSettings(extractor="resiliparse/text"))  # (fast)
        if page_ is None or len(page_.text) < 1500:
            continue
        whole, part = page_.text, page_.text[:len(page_.text) * (3 + number % 6) // 10]
        a, b = set(shingles(whole, 5)), set(shingles(part, 5))
        exact = len(a & b) / len(a | b)
        for name, settings in (("words", words), ("sha1", sha1)):
            errors[name].append(abs(similarity(signature(whole, settings), signature(part, settings), settings) - exact))
    assert len(errors["words"]) >= 10
    assert max(errors["words"]) < 0.15
    assert sum(errors["words"]) / len(errors["words"]) < 1.5 * sum(errors["sha1"]) / len(errors["sha1"]) + 0.01


def test_a_world_with_a_shingle_hash_this_version_lacks_is_refused_in_one_line(mirror_world, tmp_path):
    """A world whose manifest names a shingle hash from a newer version is not extended with
    signatures it cannot compare: one line, and the world is unchanged."""
    import shutil

    from worldbuild.ingest.run import IngestRefused, ingest_world

    world_dir = str(tmp_path / "world")
    shutil.copytree(mirror_world[0], world_dir)
    store = PageStore(os.path.join(world_dir, "pages.sqlite"), writable=True)
    manifest = store.manifest()
    manifest["mirrors"]["settings"]["shingle_hash"] = "simhash-v9"
    store.begin()
    store.set_manifest(manifest)
    store.commit()
    store.close()
    warc = write_warc(str(tmp_path / "more.warc.gz"), [response("https://other.example/ferries",
                                                                page("Ferries this winter", FERRIES))])
    with pytest.raises(IngestRefused) as refused:
        ingest_world([warc], world_dir, IngestSettings(min_chars=200), workers=1)
    assert "simhash-v9" in str(refused.value) and "\n" not in str(refused.value)
    with World.open(world_dir) as world:
        assert world.manifest["pages"] == 3 and world.page("https://other.example/ferries") is None

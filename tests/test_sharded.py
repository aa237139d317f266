"""A BM25 index built in shards answers like the one-piece index: the same snapshot, and on
real queries over the sample world the same top 10 with the same scores (shards score with the
world's statistics), masks and snippets as before."""

import json
import os
import statistics

import pytest

from tests.conftest import CORPORA, FAST, StopsAfter, interrupted
from worldbuild.index.bm25 import BM25Index, build_index
from worldbuild.index.sharded import ShardedBM25Index, WorldStatistics, build_sharded, rescale_to_world
from worldbuild.executor import LocalExecutor
from worldbuild.world import World


@pytest.fixture(scope="module")
def sharded_world(tmp_path_factory):
    """The sample corpus ingested from the command line with BM25 in shards of 70 pages (and the
    fast extractor, as `fast_sample_world`); the world, its manifest and what the command printed."""
    from typer.testing import CliRunner

    from worldbuild.cli import app

    world = str(tmp_path_factory.mktemp("sharded") / "world")
    result = CliRunner().invoke(app, ["ingest", CORPORA, "--world", world, "--shard-pages", "70", "--workers", "2",
                                      "--extractor", FAST.extractor])
    assert result.exit_code == 0, result.output
    with open(os.path.join(world, "world.json")) as handle:
        return world, json.load(handle), result.output


def queries(world: World) -> list[str]:
    """Real queries: the first words of every page title, and a few phrases people search."""
    pages = world.store.by_ids(range(len(world) + 1)).values()
    titles = sorted({" ".join(p.title.split()[:5]) for p in pages if p.title and len(p.title.split()) >= 2})
    return titles + ["DNS root servers", "common crawl open data", "internet archive wayback machine",
                     "web archive file format", "Nordpark Anlage eröffnet"]


def test_sharded_index_agrees_with_the_one_piece_index(sharded_world, fast_sample_world):
    world_dir, manifest, _ = sharded_world
    assert manifest["snapshot"] == fast_sample_world[1].manifest["snapshot"]  # index layout is not content
    assert manifest["index"]["bm25"]["shards"] == 3  # about 200 pages in shards of about 70
    with World.open(world_dir) as sharded, World.open(fast_sample_world[0]) as whole:
        assert isinstance(sharded.index, ShardedBM25Index) and sharded.index.size == len(whole)
        overlaps = []
        for query in queries(whole):
            expected = {hit.url: hit.score for hit in whole.search(query, k=10)}
            got = {hit.url: hit.score for hit in sharded.search(query, k=10)}
            if expected:
                overlaps.append(len(expected.keys() & got.keys()) / len(expected))
            for url in expected.keys() & got.keys():
                assert got[url] == pytest.approx(expected[url], rel=1e-5), (query, url)
        assert len(overlaps) > 100
        # the issue asks for overlap@10 >= 0.9; with world statistics only ties at the 10th place differ
        assert statistics.mean(overlaps) >= 0.99, statistics.mean(overlaps)


def test_masks_and_snippets_work_across_shards(sharded_world):
    with World.open(sharded_world[0]) as world:
        hits = world.search("root zone database", k=5)
        assert hits and all(hit.snippet for hit in hits)
        top = hits[0].url
        masked = world.search("root zone database", k=5, mask=[top])
        assert top not in {hit.url for hit in masked} and len(masked) == len(hits)
        assert world.search("", k=5) == [] and world.search("zzqqxxnotaword", k=5) == []
        batch = [world.index.terms(query) for query in queries(world)]  # each shard answers all in one call
        assert world.index.search_many(batch, 5) == [world.index.search(terms, 5) for terms in batch]


def test_site_searches_every_shard_as_the_one_piece_index(sharded_world, fast_sample_world):
    with World.open(sharded_world[0]) as sharded, World.open(fast_sample_world[0]) as whole:
        for query in ["root servers site:iana.org", "common crawl -site:commoncrawl.org", "archive site:archive.org"]:
            expected = [(hit.url, hit.score) for hit in whole.search(query, k=20, snippet_chars=0)]
            found = [(hit.url, hit.score) for hit in sharded.search(query, k=20, snippet_chars=0)]
            assert expected and [url for url, _ in found] == [url for url, _ in expected]
            assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-4)


def _pages(world_dir: str) -> list[tuple[int, str]]:
    with World.open(world_dir) as world:
        return list(world.store.index_pages())


def _scores(index_dir: str) -> list:
    import numpy as np

    return [np.load(os.path.join(index_dir, name, "data.csc.index.npy")) for name in sorted(os.listdir(index_dir))
            if name.startswith("shard-")]


def test_an_interrupted_shard_build_resumes_without_redoing_finished_shards(sample_world, tmp_path):
    pages = _pages(sample_world[0])
    fresh = build_sharded(iter(pages), str(tmp_path / "fresh"), 50, len(pages), key="k")
    out = str(tmp_path / "index")
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the spill pass
        build_sharded(interrupted(pages, 100), out, 50, len(pages), key="k")
    assert not os.path.exists(out) and not os.path.exists(os.path.join(out + ".tmp", "spill", "complete"))
    with pytest.raises(KeyboardInterrupt):
        build_sharded(iter(pages), out, 50, len(pages), StopsAfter(LocalExecutor(1), 2), key="k")
    built = sorted(n for n in os.listdir(out + ".tmp") if n.startswith("shard-"))
    assert len(built) == 2
    first = os.stat(os.path.join(out + ".tmp", built[0], "doc_ids.npy")).st_mtime_ns
    spilled = []
    info = build_sharded(iter(spilled.append(p) or p for p in pages), out, 50, len(pages), key="k")
    assert spilled == []  # the spill was complete: not read again
    assert os.stat(os.path.join(out, built[0], "doc_ids.npy")).st_mtime_ns == first  # not rebuilt
    assert info == fresh and not os.path.exists(out + ".tmp")
    for resumed, whole in zip(_scores(out), _scores(str(tmp_path / "fresh"))):
        assert (resumed == whole).all()
    # another page set (another key) starts over rather than reuse the leftovers
    os.makedirs(out + ".tmp")
    with open(os.path.join(out + ".tmp", "plan.json"), "w") as handle:
        handle.write('{"key": "other", "total": 1, "shards": 1}')
    assert build_sharded(iter(pages[:120]), out, 50, 120, key="k2")["documents"] == 120


def test_rescaling_is_never_applied_twice(sample_world, tmp_path):
    pages = _pages(sample_world[0])
    out = str(tmp_path / "index")
    build_sharded(iter(pages), out, 100, len(pages))
    shard = os.path.join(out, "shard-0000")
    before = _scores(out)[0].copy()
    world = WorldStatistics.of([os.path.join(out, n) for n in ("shard-0000", "shard-0001")])
    rescale_to_world(shard, world)  # a rerun after a crash that came after the rescale
    assert (_scores(out)[0] == before).all()
    # the scores of one piece over the same pages, for the same words: the world statistics
    one_piece = str(tmp_path / "one")
    build_index(iter(pages), one_piece)
    whole, parts = BM25Index(one_piece), ShardedBM25Index(out)
    for query in ("root zone", "crawl archive data"):
        expected, got = whole.search(whole.terms(query), 10), parts.search(parts.terms(query), 10)
        assert [doc for doc, _ in got] == [doc for doc, _ in expected]
        assert [score for _, score in got] == pytest.approx([score for _, score in expected], rel=1e-6)
    parts.close()


@pytest.mark.parametrize("shard_pages", [66, 29])  # 3 and 7 shards of the 197 sample pages
def test_any_number_of_shards_scores_as_one_piece(sample_world, tmp_path, shard_pages):
    pages = _pages(sample_world[0])
    build_index(iter(pages), str(tmp_path / "one"))
    info = build_sharded(iter(pages), str(tmp_path / "parts"), shard_pages, len(pages), LocalExecutor(2))
    assert info["shards"] == -(-len(pages) // shard_pages)
    whole, parts = BM25Index(str(tmp_path / "one")), ShardedBM25Index(str(tmp_path / "parts"))
    with World.open(sample_world[0]) as world:
        for query in queries(world)[:40]:
            expected, got = whole.search(whole.terms(query), 10), parts.search(parts.terms(query), 10)
            assert [score for _, score in got] == pytest.approx([score for _, score in expected], rel=1e-6), query
            # the same pages above the 10th place's score (pages with equal scores may swap by a float32 ulp)
            cut = expected[-1][1] * (1 + 1e-5) if expected else 0

            def above(hits):
                return sorted(doc for doc, score in hits if score > cut)

            assert above(got) == above(expected), query
    parts.close()


def test_cli_tells_how_the_shard_build_goes(sharded_world):
    from typer.testing import CliRunner

    from worldbuild.cli import app

    world_dir, manifest, output = sharded_world
    pages = manifest["pages"]
    assert "BM25 in 3 shards: 0 already built, 3 to build" in output
    assert "BM25 shard 3/3 built" in output
    assert f"BM25 shards scored with the world's statistics ({pages} pages)" in output
    stats = CliRunner().invoke(app, ["stats", "--world", world_dir])
    assert f"index bm25: {pages} pages in 3 shards" in " ".join(stats.output.split())


def test_empty_shards_are_fine(sample_world, tmp_path):
    pages = _pages(sample_world[0])[:3]  # 3 pages hashed over 3 shards leave one empty
    info = build_sharded(iter(pages), str(tmp_path / "parts"), 1, 3)
    index = ShardedBM25Index(str(tmp_path / "parts"))
    assert info["documents"] == 3 and sorted(shard.size for shard in index.shards)[0] == 0
    words = pages[0][1].split()[:3]
    assert pages[0][0] in {doc for doc, _ in index.search(index.terms(" ".join(words)), 3)}
    index.close()


def test_a_crash_in_the_rescale_resumes_without_reading_pages_again(sample_world, tmp_path, monkeypatch):
    import worldbuild.index.sharded as sharded

    pages = _pages(sample_world[0])
    fresh = str(tmp_path / "fresh")
    build_sharded(iter(pages), fresh, 50, len(pages), key="k")
    out = str(tmp_path / "index")
    real, calls = sharded.rescale_to_world, []

    def dies_on_the_third(path, world):
        calls.append(path)
        if len(calls) == 3:
            # the crash comes after the new scores were written, before they were marked complete
            real_scores = sharded._world_scores(path, world)
            sharded._save_atomic(os.path.join(path, "world-scores.npy"), real_scores)
            raise KeyboardInterrupt
        real(path, world)

    monkeypatch.setattr(sharded, "rescale_to_world", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        build_sharded(iter(pages), out, 50, len(pages), key="k")
    monkeypatch.setattr(sharded, "rescale_to_world", real)
    # a marker with the new scores not yet swapped in (a crash between the two steps); the old
    # scores are gone too, so a rescale that computed again instead of swapping would fail loudly
    second = os.path.join(out + ".tmp", "shard-0001")
    os.replace(os.path.join(second, "data.csc.index.npy"), os.path.join(second, "world-scores.npy"))
    read = []
    build_sharded((read.append(p) or p for p in pages), out, 50, len(pages), key="k")
    assert read == []  # every shard was built: no spill pass
    for resumed, whole in zip(_scores(out), _scores(fresh)):
        assert (resumed == whole).all()

"""A BM25 index built in shards answers like the one-piece index: the same snapshot, and on
real queries over the sample world the same top 10 with the same scores (shards score with the
world's statistics), masks and snippets as before."""

import statistics

import pytest

from tests.conftest import CORPORA
from worldbuild.index.sharded import ShardedBM25Index
from worldbuild.ingest.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World


@pytest.fixture(scope="module")
def sharded_world(tmp_path_factory):
    world = str(tmp_path_factory.mktemp("sharded") / "world")
    result = ingest([CORPORA], world, IngestSettings(index_shard_pages=100), LocalExecutor(2))
    return world, result


def queries(world: World) -> list[str]:
    """Real queries: the first words of every page title, and a few phrases people search."""
    pages = world.store.by_ids(range(len(world) + 1)).values()
    titles = sorted({" ".join(p.title.split()[:5]) for p in pages if p.title and len(p.title.split()) >= 2})
    return titles + ["DNS root servers", "common crawl open data", "internet archive wayback machine",
                     "web archive file format", "Nordpark Anlage eröffnet"]


def test_sharded_index_agrees_with_the_one_piece_index(sharded_world, sample_world):
    world_dir, result = sharded_world
    assert result.manifest["snapshot"] == sample_world[1].manifest["snapshot"]  # index layout is not content
    assert result.manifest["index"]["bm25"]["shards"] == 2  # 197 pages in shards of about 100
    with World.open(world_dir) as sharded, World.open(sample_world[0]) as whole:
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

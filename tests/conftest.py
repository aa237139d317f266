import fcntl
import hashlib
import importlib
import os
import pickle
import shutil
import sys
import tempfile
from importlib import metadata

import pytest

import worldbuild

from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = os.path.join(REPO, "corpora")
SHARED = os.path.join(REPO, "..", "shared", "data")
SHARED_WARC = os.path.join(SHARED, "warc")

# The files that take longest (measured: a whole run's --durations, summed per file), run first: on
# 2 cores the suite is CPU-bound, and a long file started last would leave one worker idle while
# it runs. scripts/test.sh turns off xdist's own order (by test count) so that this one holds.
LONGEST_FIRST = ("test_ray.py", "test_recipes.py", "test_expand.py", "test_ann.py", "test_multilingual.py",
                 "test_resume.py", "test_dense.py", "test_serve.py", "test_synth.py", "test_crawl.py", "test_ingest.py",
                 "test_milvus.py", "test_ingest_steps.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file keeps its own order


def needs_extra(module: str, extra: str):
    """`module`, from one of the optional extras; without it the tests skip, except in CI (CI set),
    which installs every extra: there a missing one fails instead of passing by skipping."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"the {extra} extra is not installed (pip install -e '.[{extra}]')")


needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED_WARC), reason="../shared/data is not beside the repo")


def _build_key(*inputs: str) -> str:
    """A digest of everything a built world depends on: the inputs' bytes, the package's source
    and every installed distribution's version. Any change to any of them builds anew."""
    digest = hashlib.sha256(sys.version.encode())
    package = os.path.dirname(worldbuild.__file__)
    paths = []
    for root in (package, *inputs):
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            paths += [os.path.join(folder, name) for name in sorted(files) if not name.endswith(".pyc")]
    for path in paths:
        digest.update(path.encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    # a set: a plain pytest run finds this checkout's own distribution twice (the repo is on sys.path
    # as well), xdist's workers once; the same packages must give the same key
    for dist in sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()}):
        digest.update(dist.encode())
    return digest.hexdigest()[:16]


def built_once(name: str, inputs: list[str], build):
    """`build(world_dir)`'s world and result, made once per machine for the same code, inputs and
    packages (shared by pytest-xdist workers and later runs; a lock keeps builders apart)."""
    cache = os.path.join(tempfile.gettempdir(), "worldbuild-test-worlds")
    os.makedirs(cache, exist_ok=True)
    place = os.path.join(cache, f"{name}-{_build_key(*inputs)}")
    with open(place + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(place + ".result"):
            shutil.rmtree(place, ignore_errors=True)
            result = build(os.path.join(place, "world"))
            with open(place + ".result.tmp", "wb") as handle:
                pickle.dump(result, handle)
            os.replace(place + ".result.tmp", place + ".result")
        with open(place + ".result", "rb") as handle:
            return os.path.join(place, "world"), pickle.load(handle)


@pytest.fixture(scope="session")
def sample_world():
    """The bundled sample corpus, ingested once (read-only for tests: change a `sample_copy`)."""
    return ingested_once("sample", CORPORA)


# Tests of how an ingest runs (where its inputs and shards live, how its index is cut) compare
# with a world built the plain way, and do not depend on how pages are extracted: they use the
# fast extractor, at about a quarter of the CPU. What extraction gives is tested on the default.
FAST = IngestSettings(extractor="resiliparse/text")
SAMPLE_PAGES = os.path.join(CORPORA, "sample-pages.warc.gz")  # one of the two sample archives


def ingested_once(name: str, path: str, settings: IngestSettings = IngestSettings()):
    """`path` ingested with `settings` on 2 workers, once (see built_once); (world dir, result)."""
    if settings.extractor == FAST.extractor:
        needs_extra("resiliparse", "fast")
    return built_once(name, [path], lambda world_dir: ingest([path], world_dir, settings, LocalExecutor(2)))


@pytest.fixture(scope="session")
def fast_sample_world():
    """The bundled sample corpus with the fast extractor (FAST), ingested once."""
    return ingested_once("sample-fast", CORPORA, FAST)


@pytest.fixture(scope="session")
def pages_world():
    """SAMPLE_PAGES ingested alone, once: the reference for tests that interrupt and resume an
    ingest of it."""
    return ingested_once("pages", SAMPLE_PAGES)


@pytest.fixture(scope="session")
def fast_pages_world():
    """SAMPLE_PAGES with the fast extractor (FAST), ingested once."""
    return ingested_once("pages-fast", SAMPLE_PAGES, FAST)


@pytest.fixture
def sample_copy(sample_world, tmp_path):
    """A private copy of the sample world, for tests that change it."""
    target = str(tmp_path / "world")
    shutil.copytree(sample_world[0], target)
    return target


@pytest.fixture(scope="module")
def server(sample_world):
    """`worldbuild serve` of the sample world on a free port (a real process); its base URL. One
    worker, or $WORLDBUILD_TEST_SERVE_WORKERS (to run every live-server test against several)."""
    from tests.services import start_server

    proc, base = start_server(sample_world[0], workers=int(os.environ.get("WORLDBUILD_TEST_SERVE_WORKERS", "1")))
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def interrupted(items, after: int):
    """`items`, then Ctrl-C when the next one is asked for after `after` of them (the one after
    is never taken from `items`, so work behind it never starts)."""
    if after == 0:
        raise KeyboardInterrupt
    for count, item in enumerate(items, 1):
        yield item
        if count == after:
            raise KeyboardInterrupt


class StopsAfter:
    """An executor interrupted (Ctrl-C) after `count` finished tasks of `inner`."""

    def __init__(self, inner, count: int):
        self.inner, self.count, self.workers = inner, count, inner.workers

    def map_unordered(self, fn, items, window=None):
        return interrupted(self.inner.map_unordered(fn, items, window), self.count)


@pytest.fixture(scope="session")
def dense_world(sample_world):
    """The sample world with its page vectors (`index --dense --pooling opening`), built once
    (read-only for tests: copy it to change it)."""
    def build(world_dir: str) -> None:
        from worldbuild.indexing import DenseSettings, build_dense_index

        shutil.copytree(sample_world[0], world_dir)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        assert build_dense_index(world_dir, DenseSettings(pooling="opening")).built

    return built_once("dense", [CORPORA], build)[0]


@pytest.fixture(scope="session")
def dense_sharded_world(dense_world):
    """`dense_world` with its page vectors in shards of 50 pages (four), built once (read-only):
    (world dir, what the build said of itself)."""
    def build(world_dir: str) -> str:
        from worldbuild.indexing import DenseSettings, build_dense_index

        shutil.copytree(dense_world, world_dir)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        result = build_dense_index(world_dir, DenseSettings(pooling="opening", shard_pages=50))
        assert result.built
        return result.describe()

    return built_once("dense-sharded", [CORPORA], build)

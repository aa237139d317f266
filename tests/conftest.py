import os
import shutil

import pytest

from worldbuild.ingest.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = os.path.join(REPO, "corpora")
SHARED = os.path.join(REPO, "..", "shared", "data")
SHARED_WARC = os.path.join(SHARED, "warc")

needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED_WARC), reason="../shared/data is not beside the repo")


@pytest.fixture(scope="session")
def sample_world(tmp_path_factory):
    """The bundled sample corpus, ingested once for the whole session (read-only for tests)."""
    world_dir = str(tmp_path_factory.mktemp("sample") / "world")
    result = ingest([CORPORA], world_dir, IngestSettings(), LocalExecutor(2))
    return world_dir, result


@pytest.fixture
def sample_copy(sample_world, tmp_path):
    """A private copy of the sample world, for tests that change it."""
    target = str(tmp_path / "world")
    shutil.copytree(sample_world[0], target)
    return target


@pytest.fixture(scope="module")
def server(sample_world):
    """`worldbuild serve` of the sample world on a free port (a real process); its base URL."""
    from tests.services import start_server

    proc, base = start_server(sample_world[0])
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

    def map_unordered(self, fn, items):
        return interrupted(self.inner.map_unordered(fn, items), self.count)

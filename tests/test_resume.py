"""A killed or interrupted ingest leaves the world as it was, and the next run resumes to the
same snapshot as an uninterrupted run. Real subprocesses, really killed."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO, SAMPLE_PAGES
from tests.warcs import article, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World, WorldNotFound

PAGES = SAMPLE_PAGES  # the archive pages_world is built from
pytestmark = pytest.mark.slow


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "worldbuild", *args]


def finished_shards(world_dir: str) -> list[str]:
    return glob.glob(os.path.join(world_dir, ".ingest", "*", "*.json"))


def wait_for_shards(proc: subprocess.Popen, world_dir: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(finished_shards(world_dir)) < count:
        assert proc.poll() is None, "ingest ended before it could be interrupted"
        assert time.monotonic() < deadline, "no shards appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference_snapshot(pages_world):
    """The snapshot of an uninterrupted ingest of PAGES."""
    return pages_world[1].manifest["snapshot"]


def test_kill_9_during_extraction_then_resume(tmp_path, reference_snapshot):
    world_dir = str(tmp_path / "w")
    proc = subprocess.Popen(cli("ingest", PAGES, "--world", world_dir, "--workers", "1", "--unit-records", "8"),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_shards(proc, world_dir, 3)
    proc.kill()
    proc.wait()
    kept = len(finished_shards(world_dir))
    assert 3 <= kept < 16
    with pytest.raises(WorldNotFound):
        World.open(world_dir)  # nothing was committed
    assert not os.path.exists(os.path.join(world_dir, "world.json"))

    done = subprocess.run(cli("ingest", PAGES, "--world", world_dir, "--workers", "2", "--unit-records", "8", "--json"),
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["resumed_shards"] >= kept
    assert summary["snapshot"] == reference_snapshot
    assert finished_shards(world_dir) == []


def _as_at_a_terminal() -> None:
    """Ctrl-C as a terminal user has it: the test runner's process may ignore or block SIGINT
    (a child inherits both across exec), and Python then never raises KeyboardInterrupt."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_workers_and_resumes(tmp_path, reference_snapshot):
    world_dir = str(tmp_path / "w")
    # units of 2 records: when 2 are done, dozens are left, however fast the machine
    proc = subprocess.Popen(cli("ingest", PAGES, "--world", world_dir, "--workers", "2", "--unit-records", "2"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_at_a_terminal)
    wait_for_shards(proc, world_dir, 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "resumes" in stderr
    assert "Traceback" not in stderr
    result = ingest([PAGES], world_dir, IngestSettings(batch_size=2), LocalExecutor(2))
    assert result.resumed_units >= 2
    assert result.manifest["snapshot"] == reference_snapshot


KILL_IN_MERGE = textwrap.dedent("""
    import os, signal, sys
    import worldbuild.writer as writer
    from worldbuild.executor import LocalExecutor
    from worldbuild.ingest.pipeline import ingest
    from worldbuild.records import IngestSettings

    point = sys.argv[3]
    real_build, real_write = writer.build_index, writer.write_json_atomic

    def build_then_die(*args, **kwargs):
        info = real_build(*args, **kwargs)
        if point == "before-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return info

    def die_before_manifest_file(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    writer.build_index = build_then_die
    if point == "after-commit":
        writer.write_json_atomic = die_before_manifest_file
    ingest([sys.argv[1]], sys.argv[2], IngestSettings(), LocalExecutor(1))
""")


@pytest.fixture
def extra_warc(tmp_path):
    return write_warc(str(tmp_path / "extra.warc.gz"), [
        response("https://extra.example.org/", article("Extra page about storm petrels", "storm petrel")),
    ])


def _killed_merge(world_dir: str, warc: str, point: str) -> None:
    proc = subprocess.run([sys.executable, "-c", KILL_IN_MERGE, warc, world_dir, point], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_kill_9_inside_the_merge_transaction(sample_copy, extra_warc, tmp_path):
    before = World.open(sample_copy)
    old_snapshot, old_pages = before.snapshot, len(before)
    before.close()
    _killed_merge(sample_copy, extra_warc, "before-commit")
    with World.open(sample_copy) as world:  # as it was: same snapshot, pages and search
        assert world.snapshot == old_snapshot and len(world) == old_pages
        assert world.store.count() == old_pages
        assert all(hit.url != "https://extra.example.org/" for hit in world.search("storm petrel"))
    assert json.load(open(os.path.join(sample_copy, "world.json")))["snapshot"] == old_snapshot

    uninterrupted = str(tmp_path / "uninterrupted")
    shutil.copytree(sample_copy, uninterrupted)
    resumed = ingest([extra_warc], sample_copy, IngestSettings(), LocalExecutor(1))
    straight = ingest([extra_warc], uninterrupted, IngestSettings(), LocalExecutor(1))
    assert resumed.resumed_units == 1  # the shard survived the kill
    assert resumed.manifest["snapshot"] == straight.manifest["snapshot"] != old_snapshot
    assert resumed.manifest["parent"] == old_snapshot
    with World.open(sample_copy) as world:
        assert world.search("storm petrel")[0].url == "https://extra.example.org/"
        assert os.listdir(os.path.join(sample_copy, "index")) == [f"bm25-{world.snapshot}"]


def test_kill_9_after_commit_repairs_world_json(sample_copy, extra_warc):
    old = json.load(open(os.path.join(sample_copy, "world.json")))["snapshot"]
    _killed_merge(sample_copy, extra_warc, "after-commit")
    assert json.load(open(os.path.join(sample_copy, "world.json")))["snapshot"] == old  # stale mirror
    with World.open(sample_copy) as world:
        assert world.snapshot != old and world.manifest["parent"] == old
        assert world.search("storm petrel")[0].url == "https://extra.example.org/"
    assert json.load(open(os.path.join(sample_copy, "world.json")))["parent"] == old  # repaired


HOT_JOURNAL = textwrap.dedent("""
    import os, signal, sys
    from dataclasses import replace
    from worldbuild.store import PageStore
    from worldbuild.world import World

    world_dir = sys.argv[1]
    template = World.open(world_dir).page("https://commoncrawl.org/faq")
    store = PageStore(os.path.join(world_dir, "pages.sqlite"), writable=True)
    store.db.execute("PRAGMA cache_size=8")  # tiny cache: the transaction spills into the file
    store.begin()
    for i in range(3000):
        store.insert(replace(template, canonical_url=f"https://spill.example/{i}", content_hash=str(i)))
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_reader_after_a_crash_that_left_a_hot_journal(sample_copy):
    with World.open(sample_copy) as world:
        pages = len(world)
    proc = subprocess.run([sys.executable, "-c", HOT_JOURNAL, sample_copy], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert os.path.exists(os.path.join(sample_copy, "pages.sqlite-journal"))
    with World.open(sample_copy) as world:
        assert world.store.count() == pages == len(world)
        assert world.page("https://spill.example/1") is None

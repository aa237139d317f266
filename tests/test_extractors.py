"""Extractors as a world setting: each builds a world that searches and browses, the manifest
names it, and worlds differing only by extractor have different snapshot ids."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED_WARC, built_once, needs_extra, needs_shared
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import DEFAULT_EXTRACTOR, EXTRACTORS, IngestSettings
from worldbuild.world import World
from worldbuild.writer import SettingsMismatch

pytestmark = needs_shared
INPUT = os.path.join(SHARED_WARC, "dolma-sample-0000.warc.gz")  # 22 real HTML pages (academic homepages)


def _world(extractor: str):
    if extractor.startswith("resiliparse"):
        needs_extra("resiliparse", "fast")
    settings = IngestSettings(extractor=extractor, min_chars=200)
    return built_once(f"extractor-{extractor.replace('/', '-')}", [INPUT],
                      lambda world_dir: ingest([INPUT], world_dir, settings, LocalExecutor(1)))


@pytest.mark.parametrize("extractor", EXTRACTORS)
def test_world_built_with_each_extractor_searches_and_browses(extractor):
    world_dir, result = _world(extractor)
    assert result.report.pages_kept > 5
    with World.open(world_dir) as world:
        assert world.manifest["settings"]["extractor"] == extractor
        with open(os.path.join(world_dir, "world.json")) as handle:
            assert json.load(handle)["settings"]["extractor"] == extractor
        page = world.store.by_ids([1])[1]  # a rare word of a stored page finds that page
        word = max((w for w in page.text.split() if w.isalpha()), key=len)
        hits = world.search(word, k=20)
        assert page.canonical_url in [hit.canonical_url for hit in hits]
        shown = world.browse(page.url)
        assert shown is not None and word in shown.content
        assert page.lang and page.title


def test_worlds_differing_only_by_extractor_have_different_ids():
    snapshots = {}
    for extractor in EXTRACTORS:
        if extractor.startswith("resiliparse"):
            needs_extra("resiliparse", "fast")
        world_dir, result = _world(extractor)
        snapshots[extractor] = result.manifest["snapshot"]
    assert len(set(snapshots.values())) == len(EXTRACTORS), snapshots


def test_extractors_keep_different_text():
    """Not just the id: the stored text differs (the default is Markdown, resiliparse plain text)."""
    needs_extra("resiliparse", "fast")
    texts = {}
    for extractor in ("trafilatura/markdown", "resiliparse/text"):
        with World.open(_world(extractor)[0]) as world:
            pages = world.store.by_ids(range(1, world.store.count() + 1)).values()
            texts[extractor] = {page.canonical_url: page.text for page in pages}
    shared = set(texts["trafilatura/markdown"]) & set(texts["resiliparse/text"])
    assert shared
    assert any(texts["trafilatura/markdown"][url] != texts["resiliparse/text"][url] for url in shared)


def test_extending_a_world_with_another_extractor_is_refused_in_one_line(tmp_path):
    world_dir = str(tmp_path / "world")
    ingest([INPUT], world_dir, IngestSettings(min_chars=200), LocalExecutor(1))
    other = os.path.join(SHARED_WARC, "dolma-sample-0001.warc.gz")
    with pytest.raises(SettingsMismatch) as refused:
        ingest([other], world_dir, IngestSettings(min_chars=200, extractor="trafilatura/fast"), LocalExecutor(1))
    message = str(refused.value)
    assert "\n" not in message
    assert "extractor 'trafilatura/markdown' (asked: 'trafilatura/fast')" in message
    assert "min_chars" not in message  # only what differs is named


def test_resume_with_another_extractor_reuses_no_shard(tmp_path):
    """Shards of an interrupted run are kept by settings: a rerun with another extractor starts
    fresh and its world equals a straight build with that extractor."""
    from tests.conftest import StopsAfter

    world_dir = str(tmp_path / "world")
    markdown = IngestSettings(min_chars=200, batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        ingest([INPUT], world_dir, markdown, StopsAfter(LocalExecutor(1), 2))
    fast = IngestSettings(min_chars=200, batch_size=4, extractor="trafilatura/fast")
    resumed = ingest([INPUT], world_dir, fast, LocalExecutor(1))
    assert resumed.resumed_units == 0
    assert resumed.manifest["settings"]["extractor"] == "trafilatura/fast"
    straight = ingest([INPUT], str(tmp_path / "straight"), fast, LocalExecutor(1))
    assert resumed.manifest["snapshot"] == straight.manifest["snapshot"]


def test_cli_lists_extractors_and_refuses_an_unknown_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    shown = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", "--help"], capture_output=True,
                           text=True, env={**env, "COLUMNS": "200"})
    assert all(name in shown.stdout for name in EXTRACTORS)
    assert f"[default: {DEFAULT_EXTRACTOR}]" in shown.stdout
    refused = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", INPUT, "-w", str(tmp_path / "w"),
                              "--extractor", "boilerpipe"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2
    assert "boilerpipe" in refused.stderr and not os.path.exists(tmp_path / "w" / "world.json")


class ByValue:
    """An executor that, as Ray does, sends the task and each unit by value (pickled), then runs them."""

    workers = 1

    def __init__(self):
        self.extractors = set()

    def map_unordered(self, fn, items, window=None):
        import pickle

        for item in items:
            task, unit = pickle.loads(pickle.dumps(fn)), pickle.loads(pickle.dumps(item))
            self.extractors.add(task.keywords["settings"].extractor)
            yield task(unit)


def test_extractor_travels_with_the_map_task(tmp_path):
    """A cluster executor gets the extractor inside the task it ships: the world it builds is the
    one the local pool builds with the same extractor."""
    settings = IngestSettings(min_chars=200, extractor="trafilatura/fast")
    remote = ByValue()
    shipped = ingest([INPUT], str(tmp_path / "shipped"), settings, remote)
    assert remote.extractors == {"trafilatura/fast"}
    assert shipped.manifest["snapshot"] == _world("trafilatura/fast")[1].manifest["snapshot"]


@pytest.mark.parametrize("extractor", EXTRACTORS)
@pytest.mark.parametrize("language_id", ["cld2", ""])
def test_workers_start_with_the_language_identifier_their_pages_use(extractor, language_id):
    """What the parent loads before forking workers (`mapstep.prepare`): py3langid's model only
    where pages are named with it, in a world built before the choice with an extractor without
    its own identifier (the model costs about half a second of CPU to load, serial before the map)."""
    if extractor.startswith("resiliparse"):
        needs_extra("resiliparse", "fast")
    settings = f"IngestSettings(extractor={extractor!r}, language_id={language_id!r})"
    code = ("import sys; from worldbuild.ingest.mapstep import prepare; from worldbuild.mirrors import MirrorSettings; "
            f"from worldbuild.records import IngestSettings; prepare({settings}, MirrorSettings()); "
            "print('py3langid' in sys.modules, 'pycld2' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    legacy_py3langid = language_id == "" and not extractor.startswith("resiliparse")
    assert loaded.stdout.split() == [str(legacy_py3langid), str(language_id == "cld2")]

"""Ingest of real archives: what is kept, what is skipped and why, snapshots and resumability."""

import json
import os

import pytest

from tests.conftest import CORPORA, SAMPLE_PAGES, SHARED_WARC, needs_shared
from tests.warcs import article, response, write_warc
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.inputs import describe
from worldbuild.ingest.pipeline import ingest
from worldbuild.ingest.warc import plan_units
from worldbuild.records import IngestSettings
from worldbuild.world import World
from worldbuild.writer import SettingsMismatch


def run(paths, world_dir, workers=1, **settings):
    return ingest(paths, world_dir, IngestSettings(**settings), LocalExecutor(workers))


def test_sample_corpus_world(sample_world):
    world_dir, result = sample_world
    report = result.report
    assert result.manifest["pages"] == report.pages_kept > 150
    assert report.records_read > report.pages_extracted >= report.pages_kept
    assert report.skips["text shorter than --min-chars"] > 0
    assert report.skips["revisit record (no payload)"] > 0
    with open(os.path.join(world_dir, "world.json")) as handle:
        on_disk = json.load(handle)
    assert on_disk["snapshot"] == result.manifest["snapshot"]
    assert on_disk["parent"] is None
    assert {i["name"] for i in on_disk["inputs"]} == {"sample-crawls.warc.gz", "sample-pages.warc.gz"}
    assert all(len(i["sha256"]) == 64 for i in on_disk["inputs"])
    assert on_disk["report"]["skips"] == dict(report.to_dict()["skips"])
    with World.open(world_dir) as world:
        page = world.page("https://commoncrawl.org/faq")
        assert page is not None and "CCBot" in page.text
        assert page.source.startswith("sample-crawls.warc.gz#")
        assert page.lang == "en" and page.domain == "commoncrawl.org"
        assert page.length == len(page.text) >= 1000


def test_pages_with_unusual_charsets_decode(sample_world):
    with World.open(sample_world[0]) as world:
        # real pages declaring gb2312 and iso-8859-1 in <meta>, served without an HTTP charset
        chinese = world.page("https://web.archive.org/web/20120611024252/http://www.he.xinhuanet.com/news/"
                             "2012-06/04/content_25340717.htm")
        assert "话剧《约定无期限》" in chinese.text and "\ufffd" not in chinese.text
        german = world.page("https://nnz-online.de/news/news_lang.php?ArtNr=335853")
        assert "Stadt eröffnet Nordpark-Anlage" in german.text


def test_reingest_changes_nothing_and_is_fast(sample_copy):
    before = json.load(open(os.path.join(sample_copy, "world.json")))
    result = run([CORPORA], sample_copy)
    assert result.new_inputs == [] and sorted(result.known_inputs) == ["sample-crawls.warc.gz", "sample-pages.warc.gz"]
    assert not result.changed and result.report.records_read == 0
    assert json.load(open(os.path.join(sample_copy, "world.json"))) == before


def test_new_file_extends_world_with_parent(sample_copy, tmp_path):
    before = json.load(open(os.path.join(sample_copy, "world.json")))
    extra = write_warc(str(tmp_path / "extra.warc.gz"), [
        response("https://new.example.org/harbour", article("Valdora harbour records", "lighthouse keeper")),
    ])
    result = run([extra], sample_copy)
    assert result.changed
    manifest = result.manifest
    assert manifest["snapshot"] != before["snapshot"] and manifest["parent"] == before["snapshot"]
    assert manifest["pages"] == before["pages"] + 1
    assert manifest["history"][-1]["inputs_added"] == ["extra.warc.gz"]
    with World.open(sample_copy) as world:
        assert world.search("lighthouse keeper")[0].url == "https://new.example.org/harbour"
        assert world.page("https://commoncrawl.org/faq") is not None  # old pages stay
    assert len(os.listdir(os.path.join(sample_copy, "index"))) == 1  # the old index is gone


def test_snapshot_independent_of_workers_and_batching(pages_world, tmp_path):
    two = pages_world[1]  # 2 workers, shards of 32 records
    one = run([os.path.join(CORPORA, "sample-pages.warc.gz")], str(tmp_path / "a"), workers=1, batch_size=200)
    assert one.manifest["snapshot"] == two.manifest["snapshot"]
    assert one.manifest["pages"] == two.manifest["pages"] > 100


class _InTurn:
    """An executor of two workers that runs units one at a time, in the order sent. With `reverse`
    their results come back last first, after the last unit is done (a cluster's tasks finish in
    any order); else each result comes as soon as its unit is done."""

    workers = 2

    def __init__(self, reverse: bool):
        self.reverse = reverse
        self.mapped = 0

    def map_unordered(self, fn, items, window=None):
        results = []
        for item in items:
            results.append(fn(item))
            self.mapped += 1
            if not self.reverse:
                yield results.pop()
        yield from reversed(results)


def test_shards_finishing_out_of_order_fold_in_input_order(pages_world, tmp_path):
    """The fold follows the inputs' order, not the order units finish: the same pages get the
    same doc ids, so the same world and index."""
    settings = IngestSettings(batch_size=32)
    reverse = ingest([SAMPLE_PAGES], str(tmp_path / "r"), settings, _InTurn(reverse=True))
    assert reverse.manifest["snapshot"] == pages_world[1].manifest["snapshot"]
    with World.open(str(tmp_path / "r")) as world, World.open(pages_world[0]) as reference:
        assert list(world.store.db.execute("SELECT doc_id, canonical_url FROM pages ORDER BY doc_id")) == \
            list(reference.store.db.execute("SELECT doc_id, canonical_url FROM pages ORDER BY doc_id"))


def test_shards_fold_while_the_map_goes_on(tmp_path, monkeypatch):
    """With workers elsewhere, each finished shard is folded into the world as soon as those before
    it are, while later units are still being mapped (the serial fold does not wait for the map)."""
    import worldbuild.ingest.pipeline as pipeline

    executor = _InTurn(reverse=False)
    mapped_at_fold = []
    real = pipeline._shard_pages

    def watched(shard_dir, unit):
        mapped_at_fold.append(executor.mapped)
        return real(shard_dir, unit)

    monkeypatch.setattr(pipeline, "_shard_pages", watched)
    result = ingest([SAMPLE_PAGES], str(tmp_path / "w"), IngestSettings(batch_size=32), executor)
    units = len(list(plan_units(describe(SAMPLE_PAGES), batch_size=32)))
    assert mapped_at_fold == list(range(1, units + 1))  # shard k folded right after unit k was mapped
    assert units > 1 and result.manifest["pages"] > 100


def test_big_file_is_cut_into_units_at_record_boundaries():
    source = describe(os.path.join(CORPORA, "sample-pages.warc.gz"))
    units = list(plan_units(source, batch_size=10))
    assert len(units) == 13  # 128 responses, 10 per unit
    assert units[0].start == 0 and units[-1].end is None
    assert all(a.end == b.start for a, b in zip(units, units[1:]))


def test_other_settings_are_refused(sample_copy, tmp_path):
    extra = write_warc(str(tmp_path / "x.warc.gz"), [response("https://x.org/", article("x"))])
    with pytest.raises(SettingsMismatch, match="min_chars"):
        run([extra], sample_copy, min_chars=200)


def test_language_allow_list(tmp_path):
    german = article("Hafen", paragraphs=1, extra="<p>" + "Der Hafen von Valdora verzeichnete im Frühjahr viele "
                     "Schiffe, wie das Stadtarchiv später in seinem Jahresbuch bestätigte. " * 12 + "</p>")
    warc = write_warc(str(tmp_path / "langs.warc.gz"), [
        response("https://en.example.org/", article("Harbour")),
        response("https://de.example.org/", german.replace("The harbour authority", "Die Hafenbehörde")),
    ])
    result = run([warc], str(tmp_path / "w"), langs=("en",))
    assert result.manifest["pages"] == 1
    assert any(reason.startswith("language not allowed") for reason in result.report.skips)


@needs_shared
def test_all_real_shared_archives(tmp_path):
    result = run([SHARED_WARC], str(tmp_path / "w"), workers=2)
    skips = result.report.skips
    assert result.manifest["pages"] > 60
    assert result.report.records_read > 1500
    for reason in ("record type: request", "record type: metadata", "revisit record (no payload)",
                   "non-HTML payload: application/pdf", "non-HTML payload: image/jpeg", "HTTP status 404",
                   "archive breaks mid-way"):  # warc/bad: one whole-stream gzip (read), one broken file
        assert skips[reason] > 0, reason
    with World.open(str(tmp_path / "w")) as world:
        # an ARC file, a chunked-encoding WARC and a wget WARC with <bracketed> target URIs all yield pages
        sources = {world.page(h.url).source.split("#")[0] for h in world.search("IANA", k=50)}
        assert "warcio-example-iana.org-chunked.warc" in sources or "pywb-iana.warc.gz" in sources


@needs_shared
def test_arc_file_is_read(tmp_path):
    result = run([os.path.join(SHARED_WARC, "pywb-example.arc.gz")], str(tmp_path / "w"), min_chars=10)
    assert result.manifest["pages"] == 1
    with World.open(str(tmp_path / "w")) as world:
        assert "Example Domain" in world.page("http://example.com/").title


def test_staging_is_removed_after_success(sample_world):
    assert os.listdir(os.path.join(sample_world[0], ".ingest")) == []


def test_ingest_world_is_the_command_as_one_call(tmp_path):
    """`ingest_world` is what `worldbuild ingest` calls: its summary names the world's snapshot, a
    second call passes the same input over, and what it refuses is one line with nothing written."""
    from worldbuild.ingest.run import IngestRefused, ingest_world

    warc = write_warc(str(tmp_path / "a.warc.gz"), [response("https://a.example/", article("Alpha page", "osprey")),
                                                   response("https://a.example/img", b"\x89PNG....", "image/png")])
    world = str(tmp_path / "w")
    first = ingest_world([warc], world, IngestSettings(), workers=1)
    with World.open(world) as opened:
        assert first["snapshot"] == opened.snapshot and first["pages_in_world"] == len(opened) == 1
    assert first["changed"] and first["new_inputs"] == ["a.warc.gz"] and first["skips"]
    again = ingest_world([warc], world, IngestSettings(), workers=1)
    assert again["already_ingested"] == ["a.warc.gz"] and not again["changed"]
    assert again["snapshot"] == first["snapshot"]
    for kwargs, says in [({"executor": "spark"}, "unknown executor"),
                         ({"settings": IngestSettings(steps=("no_such_module_here:step",))}, "no_such_module_here")]:
        with pytest.raises(IngestRefused, match=says) as refused:
            ingest_world([warc], str(tmp_path / "never"), **{"settings": IngestSettings(), **kwargs})
        assert "\n" not in str(refused.value) and not (tmp_path / "never").exists()

"""Worlds from pre-extracted corpora in their published shapes: they search, browse and mask like
WARC worlds, dedup and resume the same way, and mix with WARC inputs."""

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from tests import corpus_shapes as shapes
from tests.conftest import CORPORA, FAST, StopsAfter
from worldbuild.cli import app
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.corpus import CorpusSpec, CorpusSpecError
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.world import World

SETTINGS = IngestSettings(min_chars=200)


def run(paths, world_dir, preset=None, fields=None, workers=1, rows=4, executor=None, settings=SETTINGS, name=None):
    spec = CorpusSpec.build(preset, fields, name, rows_per_unit=rows)
    return ingest(paths, world_dir, settings, executor or LocalExecutor(workers), corpus=spec)


def test_literesearcher_jsonl_zst(tmp_path):
    rows = shapes.write_literesearcher(str(tmp_path / "part-00.jsonl.zst"), 10)
    result = run([str(tmp_path / "part-00.jsonl.zst")], str(tmp_path / "w"), "literesearcher")
    assert result.report.pages_kept == 10 and result.manifest["pages"] == 10
    entry = result.manifest["inputs"][0]
    assert entry["format"] == "corpus:jsonl.zst" and entry["fields"] == {"url": "url", "title": "title", "text": "doc"}
    with World.open(str(tmp_path / "w")) as world:
        page = world.page("HTTP://WWW.lite.example.org/pages/3/")  # any spelling of a stored URL
        assert page.title == rows[3]["title"] and page.text == rows[3]["doc"]
        assert page.source == "part-00.jsonl.zst#3" and page.domain == "lite.example.org" and page.lang == "en"
        hits = world.search("Osgrove signal boxes record 8", k=3)
        assert hits[0].url == "https://lite.example.org/pages/8"
        masked = world.search("Osgrove signal boxes record 8", k=3, mask=["http://lite.example.org/pages/8#top"])
        assert "https://lite.example.org/pages/8" not in [h.url for h in masked] and len(masked) == 3


@pytest.mark.parametrize("layout", ["parquet", "hf"])
def test_browsecomp_plus_corpus(tmp_path, layout):
    docs = shapes.browsecomp_plus_docs(9)
    path = str(tmp_path / ("corpus.parquet" if layout == "parquet" else "corpus-hf"))
    (shapes.write_browsecomp_plus_parquet if layout == "parquet" else shapes.write_browsecomp_plus_hf)(path, docs)
    result = run([path], str(tmp_path / "w"), "browsecomp-plus", rows=3)
    assert result.manifest["pages"] == 9 and result.manifest["inputs"][0]["format"] == f"corpus:{layout}"
    with World.open(str(tmp_path / "w")) as world:
        page = world.page("https://bcp.example.com/doc/4")
        assert page.source.endswith("#10004")  # the corpus docid: how evidence ids find their page
        assert page.title == "Brennock mill record 4" and not page.text.startswith("---")  # front matter → title


def test_wiki18_contents_and_synthetic_urls(tmp_path, sample_world):
    path = str(tmp_path / "wiki-18.jsonl")
    rows = shapes.write_wiki18(path, 8, extra_lines=("not json", "[1, 2]", '{"id": "99"}'))
    world_dir = str(tmp_path / "w")
    result = run([path], world_dir, "wiki-18", rows=3)
    report = result.report.to_dict()
    assert result.manifest["pages"] == 8
    assert report["skips"] == {"malformed JSON line": 1, "JSON line is not an object": 1, "no 'contents' field": 1}
    assert report["examples"]["malformed JSON line"] == "wiki-18.jsonl#8"
    with World.open(world_dir) as world:
        page = world.page("doc://wiki-18/5")
        assert page.title == shapes.prose(5)[0] == "Quarry of Selby Fen record 5"
        assert page.text == rows[5]["contents"].split("\n", 1)[1].strip()
        assert page.url == "doc://wiki-18/5" and page.domain == "wiki-18"
        hit = world.search("Selby Fen limestone record 5 A-0005", k=1)[0]
        assert hit.url == "doc://wiki-18/5"
        assert world.browse("DOC://Wiki-18/5") is not None
        assert world.browse("doc://wiki-18/5", mask=["doc://wiki-18/5"]) is None
        assert "doc://wiki-18/5" not in [h.url for h in world.search("Selby Fen limestone record 5", k=8,
                                                                      mask=["doc://wiki-18/5"])]
    # stable: another unit size and worker count give the same URLs and the same snapshot
    again = run([path], str(tmp_path / "w2"), "wiki-18", rows=5, workers=2)
    assert again.manifest["snapshot"] == result.manifest["snapshot"]


def test_fineweb_parquet(tmp_path):
    path = str(tmp_path / "000_00000.parquet")
    shapes.write_fineweb(path, 7)
    result = run([path], str(tmp_path / "w"), "fineweb", rows=3)
    assert result.manifest["pages"] == 7
    with World.open(str(tmp_path / "w")) as world:
        page = world.page("http://fineweb.example.net/a/2")  # utm_* and www. forgotten
        assert page.crawl_date == "2024-02-21T10:11:12Z" and page.lang == "en"
        assert page.canonical_url == "http://www.fineweb.example.net/a/2"


def test_lang_and_min_chars_rules_apply(tmp_path):
    path = str(tmp_path / "fw.parquet")
    shapes.write_fineweb(path, 4)
    result = run([path], str(tmp_path / "w"), "fineweb", settings=IngestSettings(min_chars=200, langs=("de",)))
    assert result.report.skips["language not allowed: en"] == 4 and result.manifest["pages"] == 0
    short = run([path], str(tmp_path / "w2"), "fineweb", settings=IngestSettings(min_chars=100_000))
    assert short.report.skips["text shorter than --min-chars"] == 4


def test_field_mapping_and_its_errors(tmp_path):
    path = str(tmp_path / "mine.jsonl")
    with open(path, "w") as handle:
        for i in range(3):
            title, text = shapes.prose(i)
            handle.write(json.dumps({"link": f"https://mine.example/{i}", "heading": title, "body": text}) + "\n")
        handle.write(json.dumps({"link": "ftp://mine.example/x", "heading": "t", "body": shapes.prose(4)[1]}) + "\n")
    result = run([path], str(tmp_path / "w"), fields="url=link,title=heading,text=body")
    assert result.manifest["pages"] == 3 and result.report.skips["URL not http(s)"] == 1
    with World.open(str(tmp_path / "w")) as world:
        assert world.page("https://mine.example/1").title == "Mirren glass works record 1"
    with pytest.raises(CorpusSpecError, match="bad field mapping"):
        CorpusSpec.build(fields="body")
    with pytest.raises(CorpusSpecError, match="unknown preset"):
        CorpusSpec.build("nope")


def test_mixed_world_warc_then_corpus_and_both_at_once(tmp_path, fast_sample_world):
    """With the fast extractor (tests/conftest.py's FAST): how the pages are extracted is not what
    is checked here."""
    corpus = str(tmp_path / "lite.jsonl.zst")
    shapes.write_literesearcher(corpus, 6)
    before = fast_sample_world[1].manifest
    assert [i["name"] for i in before["inputs"]] == ["sample-crawls.warc.gz", "sample-pages.warc.gz"]
    grown = str(tmp_path / "grown")
    shutil.copytree(fast_sample_world[0], grown)
    extended = run([corpus], grown, "literesearcher", settings=FAST, rows=2)
    assert extended.manifest["parent"] == before["snapshot"]
    assert extended.manifest["pages"] == before["pages"] + 6
    both = run([CORPORA, corpus], str(tmp_path / "both"), "literesearcher", settings=FAST, workers=2)
    assert both.manifest["snapshot"] == extended.manifest["snapshot"]  # same pages, same id: one step or two
    with World.open(grown) as world:
        assert world.search("Tallis observatory comet survey record 3", k=1)[0].url == "https://lite.example.org/pages/3"
        assert world.page("https://commoncrawl.org/faq") is not None


def test_corpus_duplicates_are_deduped_against_warc_pages(tmp_path, sample_copy):
    with World.open(sample_copy) as sample:
        faq = sample.page("https://commoncrawl.org/faq")
    path = str(tmp_path / "dups.jsonl")
    with open(path, "w") as handle:
        handle.write(json.dumps({"url": "https://commoncrawl.org/faq/?utm_source=x", "title": "x", "text": "other " * 300}) + "\n")
        handle.write(json.dumps({"url": "https://copy.example/faq", "title": "copy", "text": faq.text}) + "\n")
        handle.write(json.dumps({"url": "https://new.example/1", "title": "n", "text": shapes.prose(1, 8)[1]}) + "\n")
    result = run([path], sample_copy, settings=IngestSettings())
    assert result.report.skips["duplicate URL"] == 1 and result.report.skips["duplicate content"] == 1
    with World.open(sample_copy) as world:
        assert world.page("https://commoncrawl.org/faq").text == faq.text  # the first occurrence (WARC) won
        # an exact copy is not stored again: its URL is an alias that reaches the kept page
        assert world.page("https://copy.example/faq").url == "https://commoncrawl.org/faq"
        assert world.page("https://new.example/1") is not None


def test_interrupted_corpus_ingest_resumes_to_the_same_snapshot(tmp_path):
    path = str(tmp_path / "fw.parquet")
    shapes.write_fineweb(path, 9)
    whole = run([path], str(tmp_path / "whole"), "fineweb", rows=3)
    world_dir = str(tmp_path / "w")
    with pytest.raises(KeyboardInterrupt):
        run([path], world_dir, "fineweb", rows=3, executor=StopsAfter(LocalExecutor(1), 2))
    resumed = run([path], world_dir, "fineweb", rows=3)
    assert resumed.resumed_units == 2
    assert resumed.manifest["snapshot"] == whole.manifest["snapshot"]
    again = run([path], world_dir, "fineweb", rows=3)
    assert again.known_inputs == ["fw.parquet"] and not again.changed


def test_unreadable_corpus_file_is_one_line_and_others_go_on(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    good = str(tmp_path / "good.jsonl.zst")
    shapes.write_literesearcher(good, 3)
    result = run([str(broken), good], str(tmp_path / "w"), "literesearcher")
    assert result.manifest["pages"] == 3
    errors = result.report.file_errors
    assert len(errors) == 1 and errors[0]["file"] == "broken.parquet"
    assert errors[0]["error"].startswith("unreadable corpus file")


def test_corpus_through_an_fsspec_url(tmp_path):
    import fsspec

    local = str(tmp_path / "lite.jsonl.zst")
    shapes.write_literesearcher(local, 5)
    memory = fsspec.filesystem("memory")
    memory.makedirs("/bucket/corpus", exist_ok=True)
    with open(local, "rb") as source, memory.open("/bucket/corpus/lite.jsonl.zst", "wb") as target:
        target.write(source.read())
    remote = run(["memory://bucket/corpus/*.jsonl.zst"], str(tmp_path / "remote"), "literesearcher", rows=2)
    from_disk = run([local], str(tmp_path / "disk"), "literesearcher", rows=2)
    assert remote.manifest["pages"] == 5
    assert remote.manifest["snapshot"] == from_disk.manifest["snapshot"]


def test_cli_ingest_with_preset_and_bad_mapping(tmp_path):
    path = str(tmp_path / "wiki.jsonl")
    shapes.write_wiki18(path, 4)
    runner = CliRunner()
    done = runner.invoke(app, ["ingest", path, "--world", str(tmp_path / "w"), "--preset", "search-r1",
                               "--min-chars", "100", "--workers", "1", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["pages_in_world"] == 4
    browsed = runner.invoke(app, ["browse", "doc://wiki-18/2", "--world", str(tmp_path / "w"), "--json"])
    assert json.loads(browsed.stdout)["title"] == "Osgrove railway record 2"
    bad = runner.invoke(app, ["ingest", path, "--world", str(tmp_path / "w2"), "--fields", "nonsense=x"])
    assert bad.exit_code == 2 and "bad field mapping" in bad.output
    assert not os.path.exists(str(tmp_path / "w2" / "pages.sqlite"))


def test_served_corpus_world_browses_synthetic_urls(tmp_path):
    from tests.services import start_server
    import httpx

    path = str(tmp_path / "wiki.jsonl")
    shapes.write_wiki18(path, 6)
    run([path], str(tmp_path / "w"), "wiki-18")
    proc, base = start_server(str(tmp_path / "w"))
    try:
        found = httpx.post(base + "/search", json={"query": "Brennock mill water wheel record 4", "k": 2}).json()
        assert found["results"][0]["url"] == "doc://wiki-18/4"
        page = httpx.post(base + "/browse", json={"url": "doc://wiki-18/4"}).json()
        assert page["title"] == "Brennock mill record 4"
        assert httpx.post(base + "/browse", json={"url": "doc://wiki-18/4", "mask": ["doc://wiki-18/4"]}).status_code == 404
        reader = httpx.get(base + "/r/doc://wiki-18/4")
        assert reader.status_code == 200 and "Brennock mill record 4" in reader.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)

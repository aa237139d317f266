"""The language identifier as a world setting: each names real pages' languages in the codes the
others use, the one a world is built with is recorded (and so is part of the snapshot id), a world
built before the choice keeps its id and its identifiers when extended, and a missing library is
one line before any work."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CORPORA, REPO, SHARED, needs_extra, needs_shared
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.language import UnknownLanguageId, check_identifier, identify
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import LANGUAGE_IDS, IngestSettings
from worldbuild.writer import SettingsMismatch

INTL = os.path.join(SHARED, "html-intl")
# real Wikipedia articles (encoding_bench) and the language their pages.jsonl records
ARTICLES = {"ar": "ar", "el": "el", "he": "he", "ja": "ja", "ko": "ko", "ru": "ru", "th": "th", "zh_cn": "zh",
            "zh_tw": "zh"}


def _available(identifier: str) -> None:
    if identifier == "resiliparse":
        needs_extra("resiliparse", "fast")


@needs_shared
@pytest.mark.parametrize("identifier", LANGUAGE_IDS)
def test_each_identifier_names_real_articles_in_the_same_codes(identifier):
    """ISO 639-1 codes from every identifier: CLD2's own (iw for Hebrew, zh-Hant) are mapped."""
    _available(identifier)
    for name, language in ARTICLES.items():
        with open(os.path.join(INTL, f"encbench-wikipedia-mars-{name}.html.expected.txt"), encoding="utf-8") as handle:
            assert identify(handle.read(), identifier) == language, name


@pytest.mark.parametrize("identifier", LANGUAGE_IDS)
def test_text_with_controls_and_lone_surrogates_is_identified(identifier):
    """Text as decoding can leave it (C0/C1 controls, an unpaired surrogate): a language, not an error."""
    _available(identifier)
    text = "The quick brown fox jumps over the lazy dog near the river bank. \x00\x85\x7f\ud800 " * 20
    assert identify(text, identifier) == "en"
    assert identify("", identifier)  # nothing to go on: still a code ("und" or a guess), never a crash


def test_the_identifier_is_recorded_and_another_is_another_world(tmp_path):
    """The default (CLD2) is recorded in the settings, so in the snapshot id; another identifier
    makes another world, and extending a world with another is refused in one line."""
    assert IngestSettings().content_settings()["language_id"] == "cld2"
    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    default = ingest([pages], str(tmp_path / "default"), IngestSettings(), LocalExecutor(1))
    assert default.manifest["settings"]["language_id"] == "cld2"
    chosen = ingest([pages], str(tmp_path / "py3langid"), IngestSettings(language_id="py3langid"), LocalExecutor(1))
    assert chosen.manifest["snapshot"] != default.manifest["snapshot"]
    other = os.path.join(CORPORA, "sample-crawls.warc.gz")
    with pytest.raises(SettingsMismatch) as refused:
        ingest([other], str(tmp_path / "py3langid"), IngestSettings(), LocalExecutor(1))
    assert "\n" not in str(refused.value) and "language_id 'py3langid' (asked: 'cld2')" in str(refused.value)
    assert "--language-id" in str(refused.value)  # the flag that sets it
    again = ingest([other], str(tmp_path / "py3langid"), IngestSettings.of_world(chosen.manifest), LocalExecutor(1))
    assert again.manifest["parent"] == chosen.manifest["snapshot"]


def test_a_world_built_before_the_choice_keeps_its_id_and_identifiers(tmp_path):
    """A world recorded without an identifier (as every world was before the setting): its
    settings, so its snapshot id, stay without one, and extending it, through the library or
    through the CLI without `--language-id`, keeps py3langid for its pages."""
    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    old = ingest([pages], str(tmp_path / "old"), IngestSettings(language_id=""), LocalExecutor(1))
    assert "language_id" not in old.manifest["settings"]
    assert IngestSettings.of_world(old.manifest).language_id == ""
    env = {**os.environ, "PYTHONPATH": REPO}
    other = os.path.join(CORPORA, "sample-crawls.warc.gz")
    extended = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", other, "-w", str(tmp_path / "old"),
                               "--workers", "1", "--json"], capture_output=True, text=True, env=env)
    assert extended.returncode == 0, extended.stderr
    summary = json.loads(extended.stdout)
    assert summary["parent"] == old.manifest["snapshot"] and summary["changed"]
    fresh = ingest([pages, other], str(tmp_path / "fresh"), IngestSettings(language_id=""), LocalExecutor(1))
    assert summary["snapshot"] == fresh.manifest["snapshot"]  # the same pages, identified the old way
    new = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", pages, other, "-w", str(tmp_path / "new"),
                          "--workers", "1", "--json"], capture_output=True, text=True, env=env)
    assert new.returncode == 0, new.stderr
    assert json.loads(new.stdout)["snapshot"] != fresh.manifest["snapshot"]
    # the library without settings extends a world with its own
    library = ingest([pages], str(tmp_path / "library"), IngestSettings(language_id=""), LocalExecutor(1))
    assert ingest([other], str(tmp_path / "library"), executor=LocalExecutor(1)).manifest["snapshot"] == \
        fresh.manifest["snapshot"] != library.manifest["snapshot"]
    # a flag the world cannot match is refused in one line that says what to do
    asked = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", other, "-w", str(tmp_path / "library"),
                            "--language-id", "py3langid"], capture_output=True, text=True, env=env)
    assert asked.returncode == 2 and "leave the flag out" in " ".join(asked.stderr.split())


def test_a_damaged_world_json_defers_to_the_page_store(tmp_path):
    """world.json is a copy of the store's manifest: damaged, it is not what decides how an
    old world goes on identifying languages."""
    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    world = tmp_path / "w"
    old = ingest([pages], str(world), IngestSettings(language_id=""), LocalExecutor(1))
    (world / "world.json").write_text('{"snapshot": ')
    other = os.path.join(CORPORA, "sample-crawls.warc.gz")
    extended = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", other, "-w", str(world), "--workers", "1",
                               "--json"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO})
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert json.loads(extended.stdout)["parent"] == old.manifest["snapshot"]


def test_an_ingest_beside_a_running_one_is_refused_at_once(tmp_path):
    """While another ingest holds the world (its lock, and the page store locked as a commit
    holds it), a second `worldbuild ingest` says so in one line: reading which identifier the
    world uses does not wait on the page store."""
    import fcntl
    import sqlite3

    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    world = tmp_path / "w"
    ingest([pages], str(world), IngestSettings(), LocalExecutor(1))
    with open(world / ".lock", "w") as lock, sqlite3.connect(world / "pages.sqlite", isolation_level=None) as db:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        db.execute("BEGIN EXCLUSIVE")
        other = os.path.join(CORPORA, "sample-crawls.warc.gz")
        second = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", other, "-w", str(world)],
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
        db.execute("ROLLBACK")
    assert second.returncode == 2 and "another ingest is running" in second.stderr, second.stderr[-2000:]
    assert "Traceback" not in second.stderr


def test_corpus_records_without_a_language_use_the_chosen_identifier(tmp_path):
    """A corpus without a language column: each record is identified by the world's choice."""
    corpus = tmp_path / "docs.jsonl"
    article = os.path.join(INTL, "encbench-wikipedia-mars-he.html.expected.txt")
    hebrew = open(article, encoding="utf-8").read() if os.path.exists(article) \
        else "שלום עולם, זהו טקסט בעברית על כוכב הלכת מאדים. " * 40
    corpus.write_text(json.dumps({"id": "1", "title": "מאדים", "text": hebrew[:4000]}, ensure_ascii=False) + "\n")
    world = ingest([str(corpus)], str(tmp_path / "w"), IngestSettings(), LocalExecutor(1))
    assert world.manifest["languages"] == {"he": 1}  # CLD2 says "iw"; the world stores "he"


def test_a_missing_library_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycld2", None)  # as if not installed
    with pytest.raises(UnknownLanguageId, match=r"needs pycld2: pip install 'pycld2'"):
        check_identifier("cld2")
    with pytest.raises(UnknownLanguageId, match="this version has: py3langid, cld2, resiliparse"):
        check_identifier("guess")


def test_cli_takes_the_identifier_and_refuses_an_unknown_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO, "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", "--help"], capture_output=True, text=True,
                           env=env)
    assert "--language-id" in shown.stdout and all(name in shown.stdout for name in LANGUAGE_IDS)
    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    refused = subprocess.run([sys.executable, "-m", "worldbuild", "ingest", pages, "-w", str(tmp_path / "w"),
                              "--language-id", "guess"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "guess" in refused.stderr
    assert not os.path.exists(tmp_path / "w" / "world.json")

"""The language identifier as a world setting: each names real pages' languages in the codes the
others use, a chosen one is recorded (and so is part of the snapshot id), a world built before
the choice keeps its id, and a missing library is one line before any work."""

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
    if identifier == "cld2":
        needs_extra("pycld2", "fast")
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


def test_a_chosen_identifier_is_recorded_and_the_default_keeps_old_ids(tmp_path):
    """The default names no identifier in the settings (so a world built before the choice keeps its
    snapshot id); a chosen one is recorded, makes another world, and extending it with the default
    is refused in one line."""
    needs_extra("pycld2", "fast")
    assert "language_id" not in IngestSettings().content_settings()
    pages = os.path.join(CORPORA, "sample-pages.warc.gz")
    chosen = ingest([pages], str(tmp_path / "cld2"), IngestSettings(language_id="cld2"), LocalExecutor(1))
    assert chosen.manifest["settings"]["language_id"] == "cld2"
    default = ingest([pages], str(tmp_path / "default"), IngestSettings(), LocalExecutor(1))
    assert chosen.manifest["snapshot"] != default.manifest["snapshot"]
    other = os.path.join(CORPORA, "sample-crawls.warc.gz")
    with pytest.raises(SettingsMismatch) as refused:
        ingest([other], str(tmp_path / "cld2"), IngestSettings(), LocalExecutor(1))
    assert "\n" not in str(refused.value) and "language_id 'cld2' (asked: None)" in str(refused.value)
    again = ingest([other], str(tmp_path / "cld2"), IngestSettings.of_world(chosen.manifest), LocalExecutor(1))
    assert again.manifest["parent"] == chosen.manifest["snapshot"]


def test_corpus_records_without_a_language_use_the_chosen_identifier(tmp_path):
    """A corpus without a language column: each record is identified by the world's choice."""
    needs_extra("pycld2", "fast")
    corpus = tmp_path / "docs.jsonl"
    article = os.path.join(INTL, "encbench-wikipedia-mars-he.html.expected.txt")
    hebrew = open(article, encoding="utf-8").read() if os.path.exists(article) \
        else "שלום עולם, זהו טקסט בעברית על כוכב הלכת מאדים. " * 40
    corpus.write_text(json.dumps({"id": "1", "title": "מאדים", "text": hebrew[:4000]}, ensure_ascii=False) + "\n")
    world = ingest([str(corpus)], str(tmp_path / "w"), IngestSettings(language_id="cld2"), LocalExecutor(1))
    assert world.manifest["languages"] == {"he": 1}  # CLD2 says "iw"; the world stores "he"


def test_a_missing_library_is_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycld2", None)  # as if not installed
    with pytest.raises(UnknownLanguageId, match=r"needs pycld2: pip install 'worldbuild\[fast\]'"):
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

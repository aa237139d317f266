"""Extra ingest steps: the example in docs/ingest-steps.md runs as written on the sample corpus,
both readers run a world's steps, steps are part of the world's settings (so of its snapshot id)
and travel to workers, and a world without steps keeps the settings, so the id, it had before."""

import json
import os
import pickle
import re
import subprocess
import sys

import pytest

from tests.conftest import CORPORA, FAST, REPO, needs_extra
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.ingest.steps import StepError, resolve_step
from worldbuild.records import IngestSettings
from worldbuild.world import World
from worldbuild.writer import SettingsMismatch, check_settings

DOC = os.path.join(REPO, "docs", "ingest-steps.md")


def doc_blocks() -> dict[str, str]:
    """The documented code blocks, by the file name on their first line (`# mysteps.py`), and
    the recorded step names (the JSON block)."""
    with open(DOC) as handle:
        text = handle.read()
    blocks = {}
    for body in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        first = body.split("\n", 1)[0]
        if first.startswith("# ") and first.endswith(".py"):
            blocks[first[2:]] = body
        elif body.lstrip().startswith("["):
            blocks["names"] = body
    return blocks


@pytest.fixture
def mysteps(tmp_path, monkeypatch):
    """The documented `mysteps.py`, importable."""
    (tmp_path / "mysteps.py").write_text(doc_blocks()["mysteps.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mysteps", None)
    import mysteps

    yield mysteps
    sys.modules.pop("mysteps", None)


def test_the_documented_example_runs_as_written(tmp_path):
    blocks = doc_blocks()
    (tmp_path / "mysteps.py").write_text(blocks["mysteps.py"])
    (tmp_path / "build.py").write_text(blocks["build.py"])
    os.symlink(CORPORA, tmp_path / "corpora")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}
    done = subprocess.run([sys.executable, "build.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "world-no-emails" / "world.json") as handle:
        manifest = json.load(handle)
    assert manifest["settings"]["steps"] == json.loads(blocks["names"])  # what the page says is recorded
    skips = manifest["report"]["skips"]
    assert skips.get("e-mail address in text", 0) > 0 and skips.get("fewer than 300 words", 0) > 0
    assert "e-mail address in text" in done.stdout and f"{manifest['pages']} pages" in done.stdout
    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
    with World.open(str(tmp_path / "world-no-emails")) as world:
        pages = world.store.by_ids(range(1, len(world) + 1)).values()
        assert len(pages) == manifest["pages"] > 0
        assert not [p.url for p in pages if email.search(p.text)]
        assert not [p.url for p in pages if p.lang == "en" and len(p.text.split()) < 300]


def test_the_command_line_takes_steps_by_name(tmp_path):
    """`worldbuild ingest --step mysteps:drop_emails` from the folder holding mysteps.py, as the
    page shows; a name that does not import is one line and nothing is written."""
    needs_extra("resiliparse", "fast")
    (tmp_path / "mysteps.py").write_text(doc_blocks()["mysteps.py"])
    command = [sys.executable, "-m", "worldbuild", "ingest", os.path.join(CORPORA, "sample-crawls.warc.gz"),
               "--workers", "1", "--extractor", FAST.extractor, "--json"]
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run([*command, "--world", "w", "--step", "mysteps:drop_emails"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "w" / "world.json") as handle:
        manifest = json.load(handle)
    assert manifest["settings"]["steps"] == ["mysteps:drop_emails@1"]
    assert manifest["report"]["skips"].get("e-mail address in text", 0) > 0
    bad = subprocess.run([*command, "--world", "bad", "--step", "mysteps:no_such_step"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "does not import" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_a_world_without_steps_keeps_the_settings_it_had():
    """The settings part of every snapshot id made before steps existed: same keys, same digest."""
    settings = IngestSettings(language_id="")  # as worlds were before the language identifier was a setting
    assert list(settings.content_settings()) == ["min_chars", "langs", "max_bytes", "include_comments",
                                                 "include_tables", "extractor"]
    assert IngestSettings(language_id="", steps=[]).fingerprint() == settings.fingerprint()


def test_steps_are_part_of_the_settings_by_name_and_version(mysteps):
    plain = IngestSettings()
    by_object = IngestSettings(steps=[mysteps.drop_emails])
    by_name = IngestSettings(steps=("mysteps:drop_emails",))
    assert by_object.content_settings() == by_name.content_settings()
    assert by_object.content_settings()["steps"] == ["mysteps:drop_emails@1"]
    assert by_object.fingerprint() != plain.fingerprint()
    assert IngestSettings(steps=[mysteps.MinWords(200)]).fingerprint() != \
        IngestSettings(steps=[mysteps.MinWords(300)]).fingerprint()
    manifest = {"settings": by_object.content_settings()}
    with pytest.raises(SettingsMismatch, match="steps"):
        check_settings(manifest, plain, "w")
    mysteps.drop_emails.version = "2"  # the rule changed: extending the world stops
    with pytest.raises(SettingsMismatch, match="drop_emails@2"):
        check_settings(manifest, IngestSettings.of_world(manifest), "w")


def test_steps_travel_to_workers(mysteps):
    settings = IngestSettings(steps=[mysteps.drop_emails, mysteps.MinWords(250), "mysteps:MinWords"])
    assert pickle.loads(pickle.dumps(settings)).content_settings() == settings.content_settings()
    rebuilt = IngestSettings.of_world({"settings": settings.content_settings()})
    assert rebuilt.content_settings()["steps"][0] == "mysteps:drop_emails@1"


@pytest.mark.parametrize("name", ["no_such_module_here:step", "mysteps", "mysteps:not_there", "json:__doc__"])
def test_a_bad_step_name_is_one_line(mysteps, name):
    with pytest.raises(StepError) as raised:
        resolve_step(name)
    assert "\n" not in str(raised.value) and name in str(raised.value)


def test_the_corpus_reader_runs_the_same_steps(mysteps, tmp_path):
    """A corpus row goes through a world's steps as an archive record does, and a step may change
    the page: the redacted text is what is stored and hashed."""
    rows = [{"id": "a", "text": "Write to the harbour master at master@harbour.example for berths. " * 3},
            {"id": "b", "text": "The harbour opens at dawn and closes at dusk. " * 3},
            {"id": "c", "text": "Short one."}]
    corpus = tmp_path / "rows.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def redact(draft):
        draft.text = draft.text.replace("harbour", "port")
        return draft

    settings = IngestSettings(min_chars=20, steps=[mysteps.drop_emails, mysteps.MinWords(words=5), redact])
    result = ingest([str(corpus)], str(tmp_path / "w"), settings, LocalExecutor(1))
    assert result.report.skips["e-mail address in text"] == 1
    assert result.report.skips["text shorter than --min-chars"] == 1  # built-in steps first
    with World.open(str(tmp_path / "w")) as world:
        (page,) = world.store.by_ids([1, 2, 3]).values()
    assert page.text.startswith("The port opens") and "harbour" not in page.text
    plain = ingest([str(corpus)], str(tmp_path / "plain"), IngestSettings(min_chars=20), LocalExecutor(1))
    assert plain.manifest["pages"] == 2 and plain.manifest["snapshot"] != result.manifest["snapshot"]

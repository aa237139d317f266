"""The command line: thin commands over the library, with JSON output and exit codes."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.warcs import article, response, write_warc
from worldbuild.cli import app

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def test_search_json(sample_world):
    result = invoke("search", "root zone database", "-k", "3", "--json", "--world", sample_world[0])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["snapshot"] == sample_world[1].manifest["snapshot"]
    assert 1 <= len(data["results"]) <= 3
    assert set(data["results"][0]) >= {"title", "url", "snippet", "score", "crawl_date"}


def test_search_text_and_world_from_environment(sample_world):
    result = invoke("search", "Common Crawl FAQ", env={"WORLDBUILD_WORLD": sample_world[0]})
    assert result.exit_code == 0
    assert "https://commoncrawl.org/faq" in result.stdout


def test_browse_variants_and_missing(sample_world):
    ok = invoke("browse", "HTTP://WWW.IANA.ORG/domains/#x", "--world", sample_world[0])
    assert ok.exit_code == 0 and ok.stdout.startswith("# Domain Name Services")
    as_json = json.loads(invoke("browse", "https://iana.org/domains", "--json", "--world", sample_world[0]).stdout)
    assert as_json["canonical_url"] == "http://www.iana.org/domains" and as_json["snapshot"]
    missing = invoke("browse", "http://www.iana.org/nope", "--world", sample_world[0])
    assert missing.exit_code == 1 and "not in the world" in missing.output


def test_stats(sample_world):
    data = json.loads(invoke("stats", "--json", "--world", sample_world[0]).stdout)
    assert data["pages"] == sample_world[1].manifest["pages"]
    assert data["top_domains"] and data["languages"]["en"] > 0
    text = invoke("stats", "--world", sample_world[0])
    assert text.exit_code == 0 and data["snapshot"] in text.stdout
    assert f"index bm25: {data['pages']} pages in one piece" in " ".join(text.stdout.split())


def test_missing_world_is_a_clear_error(tmp_path):
    result = invoke("search", "anything", "--world", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no world at" in result.output


def test_ingest_report_json_then_reingest(tmp_path):
    warc = write_warc(str(tmp_path / "a.warc.gz"), [
        response("https://a.example/", article("Alpha page", "osprey")),
        response("https://a.example/img", b"\x89PNG....", "image/png"),
    ])
    world = str(tmp_path / "w")
    first = invoke("ingest", warc, "--world", world, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["pages_kept"] == 1 and report["skips"] == {"non-HTML payload: image/png": 1}
    assert report["changed"] and report["parent"] is None
    again = json.loads(invoke("ingest", warc, "--world", world, "--json").stdout)
    assert again["already_ingested"] == ["a.warc.gz"] and not again["changed"]
    assert again["snapshot"] == report["snapshot"]


def test_ingest_with_other_settings_is_refused(tmp_path):
    warc = write_warc(str(tmp_path / "a.warc.gz"), [response("https://a.example/", article("Alpha"))])
    world = str(tmp_path / "w")
    assert invoke("ingest", warc, "--world", world).exit_code == 0
    other = write_warc(str(tmp_path / "b.warc.gz"), [response("https://b.example/", article("Beta"))])
    refused = invoke("ingest", other, "--world", world, "--min-chars", "10")
    assert refused.exit_code == 2 and "min_chars" in refused.output


def test_ingest_of_nothing_readable_fails(tmp_path):
    result = invoke("ingest", str(tmp_path / "missing.warc.gz"), "--world", str(tmp_path / "w"))
    assert result.exit_code == 1 and "path not found" in result.output


def test_console_script_runs(sample_world):
    exe = os.path.join(os.path.dirname(sys.executable), "worldbuild")
    if not os.path.exists(exe):
        pytest.skip("console script not installed in this environment")
    done = subprocess.run([exe, "stats", "--json", "--world", sample_world[0]], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and json.loads(done.stdout)["pages"] > 0


def test_one_vocabulary_across_commands():
    """-k is results per search everywhere, -n rollouts per task, choices are listed, --version works."""
    from importlib.metadata import version

    assert invoke("--version").stdout.strip() == f"worldbuild {version('worldbuild')}"
    wide = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    helps = {command: " ".join(invoke(command, "--help", env=wide).stdout.split())
             for command in ("search", "rollout", "filter", "eval", "sft-data", "ingest", "index")}
    for command in ("rollout", "filter", "eval", "sft-data"):
        assert "--samples -n <int range> [x>=1] Rollouts per task" in helps[command], helps[command]
        assert "--results -k" in helps[command] and "--search-mode <bm25|dense|hybrid>" in helps[command]
        assert "--fallback <em|f1>" in helps[command]
    assert "--results -k" in helps["search"] and "--mode <bm25|dense|hybrid>" in helps["search"]
    assert "[default: 8]" in helps["filter"].split("--samples", 1)[1].split("--", 1)[0]  # pass@8 by default
    assert "--k " not in helps["filter"]
    for command in ("ingest", "index"):  # one name for shard sizes, one for the executor's choices
        assert "--shard-pages" in helps[command] and "--executor <local|ray>" in helps[command]
    assert "--index-shard-pages" not in helps["ingest"] and "--batch-size" not in helps["ingest"]
    bad = invoke("search", "x", "--mode", "sparse")
    assert bad.exit_code == 2 and "sparse" in bad.output

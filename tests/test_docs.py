"""The documentation stays true to the code: the CLI reference is what the commands say of
themselves, the site builds with no broken page or anchor, and every relative link in the README
and the docs reaches a file in the repository."""

import os
import re
import subprocess
import sys

from tests.conftest import REPO, needs_extra

BIN = os.path.dirname(sys.executable)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_cli_reference_is_generated_from_the_commands(tmp_path):
    out = tmp_path / "cli.md"
    subprocess.run([os.path.join(BIN, "typer"), "worldbuild.cli", "utils", "docs", "--name", "worldbuild",
                    "--title", "Command line", "--output", str(out)], check=True, cwd=REPO, capture_output=True)
    with open(os.path.join(REPO, "docs", "cli.md")) as committed:
        assert out.read_text() == committed.read(), "docs/cli.md is stale: run bash scripts/docs.sh"


def test_every_default_a_help_text_names_reaches_the_reference():
    """A help text's own "[default: ...]" is Rich markup unless escaped, and Rich drops it: the
    reference, generated from the commands, shows each one the CLI's source writes."""
    with open(os.path.join(REPO, "docs", "cli.md")) as handle:
        reference = handle.read().replace("&#x27;", "'")
    named = []
    for name in ("cli.py", "cli_agent.py", "cli_options.py"):
        with open(os.path.join(REPO, "worldbuild", name)) as handle:
            named += re.findall(r"\[default: ([^\"{]+)", handle.read())
    assert len(named) >= 20
    missing = [text for text in named if f"[default: {text}" not in reference]
    assert not missing, missing


def test_site_builds_strictly(tmp_path):
    needs_extra("mkdocs", "docs")
    result = subprocess.run([os.path.join(BIN, "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").exists()


def test_every_relative_link_reaches_a_file():
    pages = [os.path.join(REPO, "README.md")] + [os.path.join(REPO, "docs", name)
                                                 for name in sorted(os.listdir(os.path.join(REPO, "docs")))
                                                 if name.endswith(".md")]
    broken = []
    for page in pages:
        with open(page) as handle:
            text = re.sub(r"```.*?```|`[^`\n]*`", "", handle.read(), flags=re.S)  # code is not a link
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # web addresses and in-page anchors (the site build checks anchors)
            path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
            if not os.path.exists(path):
                broken.append(f"{os.path.relpath(page, REPO)} → {target}")
    assert not broken, broken

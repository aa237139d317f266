"""The package's layers import one way (the contracts in pyproject.toml's [tool.importlinter],
checked by import-linter's `lint-imports`), a broken contract is caught, not waved through, and
the lowest layers stay light: the LLM client loads openai only when one is made."""

import os
import shutil
import subprocess
import sys

from tests.conftest import REPO, needs_extra

LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(package_root: str) -> subprocess.CompletedProcess:
    """`lint-imports` over the worldbuild package under `package_root` (also the working directory,
    which `python -c` puts first on the path), with the repo's contracts."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo", os.path.join(REPO, "pyproject.toml")],
                          capture_output=True, text=True, cwd=package_root, env={**os.environ, "PYTHONPATH": package_root})


def test_the_contracts_hold():
    needs_extra("importlinter", "test")
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_up_a_layer_breaks_the_layers(tmp_path):
    needs_extra("importlinter", "test")
    shutil.copytree(os.path.join(REPO, "worldbuild"), tmp_path / "worldbuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "worldbuild" / "store.py"
    store.write_text(store.read_text() + "\nfrom worldbuild.world import World  # up two layers\n")
    result = _lint(str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "worldbuild.store -> worldbuild.world" in result.stdout
    assert "1 broken" in result.stdout


def test_a_reader_that_imports_the_writer_breaks_the_forbidden_contract(tmp_path):
    needs_extra("importlinter", "test")
    shutil.copytree(os.path.join(REPO, "worldbuild"), tmp_path / "worldbuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    agent = tmp_path / "worldbuild" / "agent" / "tools.py"
    agent.write_text(agent.read_text() + "\nfrom worldbuild.writer import WorldWriter\n")
    result = _lint(str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "worldbuild.agent.tools -> worldbuild.writer" in result.stdout


def test_the_reward_and_the_llm_client_import_without_openai():
    """verl imports the reward function in every reward worker: openai (about a second) comes
    only with an LLM client that is actually made."""
    probe = ("import sys, worldbuild.agent.reward, worldbuild.llm; print('openai' in sys.modules); "
             "worldbuild.llm.LLM('http://127.0.0.1:9/v1', 'm'); print('openai' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]

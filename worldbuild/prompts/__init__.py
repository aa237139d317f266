"""Prompt files, versioned by name: every output records the version it was made with."""

from importlib import resources


def load(version: str) -> str:
    return resources.files(__name__).joinpath(f"{version}.md").read_text()

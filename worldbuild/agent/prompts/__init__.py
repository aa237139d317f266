"""Prompt files of the agent side; the file name is the version each verdict records."""

from importlib import resources


def load(version: str) -> str:
    return resources.files(__name__).joinpath(f"{version}.md").read_text()

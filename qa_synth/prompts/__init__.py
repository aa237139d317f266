"""Prompt files of the synthesis stages; the file name is the version every task records."""

from importlib import resources


def load(version: str) -> str:
    return resources.files(__name__).joinpath(f"{version}.md").read_text()

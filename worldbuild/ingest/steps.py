"""Ingest as a list of small steps: each takes the page being built (a `Draft`) and returns it,
possibly enriched, or skips it with the reason the ingest report counts.

The readers (WARC/ARC records in `warc_steps`, corpus rows in `corpus`) each start with their own
steps and share the rest; a world's extra steps (`IngestSettings.steps`: objects, or
`module:callable` names) run last, on every page either reader would keep, and their names are
part of the world's settings, so of its snapshot id. docs/ingest-steps.md shows how to write one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from worldbuild.records import Page, content_hash
from worldbuild.steprefs import StepError, resolve_step, spec_of_name, step_name
from worldbuild.urls import domain_of


class Skip(Exception):
    """A record that does not become a page; the message is the report's reason."""


class Redirect(Skip):
    """A 3xx response with a Location: no page, but browse follows it to the page it names."""

    def __init__(self, status: str, source: str, target: str):
        super().__init__(f"redirect (HTTP {status}): followed on browse")
        self.status, self.source, self.target = int(status), source, target


@dataclass
class Draft:
    """A page on its way through the steps. A reader fills what it knows; `text` and
    `canonical_url` must be set by the time the last step has run."""

    source: str  # where the record is: `<input>#<offset or row>`
    record: Any = None  # what the reader read: a warcio record, or a corpus row (a dict)
    row: int = 0  # a corpus record's row number
    url: str = ""
    canonical_url: str = ""
    content_type: str = ""  # the HTTP Content-Type header (archives only)
    body: bytes = b""  # the payload with transfer and content encodings undone (archives only)
    html: str = ""  # the payload as text (archives only)
    title: str = ""
    text: str = ""
    lang: str = ""
    published_date: str = ""
    crawl_date: str = ""


Step = Callable[[Draft], Union[Draft, Skip]]


def run_steps(steps: Iterable[Step], draft: Draft) -> Page:
    """The page the steps make of `draft`, or Skip (raised or returned by a step) with the reason."""
    for step in steps:
        result = step(draft)
        if isinstance(result, Skip):
            raise result
        if not isinstance(result, Draft):
            raise TypeError(f"ingest step {step_name(step)} returned {type(result).__name__}, not the draft")
        draft = result
    return to_page(draft)


def to_page(draft: Draft) -> Page:
    """The page record; a page without a title is named by its first line (or its URL)."""
    title = draft.title or draft.text.split("\n", 1)[0].lstrip("#* ")[:200] or draft.canonical_url
    return Page(
        url=draft.url,
        canonical_url=draft.canonical_url,
        title=title,
        text=draft.text,
        crawl_date=draft.crawl_date,
        lang=draft.lang,
        domain=domain_of(draft.canonical_url),
        content_hash=content_hash(draft.text),
        source=draft.source,
        length=len(draft.text),
        published_date=draft.published_date,
    )


# -- steps every reader shares ---------------------------------------------------------------

@dataclass(frozen=True)
class MinChars:
    """Drop pages whose text is shorter than `--min-chars`."""

    min_chars: int

    def __call__(self, draft: Draft) -> Draft:
        if len(draft.text) < self.min_chars:
            raise Skip("text shorter than --min-chars")
        return draft


@dataclass(frozen=True)
class AllowedLanguages:
    """Keep only pages in `--lang` (all pages when none is given)."""

    langs: tuple[str, ...]

    def __call__(self, draft: Draft) -> Draft:
        if self.langs and draft.lang not in self.langs:
            raise Skip(f"language not allowed: {draft.lang}")
        return draft


# -- a world's extra steps (named and imported by worldbuild/steprefs.py) -------------------------

__all__ = ["AllowedLanguages", "Draft", "MinChars", "Redirect", "Skip", "Step", "StepError", "extra_steps",
           "resolve_step", "run_steps", "spec_of_name", "step_name", "to_page"]


def extra_steps(specs: Iterable[Any]) -> list[Step]:
    """A world's extra steps, ready to run (names imported here: in the worker that runs them)."""
    return [resolve_step(spec) for spec in specs]

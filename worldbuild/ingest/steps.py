"""Ingest as a list of small steps: each takes the page being built (a `Draft`) and returns it,
possibly enriched, or skips it with the reason the ingest report counts.

The readers (WARC/ARC records in `warc_steps`, corpus rows in `corpus`) each start with their own
steps and share the rest; a world's extra steps (`IngestSettings.steps`: objects, or
`module:callable` names) run last, on every page either reader would keep, and their names are
part of the world's settings, so of its snapshot id. docs/ingest-steps.md shows how to write one.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from worldbuild.records import Page, content_hash
from worldbuild.urls import domain_of


class Skip(Exception):
    """A record that does not become a page; the message is the report's reason."""


class Redirect(Skip):
    """A 3xx response with a Location: no page, but browse follows it to the page it names."""

    def __init__(self, status: str, source: str, target: str):
        super().__init__(f"redirect (HTTP {status}): followed on browse")
        self.status, self.source, self.target = int(status), source, target


class StepError(ValueError):
    """A step name that does not import or a step that is not callable; the message says which."""


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


# -- a world's extra steps ---------------------------------------------------------------------

def resolve_step(spec: Any) -> Step:
    """A step from a `module:callable` name (a class named so is instantiated without arguments)
    or the step object itself."""
    found = _import(spec) if isinstance(spec, str) else spec
    if isinstance(found, type):
        found = found()
    if not callable(found):
        what = spec if isinstance(spec, str) else type(spec).__name__
        raise StepError(f"ingest step {what!r} is not callable")
    return found


def _import(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not (module_name and attribute):
        raise StepError(f"bad ingest step {spec!r}: want MODULE:CALLABLE (e.g. mysteps:drop_emails)")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        detail = " ".join(str(exc).split())
        raise StepError(f"ingest step {spec!r} does not import: {type(exc).__name__}: {detail}") from None
    return found


def step_name(step: Any) -> str:
    """What a world records of a step: its `name` attribute, else `module:qualname` (with a
    dataclass's fields, so steps built with other parameters differ), plus `@version` when the
    step has a `version` attribute."""
    step = resolve_step(step)
    name = getattr(step, "name", None)
    if not isinstance(name, str) or not name:
        plain = inspect.isroutine(step)
        kind = step if plain else type(step)
        name = f"{kind.__module__}:{kind.__qualname__}"
        if dataclasses.is_dataclass(step) and not plain:
            name += "(" + ", ".join(f"{f.name}={getattr(step, f.name)!r}" for f in dataclasses.fields(step)) + ")"
    version = getattr(step, "version", None)
    return f"{name}@{version}" if version not in (None, "") else name


def spec_of_name(name: str) -> str:
    """The `module:callable` a recorded step name was made from (its version and fields dropped)."""
    return name.split("@", 1)[0].split("(", 1)[0]


def extra_steps(specs: Iterable[Any]) -> list[Step]:
    """A world's extra steps, ready to run (names imported here: in the worker that runs them)."""
    return [resolve_step(spec) for spec in specs]

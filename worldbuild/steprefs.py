"""Ingest steps as a world records them: a name for each (`module:qualname`, a dataclass's
fields, `@version`) and the step back from a `module:callable` name.

Below the settings (records.py), which name a world's steps, so the snapshot id, with these;
what a step does and how ingest runs it is worldbuild/ingest/steps.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable


class StepError(ValueError):
    """A step name that does not import or a step that is not callable; the message says which."""


def resolve_step(spec: Any) -> Callable[[Any], Any]:
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

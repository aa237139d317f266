"""`worldbuild ingest` as one library call: it imports the extra steps, starts the executor the
command names, checks the staging place, runs the ingest and returns the summary the command
prints (and `--json` writes). Everything it refuses is one `IngestRefused` line, raised before
anything is written or with the world unchanged; a script gets the same checks as the CLI."""

from __future__ import annotations

import time
from typing import Iterable

from worldbuild import storage
from worldbuild.executor import ExecutorUnavailable, executor_for
from worldbuild.ingest.corpus import CorpusSpec
from worldbuild.ingest.extract import UnknownExtractor
from worldbuild.ingest.language import UnknownLanguageId
from worldbuild.ingest.pipeline import IngestBusy, Progress, ingest
from worldbuild.mirrors import UnknownShingleHash
from worldbuild.records import IngestSettings
from worldbuild.steprefs import StepError, resolve_step
from worldbuild.writer import SettingsMismatch

RESUME_HINT = "The world is unchanged; finished shards are kept, so running the same command again resumes."


class IngestRefused(RuntimeError):
    """Why an ingest did not run or did not finish, in one line; the world is unchanged."""


def ingest_world(paths: Iterable[str], world_dir: str, settings: IngestSettings | None = None, *,
                 executor: str = "local", address: str | None = None, workers: int | None = None,
                 staging: str | None = None, retry_errors: bool = False, corpus: CorpusSpec | None = None,
                 progress: Progress | None = None) -> dict:
    """Ingest `paths` into the world at `world_dir`; the summary: world, snapshot (None when the
    world has no pages), parent, whether it changed, pages in the world, inputs new, known and
    resumed, seconds, and the run's report (records, pages, skips by reason, file problems).
    Without `settings`, a world is extended with its own and a new one gets the defaults.
    KeyboardInterrupt passes through: finished shards are kept for the rerun."""
    steps = settings.steps if settings else ()  # (without settings: the world's own, checked by `ingest`)
    for name in steps:  # a step that does not import is refused before anything is written
        try:
            resolve_step(name)
        except StepError as exc:
            raise IngestRefused(str(exc)) from None
    try:
        runner = executor_for(executor, address, workers)
    except ExecutorUnavailable as exc:
        raise IngestRefused(str(exc)) from None
    if staging:
        try:
            storage.make_dirs(staging)
        except (ImportError, OSError, ValueError) as exc:
            raise IngestRefused(f"cannot use --staging {staging}: {exc}") from None
    began = time.perf_counter()
    try:
        result = ingest(list(paths), world_dir, settings, runner, progress, staging=staging,
                        retry_errors=retry_errors, corpus=corpus)
    except (SettingsMismatch, IngestBusy, UnknownExtractor, UnknownLanguageId, UnknownShingleHash) as exc:
        raise IngestRefused(str(exc)) from None
    except OSError as exc:  # staging, world or index storage failed (full disk, a bucket gone)
        raise IngestRefused(f"{type(exc).__name__}: {exc}. {RESUME_HINT}") from None
    manifest = result.manifest or {}
    return {
        "world": world_dir,
        "snapshot": manifest.get("snapshot"),
        "parent": manifest.get("parent"),
        "changed": result.changed,
        "pages_in_world": manifest.get("pages", 0),
        "new_inputs": result.new_inputs,
        "already_ingested": result.known_inputs,
        "resumed_shards": result.resumed_units,
        "seconds": round(time.perf_counter() - began, 2),
        **result.report.to_dict(),
    }

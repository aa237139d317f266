"""`ingest`: archives → (map, any executor) shards → (merge) the world.

Resumable by construction: a finished shard is never redone, and the merge is one
transaction, so a killed run leaves the world as it was plus whole shards on disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import functools
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from worldbuild import storage
from worldbuild.executor import Executor, LocalExecutor, usable_cores
from worldbuild.ingest import corpus as corpora
from worldbuild.ingest.corpus import CorpusSpec
from worldbuild.ingest.extract import check_extractor
from worldbuild.ingest.inputs import InputFile, NotRegularFile, describe, expand_paths
from worldbuild.ingest.mapstep import map_unit, prepare, read_shard, read_summary
from worldbuild.ingest.warc import WorkUnit, plan_units
from worldbuild.mirrors import MirrorSettings
from worldbuild.records import IngestReport, IngestSettings, Page
from worldbuild.store import STORE_FILE, PageStore
from worldbuild.writer import WorldWriter, check_settings

STAGING_DIR = ".ingest"


class IngestBusy(RuntimeError):
    """Another ingest holds this world."""


class Progress:
    """What an ingest tells its caller as it goes; the CLI draws a bar from it."""

    def start(self, total_bytes: int) -> None: ...
    def advance(self, done_bytes: int, pages: int, records: int) -> None: ...
    def stage(self, name: str) -> None: ...
    def note(self, text: str) -> None: ...


@dataclass
class IngestResult:
    manifest: dict | None
    report: IngestReport
    new_inputs: list[str] = field(default_factory=list)
    known_inputs: list[str] = field(default_factory=list)
    resumed_units: int = 0
    changed: bool = False


@contextmanager
def _world_lock(world_dir: str) -> Iterator[None]:
    os.makedirs(world_dir, exist_ok=True)
    with open(os.path.join(world_dir, ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestBusy(f"another ingest is running on {world_dir}") from None
        yield


def _existing_manifest(world_dir: str) -> dict | None:
    path = os.path.join(world_dir, STORE_FILE)
    if not os.path.exists(path):
        return None
    store = PageStore(path, writable=True)  # writable: rolls back a hot journal left by a crash
    try:
        return store.manifest()
    finally:
        store.close()


# record skips that say the reader failed, not that the record holds no page: an upgrade may fix them
FAILURE_REASONS = ("payload decoding failed", "extraction failed", "record failed")


def _retryable(entry: dict) -> bool:
    """An input recorded with file errors or failed records, worth reading again after an upgrade."""
    return bool(entry.get("errors")) or entry.get("failed_records", 0) > 0


def _known_inputs(previous: dict | None, retry_errors: bool) -> set[str]:
    """sha256 of inputs a rerun passes over: all recorded ones, less (with `retry_errors`) those
    whose last reading had errors."""
    latest: dict[str, dict] = {}
    for entry in (previous or {}).get("inputs", []):
        latest[entry["sha256"]] = entry
    return {sha for sha, entry in latest.items() if not (retry_errors and _retryable(entry))}


def _select_inputs(paths: list[str], known: set[str], report: IngestReport) -> tuple[list[InputFile], list[str]]:
    corpus_files, archive_paths, problems = corpora.split_paths(paths)
    found = expand_paths(archive_paths)
    for pattern, reason in problems + found.problems:
        report.skip(reason, pattern)
        report.file_error(pattern, reason)
    for path, reason in found.passed_over:
        report.skip(reason, path)
    new, already = [], []
    for path in found.files + corpus_files:
        try:
            source = corpora.describe_corpus(path) if path in corpus_files else describe(path)
        except NotRegularFile as exc:
            report.skip("not a regular file", path)
            report.file_error(os.path.basename(path), str(exc))
            continue
        except OSError as exc:
            report.skip("unreadable file", path)
            report.file_error(os.path.basename(path), f"unreadable file: {type(exc).__name__}: {exc.strerror or exc}")
            continue
        if source.sha256 in known:
            already.append(source.name)
            continue
        if source.size and source.format is None:
            report.skip("not a WARC/ARC file", source.name)
            report.file_error(source.name, "not a WARC/ARC file: its first line is not a WARC or ARC header")
        known.add(source.sha256)
        new.append(source)
    return new, already


def _shard_pages(shard_dir: str, unit: WorkUnit) -> Iterator[tuple[Page, bytes]]:
    """Each page of a finished shard with its mirror signature."""
    for row in read_shard(shard_dir, unit).to_pylist():
        minhash = row.pop("minhash")
        yield Page(**row), minhash


def ingest(
    paths: list[str],
    world_dir: str,
    settings: IngestSettings | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    note: dict | None = None,
    staging: str | None = None,
    retry_errors: bool = False,
    corpus: CorpusSpec | None = None,
) -> IngestResult:
    """Ingest archives into the world at `world_dir` (created if new); `note` is recorded in the
    manifest with the step (see `WorldWriter.commit`). Map shards go under `staging` (a folder
    or an object-store URL every worker can write; default: inside the world) and are removed
    once merged. Inputs already recorded are passed over by content; with `retry_errors`, those
    recorded with errors or failed records are read again (pages already stored stay, as
    duplicates of themselves). Pre-extracted corpora among `paths` (JSONL, Parquet, `save_to_disk`
    folders) are read through `corpus` (a field mapping; default: id/url/title/text columns)."""
    world_dir = os.path.abspath(world_dir)  # executors on other nodes do not share our cwd
    settings = settings or IngestSettings()
    executor = executor or LocalExecutor()
    progress = progress or Progress()
    report = IngestReport()
    check_extractor(settings.extractor)  # before any work: a missing library is one line, not a skip per page
    with _world_lock(world_dir):
        previous = _existing_manifest(world_dir)
        check_settings(previous, settings, world_dir)
        known = _known_inputs(previous, retry_errors)
        sources, already = _select_inputs(paths, known, report)
        result = IngestResult(manifest=previous, report=report, known_inputs=already,
                              new_inputs=[s.name for s in sources])
        if not sources:
            return result

        # a shared staging place holds several worlds' runs: each world has its own prefix
        mirrors = MirrorSettings.of_manifest(previous)  # shards carry signatures made with these
        fingerprint = f"{settings.fingerprint()}-{mirrors.fingerprint()}"
        run = f"{hashlib.sha256(world_dir.encode()).hexdigest()[:12]}-{fingerprint}" if staging else fingerprint
        shard_dir = storage.join(staging or os.path.join(world_dir, STAGING_DIR), run)
        storage.make_dirs(shard_dir)
        spec = corpus or CorpusSpec()
        summaries = _run_map(sources, settings, mirrors, shard_dir, executor, progress, result, spec)

        progress.stage("merge")
        # index shards are built where the world is: by the executor's workers when they share its
        # folder, here when shards went to an object store (no shared filesystem to assume)
        index_executor = LocalExecutor(min(executor.workers, usable_cores())) if storage.is_url(shard_dir) \
            else executor
        manifest = _merge(world_dir, settings, sources, summaries, shard_dir, report, note, index_executor, progress,
                          spec)
        result.manifest = manifest
        result.changed = manifest["snapshot"] != (previous or {}).get("snapshot")
        storage.remove_tree(shard_dir)
        return result


def map_step(unit: WorkUnit, settings: IngestSettings, shard_dir: str,
             mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """The map step for any unit: an archive's records or a corpus's rows → one shard."""
    if isinstance(unit, corpora.CorpusUnit):
        return corpora.map_corpus_unit(unit, settings, shard_dir, mirrors)
    return map_unit(unit, settings, shard_dir, mirrors)


def _run_map(sources, settings, mirrors, shard_dir, executor, progress, result, spec: CorpusSpec) -> list[dict]:
    """Run the map step over every unit not already finished; returns all unit summaries."""
    summaries: list[dict] = []
    total = sum(s.size for s in sources)
    resumed_bytes = 0
    unit_bytes: dict[str, int] = {}  # a corpus unit's share of its file, for progress

    def plan(source: InputFile) -> Iterable[WorkUnit]:
        if not corpora.is_corpus_input(source):
            return plan_units(source, settings.batch_size)  # lazily: workers start while the file is still being cut
        units = list(corpora.plan_corpus_units(source, spec))
        for unit in units:
            unit_bytes[unit.unit_id] = source.size // len(units)
        return units

    def done_bytes(unit: WorkUnit) -> int:
        return unit_bytes.get(unit.unit_id, (unit.end or size_of[unit.path]) - unit.start)

    def pending() -> Iterator[WorkUnit]:
        nonlocal resumed_bytes
        for source in sources:
            if source.size == 0 or source.format is None:
                continue
            for unit in plan(source):
                done = read_summary(shard_dir, unit)
                if done is None:
                    yield unit
                else:
                    summaries.append(done)
                    result.resumed_units += 1
                    resumed_bytes += done_bytes(unit)

    for source in sources:
        if source.size == 0:
            result.report.skip("empty file", source.name)
            result.report.file_error(source.name, "empty file: no records")
    prepare(settings, mirrors)  # once here, not once per forked worker
    progress.start(total)
    task = functools.partial(map_step, settings=settings, shard_dir=shard_dir, mirrors=mirrors)
    size_of = {s.path: s.size for s in sources}
    reported_resumed = 0
    for summary in executor.map_unordered(task, pending()):
        summaries.append(summary)
        unit = summary["unit"]
        if resumed_bytes != reported_resumed:  # finished shards found while planning count as done
            progress.advance(resumed_bytes - reported_resumed, 0, 0)
            reported_resumed = resumed_bytes
        progress.advance(done_bytes(corpora.unit_from_dict(unit)), summary["pages"], summary["report"]["records_read"])
    if resumed_bytes != reported_resumed:
        progress.advance(resumed_bytes - reported_resumed, 0, 0)
    return summaries


def _merge(world_dir, settings, sources, summaries, shard_dir, report, note=None, executor=None,
           progress: Progress | None = None, spec: CorpusSpec | None = None) -> dict:
    """Fold shards, in input order, into the world: dedup by canonical URL and content hash
    (a duplicate's URL becomes an alias), each new page joining its mirror cluster."""
    order = {s.sha256: i for i, s in enumerate(sources)}
    summaries.sort(key=lambda s: (order[s["unit"]["sha256"]], s["unit"]["start"]))
    per_input = {s.sha256: {**s.to_dict(), "records_read": 0, "pages_kept": 0, "failed_records": 0} for s in sources}
    for source in sources:
        if corpora.is_corpus_input(source):
            per_input[source.sha256].update(corpora.input_note(source, spec or CorpusSpec()))
    writer = WorldWriter(world_dir, settings, executor, on_note=(progress or Progress()).note)
    try:
        for summary in summaries:
            unit = corpora.unit_from_dict(summary["unit"])
            unit_report = IngestReport.from_dict(summary["report"])
            report.absorb(unit_report)
            entry = per_input[unit.sha256]
            entry["records_read"] += unit_report.records_read
            entry["failed_records"] += sum(n for reason, n in unit_report.skips.items()
                                           if reason.startswith(FAILURE_REASONS))
            for page, minhash in _shard_pages(shard_dir, unit):
                reason = writer.add(page, minhash)
                if reason:
                    report.skip(reason, page.source)
                else:
                    report.pages_kept += 1
                    entry["pages_kept"] += 1
            for source, target, status, _where in unit_report.redirects:
                writer.add_redirect(source, target, status)
    except BaseException:
        writer.abort()
        raise
    for entry in per_input.values():
        entry["errors"] = [e["error"] for e in report.file_errors if e["file"] == entry["name"]]
    return writer.commit(list(per_input.values()), report, note)

"""`ingest`: archives → (map, any executor) shards → (merge) the world.

Resumable by construction: a finished shard is never redone, and the merge is one
transaction, so a killed run leaves the world as it was plus whole shards on disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import functools
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from worldbuild import storage
from worldbuild.executor import Executor, LocalExecutor, usable_cores
from worldbuild.ingest import corpus as corpora
from worldbuild.ingest.corpus import CorpusSpec
from worldbuild.ingest.extract import check_can_run
from worldbuild.ingest.inputs import InputFile, NotRegularFile, describe, expand_paths
from worldbuild.ingest.mapstep import map_unit, prepare, read_shard, read_summary
from worldbuild.ingest.warc import WorkUnit, plan_units
from worldbuild.mirrors import MirrorSettings
from worldbuild.records import MANIFEST_FILE, IngestReport, IngestSettings, Page
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


def recorded_manifest(world_dir: str) -> dict | None:
    """The manifest the world's last ingest wrote (world.json), or None for a new world: read
    without opening the page store, so without waiting on an ingest that is writing it. Its
    settings never change over a world's life, so they are right even if a crash left it behind.
    A damaged or unreadable file defers to the store; none at all is a world not yet committed."""
    try:
        with open(os.path.join(world_dir, MANIFEST_FILE), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return _existing_manifest(world_dir)


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
    folders) are read through `corpus` (a field mapping; default: id/url/title/text columns).
    Without `settings`, a world is extended with its own and a new one gets the defaults."""
    world_dir = os.path.abspath(world_dir)  # executors on other nodes do not share our cwd
    executor = executor or LocalExecutor()
    progress = progress or Progress()
    report = IngestReport()
    with _world_lock(world_dir):
        previous = _existing_manifest(world_dir)
        if settings is None:
            settings = IngestSettings.of_world(previous) if previous else IngestSettings()
        check_can_run(settings)  # before any work: a missing library is one line, not a skip per page
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
        # index shards are built where the world is: by the executor's workers when they share its
        # folder, here when shards went to an object store (no shared filesystem to assume)
        index_executor = LocalExecutor(min(executor.workers, usable_cores())) if storage.is_url(shard_dir) \
            else executor
        # one local worker maps in this process: folding between its units gains nothing (measured 3% slower)
        in_process = isinstance(executor, LocalExecutor) and executor.workers == 1
        fold = _Fold(world_dir, settings, sources, shard_dir, report, index_executor, progress, spec,
                     eager=not in_process)
        try:
            _run_map(sources, settings, mirrors, shard_dir, executor, progress, result, spec, fold)
            progress.stage("merge")
            fold.drain()
        except BaseException:
            fold.abort()
            raise
        manifest = fold.commit(note)
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


def _run_map(sources, settings, mirrors, shard_dir, executor, progress, result, spec: CorpusSpec,
             fold: "_Fold") -> None:
    """Run the map step over every unit not already finished, handing `fold` each unit as it is
    planned (with its summary if already finished) and each summary as its unit finishes."""
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
                fold.planned(unit.unit_id, done)
                if done is None:
                    yield unit
                else:
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
        unit = corpora.unit_from_dict(summary["unit"])
        fold.finished(unit.unit_id, summary)
        if resumed_bytes != reported_resumed:  # finished shards found while planning count as done
            progress.advance(resumed_bytes - reported_resumed, 0, 0)
            reported_resumed = resumed_bytes
        progress.advance(done_bytes(unit), summary["pages"], summary["report"]["records_read"])
    if resumed_bytes != reported_resumed:
        progress.advance(resumed_bytes - reported_resumed, 0, 0)


class _Fold:
    """Shards folded into the world's one transaction in the merge's order (inputs in order, each
    file's units by offset) as soon as every shard before them has finished: the fold, serial by
    nature (dedup, mirror clusters, the page store), runs while later units are still mapping
    instead of after the whole map. Each new page is deduplicated by canonical URL and content
    hash (a duplicate's URL becomes an alias) and joins its mirror cluster."""

    def __init__(self, world_dir, settings, sources, shard_dir, report, executor, progress: Progress,
                 spec: CorpusSpec, eager: bool = True):
        self.eager = eager  # fold as shards finish; else all at the end (`drain`)
        self.world_dir, self.settings, self.shard_dir, self.report = world_dir, settings, shard_dir, report
        self.executor, self.progress = executor, progress
        self.per_input = {s.sha256: {**s.to_dict(), "records_read": 0, "pages_kept": 0, "failed_records": 0}
                          for s in sources}
        for source in sources:
            if corpora.is_corpus_input(source):
                self.per_input[source.sha256].update(corpora.input_note(source, spec))
        self.order: list[str] = []  # unit ids in the merge's order, as the map plans them
        self.ready: dict[str, dict] = {}  # finished units' summaries, not yet folded
        self.folded = 0
        self.writer: WorldWriter | None = None  # opened at the first fold: the map's pool forks before it

    def planned(self, unit_id: str, summary: dict | None) -> None:
        """A unit in the merge's order, with its summary if a previous run finished it. Called on
        the thread that plans (a pool reads its items on a thread of its own)."""
        if summary is not None:
            self.ready[unit_id] = summary
        self.order.append(unit_id)  # after `ready`: a unit in `order` is never missed as unfinished

    def finished(self, unit_id: str, summary: dict) -> None:
        self.ready[unit_id] = summary
        if self.eager:
            self.drain()

    def drain(self) -> None:
        """Fold every finished shard whose predecessors are all folded."""
        while self.folded < len(self.order) and self.order[self.folded] in self.ready:
            self._fold(self.ready.pop(self.order[self.folded]))
            self.folded += 1

    def _open(self) -> WorldWriter:
        if self.writer is None:
            self.writer = WorldWriter(self.world_dir, self.settings, self.executor, on_note=self.progress.note)
        return self.writer

    def _fold(self, summary: dict) -> None:
        writer = self._open()
        unit = corpora.unit_from_dict(summary["unit"])
        unit_report = IngestReport.from_dict(summary["report"])
        self.report.absorb(unit_report)
        entry = self.per_input[unit.sha256]
        entry["records_read"] += unit_report.records_read
        entry["failed_records"] += sum(n for reason, n in unit_report.skips.items()
                                       if reason.startswith(FAILURE_REASONS))
        for page, minhash in _shard_pages(self.shard_dir, unit):
            reason = writer.add(page, minhash)
            if reason:
                self.report.skip(reason, page.source)
            else:
                self.report.pages_kept += 1
                entry["pages_kept"] += 1
        for source, target, status, _where in unit_report.redirects:
            writer.add_redirect(source, target, status)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()

    def commit(self, note: dict | None) -> dict:
        """Build the index and commit pages and manifest together (`WorldWriter.commit`)."""
        assert self.folded == len(self.order) and not self.ready, "every planned unit is folded before the commit"
        for entry in self.per_input.values():
            entry["errors"] = [e["error"] for e in self.report.file_errors if e["file"] == entry["name"]]
        return self._open().commit(list(self.per_input.values()), self.report, note)

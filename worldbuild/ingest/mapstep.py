"""The map step: one work unit (a byte range of one archive) → one shard of page records.

Pure apart from the two files it writes, so any executor (a local process pool, a cluster)
can run it; a shard whose summary file exists is finished and never redone.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.recordloader import ArcWarcRecord

from worldbuild import storage
from worldbuild.ingest.extract import warm_up
from worldbuild.ingest.steps import Draft, Redirect, Skip, Step, extra_steps, run_steps
from worldbuild.ingest.warc import ARCHIVE_ERRORS, WorkUnit, describe_error, iter_unit
from worldbuild.ingest.warc_steps import warc_steps
from worldbuild.mirrors import MirrorSettings, signature
from worldbuild.records import PAGE_SCHEMA, IngestReport, IngestSettings, Page

__all__ = ["Redirect", "Skip", "extract_unit", "map_unit", "prepare", "record_to_page", "write_shard"]

SHARD_SCHEMA = PAGE_SCHEMA.append(pa.field("minhash", pa.binary()))  # a page and its mirror signature


def prepare(settings: IngestSettings, mirrors: MirrorSettings) -> None:
    """Load in this process what every unit needs on first use, so that workers forked from it
    start with it instead of each loading it again: the extractor and language model, MinHash's
    permutations, and pandas, which pyarrow imports when it first builds a table from rows
    (about 0.4 s of CPU per worker, measured on one large file with two workers)."""
    warm_up(settings)
    signature("", mirrors)
    pa.Table.from_pylist([], schema=SHARD_SCHEMA)


def unit_steps(settings: IngestSettings) -> list[Step]:
    """The steps every record of a unit goes through: the archive reader's, then the world's own."""
    return warc_steps(settings) + extra_steps(settings.steps)


def record_to_page(record: ArcWarcRecord, source: str, settings: IngestSettings,
                   steps: list[Step] | None = None) -> Page:
    """Turn one record into a page, or raise Skip with the reason."""
    return run_steps(unit_steps(settings) if steps is None else steps, Draft(source=source, record=record))


def extract_unit(unit: WorkUnit, settings: IngestSettings) -> tuple[list[Page], IngestReport]:
    """Every page of one unit, and the report of what was skipped and why. Redirects recorded in
    the unit are in `report.redirects`."""
    pages: list[Page] = []
    report = IngestReport()
    last_offset = None
    steps = unit_steps(settings)
    try:
        for offset, record in iter_unit(unit):
            report.records_read += 1
            last_offset = offset
            source = f"{unit.name}#{offset}"
            try:
                pages.append(record_to_page(record, source, settings, steps))
            except Redirect as redirect:
                report.skip(str(redirect), source)
                report.redirects.append([redirect.source, redirect.target, redirect.status, source])
            except Skip as skip:
                report.skip(str(skip), source)
            except ARCHIVE_ERRORS + (OSError,):
                raise
            except Exception as exc:  # noqa: BLE001 - a record we did not foresee is skipped, not fatal
                report.skip(f"record failed ({type(exc).__name__})", source)
    except ARCHIVE_ERRORS + (OSError,) as exc:
        reason, detail = describe_error(exc, mid_way=report.records_read > 0 or unit.start > 0)
        report.skip(reason, unit.name)
        where = f" after the record at offset {last_offset}" if last_offset is not None else ""
        report.file_error(unit.name, f"{reason}{where}: {detail} (kept the {report.records_read} records before it)")
    report.pages_extracted = len(pages)
    return pages, report


def shard_paths(shard_dir: str, unit: WorkUnit) -> tuple[str, str]:
    base = storage.join(shard_dir, unit.unit_id)
    return base + ".parquet", base + ".json"


def map_unit(unit: WorkUnit, settings: IngestSettings, shard_dir: str,
             mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """Extract one unit into `<shard_dir>/<unit_id>.parquet` (each page with its MinHash
    signature, the costly half of mirror detection) plus its summary `.json` (written last: its
    presence marks the shard finished). `shard_dir` is a folder or an object-store URL. Returns
    the summary."""
    pages, report = extract_unit(unit, settings)
    return write_shard(shard_dir, unit, pages, report, mirrors)


def write_shard(shard_dir: str, unit: WorkUnit, pages: list[Page], report: IngestReport,
                mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """Write a unit's pages, then its summary (whose presence marks the shard finished)."""
    parquet_path, summary_path = shard_paths(shard_dir, unit)
    rows = [{**page.to_dict(), "minhash": signature(page.text, mirrors)} for page in pages]
    table = pa.Table.from_pylist(rows, schema=SHARD_SCHEMA)
    with storage.open_write(parquet_path) as handle:
        pq.write_table(table, handle, compression="zstd")
    summary = {"unit": unit.to_dict(), "pages": len(pages), "report": report.to_dict()}
    with storage.open_write(summary_path) as handle:
        handle.write(json.dumps(summary).encode())
    return summary


def read_shard(shard_dir: str, unit: WorkUnit) -> pa.Table:
    path = shard_paths(shard_dir, unit)[0]
    if not storage.is_url(path):
        return pq.read_table(storage.local(path))
    with storage.open_input(path) as handle:
        return pq.read_table(handle)


def read_summary(shard_dir: str, unit: WorkUnit) -> dict | None:
    """The summary of a finished shard, or None when the unit still has to run."""
    parquet_path, summary_path = shard_paths(shard_dir, unit)
    if not (storage.exists(summary_path) and storage.exists(parquet_path)):
        return None
    return json.loads(storage.read_bytes(summary_path))

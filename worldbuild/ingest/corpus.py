"""Pre-extracted corpora as ingest inputs: JSONL (plain, .gz, .zst), Parquet and a `datasets`
`save_to_disk` folder, read through a field mapping (or a preset for a published shape).

A corpus record becomes the same page record the WARC path produces, minus the HTML step:
the same canonical URLs, content hash, `--min-chars`/`--lang` rules, dedup in the merge,
shards and resume. A record without a URL gets `doc://<corpus>/<id>`. Units are row ranges
(byte ranges at line starts for plain JSONL, row groups for Parquet), so one big file keeps
every worker busy, as a big WARC file does.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass
from typing import Iterator

from worldbuild import storage
from worldbuild.ingest.extract import strip_front_matter
from worldbuild.ingest.language import identify
from worldbuild.ingest.inputs import InputFile, sha256_file, url_matches
from worldbuild.ingest.mapstep import write_shard
from worldbuild.ingest.steps import AllowedLanguages, Draft, MinChars, Skip, Step, extra_steps, run_steps
from worldbuild.ingest.warc import WorkUnit
from worldbuild.mirrors import MirrorSettings
from worldbuild.records import IngestReport, IngestSettings, Page
from worldbuild.urls import BadURL, canonical_url, synthetic_url

JSONL_SUFFIXES = (".jsonl", ".ndjson")
COMPRESSED_JSONL = {".jsonl.gz": "jsonl.gz", ".jsonl.zst": "jsonl.zst", ".ndjson.gz": "jsonl.gz",
                    ".ndjson.zst": "jsonl.zst"}
CORPUS_SUFFIXES = (*JSONL_SUFFIXES, *COMPRESSED_JSONL, ".parquet")
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # what `save_to_disk` writes
FIELDS = ("url", "title", "text", "id", "date", "lang", "contents")

# The published shapes, as {our field: the corpus's column}.
PRESETS: dict[str, dict[str, str]] = {
    "literesearcher": {"url": "url", "title": "title", "text": "doc"},
    "browsecomp-plus": {"id": "docid", "url": "url", "text": "text"},
    "wiki-18": {"id": "id", "contents": "contents"},  # Search-R1: contents = '"Title"\ntext'
    "fineweb": {"id": "id", "url": "url", "text": "text", "date": "date", "lang": "language"},
}
PRESET_ALIASES = {"search-r1": "wiki-18", "bcp": "browsecomp-plus"}
GENERIC = {"id": "id", "url": "url", "title": "title", "text": "text"}
DEFAULT_ROWS_PER_UNIT = 10_000


class CorpusSpecError(ValueError):
    """A field mapping or preset that cannot work; the message says why."""


@dataclass(frozen=True)
class CorpusSpec:
    """How to read corpus records: which column holds each page field, and the corpus name
    synthetic URLs use (default: the preset's name, else each file's stem)."""

    fields: tuple[tuple[str, str], ...] = tuple(GENERIC.items())
    name: str = ""
    rows_per_unit: int = DEFAULT_ROWS_PER_UNIT

    @classmethod
    def build(cls, preset: str | None = None, fields: str | None = None, name: str | None = None,
              rows_per_unit: int = DEFAULT_ROWS_PER_UNIT) -> "CorpusSpec":
        """From `--preset` and/or `--fields url=link,title=title,text=doc` (overrides the preset)."""
        mapping = dict(GENERIC)
        if preset:
            key = PRESET_ALIASES.get(preset.lower(), preset.lower())
            if key not in PRESETS:
                raise CorpusSpecError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
            mapping = dict(PRESETS[key])
            name = name or key
        for item in (fields or "").split(","):
            if not item.strip():
                continue
            ours, _, theirs = item.partition("=")
            ours, theirs = ours.strip(), theirs.strip()
            if ours not in FIELDS or not theirs:
                raise CorpusSpecError(f"bad field mapping {item.strip()!r}: want FIELD=COLUMN with FIELD one of "
                                      f"{', '.join(FIELDS)}")
            mapping[ours] = theirs
        if "text" not in mapping and "contents" not in mapping:
            raise CorpusSpecError("the mapping needs text=COLUMN (or contents=COLUMN for '\"Title\"\\ntext')")
        if rows_per_unit < 1:
            raise CorpusSpecError("rows per unit must be at least 1")
        return cls(tuple(sorted(mapping.items())), name or "", rows_per_unit)

    def mapping(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class CorpusUnit(WorkUnit):
    """Rows of a corpus file: [start, end) are byte offsets at line starts for plain JSONL,
    else row numbers (Parquet: row-group numbers); `first_row` numbers the unit's first record."""

    format: str = "jsonl"
    first_row: int = 0
    fields: tuple[tuple[str, str], ...] = ()
    corpus: str = ""

    @property
    def unit_id(self) -> str:
        key = f"{self.sha256}:{self.format}:{self.start}:{self.end}:{self.fields}:{self.corpus}"
        return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    @classmethod
    def from_dict(cls, data: dict) -> "CorpusUnit":
        data = dict(data)
        data["fields"] = tuple(tuple(pair) for pair in data["fields"])
        return cls(**data)


def unit_from_dict(data: dict) -> WorkUnit:
    """A unit back from its summary: a corpus unit or an archive one."""
    return CorpusUnit.from_dict(data) if "fields" in data else WorkUnit(**data)


# -- which paths are corpora ----------------------------------------------------------------

def corpus_format(path: str) -> str | None:
    """"jsonl", "jsonl.gz", "jsonl.zst", "parquet" or "hf" for a corpus path; None otherwise."""
    lowered = path.lower().rstrip("/")
    for suffix, kind in COMPRESSED_JSONL.items():
        if lowered.endswith(suffix):
            return kind
    if lowered.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lowered.endswith(".parquet"):
        return "parquet"
    if not storage.is_url(path) and os.path.isdir(storage.local(path)) and \
            any(os.path.exists(os.path.join(storage.local(path), m)) for m in HF_MARKERS):
        return "hf"
    return None


def split_paths(paths: list[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(corpus files, everything else for the archive reader, problems). Corpus files are
    named directly, matched by a glob or URL glob, or found in a directory that holds no
    archives (a folder of archives is read as before); a `save_to_disk` folder is one input."""
    corpora: list[str] = []
    rest: list[str] = []
    problems: list[tuple[str, str]] = []
    for pattern in paths:
        if storage.is_url(pattern):
            if corpus_format(pattern) is None:
                rest.append(pattern)
                continue
            corpora.extend(url_matches(pattern, CORPUS_SUFFIXES, problems))
            continue
        local = storage.local(pattern)
        if os.path.isdir(local):
            if corpus_format(local) == "hf":
                corpora.append(os.path.abspath(local))
                continue
            if _holds_archives(local):  # a folder of archives stays one: name its corpus files directly
                rest.append(pattern)
                continue
            found = sorted(os.path.join(root, name) for root, _, names in os.walk(local) for name in names
                           if corpus_format(name))
            folders = sorted({root for root, _, names in os.walk(local) if any(m in names for m in HF_MARKERS)})
            corpora.extend(os.path.abspath(p) for p in folders)
            corpora.extend(os.path.abspath(p) for p in found if not any(p.startswith(f + os.sep) for f in folders))
            if not (found or folders):
                rest.append(pattern)  # the archive reader says the folder holds nothing it reads
        elif os.path.exists(local):
            (corpora if corpus_format(local) else rest).append(os.path.abspath(local) if corpus_format(local)
                                                               else pattern)
        elif glob.has_magic(local) and corpus_format(local):
            found = sorted(p for p in glob.glob(local, recursive=True) if os.path.isfile(p))
            if not found:
                problems.append((pattern, "glob matches no files"))
            corpora.extend(os.path.abspath(p) for p in found)
        else:
            rest.append(pattern)
    return list(dict.fromkeys(corpora)), rest, problems


def _holds_archives(folder: str) -> bool:
    from worldbuild.ingest.inputs import ARCHIVE_SUFFIXES

    return any(name.lower().endswith(ARCHIVE_SUFFIXES) for _, _, names in os.walk(folder) for name in names)


def describe_corpus(path: str) -> InputFile:
    """Size and sha256 of a corpus input (a folder: of its files, in name order)."""
    kind = corpus_format(path)
    if kind != "hf":
        size = storage.size_of(path)
        return InputFile(path=path, size=size, sha256=sha256_file(path), format=f"corpus:{kind}")
    digest = hashlib.sha256()
    size = 0
    for root, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            digest.update(bytes.fromhex(sha256_file(full)))
            size += os.path.getsize(full)
    return InputFile(path=path, size=size, sha256=digest.hexdigest(), format="corpus:hf")


def is_corpus_input(source: InputFile) -> bool:
    return bool(source.format and source.format.startswith("corpus:"))


def corpus_name(source: InputFile, spec: CorpusSpec) -> str:
    if spec.name:
        return spec.name
    stem = source.name
    for suffix in (*COMPRESSED_JSONL, *CORPUS_SUFFIXES):
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return stem


# -- planning units ------------------------------------------------------------------------

def plan_corpus_units(source: InputFile, spec: CorpusSpec) -> Iterator[CorpusUnit]:
    """Cut a corpus input into units of about `spec.rows_per_unit` records. A file that cannot
    be read yields one unit over all of it, and its worker reports why."""
    kind = source.format.split(":", 1)[1]
    base = dict(path=source.path, name=source.name, sha256=source.sha256, format=kind, fields=spec.fields,
                corpus=corpus_name(source, spec))
    ranges: list[tuple[int, int | None, int]] = []
    try:
        if kind == "jsonl":
            ranges = list(_jsonl_ranges(source.path, spec.rows_per_unit))
        elif kind == "parquet":
            ranges = list(_parquet_ranges(source.path, spec.rows_per_unit))
        elif kind == "hf":
            rows = len(_load_hf(source.path))
            ranges = [(start, min(start + spec.rows_per_unit, rows), start)
                      for start in range(0, rows, spec.rows_per_unit)]
        else:  # compressed JSONL cannot seek: units are row ranges, each worker skips to its start
            rows = sum(1 for _ in _compressed_lines(source.path))
            ranges = [(start, min(start + spec.rows_per_unit, rows), start)
                      for start in range(0, rows, spec.rows_per_unit)]
    except Exception:  # noqa: BLE001 - the worker reading it reports the failure once
        ranges = []
    if not ranges:
        ranges = [(0, None, 0)]
    for seq, (start, end, first_row) in enumerate(ranges):
        yield CorpusUnit(seq=seq, start=start, end=end, first_row=first_row, **base)


def _jsonl_ranges(path: str, rows: int) -> Iterator[tuple[int, int | None, int]]:
    """Byte ranges at line starts, `rows` lines each."""
    start, row, count, offset = 0, 0, 0, 0
    with storage.open_input(path) as handle:
        for line in handle:
            if count == rows:
                yield start, offset, row
                start, row, count = offset, row + count, 0
            offset += len(line)
            count += 1
    if count:
        yield start, None, row


def _parquet_file(path: str):
    import pyarrow.parquet as pq

    return pq.ParquetFile(storage.open_input(path) if storage.is_url(path) else storage.local(path))


def _parquet_ranges(path: str, rows: int) -> Iterator[tuple[int, int | None, int]]:
    """Runs of whole row groups holding about `rows` records each."""
    metadata = _parquet_file(path).metadata
    start, first, count, row = 0, 0, 0, 0
    for group in range(metadata.num_row_groups):
        if count >= rows:
            yield start, group, first
            start, first, count = group, row, 0
        size = metadata.row_group(group).num_rows
        count += size
        row += size
    if metadata.num_row_groups:
        yield start, metadata.num_row_groups, first


def _load_hf(path: str):
    import datasets

    loaded = datasets.load_from_disk(path)
    if isinstance(loaded, datasets.DatasetDict):  # every split, in name order
        return datasets.concatenate_datasets([loaded[name] for name in sorted(loaded)])
    return loaded


def _compressed_lines(path: str) -> Iterator[bytes]:
    with storage.open_input(path) as raw:
        if path.lower().endswith(".zst"):
            import zstandard

            stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw), 1 << 20)
        else:
            stream = gzip.GzipFile(fileobj=raw)
        yield from stream


# -- reading one unit ----------------------------------------------------------------------

class BadLine(ValueError):
    """A JSONL line that is not a JSON object."""


def _parse(line: bytes) -> dict:
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise BadLine("malformed JSON line") from exc
    if not isinstance(value, dict):
        raise BadLine("JSON line is not an object")
    return value


def iter_records(unit: CorpusUnit) -> Iterator[tuple[int, dict | BadLine]]:
    """(row number, record or the BadLine it raised) for the unit's records; read errors propagate."""
    row = unit.first_row
    if unit.format == "jsonl":
        with storage.open_input(unit.path) as handle:
            handle.seek(unit.start)
            offset = unit.start
            for line in handle:
                if unit.end is not None and offset >= unit.end:
                    return
                offset += len(line)
                if line.strip():
                    yield row, _safe_parse(line)
                row += 1
    elif unit.format in ("jsonl.gz", "jsonl.zst"):
        for index, line in enumerate(_compressed_lines(unit.path)):
            if index < unit.start:
                continue
            if unit.end is not None and index >= unit.end:
                return
            if line.strip():
                yield index, _safe_parse(line)
    elif unit.format == "parquet":
        parquet = _parquet_file(unit.path)
        groups = list(range(unit.start, unit.end if unit.end is not None else parquet.metadata.num_row_groups))
        for batch in parquet.iter_batches(row_groups=groups, batch_size=4096):
            for record in batch.to_pylist():
                yield row, record
                row += 1
    elif unit.format == "hf":
        dataset = _load_hf(unit.path)
        end = len(dataset) if unit.end is None else unit.end
        for start in range(unit.start, end, 4096):
            for record in dataset.data.slice(start, min(4096, end - start)).to_pylist():
                yield row, record
                row += 1
    else:
        raise ValueError(f"unknown corpus format {unit.format!r}")


def _safe_parse(line: bytes) -> dict | BadLine:
    try:
        return _parse(line)
    except BadLine as exc:
        return exc


def _text_of(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _split_contents(contents: str) -> tuple[str, str]:
    """Search-R1's '"Title"\\ntext' → (title, text)."""
    head, _, body = contents.partition("\n")
    head = head.strip()
    if len(head) >= 2 and head[0] == head[-1] == '"':
        head = head[1:-1]
    return head.strip(), body.strip()


def _front_matter_title(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        for line in text[4:end if end != -1 else 0].splitlines():
            if line.lower().startswith("title:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    return ""


@dataclass(frozen=True)
class CorpusFields:
    """Title, text and language from the unit's field mapping (front matter dropped)."""

    fields: tuple[tuple[str, str], ...]

    def __call__(self, draft: Draft) -> Draft:
        record, mapping = draft.record, dict(self.fields)
        title = _text_of(record.get(mapping["title"])).strip() if "title" in mapping else ""
        if "contents" in mapping:
            if mapping["contents"] not in record:
                raise Skip(f"no {mapping['contents']!r} field")
            title, text = _split_contents(_text_of(record[mapping["contents"]]))
        else:
            if mapping["text"] not in record:
                raise Skip(f"no {mapping['text']!r} field")
            text = _text_of(record[mapping["text"]]).strip()
        if not title:
            title = _front_matter_title(text)
        draft.title, draft.text = title, strip_front_matter(text).strip()
        if not draft.text:
            raise Skip("empty text")
        draft.lang = _text_of(record.get(mapping["lang"])).strip().lower() if "lang" in mapping else ""
        draft.crawl_date = _text_of(record.get(mapping["date"])).strip() if "date" in mapping else ""
        return draft


@dataclass(frozen=True)
class CorpusURL:
    """The record's URL (`doc://<corpus>/<id or row>` without one) and its canonical form;
    the page's source names the record by id, else by row."""

    fields: tuple[tuple[str, str], ...]
    corpus: str
    name: str  # the input's name

    def __call__(self, draft: Draft) -> Draft:
        record, mapping = draft.record, dict(self.fields)
        doc_id = _text_of(record.get(mapping["id"])).strip() if "id" in mapping else ""
        url = _text_of(record.get(mapping["url"])).strip() if "url" in mapping else ""
        if not url:
            url = synthetic_url(self.corpus, doc_id or f"{self.name}:{draft.row}")
        try:
            draft.canonical_url = canonical_url(url)
        except BadURL:
            raise Skip("URL not http(s)") from None
        draft.url, draft.source = url, f"{self.name}#{doc_id or draft.row}"
        return draft


@dataclass(frozen=True)
class CorpusLanguage:
    """The language the corpus gives, else the guess of the world's identifier for records."""

    identifier: str

    def __call__(self, draft: Draft) -> Draft:
        draft.lang = draft.lang or identify(draft.text, self.identifier)
        return draft


def corpus_steps(unit: CorpusUnit, settings: IngestSettings) -> list[Step]:
    """A corpus record → page: the HTML steps of the archive reader are done already; the length
    and language rules and the world's extra steps are the same."""
    return [CorpusFields(unit.fields), MinChars(settings.min_chars), CorpusURL(unit.fields, unit.corpus, unit.name),
            CorpusLanguage(settings.record_language_id), AllowedLanguages(tuple(settings.langs)),
            *extra_steps(settings.steps)]


def record_to_page(record: dict, row: int, unit: CorpusUnit, settings: IngestSettings,
                   steps: list[Step] | None = None) -> Page:
    """One corpus record → a page, or Skip with the reason."""
    steps = corpus_steps(unit, settings) if steps is None else steps
    return run_steps(steps, Draft(source=f"{unit.name}#{row}", record=record, row=row))


def extract_corpus_unit(unit: CorpusUnit, settings: IngestSettings) -> tuple[list[Page], IngestReport]:
    """Every page of one corpus unit, and the report of what was skipped and why."""
    pages: list[Page] = []
    report = IngestReport()
    steps = corpus_steps(unit, settings)
    try:
        for row, record in iter_records(unit):
            report.records_read += 1
            where = f"{unit.name}#{row}"
            if isinstance(record, BadLine):
                report.skip(str(record), where)
                continue
            try:
                pages.append(record_to_page(record, row, unit, settings, steps))
            except Skip as skip:
                report.skip(str(skip), where)
            except Exception as exc:  # noqa: BLE001 - one odd record never stops a run
                report.skip(f"record failed ({type(exc).__name__})", where)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is one line in the report
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        report.skip("unreadable corpus file", unit.name)
        report.file_error(unit.name, f"unreadable corpus file: {type(exc).__name__}: {detail} "
                                     f"(kept the {report.records_read} records before it)")
    report.pages_extracted = len(pages)
    return pages, report


def input_note(source: InputFile, spec: CorpusSpec) -> dict:
    """What the manifest records about a corpus input besides name, size and sha256."""
    return {"format": source.format, "fields": spec.mapping(), "corpus": corpus_name(source, spec)}


def map_corpus_unit(unit: CorpusUnit, settings: IngestSettings, shard_dir: str,
                    mirrors: MirrorSettings = MirrorSettings()) -> dict:
    """The map step for a corpus unit: the same shard and summary files (pages with their mirror
    signatures) as an archive unit."""
    pages, report = extract_corpus_unit(unit, settings)
    return write_shard(shard_dir, unit, pages, report, mirrors)

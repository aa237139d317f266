"""The data contracts: a page record, the settings that decide which pages a world holds, and the
ingest report (what was read, what was kept, and why everything else was skipped) its manifest keeps."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields

import pyarrow as pa

from worldbuild.steprefs import spec_of_name, step_name
from worldbuild.whitespace import squeeze

MANIFEST_FILE = "world.json"  # in every world directory: what it holds and its snapshot id


@dataclass(frozen=True)
class Page:
    """One extracted web page (DESIGN.md §2)."""

    url: str
    canonical_url: str
    title: str
    text: str
    crawl_date: str
    lang: str
    domain: str
    content_hash: str
    source: str
    length: int
    published_date: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


PAGE_COLUMNS = [f.name for f in fields(Page)]
PAGE_SCHEMA = pa.schema(
    [(name, pa.int64() if name == "length" else pa.string()) for name in PAGE_COLUMNS]
)


def content_hash(text: str) -> str:
    """Hash of the text with case and whitespace folded: mirrors of one page collide."""
    normalised = squeeze(text).lower()
    return hashlib.blake2b(normalised.encode("utf-8"), digest_size=16).hexdigest()


# the HTML extractors a world can be built with (worldbuild/ingest/extract.py runs them)
EXTRACTORS = ("trafilatura/markdown", "trafilatura/fast", "resiliparse/text")
DEFAULT_EXTRACTOR = "trafilatura/markdown"
# the language identifiers a world can be built with (worldbuild/ingest/language.py runs them)
LANGUAGE_IDS = ("py3langid", "cld2", "resiliparse")
# CLD2: py3langid's accuracy on real pages at a tenth of its cost (docs/benchmarks.md, "Language identifiers")
DEFAULT_LANGUAGE_ID = "cld2"


@dataclass(frozen=True)
class IngestSettings:
    """What decides the page set; part of the snapshot id, fixed for the life of a world."""

    min_chars: int = 1000
    langs: tuple[str, ...] = ()
    max_bytes: int = 10 * 1024 * 1024
    include_comments: bool = False
    include_tables: bool = True
    extractor: str = DEFAULT_EXTRACTOR
    # "" is a world built before the choice: the extractor's own for HTML pages, py3langid for corpus records
    language_id: str = DEFAULT_LANGUAGE_ID
    batch_size: int = field(default=32, compare=False)  # shard size: shapes work, not content
    index_shard_pages: int = field(default=0, compare=False)  # BM25 in shards of this many pages (0: one piece)
    # extra ingest steps run on every page after the built-in ones: step objects or `module:callable`
    # names (docs/ingest-steps.md); their names join the settings, so worlds built with others differ
    steps: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))  # a list from a library call, hashable

    def content_settings(self) -> dict:
        """The settings that change page content, in a stable order (batch size excluded; the
        language identifier and extra steps only when set, so a world built without them keeps its id)."""
        content = {
            "min_chars": self.min_chars,
            "langs": sorted(self.langs),
            "max_bytes": self.max_bytes,
            "include_comments": self.include_comments,
            "include_tables": self.include_tables,
            "extractor": self.extractor,
        }
        if self.language_id:  # a world built before the choice (recorded without one) keeps its id
            content["language_id"] = self.language_id
        if self.steps:
            content["steps"] = [step_name(step) for step in self.steps]
        return content

    @property
    def page_language_id(self) -> str:
        """The identifier of an HTML page's language: the world's, else (a world built before the
        choice) the extractor's own."""
        return self.language_id or ("resiliparse" if self.extractor.startswith("resiliparse/") else "py3langid")

    @property
    def record_language_id(self) -> str:
        """The identifier of a corpus record's language when the corpus gives none."""
        return self.language_id or "py3langid"

    @classmethod
    def of_world(cls, manifest: dict, **work) -> "IngestSettings":
        """The settings a world was built with (to extend it), plus work-shaping fields."""
        content = dict(manifest["settings"])
        content["langs"] = tuple(content.get("langs") or ())
        content["language_id"] = cls.language_id_of(manifest)
        names = content.pop("steps", [])
        if names and "steps" not in work:  # rebuilt from their names (steps with parameters: pass `steps`)
            content["steps"] = tuple(spec_of_name(name) for name in names)
        shard_pages = manifest.get("index", {}).get("bm25", {}).get("shard_pages", 0)
        return cls(**content, **{"index_shard_pages": shard_pages, **work})

    @staticmethod
    def language_id_of(manifest: dict | None) -> str:
        """The identifier that extends a world when none is asked for: the world's own ("" for one
        built before the choice, so it keeps identifying as it did), the default for a new world."""
        if not manifest:
            return DEFAULT_LANGUAGE_ID
        return manifest["settings"].get("language_id", "")

    def fingerprint(self) -> str:
        blob = json.dumps(self.content_settings(), sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=8).hexdigest()


@dataclass
class IngestReport:
    records_read: int = 0
    pages_extracted: int = 0
    pages_kept: int = 0
    skips: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first place it happened
    file_errors: list[dict] = field(default_factory=list)  # {"file", "error"}
    redirects: list[list] = field(default_factory=list)  # [from, to, status, source] of one map unit

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        self.skips[reason] += count
        self.examples.setdefault(reason, where)

    def file_error(self, name: str, error: str) -> None:
        self.file_errors.append({"file": name, "error": error})

    def absorb(self, other: "IngestReport") -> None:
        self.records_read += other.records_read
        self.pages_extracted += other.pages_extracted
        self.pages_kept += other.pages_kept
        self.skips.update(other.skips)
        for reason, where in other.examples.items():
            self.examples.setdefault(reason, where)
        self.file_errors.extend(other.file_errors)

    def to_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "pages_extracted": self.pages_extracted,
            "pages_kept": self.pages_kept,
            "skips": dict(sorted(self.skips.items(), key=lambda kv: (-kv[1], kv[0]))),
            "examples": dict(sorted(self.examples.items())),
            "file_errors": self.file_errors,
            **({"redirects": self.redirects} if self.redirects else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "IngestReport":
        return cls(
            records_read=data.get("records_read", 0),
            pages_extracted=data.get("pages_extracted", 0),
            pages_kept=data.get("pages_kept", 0),
            skips=Counter(data.get("skips", {})),
            examples=dict(data.get("examples", {})),
            file_errors=list(data.get("file_errors", [])),
            redirects=list(data.get("redirects", [])),
        )

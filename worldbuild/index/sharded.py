"""A BM25 index built in shards and searched as one. Each shard is a bm25s index of about
`shard_pages` pages, built on its own (memory is bounded by one shard, and shards could be
built anywhere). When all exist, each shard's scores are moved from its own statistics to the
world's (page count, document frequencies, average page length), so every shard scores a page
exactly as a one-piece index of the whole world would; every shard answers the query and the
top-k lists are merged by score. One-piece and sharded indexes offer the same
`terms`/`search`/`warmup`."""

from __future__ import annotations

import json
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from worldbuild import storage
from worldbuild.atomic import publish_dir
from worldbuild.executor import Executor, LocalExecutor, usable_cores
from worldbuild.index.bm25 import (DOC_LENGTHS, BM25Index, QueryTerms, WordAnswer, WordMemo, analysis_info,
                                   analyzers_of, build_index, idf, load_vocabulary, query_terms, query_terms_many,
                                   word_weight)

SHARD_PREFIX = "shard-"
_CHUNK = 1 << 24  # score entries rescaled at a time (bounds the temporary arrays to ~1 GB)
_SPILL_ROWS = 10_000  # pages per spill write and read
_SPILL_CHARS = 1 << 28  # text held before every buffer is written out
# peak memory of one shard's build per page (measured: 3.6 GB for 250k pages, 8.2 GB for 500k,
# of ~3 KB of text each)
SHARD_BYTES_PER_PAGE = 17_000
_SCORES = "data.csc.index.npy"  # bm25s's name for the score matrix's values (`BM25.save(data_name=...)`)


def shard_of(doc_id: int, shards: int) -> int:
    """Pages spread over shards by a hash of their id, so every shard is a random sample of the
    world and the shards are of even size."""
    return ((doc_id * 2654435761) & 0xFFFFFFFF) % shards


def build_sharded(docs: Iterable[tuple[int, str, str]], out_dir: str, shard_pages: int, total: int,
                  executor: Executor | None = None, key: str = "",
                  on_note: Callable[[str], None] | None = None) -> dict:
    """ceil(total / shard_pages) shards in `out_dir/shard-NNNN`: one pass over `docs` (doc id, text,
    language) writes each page to its shard's spill file, `executor` builds the shards from them (as many at a
    time as it has workers, each bounded by one shard's memory; on Ray, `out_dir` must be on
    storage every node reads), then every shard is moved to the world's statistics and the whole
    is renamed into place. Every step resumes: rerun with the same `key` (what identifies the
    page set) and finished spills, shards and rescales are kept. `on_note` hears each step."""
    say = on_note or (lambda text: None)
    shards = max(1, math.ceil(total / shard_pages))
    tmp = out_dir + ".tmp"
    plan = {"key": key, "total": total, "shards": shards}
    if _read_json(os.path.join(tmp, "plan.json")) != plan:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        _write_json(os.path.join(tmp, "plan.json"), plan)
    paths = [os.path.join(tmp, f"{SHARD_PREFIX}{number:04d}") for number in range(shards)]
    missing = [number for number, path in enumerate(paths) if not os.path.isdir(path)]
    spills = _spill(docs, os.path.join(tmp, "spill"), shards) if missing else []  # all built: no spill needed
    todo = [(spills[number], paths[number]) for number in missing]
    builders = _within_memory(executor, shard_pages)
    say(f"BM25 in {shards} shards: {shards - len(todo)} already built, {len(todo)} to build, "
        f"{min(builders.workers, max(1, len(todo)))} at a time")
    for done, pages in enumerate(builders.map_unordered(_build_shard, todo), 1):
        say(f"BM25 shard {done}/{len(todo)} built ({pages:,} pages)")
    shutil.rmtree(os.path.join(tmp, "spill"), ignore_errors=True)
    world = WorldStatistics.of(paths)
    for path in paths:
        rescale_to_world(path, world)
    say(f"BM25 shards scored with the world's statistics ({world.pages:,} pages)")
    info = {"documents": world.pages, "shards": shards, "shard_pages": shard_pages, "sharding": "hash of doc id",
            "statistics": "world (page count, document frequencies, average page length)",
            "analysis": analysis_info(a for path in paths for a in analyzers_of(path))}
    _write_json(os.path.join(tmp, "worldbuild.json"), info)
    publish_dir(tmp, out_dir)
    os.remove(os.path.join(out_dir, "plan.json"))
    return info


def _spill(docs: Iterable[tuple[int, str, str]], spill_dir: str, shards: int) -> list[str]:
    """Each page's (doc_id, text, lang) into its shard's Parquet file, in one pass over `docs`
    (kept from an earlier run once complete)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = [os.path.join(spill_dir, f"{SHARD_PREFIX}{number:04d}.parquet") for number in range(shards)]
    done = os.path.join(spill_dir, "complete")
    if os.path.exists(done):
        return paths
    shutil.rmtree(spill_dir, ignore_errors=True)
    os.makedirs(spill_dir)
    schema = pa.schema([("doc_id", pa.int64()), ("text", pa.large_string()), ("lang", pa.string())])
    writers = [pq.ParquetWriter(path, schema, compression="zstd") for path in paths]
    buffers: list[list[tuple[int, str, str]]] = [[] for _ in range(shards)]
    buffered = 0  # characters held in all buffers: bounded whatever the number of shards

    def flush(number: int) -> None:
        ids, texts, langs = zip(*buffers[number])
        writers[number].write_table(pa.table({"doc_id": ids, "text": texts, "lang": langs}, schema=schema))
        buffers[number] = []

    try:
        for doc_id, text, lang in docs:
            number = shard_of(doc_id, shards)
            buffers[number].append((doc_id, text, lang))
            buffered += len(text)
            if len(buffers[number]) >= _SPILL_ROWS:
                buffered -= sum(len(text) for _, text, _ in buffers[number])
                flush(number)
            elif buffered > _SPILL_CHARS:
                for other in range(shards):
                    if buffers[other]:
                        flush(other)
                buffered = 0
        for number in range(shards):
            if buffers[number]:
                flush(number)
    finally:
        for writer in writers:
            writer.close()
    open(done, "w").close()
    return paths


def _within_memory(executor: Executor | None, shard_pages: int) -> Executor:
    """No more shards built at once than memory holds: a local pool is sized to the free memory,
    and Ray tasks reserve one shard's memory each."""
    if executor is None:
        return LocalExecutor(1)
    if hasattr(executor, "with_task_memory"):  # Ray: each task reserves one shard's memory
        return executor.with_task_memory(shard_pages * SHARD_BYTES_PER_PAGE)
    if not isinstance(executor, LocalExecutor):
        return executor
    fits = _available_memory() // max(1, shard_pages * SHARD_BYTES_PER_PAGE)
    return LocalExecutor(max(1, min(executor.workers, fits)))


def _available_memory() -> int:
    import psutil

    return psutil.virtual_memory().available


def _build_shard(job: tuple[str, str]) -> int:
    """One map task: a shard's index from its spill file (which it then deletes)."""
    import pyarrow.parquet as pq

    spill, path = job
    if os.path.isdir(path) and not os.path.exists(spill):  # done by an earlier try of this task
        return int(np.load(os.path.join(path, DOC_LENGTHS), mmap_mode="r").shape[0])

    def pages() -> Iterator[tuple[int, str, str]]:
        for batch in pq.ParquetFile(spill).iter_batches(batch_size=_SPILL_ROWS, columns=["doc_id", "text", "lang"]):
            yield from zip(*(batch.column(i).to_pylist() for i in range(3)))

    documents = build_index(pages(), path)["documents"]
    os.remove(spill)
    return documents


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_json(path: str, value: dict) -> None:
    with storage.open_write(path) as handle:
        handle.write(json.dumps(value).encode())


@dataclass
class WorldStatistics:
    """What BM25 needs to know about the whole world, summed from its shards."""

    pages: int
    tokens: int
    document_frequency: dict[str, int]

    @classmethod
    def of(cls, shard_paths: list[str]) -> "WorldStatistics":
        pages, tokens, frequency = 0, 0, {}
        for path in shard_paths:
            lengths = np.load(os.path.join(path, DOC_LENGTHS))
            pages, tokens = pages + len(lengths), tokens + int(lengths.sum(dtype=np.int64))
            if not len(lengths):
                continue
            indptr = np.load(os.path.join(path, "indptr.csc.index.npy"), mmap_mode="r")
            counts = np.diff(indptr)
            for term, token_id in load_vocabulary(path).items():
                if token_id < len(counts) and counts[token_id]:
                    frequency[term] = frequency.get(term, 0) + int(counts[token_id])
        return cls(pages, tokens, frequency)

    @property
    def average_length(self) -> float:
        return self.tokens / max(1, self.pages)


def rescale_to_world(path: str, world: WorldStatistics) -> None:
    """Rewrite a shard's scores as the world's BM25 would give them. A bm25s score is
    idf(t) * tf / (tf + k1 * (1 - b + b * len / avg_len)); with the shard's own idf, page lengths
    and average, each stored score gives back the term frequency (exact for counts up to a few
    thousand; beyond, float32 rounding moves the score by ~1e-5), which is then scored again with
    the world's idf and average page length.

    Safe to interrupt: the new scores are written beside the old (`world-scores.npy`), a marker
    says they are complete, and only then do they replace the old; a rerun finishes the step it
    was in and never rescales twice."""
    if not len(np.load(os.path.join(path, DOC_LENGTHS), mmap_mode="r")):
        return  # an empty shard has no scores
    scores, marker = os.path.join(path, _SCORES), os.path.join(path, "rescaled")
    rescaled = os.path.join(path, "world-scores.npy")
    if not os.path.exists(marker):
        if not os.path.exists(rescaled):
            _save_atomic(rescaled, _world_scores(path, world))
        open(marker, "w").close()
    if os.path.exists(rescaled):
        os.replace(rescaled, scores)


def _world_scores(path: str, world: WorldStatistics) -> np.ndarray:
    import bm25s

    lengths = np.load(os.path.join(path, DOC_LENGTHS)).astype(np.float64)
    retriever = bm25s.BM25.load(path, mmap=True, show_progress=False, verbosity=0)
    k1, b = retriever.k1, retriever.b
    data = np.array(retriever.scores["data"])
    indices, indptr = retriever.scores["indices"], np.asarray(retriever.scores["indptr"])
    local_df = np.diff(indptr).astype(np.float64)
    world_df = local_df.copy()
    for term, token_id in load_vocabulary(path).items():
        if token_id < len(world_df):
            world_df[token_id] = world.document_frequency.get(term, local_df[token_id])
    local_idf, world_idf = idf(local_df, len(lengths)), idf(world_df, world.pages)
    local_norm = k1 * (1 - b + b * lengths / lengths.mean())
    world_norm = k1 * (1 - b + b * lengths / world.average_length)
    for start in range(0, len(data), _CHUNK):
        stop = min(start + _CHUNK, len(data))
        column = np.searchsorted(indptr, np.arange(start, stop), side="right") - 1
        doc = np.asarray(indices[start:stop])
        part = data[start:stop] / local_idf[column]  # tf / (tf + local_norm)
        tf = np.rint(part * local_norm[doc] / (1 - part))
        data[start:stop] = world_idf[column] * tf / (tf + world_norm[doc])
    return data


def _save_atomic(path: str, array: np.ndarray) -> None:
    with storage.open_write(path) as handle:
        np.save(handle, array)


def is_sharded(path: str) -> bool:
    return os.path.isdir(os.path.join(path, f"{SHARD_PREFIX}0000"))


class ShardedBM25Index:
    def __init__(self, path: str, backend: str = "numpy", threads: int | None = None):
        names = sorted(n for n in os.listdir(path) if n.startswith(SHARD_PREFIX))
        self.path = path
        # every shard analyses a query as the whole world's pages were (a shard may lack a language);
        # the shards already search in parallel: each answers its batch in one thread
        self.analyzers = analyzers_of(path)
        self.shards = [BM25Index(os.path.join(path, name), backend=backend, analyzers=self.analyzers, batch_threads=1)
                       for name in names]
        self.size = sum(shard.size for shard in self.shards)
        self.pool = ThreadPoolExecutor(threads or min(len(self.shards), usable_cores()) or 1)
        self._words = WordMemo(self._weigh)

    def terms(self, query: str) -> QueryTerms:
        """The query's groups as every shard sees them; weights are idf over the whole world
        (for snippets); token ids are each shard's own, looked up in `search`."""
        return query_terms(query, self.analyzers, self._words)

    def terms_many(self, queries: list[str]) -> list[QueryTerms]:
        return query_terms_many(queries, self.analyzers, self._words)

    def _weigh(self, variants: tuple[str, ...]) -> WordAnswer:
        return (*word_weight(variants, self._frequency, self.size), ())

    def _frequency(self, term: str) -> int:
        return sum(shard.document_frequency(term) for shard in self.shards)

    @staticmethod
    def _for_shard(shard: BM25Index, terms: QueryTerms) -> QueryTerms:
        """The query in one shard's vocabulary, scaled by the world's statistics."""
        return QueryTerms(token_ids=shard.token_ids(terms.terms), groups=[], weights=[], scale=terms.scale)

    def _shard_search(self, shard: BM25Index, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        return shard.search(self._for_shard(shard, terms), k)

    def search(self, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        """Top-k over all shards: each answers its own top-k in parallel, merged by score (ties
        by doc id, so the order is deterministic)."""
        if k <= 0 or not terms.groups:
            return []
        lists = self.pool.map(lambda shard: self._shard_search(shard, terms, k), self.shards)
        merged = [hit for hits in lists for hit in hits]
        return sorted(merged, key=lambda hit: (-hit[1], hit[0]))[:k]

    def search_among(self, terms: QueryTerms, k: int, doc_ids, inside: bool = True) -> list[tuple[int, float]]:
        """`BM25Index.search_among` over all shards, merged as `search` merges."""
        if k <= 0 or not terms.groups:
            return []
        lists = self.pool.map(lambda shard: shard.search_among(self._for_shard(shard, terms), k, doc_ids, inside),
                              self.shards)
        return sorted((hit for hits in lists for hit in hits), key=lambda hit: (-hit[1], hit[0]))[:k]

    def search_many(self, batch: list[QueryTerms], k: int) -> list[list[tuple[int, float]]]:
        """`search` for many queries: each shard answers the whole batch in one call."""
        if k <= 0:
            return [[] for _ in batch]

        def shard_batch(shard: BM25Index) -> list[list[tuple[int, float]]]:
            return shard.search_many([self._for_shard(shard, terms) for terms in batch], k)

        per_shard = list(self.pool.map(shard_batch, self.shards))
        return [sorted((hit for hits in lists for hit in hits), key=lambda hit: (-hit[1], hit[0]))[:k]
                for lists in zip(*per_shard)]

    def warmup(self) -> None:
        for shard in self.shards:
            shard.warmup()

    def close(self) -> None:
        self.pool.shutdown(wait=False)


def open_bm25(path: str, backend: str = "numpy"):
    return ShardedBM25Index(path, backend) if is_sharded(path) else BM25Index(path, backend)

"""A BM25 index built in shards and searched as one. Each shard is a bm25s index of about
`shard_pages` pages, built one after another, so memory is bounded by one shard. Shards score
with the world's idf (one extra pass at build time), every shard answers the query, and the
top-k lists are merged by score: the ranking equals the one-piece index's up to the average
page length each shard uses. One-piece and sharded indexes offer the same
`terms`/`search`/`warmup`."""

from __future__ import annotations

import json
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from worldbuild.index.bm25 import BM25Index, QueryTerms, build_index, document_frequencies, idf

SHARD_PREFIX = "shard-"


def shard_of(doc_id: int, shards: int) -> int:
    """Pages spread over shards by a hash of their id, so every shard is a random sample of the
    world and its term statistics stay close to the whole's."""
    return ((doc_id * 2654435761) & 0xFFFFFFFF) % shards


def build_sharded(docs: Callable[[], Iterable[tuple[int, str]]], out_dir: str, shard_pages: int, total: int) -> dict:
    """ceil(total / shard_pages) shards in `out_dir/shard-NNNN`, built one at a time (one pass
    over `docs()` each, so memory is bounded by one shard), renamed into place when all exist."""
    shards = max(1, math.ceil(total / shard_pages))
    world_df = document_frequencies(docs())  # one pass: the world's statistics every shard scores with
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    documents = 0
    for number in range(shards):
        mine = ((doc_id, text) for doc_id, text in docs() if shard_of(doc_id, shards) == number)
        built = build_index(mine, os.path.join(tmp, f"{SHARD_PREFIX}{number:04d}"), world_df)
        documents += built["documents"]
    info = {"documents": documents, "shards": shards, "shard_pages": shard_pages, "sharding": "hash of doc id",
            "statistics": "world idf (shards' scores are merged as one index's)",
            "tokenizer": built["tokenizer"]}
    with open(os.path.join(tmp, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return info


def is_sharded(path: str) -> bool:
    return os.path.isdir(os.path.join(path, f"{SHARD_PREFIX}0000"))


class ShardedBM25Index:
    def __init__(self, path: str, backend: str = "numpy", threads: int | None = None):
        names = sorted(n for n in os.listdir(path) if n.startswith(SHARD_PREFIX))
        self.path = path
        self.shards = [BM25Index(os.path.join(path, name), backend=backend) for name in names]
        self.size = sum(shard.size for shard in self.shards)
        self.pool = ThreadPoolExecutor(threads or min(len(self.shards), os.cpu_count() or 1) or 1)

    def terms(self, query: str) -> QueryTerms:
        """Words and stems as every shard sees them; weights are idf over the whole world
        (for snippets); token ids are each shard's own, looked up in `search`."""
        first = self.shards[0].terms(query)
        weights = []
        for stem in first.stems:
            df = 0
            for shard in self.shards:
                token_id = shard._vocab.get(stem)
                if token_id is not None:
                    df += int(shard._indptr[token_id + 1] - shard._indptr[token_id])
            weights.append(float(idf(df, self.size)) if df else 0.0)
        return QueryTerms(token_ids=[], words=first.words, stems=first.stems, weights=weights)

    def _shard_search(self, shard: BM25Index, stems: list[str], k: int) -> list[tuple[int, float]]:
        token_ids = [shard._vocab[s] for s in stems if s in shard._vocab]
        return shard.search(QueryTerms(token_ids=token_ids, words=[], stems=[], weights=[]), k)

    def search(self, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        """Top-k over all shards: each answers its own top-k in parallel, merged by score (ties
        by doc id, so the order is deterministic)."""
        if k <= 0 or not terms.stems:
            return []
        lists = self.pool.map(lambda shard: self._shard_search(shard, terms.stems, k), self.shards)
        merged = [hit for hits in lists for hit in hits]
        return sorted(merged, key=lambda hit: (-hit[1], hit[0]))[:k]

    def warmup(self) -> None:
        for shard in self.shards:
            shard.warmup()

    def close(self) -> None:
        self.pool.shutdown(wait=False)


def open_bm25(path: str, backend: str = "numpy"):
    return ShardedBM25Index(path, backend) if is_sharded(path) else BM25Index(path, backend)

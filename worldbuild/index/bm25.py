"""The BM25 index over title + text, built with bm25s and loaded memory-mapped.

Index position i holds the page with doc id `doc_ids[i]`. The tokenizer's vocabulary is
saved beside the index so that queries are tokenized exactly as the pages were.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

import numpy as np

TOKENIZER = {"lower": True, "stopwords": "en", "stemmer": "english"}
_WORD = re.compile(r"(?u)\b\w\w+\b")
DOC_LENGTHS = "doc_lengths.npy"
BATCH_SPLIT = 256  # a batch of this many queries or more is split over the cores


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(TOKENIZER["stemmer"])


def _tokenizer():
    import bm25s.tokenization

    return bm25s.tokenization.Tokenizer(
        lower=TOKENIZER["lower"], stopwords=TOKENIZER["stopwords"], stemmer=_stemmer()
    )


def idf(df, n):
    """bm25s's default (Lucene) idf, here to rescale and to weigh snippet terms."""
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


def build_index(docs: Iterable[tuple[int, str]], out_dir: str) -> dict:
    """Tokenize `(doc_id, text)` pairs in a stream and save a bm25s index into `out_dir`
    (written to a temporary folder, then renamed: a half-built index never has the name).
    Page lengths in tokens are saved beside it (`doc_lengths.npy`): with them a shard's scores
    can later be moved to a whole world's statistics (`worldbuild.index.sharded`)."""
    import bm25s
    from bm25s.tokenization import Tokenized

    tokenizer = _tokenizer()
    doc_ids: list[int] = []

    def texts():
        for doc_id, text in docs:
            doc_ids.append(doc_id)
            yield text

    token_ids = [np.asarray(ids, dtype=np.int32) for ids in tokenizer.streaming_tokenize(texts())]
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if token_ids:
        retriever = bm25s.BM25()
        retriever.index(Tokenized(ids=token_ids, vocab=tokenizer.get_vocab_dict()), show_progress=False)
        retriever.save(tmp, show_progress=False)
        tokenizer.save_vocab(tmp)
    np.save(os.path.join(tmp, "doc_ids.npy"), np.asarray(doc_ids, dtype=np.int64))
    np.save(os.path.join(tmp, DOC_LENGTHS), np.asarray([len(ids) for ids in token_ids], dtype=np.int32))
    info = {"documents": len(doc_ids), "vocabulary": len(tokenizer.get_vocab_dict()), "tokenizer": TOKENIZER}
    with open(os.path.join(tmp, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return info


@dataclass(frozen=True)
class QueryTerms:
    """A query as the index sees it (token ids) and as text matching sees it (words, stems)."""

    token_ids: list[int]
    words: list[str]
    stems: list[str]
    weights: list[float]  # idf of each word's stem, for snippet scoring


class BM25Index:
    """Search one saved index. `backend="numba"` answers ~100x faster once compiled
    (seconds, once per process: call `warmup()` at start); "numpy" needs no compile."""

    def __init__(self, path: str, backend: str = "numpy", batch_threads: int | None = None):
        import bm25s

        self.path = path
        self.batch_threads = batch_threads or os.cpu_count() or 1
        self._pool = None
        self.doc_ids = np.load(os.path.join(path, "doc_ids.npy"), mmap_mode="r")
        self.size = len(self.doc_ids)
        self.tokenizer = _tokenizer()
        self.stemmer = _stemmer()
        self.retriever = None
        if self.size:
            self.retriever = bm25s.BM25.load(path, mmap=True, override_params={"backend": backend},
                                             show_progress=False, verbosity=0)
            self.tokenizer.load_vocab(path)
            self._indptr = self.retriever.scores["indptr"]
        self._vocab = self.tokenizer.get_vocab_dict() if self.size else {}

    def _idf(self, token_id: int) -> float:
        return float(idf(int(self._indptr[token_id + 1] - self._indptr[token_id]), self.size))

    def terms(self, query: str) -> QueryTerms:
        stopwords = set(self.tokenizer.stopwords or ())
        words, stems, weights, token_ids = [], [], [], []
        for word in dict.fromkeys(w.lower() for w in _WORD.findall(query)):
            if word in stopwords:
                continue
            stem = self.stemmer.stemWord(word)
            token_id = self._vocab.get(stem)
            words.append(word)
            stems.append(stem)
            weights.append(self._idf(token_id) if token_id is not None else 0.0)
            if token_id is not None:
                token_ids.append(token_id)
        return QueryTerms(token_ids=token_ids, words=words, stems=stems, weights=weights)

    def search(self, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        """Top-k (doc_id, score) with a positive score."""
        if not terms.token_ids or self.retriever is None or k <= 0:
            return []
        positions, scores = self.retriever.retrieve(
            [terms.token_ids], k=min(k, self.size), show_progress=False, n_threads=1
        )
        return [(int(self.doc_ids[p]), float(s)) for p, s in zip(positions[0], scores[0]) if s > 0]

    def search_many(self, batch: list[QueryTerms], k: int) -> list[list[tuple[int, float]]]:
        """`search` for many queries in one bm25s call (one pass in compiled code, not one
        Python round trip per query); a query with no indexed term gets []."""
        found: list[list[tuple[int, float]]] = [[] for _ in batch]
        todo = [i for i, terms in enumerate(batch) if terms.token_ids]
        if not todo or self.retriever is None or k <= 0:
            return found
        chunks = [todo[start::self.batch_threads] for start in range(self.batch_threads)]
        if len(todo) < BATCH_SPLIT or self.batch_threads == 1:
            chunks = [todo]
        elif self._pool is None:
            self._pool = ThreadPoolExecutor(self.batch_threads, thread_name_prefix="bm25-batch")
        # bm25s's serial kernel releases the GIL (numba nogil): chunks in threads use every core
        answers = (self._pool.map if len(chunks) > 1 else map)(lambda chunk: self._retrieve(batch, chunk, k), chunks)
        for chunk, lists in zip(chunks, answers):
            for i, hits in zip(chunk, lists):
                found[i] = hits
        return found

    def _retrieve(self, batch: list[QueryTerms], chunk: list[int], k: int) -> list[list[tuple[int, float]]]:
        positions, scores = self.retriever.retrieve(
            [batch[i].token_ids for i in chunk], k=min(k, self.size), show_progress=False, n_threads=1
        )
        doc_ids = np.asarray(self.doc_ids)[positions].tolist()
        return [[(d, s) for d, s in zip(ids, row) if s > 0] for ids, row in zip(doc_ids, scores.tolist())]

    def warmup(self) -> None:
        """Compile the numba kernels now rather than on the first user query."""
        if self.retriever is not None:
            self.retriever.retrieve([[1]], k=1, show_progress=False, n_threads=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

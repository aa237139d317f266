"""The BM25 index over title + text, built with bm25s and loaded memory-mapped.

Index position i holds the page with doc id `doc_ids[i]`. Each page is analysed by its
language (`worldbuild.index.analysis`); the vocabulary (term -> score column) and the set of
analysers used are saved beside the index, so that a query is analysed as every page was.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Iterator

import numpy as np

from worldbuild.atomic import publish_dir
from worldbuild.executor import Executor, usable_cores
from worldbuild.index.analysis import (ANALYSIS_VERSION, QueryGroup, analyse_queries, analyse_query, analyzer_name,
                                      index_term_counts, quick_keys)

DOC_LENGTHS = "doc_lengths.npy"
VOCABULARY = "vocab.index.json"  # bm25s's own name for the term -> column map
INFO = "worldbuild.json"
EMPTY = ""  # the term of a page without any (bm25s needs one per page), column 0
LEGACY_ANALYZERS = ["english"]  # indexes built before analysis by language stemmed all as English
BATCH_SPLIT = 256  # a batch of this many queries or more is split over the cores
WORD_MEMO_LIMIT = 200_000  # query words whose weights a searcher remembers (then forgotten all at once)

POSTINGS_PER_LOOKUP = 8  # postings read through in the time one page is looked up in one (`topk.LOOKUP_COST`)


def idf(df, n):
    """bm25s's default (Lucene) idf, here to rescale and to weigh snippet terms."""
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


ANALYSE_PAGES = 64  # pages one analysis task takes (about half a second of work)
ANALYSE_WINDOW = 16  # analysis tasks out at once per worker


def _analyse(chunk: tuple[int, list[tuple[int, str, str]]], vocabulary: dict[str, int] | None = None
             ) -> tuple[int, "AnalysedPages"]:
    """The chunk's pages analysed, their terms numbered in `vocabulary` (in this process: the
    world's), or else within the chunk (on a worker)."""
    number, docs = chunk
    terms: dict[str, int] = {} if vocabulary is None else vocabulary  # term -> id, in the order terms first occur
    pages = []
    for doc_id, text, lang in docs:
        analyzer = analyzer_name(lang)
        counts = index_term_counts(text, analyzer)
        local = np.fromiter((terms.setdefault(term, len(terms)) for term in counts), np.int32, len(counts))
        pages.append((doc_id, analyzer, local, np.fromiter(counts.values(), np.int32, len(counts))))
    return number, AnalysedPages(list(terms) if vocabulary is None else None, pages)


@dataclass
class AnalysedPages:
    """Some pages' term counts: per page (doc_id, analyzer, term ids in the page's order, counts).
    From a worker the ids are the group's own, `terms` naming them in the order they first occur:
    the builder looks up only each group's distinct terms in the world's vocabulary, not every
    page's (about half as many on real pages), and pages cross as arrays, not dicts. Analysed in
    the builder's process, the ids are the vocabulary's already and `terms` is None."""

    terms: list[str] | None
    pages: list[tuple[int, str, np.ndarray, np.ndarray]]


def analysed(docs: Iterable[tuple[int, str, str]], executor: Executor | None = None,
             vocabulary: dict[str, int] | None = None) -> Iterator[AnalysedPages]:
    """The pages of `docs` analysed, in groups of ANALYSE_PAGES, in the order of `docs`; terms
    analysed in this process are numbered in `vocabulary` (if given) as they come. With an
    executor of two or more workers the analysis (most of an index build) runs on them, one group a
    task, through one pool for the whole build: each worker analyses a word once for all its
    tasks (a pool per wave of pages started cold each time: 1.7x the time). About ANALYSE_WINDOW
    tasks per worker are out at once, so memory holds a bounded number of texts however large the
    world; `docs` is read in the caller's thread (a page store's connection belongs to it)."""
    pages = iter(docs)
    workers = executor.workers if executor is not None else 1
    numbered = enumerate(iter(lambda: list(itertools.islice(pages, ANALYSE_PAGES)), []))
    first = list(itertools.islice(numbered, 2))
    if workers < 2 or len(first) < 2:  # one task's worth: no pool is worth starting
        for chunk in itertools.chain(first, numbered):
            yield _analyse(chunk, vocabulary)[1]
        return
    done: dict[int, AnalysedPages] = {}
    following = 0
    for number, out in executor.map_unordered(_analyse, itertools.chain(first, numbered),
                                              window=workers * ANALYSE_WINDOW):
        done[number] = out
        while following in done:  # in the order of `docs`
            yield done.pop(following)
            following += 1


def build_index(docs: Iterable[tuple[int, str, str]], out_dir: str, executor: Executor | None = None) -> dict:
    """Analyse `(doc_id, text, lang)` triples in a stream (on the executor's workers, if given)
    and save a bm25s index into `out_dir` (written to a temporary folder, then renamed: a
    half-built index never has the name). The index is the same however it was analysed. Page
    lengths in terms are saved beside it (`doc_lengths.npy`): with them a shard's scores can later
    be moved to a whole world's statistics (`worldbuild.index.sharded`)."""
    import bm25s
    from bm25s.tokenization import Tokenized

    vocabulary: dict[str, int] = {EMPTY: 0}  # ids in the order terms first occur in the pages
    analyzers: set[str] = set()
    doc_ids: list[int] = []
    token_ids: list[np.ndarray] = []
    for group in analysed(docs, executor, vocabulary):
        ids = None if group.terms is None else np.fromiter(
            (vocabulary.setdefault(term, len(vocabulary)) for term in group.terms), np.int32, len(group.terms))
        for doc_id, analyzer, local, counts in group.pages:
            analyzers.add(analyzer)
            doc_ids.append(doc_id)
            # a page's terms as a bag: bm25s counts them, so their order within the page does not matter
            token_ids.append(np.repeat(local if ids is None else ids[local], counts) if len(local)
                             else np.zeros(1, np.int32))
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if token_ids:
        retriever = bm25s.BM25()
        retriever.index(Tokenized(ids=token_ids, vocab=vocabulary), show_progress=False, create_empty_token=False)
        retriever.save(tmp, show_progress=False)
    np.save(os.path.join(tmp, "doc_ids.npy"), np.asarray(doc_ids, dtype=np.int64))
    np.save(os.path.join(tmp, DOC_LENGTHS), np.asarray([len(ids) for ids in token_ids], dtype=np.int32))
    info = {"documents": len(doc_ids), "vocabulary": len(vocabulary) if token_ids else 0,
            "analysis": analysis_info(analyzers)}
    with open(os.path.join(tmp, INFO), "w") as handle:
        json.dump(info, handle)
    publish_dir(tmp, out_dir)
    return info


def analysis_info(analyzers: Iterable[str]) -> dict:
    return {"version": ANALYSIS_VERSION, "analyzers": sorted(set(analyzers)),
            "by": "page language: CJK character bigrams, Snowball stemmer and stopwords per language"}


def analyzers_of(path: str) -> list[str]:
    """The analysers an index (or a sharded index's root) was built with."""
    try:
        with open(os.path.join(path, INFO)) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return LEGACY_ANALYZERS
    return info.get("analysis", {}).get("analyzers", LEGACY_ANALYZERS)


def load_vocabulary(path: str) -> dict[str, int]:
    """Term -> token id (a score matrix column) of one saved index."""
    try:
        with open(os.path.join(path, VOCABULARY)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


@dataclass(frozen=True)
class QueryTerms:
    """A query as the index sees it (token ids of every variant) and as text matching sees it
    (one group of variant terms per query word, weighted by idf for snippets)."""

    token_ids: list[int]
    groups: list[QueryGroup]
    weights: list[float]  # per group: the idf of the word (all its variants' pages), 0 if none
    scale: dict[str, float] = field(default_factory=dict)  # variant -> factor from its idf to its word's

    @property
    def terms(self) -> list[str]:
        return list(dict.fromkeys(term for group in self.groups for term in group.variants))

    @cached_property
    def group_of(self) -> dict[str, list[int]]:
        """Index term -> the groups it stands for (text matching asks this for every hit)."""
        found: dict[str, list[int]] = {}
        for number, group in enumerate(self.groups):
            for term in group.variants:
                found.setdefault(term, []).append(number)
        return found

    @cached_property
    def wanted(self) -> frozenset[str]:
        return frozenset(self.group_of)

    @cached_property
    def group_keys(self) -> list[tuple[str, ...] | None]:
        """Per group, the stable word starts snippets look for (`analysis.quick_keys`)."""
        return [quick_keys(group.variants) for group in self.groups]


def group_weights(groups: list[QueryGroup], frequency, pages: int) -> tuple[list[float], dict[str, float]]:
    """Each word's idf counts the pages holding any of its variants, and every variant is scored
    with it: the word weighs the same whichever language's analysis a page matched it by (a rare
    variant, such as an English word quoted on a German page, would otherwise outweigh the
    word's own stem on the pages of its language). `frequency(term)` is a term's page count."""
    weights, scale = [], {}
    for group in groups:
        counts = {term: frequency(term) for term in group.variants}
        found = {term: df for term, df in counts.items() if df}
        if not found:
            weights.append(0.0)
            continue
        word = float(idf(min(pages, sum(found.values())), pages))
        weights.append(word)
        if len(found) > 1:
            for term, df in found.items():
                scale[term] = min(scale.get(term, np.inf), word / float(idf(df, pages)))
    return weights, scale


WordAnswer = tuple[float, tuple[tuple[str, float], ...], tuple[int, ...]]  # weight, factors, token ids


class WordMemo:
    """A searcher's memo of query words: per word (its variants), what `weigh(variants)` gives
    (its weight, its variants' factors, its token ids), computed once per searcher, since every
    query would otherwise read the same document frequencies again; forgotten all at once past
    WORD_MEMO_LIMIT words."""

    def __init__(self, weigh: Callable[[tuple[str, ...]], WordAnswer]):
        self.weigh = weigh
        self.known: dict[tuple[str, ...], WordAnswer] = {}

    def __call__(self, variants: tuple[str, ...]) -> WordAnswer:
        found = self.known.get(variants)
        if found is None:
            if len(self.known) > WORD_MEMO_LIMIT:
                self.known.clear()
            found = self.known[variants] = self.weigh(variants)
        return found


def word_weight(variants: tuple[str, ...], frequency, pages: int) -> tuple[float, tuple[tuple[str, float], ...]]:
    """`group_weights` of one query word: its weight and its variants' factors."""
    (weight,), scale = group_weights([QueryGroup("", variants)], frequency, pages)
    return weight, tuple(scale.items())


def query_terms(query: str, analyzers: list[str], word: WordMemo) -> QueryTerms:
    """The query's `QueryTerms`, each word's part from `word`: the same as `group_weights` over
    all its groups and the token ids of all their variants, in order."""
    return _query_terms(analyse_query(query, analyzers), word)


def query_terms_many(queries: list[str], analyzers: list[str], word: WordMemo) -> list[QueryTerms]:
    """`query_terms` of each query, their new words analysed together (`analyse_queries`)."""
    return [_query_terms(groups, word) for groups in analyse_queries(queries, analyzers)]


def _query_terms(groups: list[QueryGroup], word: WordMemo) -> QueryTerms:
    weights: list[float] = []
    scale: dict[str, float] = {}
    token_ids: dict[int, None] = {}
    for group in groups:
        weight, factors, ids = word(group.variants)
        weights.append(weight)
        for term, factor in factors:
            scale[term] = min(scale.get(term, np.inf), factor)
        token_ids.update(dict.fromkeys(ids))
    return QueryTerms(token_ids=list(token_ids), groups=groups, weights=weights, scale=scale)


class BM25Index:
    """Search one saved index. `backend="numba"` answers ~100x faster (`topk.weighted_top_k`,
    compiled once per machine; call `warmup()` at start to load it); "numpy" needs no compile."""

    def __init__(self, path: str, backend: str = "numpy", analyzers: list[str] | None = None,
                 batch_threads: int | None = None):
        import bm25s

        self.path = path
        self.batch_threads = batch_threads or usable_cores()
        self._pool = None
        self.doc_ids = np.load(os.path.join(path, "doc_ids.npy"), mmap_mode="r")
        self.size = len(self.doc_ids)
        self.analyzers = analyzers or analyzers_of(path)
        self.retriever = None
        self.compiled = backend == "numba"
        self._vocab: dict[str, int] = {}
        self._words = WordMemo(self._weigh)
        if self.size:
            # bm25s holds the score matrix; the compiled path scores it with our own kernel
            self.retriever = bm25s.BM25.load(path, mmap=True, override_params={"backend": "numpy"},
                                             show_progress=False, verbosity=0)
            self._indptr = np.asarray(self.retriever.scores["indptr"])  # (a view: memmap indexing is slow)
            self._workspaces = threading.local()  # one per searching thread (`topk.workspace`)
            self._vocab = self.retriever.vocab_dict
            self._upper = np.full(len(self._indptr) - 1, -1, dtype=np.float32)  # per term, filled on use

    def document_frequency(self, term: str) -> int:
        token_id = self._vocab.get(term)
        return 0 if token_id is None else int(self._indptr[token_id + 1] - self._indptr[token_id])

    def terms(self, query: str) -> QueryTerms:
        return query_terms(query, self.analyzers, self._words)

    def terms_many(self, queries: list[str]) -> list[QueryTerms]:
        return query_terms_many(queries, self.analyzers, self._words)

    def _weigh(self, variants: tuple[str, ...]) -> WordAnswer:
        return (*word_weight(variants, self.document_frequency, self.size), tuple(self.token_ids(variants)))

    def search(self, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        """Top-k (doc_id, score) with a positive score."""
        if not terms.token_ids or self.retriever is None or k <= 0:
            return []
        k = min(k, self.size)
        if self.compiled:
            return self._weighted(batch=[terms], chunk=[0], k=k)[0]
        if terms.scale:
            return self._scaled_search(terms, k)
        positions, scores = self.retriever.retrieve([terms.token_ids], k=k, show_progress=False, n_threads=1)
        return [(int(self.doc_ids[p]), float(s)) for p, s in zip(positions[0], scores[0]) if s > 0]

    def search_among(self, terms: QueryTerms, k: int, doc_ids: np.ndarray, inside: bool = True) -> list[tuple[int, float]]:
        """`search` among the pages `doc_ids` (sorted; `inside=False`: among all the others), for a
        `site:` query: only those pages are scored, so it costs their share of the query's postings,
        not a pass over the world, and the k best of them come back however far down the whole ranking
        they stand. Sums are float64, ordered by their float32 value and then by position, as the
        compiled kernel orders them."""
        if not terms.token_ids or self.retriever is None or k <= 0:
            return []
        positions = self._positions(doc_ids, inside)
        if not len(positions):
            return []
        factor = self._factors(terms)
        data, indices = self.retriever.scores["data"], self.retriever.scores["indices"]
        sums = np.zeros(len(positions), dtype=np.float64)
        for token_id in terms.token_ids:
            start, stop = int(self._indptr[token_id]), int(self._indptr[token_id + 1])
            weight = np.float64(np.float32(factor.get(token_id, 1.0)))  # (as the kernel takes it)
            if len(positions) * POSTINGS_PER_LOOKUP < stop - start:  # few pages: each looked up in the (sorted) posting
                posting = indices[start:stop]
                at = np.minimum(np.searchsorted(posting, positions), stop - start - 1)
                held = np.asarray(posting[at]) == positions
                sums[held] += np.asarray(data[start:stop][at[held]]).astype(np.float64) * weight
            else:  # the posting read through, each of its pages looked for among them
                posting = np.asarray(indices[start:stop])
                slots = np.minimum(np.searchsorted(positions, posting), len(positions) - 1)
                held = positions[slots] == posting
                sums[slots[held]] += np.asarray(data[start:stop])[held].astype(np.float64) * weight
        scores = sums.astype(np.float32)  # (the kernel orders by its float32 scores too)
        if len(scores) > k:  # the k best, and every page tied with the k-th (ties then go by position)
            candidates = np.flatnonzero(scores >= np.partition(scores, len(scores) - k)[len(scores) - k])
        else:
            candidates = np.arange(len(scores))
        ranked = candidates[np.lexsort((positions[candidates], -scores[candidates]))][:k]
        return [(int(self.doc_ids[positions[i]]), float(scores[i])) for i in ranked if scores[i] > 0]

    def _positions(self, doc_ids: np.ndarray, inside: bool) -> np.ndarray:
        """The sorted positions in this index of the pages `doc_ids` (sorted), or of every other page."""
        ids = np.asarray(self.doc_ids)
        if self._ids_sorted:
            found = np.minimum(np.searchsorted(ids, doc_ids), max(len(ids) - 1, 0))
            positions = found[ids[found] == doc_ids] if len(ids) else found[:0]
        else:
            positions = np.flatnonzero(np.isin(ids, doc_ids))
        if inside:
            return positions
        others = np.ones(len(ids), dtype=np.bool_)
        others[positions] = False
        return np.flatnonzero(others)

    @cached_property
    def _ids_sorted(self) -> bool:
        ids = np.asarray(self.doc_ids)
        return bool(np.all(ids[1:] > ids[:-1]))

    def _scaled_search(self, terms: QueryTerms, k: int) -> list[tuple[int, float]]:
        """BM25 with each variant's column scaled to its word's idf (bm25s sums columns as they are)."""
        factor = self._factors(terms)
        data, indices = self.retriever.scores["data"], self.retriever.scores["indices"]
        scores = np.zeros(self.size, dtype=np.float32)
        for token_id in terms.token_ids:
            start, stop = int(self._indptr[token_id]), int(self._indptr[token_id + 1])
            scores[indices[start:stop]] += np.asarray(data[start:stop]) * np.float32(factor.get(token_id, 1.0))
        top = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        ranked = sorted(top.tolist(), key=lambda position: (-scores[position], position))
        return [(int(self.doc_ids[p]), float(scores[p])) for p in ranked if scores[p] > 0]

    def search_many(self, batch: list[QueryTerms], k: int) -> list[list[tuple[int, float]]]:
        """`search` for many queries in one call (of the compiled kernel, or of bm25s on the numpy
        path), not one Python round trip per query; a query with no indexed term gets []."""
        found: list[list[tuple[int, float]]] = [[] for _ in batch]
        if self.retriever is None or k <= 0:
            return found
        k = min(k, self.size)
        todo = []
        for i, terms in enumerate(batch):
            if terms.token_ids and terms.scale and not self.compiled:  # variants weighed apart
                found[i] = self._scaled_search(terms, k)
            elif terms.token_ids:
                todo.append(i)
        if not todo:
            return found
        chunks = [todo[start::self.batch_threads] for start in range(self.batch_threads)]
        if len(todo) < BATCH_SPLIT or self.batch_threads == 1 or not self.compiled:
            chunks = [todo]
        elif self._pool is None:
            self._pool = ThreadPoolExecutor(self.batch_threads, thread_name_prefix="bm25-batch")
        # the compiled kernel releases the GIL (numba nogil): chunks in threads use every core
        answers = (self._pool.map if len(chunks) > 1 else map)(lambda chunk: self._retrieve(batch, chunk, k), chunks)
        for chunk, lists in zip(chunks, answers):
            for i, hits in zip(chunk, lists):
                found[i] = hits
        return found

    def _retrieve(self, batch: list[QueryTerms], chunk: list[int], k: int) -> list[list[tuple[int, float]]]:
        if self.compiled:
            return self._weighted(batch, chunk, k)
        positions, scores = self.retriever.retrieve(
            [batch[i].token_ids for i in chunk], k=min(k, self.size), show_progress=False, n_threads=1
        )
        doc_ids = np.asarray(self.doc_ids)[positions].tolist()
        return [[(d, s) for d, s in zip(ids, row) if s > 0] for ids, row in zip(doc_ids, scores.tolist())]

    def _factors(self, terms: QueryTerms) -> dict[int, float]:
        """Token id -> the factor its column is scaled by (variants weighed to their word's idf)."""
        return {self._vocab[term]: value for term, value in terms.scale.items() if term in self._vocab}

    def kernel_queries(self, batch: list[QueryTerms], chunk: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The queries of `chunk` as `topk.weighted_top_k` takes them: token ids, their weights (each
        variant's `scale`, 1 where it has none) and where each query's ids start."""
        ids: list[int] = []
        weights: list[float] = []
        pointers = [0]
        for i in chunk:
            terms = batch[i]
            factor = self._factors(terms)
            ids += terms.token_ids
            weights += [factor.get(token_id, 1.0) for token_id in terms.token_ids]
            pointers.append(len(ids))
        return (np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32),
                np.asarray(pointers, dtype=np.int64))

    def _weighted(self, batch: list[QueryTerms], chunk: list[int], k: int) -> list[list[tuple[int, float]]]:
        """The compiled path: every query of `chunk` in one `weighted_top_k` call."""
        from worldbuild.index import topk

        space = getattr(self._workspaces, "arrays", None)
        if space is None:
            space = self._workspaces.arrays = topk.workspace(self.size)
        scores = self.retriever.scores
        positions, values = topk.weighted_top_k(*self.kernel_queries(batch, chunk), k, scores["data"],
                                                scores["indptr"], scores["indices"], self._upper, *space,
                                                topk.LOOKUP_COST)
        doc_ids = np.asarray(self.doc_ids)[np.maximum(positions, 0)].tolist()
        return [[(d, s) for d, p, s in zip(ids_row, row, values_row) if p >= 0]
                for ids_row, row, values_row in zip(doc_ids, positions.tolist(), values.tolist())]

    def warmup(self) -> None:
        """Load (or compile, once per machine) the kernel now rather than on the first user query."""
        if self.retriever is not None and self.compiled:
            self._weighted([QueryTerms([0], [], [])], [0], 1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def token_ids(self, terms: Iterable[str]) -> list[int]:
        """The ids of `terms` in this index's vocabulary (terms it lacks are left out)."""
        return [self._vocab[term] for term in terms if term in self._vocab and term != EMPTY]

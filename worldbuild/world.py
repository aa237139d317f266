"""The one face of a world that every consumer uses: open, search, page, stats."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterable

from worldbuild.atomic import write_json_atomic
from worldbuild.browse import DEFAULT_MAX_CHARS, BrowseResult, render
from worldbuild.index.sharded import open_bm25
from worldbuild.index.snippets import snippet
from worldbuild.records import MANIFEST_FILE, Page
from worldbuild import site_search
from worldbuild.site_search import SitePages
from worldbuild.sites import NO_SITES, Sites, split_sites
from worldbuild.store import STORE_FILE, HitPage, PageStore

if TYPE_CHECKING:
    from worldbuild.index.ann import AnnSearch

DEFAULT_WORLD = "world"


class WorldNotFound(FileNotFoundError):
    """No world at the given directory (or it was never committed)."""


class ModeUnavailable(ValueError):
    """The retrieval mode needs something this world or this install lacks (a dense index, torch)."""


MODES = ("bm25", "dense", "hybrid")
FUSION_DEPTH = 50  # how deep each ranking goes into reciprocal rank fusion


def default_world_dir() -> str:
    return os.environ.get("WORLDBUILD_WORLD", DEFAULT_WORLD)


@dataclass(frozen=True)
class SearchHit:
    doc_id: int
    title: str
    url: str
    canonical_url: str
    snippet: str
    score: float
    crawl_date: str

    def to_dict(self) -> dict:
        return asdict(self)


class World:
    """A frozen world opened read-only. `backend="numba"` for servers (warm it up once)."""

    def __init__(self, world_dir: str, backend: str = "numpy", dense_model: str | None = None,
                 ann_search: "AnnSearch | None" = None):
        store_path = os.path.join(world_dir, STORE_FILE)
        if not os.path.exists(store_path):
            raise WorldNotFound(f"no world at {world_dir!r} (run `worldbuild ingest ... --world {world_dir}`)")
        self.dir = world_dir
        self.store = PageStore(store_path)
        manifest = self.store.manifest()
        if manifest is None:
            raise WorldNotFound(f"the world at {world_dir!r} has no committed ingest yet")
        self.manifest = manifest
        self._repair_manifest_file()
        self.index = open_bm25(os.path.join(world_dir, manifest["index"]["bm25"]["path"]), backend=backend)
        self._dense = None
        self.dense_model = dense_model  # the model queries are embedded by (None: the one that made the vectors)
        self.ann_search = ann_search  # efSearch / nprobe (None: what the world recorded at build)
        self.site_pages = SitePages(self.store)  # each site's pages, read as queries name them

    @classmethod
    def open(cls, world_dir: str | None = None, backend: str = "numpy", dense_model: str | None = None,
             ann_search: "AnnSearch | None" = None) -> "World":
        return cls(world_dir or default_world_dir(), backend=backend, dense_model=dense_model, ann_search=ann_search)

    def _repair_manifest_file(self) -> None:
        """`world.json` mirrors the store's manifest; rewrite it if a crash left it stale."""
        path = os.path.join(self.dir, MANIFEST_FILE)
        try:
            with open(path) as handle:
                if json.load(handle).get("snapshot") == self.manifest["snapshot"]:
                    return
        except (OSError, ValueError):
            pass
        if os.access(self.dir, os.W_OK):
            write_json_atomic(path, self.manifest)

    @property
    def snapshot(self) -> str:
        return self.manifest["snapshot"]

    def __len__(self) -> int:
        return self.manifest["pages"]

    def close(self) -> None:
        self.store.close()
        for index in (self.index, self._dense):
            if hasattr(index, "close"):  # sharded indexes have a thread pool to stop
                index.close()

    def __enter__(self) -> "World":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def masked_ids(self, mask: Iterable[str] | None) -> set[int]:
        """The doc ids a per-task mask hides: each URL's page (any spelling, or an exact
        duplicate's URL) and its whole mirror cluster."""
        return self.store.masked_ids(mask) if mask else set()

    def masked_urls(self, mask: Iterable[str] | None) -> list[str]:
        """Every stored URL a mask hides (pages of the masked clusters and their aliases)."""
        return sorted(self.store.urls_of(self.masked_ids(mask)))

    @property
    def has_dense(self) -> bool:
        return "dense" in self.manifest["index"]

    @property
    def dense_ann_search(self) -> "AnnSearch | None":
        """The efSearch / nprobe the dense ANN index searches with: what `ann_search` sets, else what
        the world recorded at build (None: no ANN index in this world)."""
        info = self.manifest["index"].get("dense", {})
        ann = info.get("ann")
        if info.get("backend") == "milvus":  # a graph index in Milvus walks with efSearch as a local one
            from worldbuild.index.milvus_dense import GRAPH_KINDS

            ann = {"kind": info["index_type"]} if info.get("index_type") in GRAPH_KINDS else None
        if not ann:
            return None
        from worldbuild.index.ann import AnnSearch

        return (self.ann_search or AnnSearch()).over(ann)

    def dense(self):
        """The dense index (in the world, or a Milvus collection), loaded with its embedding model
        on first use. Queries are embedded by the model that made the vectors; asking for another
        (`dense_model`) fails in one line."""
        if self._dense is None:
            if not self.has_dense:
                raise ModeUnavailable("this world has no dense index; build one with `worldbuild index --dense`")
            from worldbuild.index.dense import DenseIndex, DenseUnavailable

            info = self.manifest["index"]["dense"]
            model = self.dense_model or info["model"]
            try:
                if info.get("backend") == "milvus":
                    from worldbuild.index.milvus_dense import MilvusDense, MilvusUnavailable

                    try:
                        self._dense = MilvusDense(info, self.snapshot, model, ann_search=self.dense_ann_search)
                    except MilvusUnavailable as exc:
                        raise ModeUnavailable(str(exc)) from exc
                else:
                    self._dense = DenseIndex(os.path.join(self.dir, info["path"]), model,
                                             ann_search=self.dense_ann_search)
            except DenseUnavailable as exc:
                raise ModeUnavailable(str(exc)) from exc
        return self._dense

    def _rank(self, query: str, terms, k: int, mode: str, hidden: set[int],
              sites: Sites = NO_SITES) -> list[tuple[int, float]]:
        if not query.strip():  # `site:example.com` alone: the site's pages; `-site:` alone: nothing
            return site_search.listing(k, self.site_pages, sites, hidden) if sites.include else []
        left_out = self.site_pages.left_out(sites, hidden) if sites else None
        if left_out is not None and not sites.include and len(left_out) <= site_search.LEFT_OUT_BY_DEPTH:
            hidden, sites = set(left_out.tolist()), NO_SITES  # a few pages left out: as a mask leaves them

        def bm25(depth: int) -> list[tuple[int, float]]:
            if sites:
                return site_search.bm25_within(self.index, terms, depth, self.site_pages, sites, left_out)
            return [hit for hit in self.index.search(terms, depth + len(hidden)) if hit[0] not in hidden][:depth]

        def dense(depth: int) -> list[tuple[int, float]]:
            if sites:
                return site_search.dense_within(self.dense(), query, depth, self.site_pages, sites, left_out)
            return self.dense().search(query, depth, hidden)

        if mode == "bm25":
            return bm25(k)
        if mode == "dense":
            return dense(k)
        if mode == "hybrid":
            from worldbuild.index.dense import reciprocal_rank_fusion

            depth = max(k, FUSION_DEPTH)
            return reciprocal_rank_fusion(bm25(depth), dense(depth), k=k)
        raise ModeUnavailable(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")

    def rank(self, query: str, k: int = 10, mode: str = "bm25") -> list[tuple[int, float]]:
        """(doc id, score) of the top k, best first, without reading pages (retrieval evaluation)."""
        words, sites = split_sites(query)
        return self._rank(words, self.index.terms(words), k, mode, set(), sites) if k > 0 else []

    def search(self, query: str, k: int = 10, snippet_chars: int = 240,
               mask: Iterable[str] | None = None, mode: str = "bm25") -> list[SearchHit]:
        """Top-k pages (BM25 over title + text, dense, or their reciprocal rank fusion), each
        with a query-biased snippet. Masked pages are removed before the top-k cut, so k hits
        still come back when enough pages match."""
        return self.search_many([query], k, snippet_chars, mask, mode)[0]

    def search_many(self, queries: list[str], k: int = 10, snippet_chars: int = 240,
                    mask: Iterable[str] | None = None, mode: str = "bm25", offset: int = 0) -> list[list[SearchHit]]:
        """`search` for a batch of queries under one mask: BM25 ranks the whole batch in one
        call, and the pages of every list are read in one go. A query asked several times (the
        rollouts of one prompt often agree) is answered once. `offset` skips that many hits first (result pages)."""
        if mode not in MODES:
            raise ModeUnavailable(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        distinct = list(dict.fromkeys(queries))
        if len(distinct) < len(queries):
            answers = dict(zip(distinct, self.search_many(distinct, k, snippet_chars, mask, mode, offset)))
            return [answers[query] for query in queries]
        split = [split_sites(query) for query in queries]
        batch = self.index.terms_many([words for words, _ in split])
        hidden = self.masked_ids(mask)
        depth = k + offset
        if depth <= 0:
            return [[] for _ in queries]
        # BM25 ranks the queries without `site:` in one call; the others are ranked each alone (`_rank`)
        together = [i for i, (_, sites) in enumerate(split) if mode == "bm25" and not sites]
        lists = dict(zip(together, self.index.search_many([batch[i] for i in together], depth + len(hidden)))) \
            if together else {}
        ranked = [[hit for hit in lists[i] if hit[0] not in hidden][:depth] if i in lists
                  else self._rank(words, batch[i], depth, mode, hidden, sites) for i, (words, sites) in enumerate(split)]
        ranked = [hits[offset:] for hits in ranked]
        pages = self.store.hit_pages({doc_id for hits in ranked for doc_id, _ in hits})
        return self._hits(batch, ranked, pages, snippet_chars)

    @staticmethod
    def _hits(batch: list, ranked: list[list[tuple[int, float]]], pages: dict[int, HitPage],
              snippet_chars: int) -> list[list[SearchHit]]:
        """The ranked (doc id, score) lists as hits with snippets. A page that answers several
        queries of the batch is lowercased (what snippets search in) once, and kept only until
        its last hit."""
        left = Counter(doc_id for hits in ranked for doc_id, _ in hits)
        lowered: dict[int, str] = {}

        def lowercased(doc_id: int) -> str | None:
            left[doc_id] -= 1
            if not left[doc_id]:  # its last hit (None: its only one, the snippet lowercases it)
                return lowered.pop(doc_id, None)
            if doc_id not in lowered:
                lowered[doc_id] = pages[doc_id].text.lower()
            return lowered[doc_id]

        def hit(doc_id: int, score: float, terms) -> SearchHit:
            page = pages[doc_id]
            return SearchHit(doc_id=doc_id, title=page.title, url=page.url, canonical_url=page.canonical_url,
                             snippet=snippet(page.text, terms, snippet_chars, page.lang, lowercased(doc_id)),
                             score=round(score, 6), crawl_date=page.crawl_date)

        return [[hit(doc_id, score, terms) for doc_id, score in hits] for terms, hits in zip(batch, ranked)]

    def lookup(self, url: str, mask: Iterable[str] | None = None) -> tuple[Page, list[str]] | None:
        """The stored page for any spelling of `url`, following redirects the archive recorded
        (3xx with a Location inside the world): (page, URLs redirected from, in order); None
        when absent or masked."""
        found = self.store.resolve(url)
        if found is None or (mask and found[0] in self.masked_ids(mask)):
            return None
        return found[1], found[2]

    def page(self, url: str, mask: Iterable[str] | None = None) -> Page | None:
        """The stored page for any spelling of `url` (redirects followed); None when absent or masked."""
        found = self.lookup(url, mask)
        return found[0] if found else None

    def pages(self, urls: Iterable[str], mask: Iterable[str] | None = None) -> list[Page | None]:
        """`page` of each URL in order, the mask resolved once for all of them (on the sample world
        a 200-URL mask took about 30 ms to resolve: once per URL, 256 URLs took 7 s)."""
        hidden = self.masked_ids(mask)
        found = [self.store.resolve(url) if url.strip() else None for url in urls]
        return [None if hit is None or hit[0] in hidden else hit[1] for hit in found]

    def browse(self, url: str, goal: str | None = None, offset: int = 0, max_chars: int = DEFAULT_MAX_CHARS,
               mask: Iterable[str] | None = None) -> BrowseResult | None:
        """A window of the page; with a goal, the passages most relevant to it come first. A URL
        the archive redirects is answered with the page it led to, `redirected_from` saying so."""
        found = self.lookup(url, mask)
        if found is None:
            return None
        page, hops = found
        terms = self.index.terms(goal) if goal and goal.strip() else None
        return render(page, terms, offset, max_chars, redirected_from=hops[0] if hops else None)

    def stats(self, top: int = 20) -> dict:
        """The manifest plus page counts by domain and by language."""
        return {
            **self.manifest,
            "top_domains": dict(self.store.counts_by("domain", limit=top)),
            "languages": dict(self.store.counts_by("lang")),
        }

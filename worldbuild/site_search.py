"""Search within sites: the pages a query's `site:` operators leave it (`worldbuild.sites`), and
the ranking among them, exact however far down the whole ranking a site's pages stand.

BM25 with `site:` scores only the site's pages (`search_among`: their share of the query's
postings, not a pass over the world). With `-site:` alone, a site of few pages is left out as a
mask is (`World._rank` adds them to the mask: the ranking goes that much deeper, through the same
kernel as any query); a large one is left out by scoring all the other pages. Dense search goes
deeper until it has k of the site's pages or has looked at every page.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from worldbuild.sites import Sites
from worldbuild.store import PageStore

SITES_KEPT = 1024  # sites whose pages are kept at hand for the next query that names them,
PAGES_KEPT = 8_000_000  # and their pages at most (8 bytes each; a larger site is read anew each time)
LEFT_OUT_BY_DEPTH = 1_000  # `-site:` pages (with the mask's) left out by ranking deeper; more: by scoring the rest
# (on the 100k bench world, ranking 1,000 deeper cost 3.4 ms a query, 9,600 deeper 101 ms; scoring the rest 7 ms)

_NONE = np.empty(0, dtype=np.int64)


class SitePages:
    """The doc ids of each site's pages (sorted int64), read from the store once per site."""

    def __init__(self, store: PageStore):
        self.store = store
        self._reversed: list[str] | None = None  # every host of the world, spelled backwards, sorted
        self._kept: dict[str, np.ndarray] = {}

    def hosts(self, host: str) -> list[str]:
        """The world's hosts on `host`: itself and its subdomains (a range of the sorted reversed
        names: `moc.elpmaxe` and those after it that start `moc.elpmaxe.`)."""
        if self._reversed is None:
            self._reversed = sorted(name[::-1] for name in self.store.domains())
        backwards = host[::-1]
        found = []
        at = bisect_left(self._reversed, backwards)
        if at < len(self._reversed) and self._reversed[at] == backwards:
            found.append(host)
        below = backwards + "."
        at = bisect_left(self._reversed, below)
        while at < len(self._reversed) and self._reversed[at].startswith(below):
            found.append(self._reversed[at][::-1])
            at += 1
        return found

    def of(self, site: str) -> np.ndarray:
        found = self._kept.get(site)
        if found is None:
            host, _, path = site.partition("/")
            found = np.unique(np.fromiter(self.store.site_ids(self.hosts(host), path), dtype=np.int64))
            if len(found) > PAGES_KEPT:
                return found
            if len(self._kept) >= SITES_KEPT or sum(map(len, self._kept.values())) + len(found) > PAGES_KEPT:
                self._kept.clear()
            self._kept[site] = found
        return found

    def _union(self, sites: tuple[str, ...]) -> np.ndarray:
        arrays = [self.of(site) for site in sites]
        return arrays[0] if len(arrays) == 1 else np.unique(np.concatenate(arrays)) if arrays else _NONE

    def left_out(self, sites: Sites, hidden: set[int]) -> np.ndarray:
        """The pages a query may not answer with: the mask's and its `-site:` sites'."""
        masked = np.fromiter(hidden, dtype=np.int64, count=len(hidden))
        return np.union1d(masked, self._union(sites.exclude)) if len(masked) else self._union(sites.exclude)

    def allowed(self, sites: Sites, left_out: np.ndarray) -> np.ndarray:
        """The pages of the query's `site:` sites that it may answer with."""
        return np.setdiff1d(self._union(sites.include), left_out, assume_unique=True)


def bm25_within(index, terms, k: int, pages: SitePages, sites: Sites, left_out: np.ndarray) -> list[tuple[int, float]]:
    """BM25 among the `site:` sites' pages, or (`-site:` alone) among all but `left_out` (`left_out`:
    the mask's pages and the `-site:` sites')."""
    if sites.include:
        return index.search_among(terms, k, pages.allowed(sites, left_out))
    return index.search_among(terms, k, left_out, inside=False)


def dense_within(dense, query: str, k: int, pages: SitePages, sites: Sites, left_out: np.ndarray) -> list[tuple[int, float]]:
    """Dense search as `bm25_within`."""
    skipped = set(left_out.tolist())
    if not sites.include:
        return dense.search(query, k, skipped)
    allowed = set(pages.allowed(sites, left_out).tolist())
    if not allowed or k <= 0:
        return []
    vector, depth, seen = dense.embed(query), 4 * k, -1
    while True:
        hits = dense.search_vector(vector, depth, skipped)
        kept = [hit for hit in hits if hit[0] in allowed]
        if len(kept) >= k or depth >= dense.size or len(hits) <= seen:  # (a backend may cap its answers)
            return kept[:k]
        seen, depth = len(hits), depth * 8


def listing(k: int, pages: SitePages, sites: Sites, hidden: set[int]) -> list[tuple[int, float]]:
    """A query of `site:` operators alone, as Google answers one: the sites' pages, in the order
    they were ingested (no words rank one above another, so each scores 0)."""
    return [(int(doc_id), 0.0) for doc_id in pages.allowed(sites, pages.left_out(sites, hidden))[:k]]

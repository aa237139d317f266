"""The page store: one SQLite file, pages keyed by canonical URL, the manifest beside them.

SQLite gives crash safety for free: a merge is one transaction, so a killed ingest leaves
the store exactly as it was. Readers open it read-only, so a world can sit on shared storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import namedtuple
from typing import Iterable, Iterator

from worldbuild.records import PAGE_COLUMNS, Page
from worldbuild.urls import BadURL, canonical_url, url_key

STORE_FILE = "pages.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    doc_id INTEGER PRIMARY KEY,
    canonical_url TEXT NOT NULL UNIQUE,
    url_key TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    crawl_date TEXT NOT NULL,
    lang TEXT NOT NULL,
    domain TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    length INTEGER NOT NULL,
    published_date TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_url_key ON pages(url_key);
CREATE INDEX IF NOT EXISTS pages_content_hash ON pages(content_hash);
CREATE INDEX IF NOT EXISTS pages_domain ON pages(domain);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS redirects (
    source_url TEXT PRIMARY KEY,
    source_key TEXT NOT NULL,
    target_url TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS redirects_source_key ON redirects(source_key);
CREATE TABLE IF NOT EXISTS mirrors (
    doc_id INTEGER PRIMARY KEY,
    cluster INTEGER NOT NULL,
    minhash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS mirrors_cluster ON mirrors(cluster);
CREATE TABLE IF NOT EXISTS mirror_bands (band_key INTEGER NOT NULL, doc_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mirror_bands_key ON mirror_bands(band_key);
CREATE TABLE IF NOT EXISTS aliases (
    canonical_url TEXT PRIMARY KEY,
    url_key TEXT NOT NULL,
    url TEXT NOT NULL,
    doc_id INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS aliases_url_key ON aliases(url_key);
"""
MAX_HOPS = 10  # what browsers follow before giving up

MMAP_BYTES = 1 << 40  # as much as SQLite maps (its build caps it, at 2 GB here); past that it reads
_IDS_PER_QUERY = 10_000  # under SQLite's limit on bound parameters
_SELECT = "SELECT doc_id, " + ", ".join(PAGE_COLUMNS) + " FROM pages"


def _page(row: tuple) -> tuple[int, Page]:
    return row[0], Page(*row[1:])


# what a search hit shows of its page: half of a page's columns (`Page`'s names), read without the
# rest (a server reads some three pages a query; the other columns were a third of that read)
HitPage = namedtuple("HitPage", ["url", "canonical_url", "title", "text", "crawl_date", "lang"])
_SELECT_HIT = "SELECT doc_id, " + ", ".join(HitPage._fields) + " FROM pages"


class PageStore:
    """Random access to pages by canonical URL or doc id; the writer side is one transaction."""

    def __init__(self, path: str, *, writable: bool = False, memory_mapped: bool = True):
        self.path = path
        if writable:
            new = not os.path.exists(path) or os.path.getsize(path) == 0
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA synchronous=FULL")
            # a new file's schema in one transaction: each statement alone syncs the disk (15-30 ms,
            # against 2-3). An existing world's statements stay apart: each waits on a busy writer.
            self.db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;" if new else SCHEMA)
        else:
            self.db = self._connect_readonly(path)
            # reads straight from the OS's file cache, not a read() and a copy per page: a search
            # reads a few pages' rows at random: 1.4-2.1x the CPU without the map (bench/page_reads.py)
            self.db.execute(f"PRAGMA mmap_size={MMAP_BYTES if memory_mapped else 0}")
        self.db.execute("PRAGMA cache_size=-65536")
        self.has_redirects = bool(self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='redirects'").fetchone())  # older worlds lack it
        # a world written before mirror clusters existed has no such tables until its next ingest
        self.has_mirrors = bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name='mirrors'").fetchone())
        # a world written before the domain index reads its pages' hosts once, on its first `site:` query
        self.has_domain_index = bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name='pages_domain'").fetchone())
        self._by_domain: dict[str, list[int]] | None = None

    @staticmethod
    def _connect_readonly(path: str) -> sqlite3.Connection:
        """A read-only connection. A crashed writer can leave a hot journal that only a writer
        may roll back; do that once if we are allowed to, else say what to do."""
        for attempt in range(2):
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError as exc:
                db.close()
                if "readonly" not in str(exc) or attempt or not os.access(os.path.dirname(path) or ".", os.W_OK):
                    raise sqlite3.OperationalError(
                        f"{path}: a crashed ingest left an unfinished transaction; open the world once with "
                        f"write access (e.g. rerun `worldbuild ingest`) to roll it back ({exc})"
                    ) from exc
                recovery = sqlite3.connect(path, isolation_level=None)
                recovery.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # rolls the journal back
                recovery.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.db.close()

    # -- reading -----------------------------------------------------------------------
    def manifest(self) -> dict | None:
        row = self.db.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        return json.loads(row[0]) if row else None

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]

    def by_url(self, url: str) -> Page | None:
        """The page any spelling of `url` canonicalises to; falls back to a scheme- and
        `www.`-insensitive match."""
        found = self.by_url_with_id(url)
        return found[1] if found else None

    def by_ids(self, doc_ids: Iterable[int]) -> dict[int, Page]:
        return dict(map(_page, self._rows(_SELECT, doc_ids)))

    def hit_pages(self, doc_ids: Iterable[int]) -> dict[int, HitPage]:
        """`by_ids` with only what a search hit shows of each page."""
        return {row[0]: HitPage(*row[1:]) for row in self._rows(_SELECT_HIT, doc_ids)}

    def _rows(self, select: str, doc_ids: Iterable[int]) -> Iterator[tuple]:
        ids = [int(i) for i in doc_ids]
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start:start + _IDS_PER_QUERY]
            yield from self.db.execute(select + f" WHERE doc_id IN ({','.join('?' * len(chunk))})", chunk)

    def _resolve(self, urls: Iterable[str]) -> set[int]:
        """Doc ids of the pages `urls` name, under any spelling, through a page's own URL or
        an alias (the URL of an exact duplicate that was folded into it)."""
        canonicals, keys = set(), set()
        for url in urls:
            try:
                canonicals.add(canonical_url(url))
                keys.add(url_key(url))
            except BadURL:
                continue
            resolved = self.resolve(url)  # a masked URL the archive redirects hides where it leads
            if resolved is not None and resolved[2]:
                canonicals.add(resolved[1].canonical_url)
        if not canonicals:
            return set()
        tables = ("pages", "aliases") if self.has_mirrors else ("pages",)
        ids: set[int] = set()
        for table in tables:
            for column, values in (("canonical_url", canonicals), ("url_key", keys)):
                marks = ",".join("?" * len(values))
                ids.update(r[0] for r in self.db.execute(f"SELECT doc_id FROM {table} WHERE {column} IN ({marks})",
                                                         list(values)))
        return ids

    def masked_ids(self, urls: Iterable[str]) -> set[int]:
        """Doc ids a mask hides: the page of each URL (any spelling, aliases included) and
        every page of its mirror cluster."""
        ids = self._resolve(urls)
        if not ids or not self.has_mirrors:
            return ids
        marks = ",".join("?" * len(ids))
        clusters = [r[0] for r in self.db.execute(f"SELECT DISTINCT cluster FROM mirrors WHERE doc_id IN ({marks})",
                                                  list(ids))]
        if clusters:
            marks = ",".join("?" * len(clusters))
            ids.update(r[0] for r in self.db.execute(f"SELECT doc_id FROM mirrors WHERE cluster IN ({marks})", clusters))
        return ids

    def domains(self) -> list[str]:
        """Every host the world has pages of (through the `pages_domain` index)."""
        if self._by_domain is not None or not self.has_domain_index:
            return list(self._pages_by_domain())
        return [row[0] for row in self.db.execute("SELECT DISTINCT domain FROM pages")]

    def _pages_by_domain(self) -> dict[str, list[int]]:
        """A world ingested before the `pages_domain` index: every row read once, its doc ids by host."""
        if self._by_domain is None:
            by_domain: dict[str, list[int]] = {}
            for doc_id, domain in self.db.execute("SELECT doc_id, domain FROM pages"):
                by_domain.setdefault(domain, []).append(doc_id)
            self._by_domain = by_domain
        return self._by_domain

    def site_ids(self, hosts: list[str], path: str = "") -> Iterator[int]:
        """Doc ids of the pages of `hosts` (as `domains()` names them), those whose path starts with
        `path` when one is given (`worldbuild.sites` spells it: no leading slash, percent-escaped)."""
        if path:
            ids = list(self.site_ids(hosts))
            yield from (doc_id for doc_id, canonical in self._rows("SELECT doc_id, canonical_url FROM pages", ids)
                        if canonical.split("://", 1)[-1].partition("/")[2].startswith(path))
        elif self.has_domain_index and self._by_domain is None:
            for start in range(0, len(hosts), _IDS_PER_QUERY):
                chunk = hosts[start:start + _IDS_PER_QUERY]
                yield from (row[0] for row in self.db.execute(
                    f"SELECT doc_id FROM pages WHERE domain IN ({','.join('?' * len(chunk))})", chunk))
        else:
            by_domain = self._pages_by_domain()
            for host in hosts:
                yield from by_domain.get(host, ())

    def urls_of(self, doc_ids: Iterable[int]) -> set[str]:
        """Every stored URL that reaches these pages: their own and their aliases'."""
        ids = [int(i) for i in doc_ids]
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        tables = ("pages", "aliases") if self.has_mirrors else ("pages",)
        return {r[0] for table in tables
                for r in self.db.execute(f"SELECT url FROM {table} WHERE doc_id IN ({marks})", ids)}

    def by_url_with_id(self, url: str) -> tuple[int, Page] | None:
        """Like `by_url`, with the page's doc id (what masks are made of). A URL whose content
        was folded into another page (an exact duplicate) reaches that page."""
        try:
            canonical, key = canonical_url(url), url_key(url)
        except BadURL:
            return None
        row = self.db.execute(_SELECT + " WHERE canonical_url=?", (canonical,)).fetchone()
        if row is None and self.has_mirrors:
            row = self.db.execute(_SELECT + " WHERE doc_id=(SELECT doc_id FROM aliases WHERE canonical_url=?)",
                                  (canonical,)).fetchone()
        if row is None:
            row = self.db.execute(_SELECT + " WHERE url_key=? ORDER BY doc_id LIMIT 1", (key,)).fetchone()
        if row is None and self.has_mirrors:
            row = self.db.execute(_SELECT + " WHERE doc_id=(SELECT doc_id FROM aliases WHERE url_key=? "
                                  "ORDER BY doc_id LIMIT 1)", (key,)).fetchone()
        return _page(row) if row else None

    def redirect_target(self, url: str) -> str | None:
        """Where the archive recorded `url` (any spelling) to redirect, or None."""
        if not self.has_redirects:
            return None
        try:
            canonical, key = canonical_url(url), url_key(url)
        except BadURL:
            return None
        row = self.db.execute("SELECT target_url FROM redirects WHERE source_url=?", (canonical,)).fetchone()
        if row is None:
            row = self.db.execute("SELECT target_url FROM redirects WHERE source_key=? ORDER BY rowid LIMIT 1",
                                  (key,)).fetchone()
        return row[0] if row else None

    def resolve(self, url: str) -> tuple[int, Page, list[str]] | None:
        """The page for `url`, following redirects recorded in the archive (at most MAX_HOPS, no
        loops): (doc id, page, the URLs redirected from, in order)."""
        hops: list[str] = []
        current = url
        while True:
            found = self.by_url_with_id(current)
            if found is not None:
                return found[0], found[1], hops
            target = self.redirect_target(current)
            if target is None or len(hops) >= MAX_HOPS or target in hops:
                return None
            hops.append(canonical_url(current))
            current = target

    def redirect_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM redirects").fetchone()[0] if self.has_redirects else 0

    def redirect_identities(self) -> Iterator[tuple[str, str, int]]:
        """(source, target, status) sorted by source: the redirects' part of a snapshot id."""
        if self.has_redirects:
            yield from self.db.execute("SELECT source_url, target_url, status FROM redirects ORDER BY source_url")

    def mirror_stats(self) -> dict:
        """How many clusters hold more than one page, how many pages they hold, and aliases."""
        if not self.has_mirrors:
            return {"clusters": 0, "pages_in_clusters": 0, "aliases": 0}
        clusters, pages = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM mirrors GROUP BY cluster "
            "HAVING n > 1)").fetchone()
        aliases = self.db.execute("SELECT COUNT(*) FROM aliases").fetchone()[0]
        return {"clusters": clusters, "pages_in_clusters": pages, "aliases": aliases}

    def url_keys(self, doc_ids: Iterable[int]) -> dict[int, str]:
        """doc id → the page's loose URL key (what relevance judgments by URL are matched on)."""
        ids = [int(i) for i in doc_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return dict(self.db.execute(f"SELECT doc_id, url_key FROM pages WHERE doc_id IN ({marks})", ids))

    def keys_by_source(self, input_name: str) -> Iterator[tuple[str, str]]:
        """(record id, URL key) of every page one input contributed (`source` = "<input>#<id>")."""
        prefix = f"{input_name}#"
        for source, key in self.db.execute("SELECT source, url_key FROM pages WHERE substr(source, 1, ?) = ?",
                                           (len(prefix), prefix)):
            yield source[len(prefix):], key

    def long_pages(self, min_chars: int) -> Iterator[tuple[int, str, str, str]]:
        """(doc id, URL, title, domain) of every page of at least `min_chars` characters, by
        domain then doc id (what task synthesis picks its seed pages from)."""
        yield from self.db.execute("SELECT doc_id, url, title, domain FROM pages WHERE length >= ? "
                                   "ORDER BY domain, doc_id", (min_chars,))

    def counts_by(self, column: str, limit: int | None = None) -> list[tuple[str, int]]:
        if column not in ("domain", "lang"):
            raise ValueError(f"cannot group by {column!r}")
        sql = f"SELECT {column}, COUNT(*) AS n FROM pages GROUP BY {column} ORDER BY n DESC, {column}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.execute(sql))

    def layout_digest(self) -> str:
        """A digest of which page holds which doc id: an index built for another layout (the
        same pages merged in another order) must not be reused."""
        digest = hashlib.sha256()
        for doc_id, content in self.db.execute("SELECT doc_id, content_hash FROM pages ORDER BY doc_id"):
            digest.update(f"{doc_id}\t{content}\n".encode())
        return digest.hexdigest()[:20]

    def index_texts(self) -> Iterator[tuple[int, str]]:
        """(doc_id, title + text) in doc_id order: what the dense index embeds."""
        for doc_id, title, text in self.db.execute("SELECT doc_id, title, text FROM pages ORDER BY doc_id"):
            yield doc_id, f"{title}\n{text}"

    def index_pages(self) -> Iterator[tuple[int, str, str]]:
        """(doc_id, title + text, language) in doc_id order: what the BM25 index is built over
        (each page analysed by its language)."""
        for doc_id, title, text, lang in self.db.execute("SELECT doc_id, title, text, lang FROM pages ORDER BY doc_id"):
            yield doc_id, f"{title}\n{text}", lang

    def identities(self) -> Iterator[tuple]:
        """Every stored field of every page (`PAGE_COLUMNS` order), sorted by canonical URL:
        what a snapshot id is made of. The doc id is left out: it says where a page sits, and
        the same pages give the same id whatever order they were merged in."""
        yield from self.db.execute(f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages ORDER BY canonical_url")

    def alias_identities(self) -> Iterator[tuple[str, str, str]]:
        """(canonical_url, url, content_hash) of every alias, sorted: the aliases' part of a
        snapshot id (a mask or a browse by an alias reaches its page)."""
        if self.has_mirrors:
            yield from self.db.execute("SELECT canonical_url, url, content_hash FROM aliases ORDER BY canonical_url")

    # -- writing (one transaction per merge) -------------------------------------------
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def url_taken(self, canonical: str) -> bool:
        """Whether a page or an alias already has this canonical URL."""
        return bool(self.db.execute("SELECT 1 FROM pages WHERE canonical_url=? UNION ALL "
                                    "SELECT 1 FROM aliases WHERE canonical_url=? LIMIT 1",
                                    (canonical, canonical)).fetchone())

    def doc_with_content(self, text_hash: str) -> int | None:
        row = self.db.execute("SELECT doc_id FROM pages WHERE content_hash=? ORDER BY doc_id LIMIT 1",
                              (text_hash,)).fetchone()
        return row[0] if row else None

    def insert(self, page: Page) -> int:
        """Store `page`; returns its doc id."""
        values = page.to_dict()
        values["url_key"] = url_key(page.canonical_url)
        columns = ["url_key", *PAGE_COLUMNS]
        cursor = self.db.execute(
            f"INSERT INTO pages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [values[c] for c in columns],
        )
        return cursor.lastrowid

    def insert_alias(self, page: Page, doc_id: int) -> None:
        """Record `page`'s URL as another address of the stored page `doc_id` (same content)."""
        self.db.execute("INSERT INTO aliases (canonical_url, url_key, url, doc_id, content_hash, source) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (page.canonical_url, url_key(page.canonical_url), page.url, doc_id, page.content_hash,
                         page.source))

    # -- mirror clusters (the writer's side of worldbuild.mirrors) ------------------------
    def mirror_candidates(self, band_keys: list[int]) -> list[tuple[int, int, bytes]]:
        """(doc_id, cluster, signature) of every page sharing at least one band key, by doc id."""
        marks = ",".join("?" * len(band_keys))
        return self.db.execute(
            "SELECT m.doc_id, m.cluster, m.minhash FROM mirrors m WHERE m.doc_id IN "
            f"(SELECT doc_id FROM mirror_bands WHERE band_key IN ({marks})) ORDER BY m.doc_id", band_keys).fetchall()

    def add_mirror(self, doc_id: int, cluster: int, signature: bytes, band_keys: list[int]) -> None:
        self.db.execute("INSERT INTO mirrors (doc_id, cluster, minhash) VALUES (?, ?, ?)", (doc_id, cluster, signature))
        self.db.executemany("INSERT INTO mirror_bands (band_key, doc_id) VALUES (?, ?)",
                            [(key, doc_id) for key in band_keys])

    def merge_clusters(self, into: int, others: Iterable[int]) -> None:
        others = [c for c in others if c != into]
        if others:
            marks = ",".join("?" * len(others))
            self.db.execute(f"UPDATE mirrors SET cluster=? WHERE cluster IN ({marks})", [into, *others])

    def pages_without_signature(self) -> Iterator[tuple[int, str]]:
        """(doc_id, text) of pages stored before mirror clusters existed, in doc id order
        (counted first: the scan reads every page's text)."""
        if self.db.execute("SELECT COUNT(*) FROM mirrors").fetchone()[0] == self.count():
            return
        yield from self.db.execute("SELECT doc_id, text FROM pages WHERE doc_id NOT IN (SELECT doc_id FROM mirrors) "
                                   "ORDER BY doc_id").fetchall()

    def insert_redirect(self, source: str, target: str, status: int) -> bool:
        """Record a redirect unless `source` has one already (the first capture wins); True if new."""
        cursor = self.db.execute("INSERT OR IGNORE INTO redirects (source_url, source_key, target_url, status) "
                                 "VALUES (?, ?, ?, ?)", (source, url_key(source), target, int(status)))
        return cursor.rowcount > 0

    def set_manifest(self, manifest: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('manifest', ?)",
                        (json.dumps(manifest, sort_keys=True),))

"""The page store: one SQLite file, pages keyed by canonical URL, the manifest beside them.

SQLite gives crash safety for free: a merge is one transaction, so a killed ingest leaves
the store exactly as it was. Readers open it read-only, so a world can sit on shared storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_IDS_PER_QUERY = 10_000  # under SQLite's limit on bound parameters
_SELECT = "SELECT doc_id, " + ", ".join(PAGE_COLUMNS) + " FROM pages"


def _page(row: tuple) -> tuple[int, Page]:
    return row[0], Page(*row[1:])


class PageStore:
    """Random access to pages by canonical URL or doc id; the writer side is one transaction."""

    def __init__(self, path: str, *, writable: bool = False):
        self.path = path
        if writable:
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
        else:
            self.db = self._connect_readonly(path)
        self.db.execute("PRAGMA cache_size=-65536")

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
        ids = [int(i) for i in doc_ids]
        found = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start:start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            found.update(_page(row) for row in self.db.execute(_SELECT + f" WHERE doc_id IN ({marks})", chunk))
        return found

    def masked_ids(self, urls: Iterable[str]) -> set[int]:
        """Doc ids a mask hides: each URL's page under any spelling (canonical URL or the
        scheme/`www.`-free key) plus every page with the same content (mirrors)."""
        canonicals, keys = set(), set()
        for url in urls:
            try:
                canonicals.add(canonical_url(url))
                keys.add(url_key(url))
            except BadURL:
                continue
        if not canonicals:
            return set()
        rows = []
        for column, values in (("canonical_url", canonicals), ("url_key", keys)):
            marks = ",".join("?" * len(values))
            rows += self.db.execute(f"SELECT doc_id, content_hash FROM pages WHERE {column} IN ({marks})",
                                    list(values)).fetchall()
        hashes = list({content for _, content in rows})
        ids = {doc_id for doc_id, _ in rows}
        if hashes:
            marks = ",".join("?" * len(hashes))
            ids.update(r[0] for r in self.db.execute(f"SELECT doc_id FROM pages WHERE content_hash IN ({marks})", hashes))
        return ids

    def by_url_with_id(self, url: str) -> tuple[int, Page] | None:
        """Like `by_url`, with the page's doc id (what masks are made of)."""
        try:
            canonical, key = canonical_url(url), url_key(url)
        except BadURL:
            return None
        row = self.db.execute(_SELECT + " WHERE canonical_url=?", (canonical,)).fetchone()
        if row is None:
            row = self.db.execute(_SELECT + " WHERE url_key=? ORDER BY doc_id LIMIT 1", (key,)).fetchone()
        return _page(row) if row else None

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
        """(doc_id, title + text) in doc_id order: what the BM25 index is built over."""
        for doc_id, title, text in self.db.execute("SELECT doc_id, title, text FROM pages ORDER BY doc_id"):
            yield doc_id, f"{title}\n{text}"

    def identities(self) -> Iterator[tuple[str, str]]:
        """(canonical_url, content_hash) sorted by URL: what a snapshot id is made of."""
        yield from self.db.execute("SELECT canonical_url, content_hash FROM pages ORDER BY canonical_url")

    # -- writing (one transaction per merge) -------------------------------------------
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def duplicate_of(self, page: Page) -> str | None:
        """Why `page` is already in the store (same URL, or same content), or None."""
        if self.db.execute("SELECT 1 FROM pages WHERE canonical_url=?", (page.canonical_url,)).fetchone():
            return "duplicate URL"
        if self.db.execute("SELECT 1 FROM pages WHERE content_hash=? LIMIT 1", (page.content_hash,)).fetchone():
            return "duplicate content"
        return None

    def insert(self, page: Page) -> None:
        values = page.to_dict()
        values["url_key"] = url_key(page.canonical_url)
        columns = ["url_key", *PAGE_COLUMNS]
        self.db.execute(
            f"INSERT INTO pages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [values[c] for c in columns],
        )

    def set_manifest(self, manifest: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('manifest', ?)",
                        (json.dumps(manifest, sort_keys=True),))

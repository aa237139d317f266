"""Adding pages to a world: one transaction, a new index, a new manifest, or nothing at all.

Commit order makes a crash harmless: pages go into an open SQLite transaction; the BM25
index for the new snapshot is built beside the old one; the transaction (pages + manifest)
commits; only then is `world.json` rewritten and the old index removed. Killed before the
commit, the world is as it was; killed after it, `World.open` finds the new snapshot in the
store (the authority) and repairs `world.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from datetime import datetime, timezone
from importlib import metadata
from typing import Callable

from worldbuild.atomic import write_json_atomic
from worldbuild.executor import Executor
from worldbuild.index.bm25 import build_index
from worldbuild.index.sharded import build_sharded
from worldbuild.mirrors import MirrorSettings, band_keys, signature, similarity
from worldbuild.records import MANIFEST_FILE, PAGE_COLUMNS, IngestReport, IngestSettings, Page
from worldbuild.store import STORE_FILE, PageStore

INDEX_DIR = "index"
FORMAT_VERSION = 1


class SettingsMismatch(ValueError):
    """The world was built with other extraction settings; mixing them would blur its identity."""


def check_settings(manifest: dict | None, settings: IngestSettings, world_dir: str) -> None:
    """Raise SettingsMismatch unless a new world or one built with the same settings."""
    wanted = settings.content_settings()
    if manifest and manifest["settings"] != wanted:
        built = manifest["settings"]
        differ = ", ".join(f"{key} {built.get(key)!r} (asked: {wanted.get(key)!r})"
                           for key in sorted(set(built) | set(wanted)) if built.get(key) != wanted.get(key))
        legacy = "language_id" in wanted and "language_id" not in built
        hint = " (it was built before --language-id existed: leave the flag out)" if legacy else ""
        raise SettingsMismatch(
            f"{world_dir} was built with other settings: {differ}{hint}; ingest with the same "
            "--extractor/--language-id/--min-chars/--lang/--max-bytes and ingest steps, or into a new --world"
        )


def _versions() -> dict:
    names = ("worldbuild", "trafilatura", "resiliparse", "warcio", "bm25s", "pyarrow", "datasketch")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    found["python"] = platform.python_version()
    return found


def snapshot_id(store: PageStore, settings: IngestSettings) -> str:
    """Content address of a world: its settings plus every stored field of every page (title,
    language, dates, text as stored, ...), so two worlds that answer differently never share an
    id. Each page is one JSON array: no field can run into the next."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(json.dumps(settings.content_settings(), sort_keys=True).encode())
    digest.update(json.dumps(PAGE_COLUMNS).encode())
    for row in store.identities():
        digest.update(b"\n" + json.dumps(row, ensure_ascii=False).encode())
    for alias in store.alias_identities():  # a browse or a mask by an alias reaches its page
        digest.update(b"\nalias " + json.dumps(alias, ensure_ascii=False).encode())
    for source, target, status in store.redirect_identities():  # browse answers differently with them
        digest.update(f"\n{source}\t->\t{target}\t{status}".encode())
    return digest.hexdigest()


def record_index(world_dir: str, name: str, info: dict) -> dict:
    """Add an index (e.g. dense) to the manifest without changing the pages or snapshot id."""
    store = PageStore(os.path.join(world_dir, STORE_FILE), writable=True)
    try:
        store.begin()
        manifest = store.manifest()
        manifest["index"][name] = info
        store.set_manifest(manifest)
        store.commit()
    finally:
        store.rollback()
        store.close()
    write_json_atomic(os.path.join(world_dir, MANIFEST_FILE), manifest)
    for entry in os.listdir(os.path.join(world_dir, INDEX_DIR)):
        if entry.startswith(f"{name}-") and os.path.join(INDEX_DIR, entry) != info["path"] and ".parts" not in entry:
            shutil.rmtree(os.path.join(world_dir, INDEX_DIR, entry), ignore_errors=True)
    return manifest


class WorldWriter:
    """Open a transaction on a world (created if new); `add` pages; `commit` or `abort`."""

    def __init__(self, world_dir: str, settings: IngestSettings, executor: Executor | None = None,
                 on_note: Callable[[str], None] | None = None):
        os.makedirs(os.path.join(world_dir, INDEX_DIR), exist_ok=True)
        self.world_dir = world_dir
        self.settings = settings
        self.executor = executor  # builds index shards (one at a time without it)
        self.on_note = on_note  # hears how a long index build goes
        self.store = PageStore(os.path.join(world_dir, STORE_FILE), writable=True)
        self.previous = self.store.manifest()
        try:
            check_settings(self.previous, settings, world_dir)
        except SettingsMismatch:
            self.store.close()
            raise
        # an extension keeps the world's own mirror settings, so old and new pages compare
        self.mirrors = MirrorSettings.of_manifest(self.previous)
        self.store.begin()
        self.added = 0
        for doc_id, text in self.store.pages_without_signature():  # a world from before mirror clusters
            self._join_cluster(doc_id, signature(text, self.mirrors))

    def add(self, page: Page, minhash: bytes | None = None) -> str | None:
        """Insert `page` unless the world has it already; returns the skip reason if not added.
        An exact duplicate of a stored page (same content hash) is not stored again: its URL
        becomes an alias of that page. `minhash` is the page's signature (computed here if not
        given), which puts it in its mirror cluster."""
        if self.store.url_taken(page.canonical_url):
            return "duplicate URL"
        kept = self.store.doc_with_content(page.content_hash)
        if kept is not None:
            self.store.insert_alias(page, kept)
            return "duplicate content"
        doc_id = self.store.insert(page)
        self._join_cluster(doc_id, minhash or signature(page.text, self.mirrors))
        self.added += 1
        return None

    def add_redirect(self, source: str, target: str, status: int) -> None:
        """Record a redirect the archive holds (both ends canonical URLs); the first one wins."""
        self.store.insert_redirect(source, target, status)

    def _join_cluster(self, doc_id: int, minhash: bytes) -> None:
        """Put the page in the cluster of every stored page it mirrors (merging those clusters
        into the one with the lowest id), or in a cluster of its own."""
        keys = band_keys(minhash, self.mirrors)
        matched: set[int] = set()
        for other, cluster, other_hash in self.store.mirror_candidates(keys):
            if cluster not in matched and similarity(minhash, other_hash, self.mirrors) >= self.mirrors.threshold:
                matched.add(cluster)
        cluster = min(matched | {doc_id})
        self.store.merge_clusters(cluster, matched)
        self.store.add_mirror(doc_id, cluster, minhash, keys)

    def abort(self) -> None:
        self.store.rollback()
        self.store.close()

    def commit(self, inputs: list[dict], report: IngestReport | None = None, note: dict | None = None) -> dict:
        """Build the index if the page set changed, then commit pages and manifest together.
        `note` says why this step happened (an expansion round: its tasks and sources); it goes
        into the step's history entry and the manifest's `expansions`."""
        try:
            manifest = self._commit(inputs, report, note)
        except BaseException:
            self.abort()
            raise
        self.store.close()
        write_json_atomic(os.path.join(self.world_dir, MANIFEST_FILE), manifest)
        self._remove_stale_indexes(keep={info["path"] for info in manifest["index"].values()})
        return manifest

    def _commit(self, inputs: list[dict], report: IngestReport | None, note: dict | None = None) -> dict:
        previous = self.previous or {}
        snapshot = snapshot_id(self.store, self.settings)
        changed = snapshot != previous.get("snapshot")
        index_rel = os.path.join(INDEX_DIR, f"bm25-{snapshot}")
        index_path = os.path.join(self.world_dir, index_rel)
        if changed or not os.path.isdir(index_path):
            # a sharded world stays sharded when extended without the flag
            shard_pages = (self.settings.index_shard_pages
                           or previous.get("index", {}).get("bm25", {}).get("shard_pages", 0))
            if shard_pages and self.store.count() > shard_pages:
                total = self.store.count()
                index_info = build_sharded(self.store.index_pages(), index_path, shard_pages, total, self.executor,
                                           key=self.store.layout_digest(), on_note=self.on_note)
            else:
                index_info = build_index(self.store.index_pages(), index_path, self.executor)
        else:
            index_info = previous["index"]["bm25"]
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        run = (report.to_dict() if report else {})
        total = IngestReport.from_dict(previous.get("report", {}))
        if report:
            total.absorb(report)
        languages = dict(self.store.counts_by("lang"))
        manifest = {
            "format": FORMAT_VERSION,
            "snapshot": snapshot,
            "parent": previous.get("snapshot") if changed else previous.get("parent"),
            "created_at": now if changed or not previous else previous["created_at"],
            "updated_at": now,
            "pages": self.store.count(),
            "redirects": self.store.redirect_count(),
            "domains": len(self.store.counts_by("domain")),
            "languages": languages,
            "settings": self.settings.content_settings(),
            "mirrors": {"settings": self.mirrors.to_dict(), **self.store.mirror_stats()},
            "versions": _versions(),
            # other indexes (dense) describe the old page set: kept only if it did not change
            "index": {**(previous.get("index", {}) if not changed else {}), "bm25": {**index_info, "path": index_rel}},
            "inputs": previous.get("inputs", []) + [{**item, "snapshot": snapshot} for item in inputs],
            "report": total.to_dict(),
            "history": previous.get("history", []) + [{
                "snapshot": snapshot,
                "parent": previous.get("snapshot"),
                "at": now,
                "inputs_added": [item["name"] for item in inputs],
                "pages_added": self.added,
                "report": run,
                **({"expansion": note} if note else {}),
            }],
        }
        if note or previous.get("expansions"):
            manifest["expansions"] = previous.get("expansions", []) + ([{**note, "snapshot": snapshot}] if note else [])
        self.store.set_manifest(manifest)
        self.store.commit()
        return manifest

    def _remove_stale_indexes(self, keep: set[str]) -> None:
        index_root = os.path.join(self.world_dir, INDEX_DIR)
        for name in os.listdir(index_root):
            if os.path.join(INDEX_DIR, name) not in keep:
                shutil.rmtree(os.path.join(index_root, name), ignore_errors=True)

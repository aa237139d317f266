"""One expansion round: for each task, search queries from its question and answer; the hits
the world lacks (and that no task's mask covers, mirror clusters included) are located in the CDX index and fetched by byte
range into `WORLD/expansions/round-N/pages.warc.gz`, which the ordinary ingest then adds (URL
and content-hash dedup, length filter) as a new snapshot recording its parent, the tasks and
the sources. Each query and fetch is logged as it happens, so a killed round resumes."""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass

from worldbuild.crawl.warcfile import complete_length
from worldbuild.expand.backends import CdxIndex, SerperSearch, SourceError, describe
from worldbuild.stagefile import StageFile
from worldbuild.tasks import Task, load_tasks
from worldbuild.urls import BadURL, canonical_url, url_key
from worldbuild.world import World

STOPWORDS = set("the a an of in on at to for and or by with from what which who whom whose when where why how "
                "is are was were be been did does do this that these those it its as into than then their".split())


@dataclass(frozen=True)
class ExpandSettings:
    per_task: int = 5  # new pages to fetch per task at most
    queries_per_task: int = 3
    results_per_query: int = 10
    max_queries: int = 1000  # over the whole round
    max_fetches: int = 5000
    query_cost: float = 0.001  # USD per search query (Serper's price list is about $1 per 1,000)


def task_queries(task: Task, limit: int) -> list[str]:
    """The question; the answer quoted; the answer with the question's rarest-looking words."""
    question = " ".join(task.question.split())[:300]
    answer = " ".join(task.answer.split())[:100]
    words = [w for w in re.findall(r"[\w'-]+", question) if w.lower() not in STOPWORDS and len(w) > 2]
    keywords = " ".join(sorted(words, key=len, reverse=True)[:4])
    queries = [question, f'"{answer}"' if answer else "", f"{answer} {keywords}".strip()]
    unique = list(dict.fromkeys(q for q in queries if q))
    return unique[:limit]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _masked_keys(world: World, tasks: list[Task]) -> set[str]:
    """URL keys no round may fetch: every task's mask URLs and every URL of their mirror
    clusters (pages and the aliases of exact duplicates)."""
    keys = set()
    for task in tasks:
        for url in [*task.mask, *world.masked_urls(task.mask)]:
            try:
                keys.add(url_key(url))
            except BadURL:
                continue
    return keys


def _round_number(world_dir: str) -> int:
    """The round a rerun resumes (its folder has no `done` mark), else the next one."""
    root = os.path.join(world_dir, "expansions")
    names = os.listdir(root) if os.path.isdir(root) else []
    rounds = sorted(int(n.split("-")[1]) for n in names if re.fullmatch(r"round-\d+", n))
    if rounds and not os.path.exists(os.path.join(root, f"round-{rounds[-1]}", "done")):
        return rounds[-1]
    return (rounds[-1] if rounds else 0) + 1


@dataclass(frozen=True)
class Sources:
    """Where a round looks: a Serper-shaped search API, and a CDX index whose records are fetched
    by byte range from `warc_base`."""

    search_url: str
    cdx_url: str
    warc_base: str
    search_key: str | None = None


def expand_round(world_dir: str, tasks_path: str, sources: Sources, settings: ExpandSettings = ExpandSettings()) -> dict:
    """`worldbuild expand`: one round against `sources` (WorldNotFound at once when there is no world)."""
    World.open(world_dir).close()
    search, cdx = SerperSearch(sources.search_url, sources.search_key), CdxIndex(sources.cdx_url, sources.warc_base)
    try:
        return expand(world_dir, tasks_path, search, cdx, settings)
    finally:
        search.close()
        cdx.close()


def expand(world_dir: str, tasks_path: str, search: SerperSearch, cdx: CdxIndex,
           settings: ExpandSettings = ExpandSettings()) -> dict:
    from worldbuild.ingest.pipeline import ingest

    tasks = load_tasks(tasks_path)
    number = _round_number(world_dir)
    round_dir = os.path.join(world_dir, "expansions", f"round-{number}")
    os.makedirs(round_dir, exist_ok=True)
    warc_path = os.path.join(round_dir, "pages.warc.gz")
    if os.path.exists(warc_path):  # a killed round may have torn its last record
        end, _ = complete_length(warc_path)
        with open(warc_path, "rb+") as handle:
            handle.truncate(end)
    queries_log = StageFile(os.path.join(round_dir, "queries.jsonl"))
    fetches_log = StageFile(os.path.join(round_dir, "fetches.jsonl"))
    logged = {r["key"]: r for r in queries_log.read() if "error" not in r}  # failed ones are tried again
    fetched_before = [r for r in fetches_log.read() if not r["outcome"].startswith("error")]
    done_fetches = {r["key"] for r in fetched_before}
    counts: Counter = Counter()
    # a resumed round spends what is left of its budgets, and reports the whole round
    counts["queries"] = len(logged)
    counts["fetch attempts"] = len(fetched_before)
    counts["fetched"] = sum(r["outcome"] == "fetched" for r in fetched_before)
    counts["bytes"] = sum(r.get("bytes", 0) for r in fetched_before)
    try:
        with World.open(world_dir) as world, open(warc_path, "ab") as warc:
            before = world.manifest
            masked = _masked_keys(world, tasks)
            claimed: set[str] = set()
            for task in tasks:
                wanted, wanted_keys = [], set()
                for query in task_queries(task, settings.queries_per_task):
                    key = f"{task.id}\t{query}"
                    done = logged.get(key)
                    if done is None:
                        if counts["queries"] >= settings.max_queries:
                            counts["queries skipped: --max-queries"] += 1
                            continue
                        counts["queries"] += 1
                        try:
                            links = [hit["link"] for hit in search.search(query, settings.results_per_query)]
                            counts["queries made now"] += 1
                        except SourceError as exc:
                            counts["query errors"] += 1
                            links = []
                            done = {"key": key, "links": [], "error": str(exc)}
                        done = done or {"key": key, "links": links}
                        queries_log.append(done)
                    else:
                        counts["queries resumed"] += 1
                    for link in done["links"]:
                        canon = canonical_url(link)
                        if canon in claimed or canon in wanted_keys:
                            continue
                        if url_key(link) in masked:
                            counts["skipped: a task's masked source"] += 1
                        elif world.page(link) is not None:
                            counts["skipped: already in the world"] += 1
                        elif len(wanted) < settings.per_task:
                            wanted.append(link)
                            wanted_keys.add(canon)
                for link in wanted:
                    claimed.add(canonical_url(link))
                    _fetch(link, cdx, warc, fetches_log, counts, settings, done_fetches)
    finally:
        queries_log.close()
        fetches_log.close()
    note = {"round": number, "tasks": {"file": os.path.basename(tasks_path), "sha256": _sha256(tasks_path),
                                       "count": len(tasks)},
            "sources": {"search": describe(search.url), "cdx": describe(cdx.cdx_url), "warcs": describe(cdx.warc_base)},
            "queries": counts["queries"], "fetches": counts["fetched"],
            "cost_usd": round(counts["queries"] * settings.query_cost, 4)}
    from worldbuild.records import IngestSettings

    settings_of_world = IngestSettings.of_world(before)  # the world's own filters (--lang, --min-chars, ...)
    result = ingest([warc_path], world_dir, settings_of_world, note=note) if os.path.getsize(warc_path) else None
    open(os.path.join(round_dir, "done"), "w").close()
    manifest = result.manifest if result and result.manifest else before
    return {**note, "counts": dict(sorted(counts.items())), "bytes_fetched": counts["bytes"],
            "snapshot": manifest["snapshot"], "parent": manifest.get("parent"),
            "pages_before": before["pages"], "pages_after": manifest["pages"],
            "ingest_skips": result.report.to_dict()["skips"] if result else {}}


def _fetch(link: str, cdx: CdxIndex, warc, log: StageFile, counts: Counter, settings: ExpandSettings,
           done: set[str]) -> None:
    if link in done:
        counts["fetches resumed"] += 1
        return
    if counts["fetch attempts"] >= settings.max_fetches:
        counts["fetches skipped: --max-fetches"] += 1
        return
    counts["fetch attempts"] += 1
    try:
        capture = cdx.lookup(link)
        if capture is None:
            counts["not in the CDX index"] += 1
            log.append({"key": link, "outcome": "not in index"})
            return
        record = cdx.fetch(capture)
    except SourceError as exc:
        counts["fetch errors"] += 1
        log.append({"key": link, "outcome": f"error: {exc}"})
        return
    warc.write(record)
    warc.flush()
    counts["fetched"] += 1
    counts["bytes"] += len(record)
    log.append({"key": link, "outcome": "fetched", "filename": capture.filename, "offset": capture.offset,
                "length": capture.length, "bytes": len(record)})

"""BM25 search latency (k=10, with snippets and page reads) on worlds of 10k / 100k (/ 1M) pages.

    python bench/search.py [--sizes 10000 100000] [--million] [--queries 1000] [--shard-pages N]
                           [--index-workers 1 2]
    python bench/search.py --world corpora-world --out bench/out/search_sample.json   # an existing world

Worlds are built by recombining real page text: every real page in ../shared/data is
ingested once (the pool world); page i of a benchmark world takes a real title and 6-14
paragraphs drawn at random (seeded by i) from the pool's paragraphs, so term statistics and
page lengths are those of real web text. Queries are 2-5 consecutive words drawn from pool
paragraphs. Each size is built and queried in its own process, so the peak RSS is its own.
Latency is the wall time of `World.search(query, k=10)` with the numba backend warmed up,
which includes BM25 top-k, reading the 10 pages from SQLite and cutting their snippets; the CPU
time of each search is reported too (on a shared machine wall time holds other processes' turns).
With `--world`, an existing world is measured, its queries drawn from its own paragraphs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import DATE, crawl_files, save_results, write_many_files  # noqa: E402
from worldbuild.executor import LocalExecutor  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.records import IngestSettings, Page, content_hash  # noqa: E402
from worldbuild.store import STORE_FILE, PageStore  # noqa: E402
from worldbuild.world import World  # noqa: E402
from worldbuild.writer import WorldWriter  # noqa: E402

_WORD = re.compile(r"[A-Za-zÀ-ÿ]{3,}")


def build_pool(scratch: str) -> str:
    world = os.path.join(scratch, "pool")
    files = write_many_files(os.path.join(scratch, "pool-input"))
    ingest(files, world, IngestSettings(min_chars=200), LocalExecutor())
    return world


def load_pool(pool_world: str) -> tuple[list[str], list[tuple[str, str]]]:
    store = PageStore(os.path.join(pool_world, STORE_FILE))
    paragraphs, titles = [], []
    for row in store.db.execute("SELECT title, lang, text FROM pages ORDER BY doc_id"):
        titles.append((row[0], row[1]))
        paragraphs += [p.strip() for p in row[2].split("\n\n") if len(p.strip()) >= 40]
    store.close()
    return paragraphs, titles


def synthetic_pages(n: int, paragraphs: list[str], titles: list[tuple[str, str]]):
    for i in range(n):
        rng = random.Random(i)
        text = "\n\n".join(paragraphs[rng.randrange(len(paragraphs))] for _ in range(rng.randint(6, 14)))
        title, lang = titles[rng.randrange(len(titles))]
        domain = f"site{i % 997}.example"
        url = f"https://{domain}/page/{i}"
        yield Page(url=url, canonical_url=url, title=title, text=text, crawl_date=DATE, lang=lang, domain=domain,
                   content_hash=content_hash(text), source=f"bench#{i}", length=len(text))


def make_queries(paragraphs: list[str], count: int) -> list[str]:
    rng = random.Random(12345)
    queries = []
    while len(queries) < count:
        words = _WORD.findall(paragraphs[rng.randrange(len(paragraphs))])
        if len(words) < 5:
            continue
        length = rng.randint(2, 5)
        start = rng.randrange(len(words) - length + 1)
        queries.append(" ".join(words[start : start + length]))
    return queries


def dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def world_queries(world_dir: str, count: int) -> list[str]:
    """`count` distinct queries made from the paragraphs of a built world's first pages (a fixed order)."""
    store = PageStore(os.path.join(world_dir, STORE_FILE))
    paragraphs = [p.strip() for (text,) in store.db.execute("SELECT text FROM pages ORDER BY doc_id LIMIT 3000")
                  for p in text.split("\n\n") if len(p.strip()) >= 40]
    store.close()
    found = list(dict.fromkeys(make_queries(paragraphs, count * 2)))[:count]
    random.Random(7).shuffle(found)
    return found


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def build_world(size: int, pool_world: str, world_dir: str, shard_pages: int = 0, index_workers: int = 1) -> dict:
    """Phase 1 (own process): insert `size` recombined pages and build the index (shards by
    `index_workers` processes at a time)."""
    paragraphs, titles = load_pool(pool_world)
    began = time.perf_counter()
    writer = WorldWriter(world_dir, IngestSettings(min_chars=200, index_shard_pages=shard_pages),
                         LocalExecutor(index_workers))
    for page in synthetic_pages(size, paragraphs, titles):
        writer.add(page)
    inserted = time.perf_counter()
    manifest = writer.commit([])
    built = time.perf_counter()
    index_dir = os.path.join(world_dir, manifest["index"]["bm25"]["path"])
    return {
        "pages": manifest["pages"],
        "build_s": round(built - began, 1),
        "insert_s": round(inserted - began, 1),
        "index_build_s": round(built - inserted, 1),
        "index_mb": round(dir_size(index_dir) / 1e6, 1),
        "store_mb": round(os.path.getsize(os.path.join(world_dir, STORE_FILE)) / 1e6, 1),
        "peak_rss_build_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # with index_workers > 1 the shards are built in child processes: the largest of them
        "peak_rss_shard_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "index_workers": index_workers,
        "index_shards": manifest["index"]["bm25"].get("shards", 1),
    }


def timed(world: World, queries: list[str], cpu: list[float] | None = None) -> tuple[list[float], int]:
    latencies, empty = [], 0
    for query in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        hits = world.search(query, k=10)
        latencies.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
        empty += not hits
    return latencies, empty


def query_world(pool_world: str, world_dir: str, query_count: int) -> dict:
    """Phase 2 (own process, as a server would be): open the world and time searches."""
    paragraphs, _ = load_pool(pool_world)
    queries = make_queries(paragraphs, query_count)
    rss_before_open = rss_mb()
    world = World.open(world_dir, backend="numba")
    warm = time.perf_counter()
    world.index.warmup()
    warmup_s = time.perf_counter() - warm
    timed(world, queries[:50])
    cpu: list[float] = []
    latencies, empty = timed(world, queries, cpu)
    bm25_only = []
    for query in queries:
        start = time.perf_counter()
        world.index.search(world.index.terms(query), 10)
        bm25_only.append((time.perf_counter() - start) * 1000)
    rss_serving = rss_mb() - rss_before_open
    world.close()
    with World.open(world_dir, backend="numpy") as numpy_world:
        numpy_latencies, _ = timed(numpy_world, queries[:200])
    return {
        "numba_warmup_s": round(warmup_s, 1),
        "rss_added_by_open_and_queries_mb": round(rss_serving),
        "queries": len(queries),
        "queries_without_hits": empty,
        "p50_ms": round(statistics.median(latencies), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "cpu_p99_ms": round(percentile(cpu, 99), 2),
        "load_average_1m": os.getloadavg()[0],
        "bm25_only_p50_ms": round(statistics.median(bm25_only), 3),
        "numpy_backend_p50_ms": round(statistics.median(numpy_latencies), 2),
    }


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 pages (needs ~1 h and ~15 GB)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join("bench", "out", "search.json"))
    parser.add_argument("--shard-pages", type=int, default=0, help="build BM25 in shards of this many pages")
    parser.add_argument("--index-workers", type=int, nargs="+", default=[1],
                        help="build each size once per value: shards built by this many processes at a time")
    parser.add_argument("--phase", choices=["build", "query"], help=argparse.SUPPRESS)  # internal: child process
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    parser.add_argument("--world", help="measure this existing world (queries from its own pages)")
    args = parser.parse_args()
    if args.phase == "build":
        print(json.dumps(build_world(args.sizes[0], args.pool, args.world, args.shard_pages, args.index_workers[0])))
        return
    if args.phase == "query":
        print(json.dumps(query_world(args.pool, args.world, args.queries)))
        return
    if args.world:  # the world is its own pool: queries from its paragraphs
        row = {"world": os.path.basename(os.path.abspath(args.world)),
               "pages": World.open(args.world).manifest["pages"],
               **child("--phase", "query", "--pool", args.world, "--world", args.world, "--queries", str(args.queries))}
        print(json.dumps(row), flush=True)
        save_results(args.out, [row])
        return
    if not crawl_files():
        sys.exit("../shared/data is missing: the benchmark needs the real pages")
    scratch = tempfile.mkdtemp(prefix="wb-bench-search-")
    pool = build_pool(scratch)
    sizes = args.sizes + ([1_000_000] if args.million else [])
    results = []
    for size, index_workers in ((s, w) for s in sizes for w in args.index_workers):
        world_dir = os.path.join(scratch, f"world-{size}")
        row = child("--phase", "build", "--sizes", str(size), "--pool", pool, "--world", world_dir,
                    "--shard-pages", str(args.shard_pages), "--index-workers", str(index_workers))
        row.update(child("--phase", "query", "--pool", pool, "--world", world_dir, "--queries", str(args.queries)))
        shutil.rmtree(world_dir, ignore_errors=True)
        results.append(row)
        print(f"{row['pages']:>9} pages in {row['index_shards']} shard(s), {index_workers} at a time | "
              f"build {row['build_s']} s (index {row['index_build_s']} s) | "
              f"index {row['index_mb']} MB, store {row['store_mb']} MB | peak RSS build {row['peak_rss_build_mb']} MB (largest shard worker {row['peak_rss_shard_worker_mb']} MB), "
              f"serving +{row['rss_added_by_open_and_queries_mb']} MB | "
              f"search k=10 p50 {row['p50_ms']} ms, p90 {row['p90_ms']} ms, p99 {row['p99_ms']} ms "
              f"(bm25 alone p50 {row['bm25_only_p50_ms']} ms; numpy backend p50 {row['numpy_backend_p50_ms']} ms)",
              flush=True)
    save_results(args.out, results)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

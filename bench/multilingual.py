"""Known-item search in every language: does a page come back for one of its own sentences?
recall@10 and MRR per page language, on real pages (`../shared/data/html` and `html-intl`).

    python bench/multilingual.py [--world DIR] [--per-language N] [--out bench/out/multilingual.json]

Without --world it wraps every real HTML page with a web URL into a WARC, ingests it into a
temporary world (every page keeps the language ingest detected) and asks, per language, up to
N sentences (a seeded random pick among the page's sentences that no other page holds).
Short sentences of CJK pages count from 12 characters, others from 40.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import DATE, SHARED, html_pages, save_results  # noqa: E402
from worldbuild.ingest.wrap import write_html_warc  # noqa: E402

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
REPORTED = ("zh", "ja", "ko", "ru", "de", "en")


def intl_pages(shared: str = SHARED) -> list[tuple[str, bytes]]:
    """The real non-Latin pages (`html-intl/`), as (url, bytes); gzipped files unpacked."""
    folder = os.path.join(shared, "html-intl")
    rows = [json.loads(line) for line in open(os.path.join(folder, "pages.jsonl"))]
    pages = []
    for row in sorted(rows, key=lambda r: r["file"]):
        if not row["url"].startswith(("http://", "https://")):
            continue
        with open(os.path.join(folder, row["file"]), "rb") as handle:
            body = handle.read()
        pages.append((row["url"], gzip.decompress(body) if row["file"].endswith(".gz") else body))
    return pages


def build_world(world_dir: str, shared: str = SHARED) -> None:
    from worldbuild.ingest.pipeline import ingest

    scratch = tempfile.mkdtemp(prefix="wb-bench-ml-")
    try:
        warc = os.path.join(scratch, "pages.warc.gz")
        write_html_warc(warc, html_pages(shared) + intl_pages(shared), DATE)
        ingest([warc], world_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sentences(text: str) -> list[str]:
    found = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        minimum = 12 if len(_CJK.findall(part)) > len(part) / 3 else 40
        if minimum <= len(part) <= 200:
            found.append(part)
    return found


def _fragment(sentence: str, rng: random.Random) -> str:
    """A piece from inside a sentence, cut away from punctuation: 8 characters of CJK text,
    else 4 words."""
    if len(_CJK.findall(sentence)) > len(sentence) / 3:
        start = rng.randrange(1, max(2, len(sentence) - 9))
        return sentence[start:start + 8]
    words = sentence.split()
    start = rng.randrange(0, max(1, len(words) - 4))
    return " ".join(words[start:start + 4])


def known_items(world, per_language: int, seed: int = 7) -> dict[str, dict[str, list[tuple[str, int]]]]:
    """Per page language: (sentence, doc id) and (fragment of a sentence, doc id) pairs, each
    found on no other page."""
    rows = world.store.db.execute("SELECT doc_id, lang, text FROM pages ORDER BY doc_id").fetchall()
    everything = "\n\0".join(text for _, _, text in rows)
    rng = random.Random(seed)
    by_lang: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: {"sentence": [], "fragment": []})
    for doc_id, lang, text in rows:
        candidates = sentences(text)
        rng.shuffle(candidates)
        unique = next((s for s in candidates if everything.count(s) == 1), None)
        if unique is None:
            continue
        by_lang[lang]["sentence"].append((unique, doc_id))
        for sentence in candidates[:8]:
            fragment = _fragment(sentence, rng)
            if everything.count(fragment) == 1:
                by_lang[lang]["fragment"].append((fragment, doc_id))
                break
    for sets in by_lang.values():
        for name in sets:
            rng.shuffle(sets[name])
            sets[name] = sets[name][:per_language]
    return dict(by_lang)


def evaluate(world, queries: list[tuple[str, int]]) -> dict:
    ranks = []
    for query, doc_id in queries:
        hits = [hit.doc_id for hit in world.search(query, k=10, snippet_chars=0)]
        ranks.append(hits.index(doc_id) + 1 if doc_id in hits else None)
    return {"queries": len(ranks),
            "recall@10": round(sum(1 for r in ranks if r) / len(ranks), 3),
            "mrr@10": round(statistics.fmean(1 / r if r else 0 for r in ranks), 3)}


def main() -> None:
    from worldbuild.world import World

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", help="an existing world (default: build one from ../shared/data)")
    parser.add_argument("--per-language", type=int, default=200)
    parser.add_argument("--out", default=os.path.join("bench", "out", "multilingual.json"))
    args = parser.parse_args()
    scratch, world_dir = None, args.world
    if world_dir is None or not os.path.exists(world_dir):
        if world_dir is None:
            scratch = tempfile.mkdtemp(prefix="wb-bench-ml-world-")
            world_dir = os.path.join(scratch, "world")
        build_world(world_dir)
    results = {}
    with World.open(world_dir) as world:
        print(f"world: {len(world)} pages, snapshot {world.snapshot}")
        print("| language | pages | sentences | recall@10 | MRR@10 | fragments | recall@10 | MRR@10 |")
        print("|---|---|---|---|---|---|---|---|")
        pages = dict(world.store.counts_by("lang"))
        items = known_items(world, args.per_language)
        for lang in sorted(items, key=lambda lang: (lang not in REPORTED, -pages[lang], lang)):
            results[lang] = {"pages": pages[lang], **{name: evaluate(world, queries) if queries else None
                                                      for name, queries in items[lang].items()}}
            cells = [str(pages[lang])]
            for name in ("sentence", "fragment"):
                row = results[lang][name]
                cells += [str(row["queries"]), f"{row['recall@10']:.3f}", f"{row['mrr@10']:.3f}"] if row else ["0", "-", "-"]
            print(f"| {lang} | " + " | ".join(cells) + " |")
    save_results(args.out, results)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

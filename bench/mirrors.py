"""Precision and recall of mirror detection on a labelled set built from real pages.

Positives: near-copies of real HTML pages from `../shared/data/html`, made at the HTML level
the way mirrors differ on the web (boilerplate added: a syndication line and a newsletter
block; boilerplate removed: navigation, header, footer and the article's last paragraphs
dropped; paragraphs reordered; re-templated: the article's text in another site's page
skeleton). Negatives: every pair of different articles, including real pages of one site from
the real crawls in `../shared/data/warc` (archive.org, iana.org, ...), which share a template.

Part 1 sweeps shingle sizes and thresholds over estimated Jaccard of every labelled pair (pair
level, no clustering). Part 2 runs the real ingest (map step signatures, merge clustering) with
the chosen defaults over all of it in shuffled order and scores the clusters it stored.

    python bench/mirrors.py --pages 120           # ~4 min of CPU on 2 cores
    python bench/mirrors.py --pages 700           # every real page (a full run, ~25 min)
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from html import escape

import lxml.html
import numpy as np
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import DATE, REPO, crawl_files, html_pages, save_results  # noqa: E402
from worldbuild.executor import LocalExecutor  # noqa: E402
from worldbuild.ingest.decode import decode_html  # noqa: E402
from worldbuild.ingest.extract import extract_page  # noqa: E402
from worldbuild.ingest.mapstep import Skip, record_to_page  # noqa: E402
from worldbuild.ingest.pipeline import ingest  # noqa: E402
from worldbuild.ingest.wrap import write_html_response  # noqa: E402
from worldbuild.mirrors import SHINGLE_HASHES, MirrorSettings, signature  # noqa: E402
from worldbuild.records import IngestSettings, content_hash  # noqa: E402
from worldbuild.store import PageStore  # noqa: E402
from worldbuild.urls import canonical_url  # noqa: E402

SETTINGS = IngestSettings()
KINDS = ("boilerplate_added", "boilerplate_removed", "reordered", "retemplated")
SHINGLES = (3, 5, 7)
THRESHOLDS = [round(float(t), 2) for t in np.arange(0.2, 0.95, 0.05)]
BOILERPLATE_TOP = ("This article first appeared on {site} and is republished here with permission. "
                   "Opinions expressed are the author's own.")
BOILERPLATE_BOTTOM = ("Sign up for our free weekly newsletter and never miss a story. Share this article on "
                      "Facebook, Twitter and by email. Related: the ten most read stories of the week. "
                      "Comments are closed for this article. Advertisement.")


def _main_container(tree):
    """The element holding most of the page's paragraphs (the article body)."""
    parents = Counter(p.getparent() for p in tree.iter("p") if p.getparent() is not None)
    return parents.most_common(1)[0][0] if parents else None


def make_variant(html: str, kind: str, text: str, rng: random.Random) -> str | None:
    """A near-copy of the page made the way `kind` of mirror differs; None if the page has no
    paragraph structure to change."""
    if kind == "retemplated":
        paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
        body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        return ("<!DOCTYPE html><html><head><title>Mirror | Reprints</title></head><body>"
                "<header><a href='/'>Reprints</a> <a href='/world'>World</a> <a href='/tech'>Tech</a></header>"
                "<aside><h3>Popular</h3><ul><li><a href='/a'>Ten facts</a></li><li><a href='/b'>Weather</a></li>"
                f"</ul></aside><main><article>{body}</article></main>"
                "<footer>Reprints Network. All rights reserved. Privacy. Terms.</footer></body></html>")
    tree = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))  # lxml refuses str with a declaration
    main = _main_container(tree)
    if main is None:
        return None
    paragraphs = [p for p in main if p.tag == "p"]
    if kind == "boilerplate_added":
        top = lxml.html.fragment_fromstring(f"<p>{BOILERPLATE_TOP.format(site='the original site')}</p>")
        main.insert(0, top)
        main.append(lxml.html.fragment_fromstring(f"<p>{BOILERPLATE_BOTTOM}</p>"))
    elif kind == "boilerplate_removed":
        for element in list(tree.iter("nav", "header", "footer", "aside", "form")):
            if element.getparent() is not None and main not in element.iterdescendants() and element is not main:
                element.getparent().remove(element)
        for p in paragraphs[-2:] if len(paragraphs) >= 6 else paragraphs[-1:] if len(paragraphs) >= 3 else []:
            main.remove(p)
    elif kind == "reordered":
        if len(paragraphs) < 2:
            return None
        order = paragraphs[:]
        for i in range(0, len(order) - 1, 2):
            if rng.random() < 0.7:
                order[i], order[i + 1] = order[i + 1], order[i]
        anchor = main.index(paragraphs[0])
        for p in paragraphs:
            main.remove(p)
        for offset, p in enumerate(order):
            main.insert(anchor + offset, p)
    return lxml.html.tostring(tree, encoding="unicode")


def extracted(html: str, url: str) -> str | None:
    page = extract_page(html, url, SETTINGS)
    return page.text if page is not None and len(page.text) >= SETTINGS.min_chars else None


def labelled_set(count: int, seed: int) -> list[dict]:
    """Items {url, group, kind, text, html}: real articles, their near-copies, and the real
    crawl files' pages (several per site)."""
    rng = random.Random(seed)
    items = []
    for url, body in html_pages():
        if len({i["group"] for i in items}) >= count:
            break
        html, _ = decode_html(body, "text/html")
        text = extracted(html, url)
        if text is None:
            continue
        group = f"html:{canonical_url(url)}"
        items.append({"url": url, "group": group, "kind": "original", "text": text, "html": html})
        for number, kind in enumerate(KINDS):
            variant = make_variant(html, kind, text, rng)
            variant_text = extracted(variant, url) if variant else None
            if variant_text is not None:
                items.append({"url": f"https://mirror{number}.example/{len(items)}/{kind}", "group": group,
                              "kind": kind, "text": variant_text, "html": variant})
    for name in crawl_files():  # real pages of one site: the hard negatives
        with open(name, "rb") as handle:
            for record in ArchiveIterator(handle, arc2warc=True):
                try:
                    page = record_to_page(record, name, SETTINGS)
                except Skip:
                    continue
                except Exception:  # noqa: BLE001 - a record the ingest would skip
                    continue
                items.append({"url": page.url, "group": f"crawl:{page.canonical_url}", "kind": "crawl",
                              "text": page.text, "domain": page.domain})
    # one page per URL; pages with one text are one group (exact duplicates are mirrors too)
    seen, unique, by_hash = set(), [], {}
    for item in items:
        canon = canonical_url(item["url"])
        if canon in seen:
            continue
        seen.add(canon)
        item["group"] = by_hash.setdefault(content_hash(item["text"]), item["group"])
        unique.append(item)
    return unique


def pair_scores(items: list[dict], mirrors: MirrorSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimated Jaccard of every pair (upper triangle), and whether the pair is a mirror pair."""
    matrix = np.stack([np.frombuffer(signature(i["text"], mirrors), dtype="<u4") for i in items])
    groups = np.array([i["group"] for i in items])
    rows, cols = np.triu_indices(len(items), k=1)
    scores = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 200_000):
        r, c = rows[start:start + 200_000], cols[start:start + 200_000]
        scores[start:start + 200_000] = (matrix[r] == matrix[c]).mean(axis=1)
    return scores, groups[rows] == groups[cols], np.stack([rows, cols], axis=1)


def prf(predicted: np.ndarray, truth: np.ndarray) -> dict:
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp,
            "fn": fn}


def sweep(items: list[dict], shingle_hash: str) -> tuple[list[dict], dict]:
    """P/R at every (shingle size, threshold), and per shingle size how the scores of mirror
    pairs (by kind) and of the hardest non-mirror pairs fall."""
    table, spread = [], {}
    for size in SHINGLES:
        started = time.process_time()
        for item in items:
            signature(item["text"], MirrorSettings(shingle_words=size, shingle_hash=shingle_hash))
        per_page_ms = (time.process_time() - started) / len(items) * 1000
        scores, truth, pairs = pair_scores(items, MirrorSettings(shingle_words=size, shingle_hash=shingle_hash))
        for threshold in THRESHOLDS:
            table.append({"shingle_words": size, "threshold": threshold, **prf(scores >= threshold, truth)})
        kind_of_pair = np.array([items[b]["kind"] if items[a]["kind"] == "original" else items[a]["kind"]
                                 for a, b in pairs[truth]])
        positives = scores[truth]
        hardest = np.argsort(np.where(truth, -1.0, scores))[::-1][:8]
        spread[size] = {
            "signature_cpu_ms_per_page": round(per_page_ms, 2),
            "mirror_pairs_by_kind": {kind: {"min": round(float(positives[kind_of_pair == kind].min()), 3),
                                            "p5": round(float(np.percentile(positives[kind_of_pair == kind], 5)), 3)}
                                     for kind in sorted(set(kind_of_pair))},
            "hardest_non_mirror_pairs": [{"score": round(float(scores[i]), 3), "a": items[pairs[i][0]]["url"],
                                          "b": items[pairs[i][1]]["url"]} for i in hardest],
        }
        print(f"shingles {size}: {spread[size]['mirror_pairs_by_kind']}; hardest negatives "
              f"{[h['score'] for h in spread[size]['hardest_non_mirror_pairs']]}", file=sys.stderr)
    return table, spread


def end_to_end(items: list[dict], seed: int, workers: int) -> dict:
    """Ingest every item (shuffled) into a fresh world and score the clusters it stored."""
    rng = random.Random(seed)
    html_items = [i for i in items if "html" in i]
    rng.shuffle(html_items)
    with tempfile.TemporaryDirectory() as tmp:
        warc = os.path.join(tmp, "mirrors.warc.gz")
        with open(warc, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for item in html_items:
                write_html_response(writer, item["url"], item["html"].encode("utf-8"), DATE,
                                    "text/html; charset=utf-8")
        world = os.path.join(tmp, "world")
        started = time.perf_counter()
        result = ingest([warc, *crawl_files()], world, SETTINGS, LocalExecutor(workers))
        elapsed = time.perf_counter() - started
        store = PageStore(os.path.join(world, "pages.sqlite"))
        cluster_of = dict(store.db.execute("SELECT p.canonical_url, m.cluster FROM pages p JOIN mirrors m USING "
                                           "(doc_id)"))
        cluster_of.update(store.db.execute("SELECT a.canonical_url, m.cluster FROM aliases a JOIN mirrors m USING "
                                           "(doc_id)"))
        store.close()
    scored = [i for i in items if canonical_url(i["url"]) in cluster_of]
    predicted, truth, kinds = [], [], []
    for a, b in itertools.combinations(scored, 2):
        predicted.append(cluster_of[canonical_url(a["url"])] == cluster_of[canonical_url(b["url"])])
        truth.append(a["group"] == b["group"])
        kinds.append(b["kind"] if a["kind"] == "original" else a["kind"] if b["kind"] == "original" else "other")
    predicted, truth, kinds = np.array(predicted), np.array(truth), np.array(kinds)
    per_kind = {kind: prf(predicted[(kinds == kind)], truth[(kinds == kind)])["recall"] for kind in KINDS}
    same_site = np.array([a.get("domain") is not None and a.get("domain") == b.get("domain")
                          for a, b in itertools.combinations(scored, 2)])
    false_same_site = int(np.sum(predicted & ~truth & same_site))
    return {"pages_scored": len(scored), "pairs": len(truth), "mirror_pairs": int(truth.sum()),
            "same_site_negative_pairs": int(np.sum(same_site & ~truth)), "same_site_false_positives": false_same_site,
            **prf(predicted, truth), "recall_by_kind": per_kind, "ingest_s": round(elapsed, 1),
            "manifest_mirrors": result.manifest["mirrors"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=120, help="real HTML articles to make mirrors of")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shingle-hash", choices=SHINGLE_HASHES, default=MirrorSettings().shingle_hash,
                        help="for the sweep (part 1); the ingest (part 2) builds a new world with the default")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out", "mirrors.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    items = labelled_set(args.pages, args.seed)
    kinds = Counter(i["kind"] for i in items)
    print(f"labelled set: {dict(kinds)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    table, spread = sweep(items, args.shingle_hash)
    best = max(table, key=lambda row: (row["f1"], row["precision"]))
    defaults = MirrorSettings(shingle_hash=args.shingle_hash)
    chosen = next(r for r in table if r["shingle_words"] == defaults.shingle_words
                  and abs(r["threshold"] - defaults.threshold) < 1e-9)
    print(f"best by F1: {best}; the defaults: {chosen}", file=sys.stderr)
    ingest_run = end_to_end(items, args.seed, args.workers)
    print(f"end to end: {ingest_run}", file=sys.stderr)
    save_results(args.out, {
        "pages": args.pages, "items": dict(kinds), "seed": args.seed, "cpus": os.cpu_count(),
        "defaults": defaults.to_dict(), "pair_level_at_defaults": chosen, "pair_level_best": best,
        "score_spread": spread, "sweep": table, "ingest": ingest_run, "seconds": round(time.perf_counter() - started, 1),
    })


if __name__ == "__main__":
    main()

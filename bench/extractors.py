"""Extractors compared on real ground truth: quality, speed, and what the agent sees.

    python bench/extractors.py --aeb DIR [--out bench/out/extractors.json]

DIR is a checkout of scrapinghub/article-extraction-benchmark (181 real article pages,
`html/*.html.gz`, with `ground-truth.json`); its own `evaluate.py` scores the output (F1,
precision, recall over 4-word shingles, each page weighing the same; bootstrap std). The
second set is the 44 pages of `../shared/data/html-intl` with expected text (Arabic, Chinese,
Japanese, Korean, Russian, Thai, ... ; from newspaper, newspaper4k, goose3, fundus and
encoding_bench), scored by the same function. Each page goes through the ingest's own path
(`decode_html`, then the extractor as `worldbuild ingest --extractor` runs it); the text scored is
the text a world stores. For reference, the benchmark's own call of trafilatura
(`trafilatura.extract(html, include_comments=False)`) is scored beside them.

Speed: CPU seconds of the extractor's call (`extract_text`) over every page of both sets
after one untimed pass, as pages per second on one core.

What the agent sees: the HTML elements whose text is part of the article (their text occurs in
the ground truth) — headings, list items, table cells, links — and whether the stored text keeps
each as structure (a Markdown heading line, a list line, a table row, a `[text](url)` link),
keeps only its words, or loses it.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lxml.html  # noqa: E402

from bench.realdata import SHARED, save_results  # noqa: E402
from worldbuild.ingest.decode import decode_html  # noqa: E402
from worldbuild.ingest.extract import extract_page, extract_text, warm_up  # noqa: E402
from worldbuild.records import EXTRACTORS, IngestSettings  # noqa: E402

INTL = os.path.join(SHARED, "html-intl")
REFERENCE = "trafilatura.extract (the benchmark's call)"
_SPACE = re.compile(r"\s+")
_LIST_LINE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


def load_evaluate(aeb: str):
    """The benchmark's own evaluate.py (its metric, not a copy of it)."""
    spec = importlib.util.spec_from_file_location("aeb_evaluate", os.path.join(aeb, "evaluate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def aeb_pages(aeb: str) -> tuple[dict[str, bytes], dict[str, dict]]:
    truth = json.load(open(os.path.join(aeb, "ground-truth.json"), encoding="utf8"))
    pages = {}
    for key in truth:
        with gzip.open(os.path.join(aeb, "html", f"{key}.html.gz")) as handle:
            pages[key] = handle.read()
    return pages, truth


def _expected_text(path: str) -> str:
    if path.endswith(".txt"):
        return open(path, encoding="utf8").read()
    data = json.load(open(path, encoding="utf8"))
    if "expected" in data:  # goose3
        return data["expected"]["cleaned_text"]
    article = next(iter(data.values()))  # fundus: summary, then each section's headline and paragraphs
    body = article["body"]
    parts = list(body.get("summary", []))
    for section in body.get("sections", []):
        parts += section.get("headline", []) + section.get("paragraphs", [])
    return "\n".join(parts)


def intl_pages() -> tuple[dict[str, bytes], dict[str, dict], dict[str, str]]:
    rows = [json.loads(line) for line in open(os.path.join(INTL, "pages.jsonl"), encoding="utf8")]
    pages, truth, urls = {}, {}, {}
    for row in rows:
        if not row.get("expected"):
            continue
        raw = open(os.path.join(INTL, row["file"]), "rb").read()
        pages[row["file"]] = gzip.decompress(raw) if row["file"].endswith(".gz") else raw
        truth[row["file"]] = {"articleBody": _expected_text(os.path.join(INTL, row["expected"]))}
        urls[row["file"]] = row["url"]
    return pages, truth, urls


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def article_elements(html: str, truth: str) -> dict[str, list[tuple[str, str]]]:
    """(text, href) of the headings, list items, table cells and links that belong to the
    article: their whitespace-folded text (of 3+ words, or 8+ characters without spaces) occurs
    in the ground truth."""
    wanted = _norm(truth)
    found: dict[str, list[tuple[str, str]]] = {"headings": [], "list items": [], "table cells": [], "links": []}
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return found
    kinds = {"headings": "//h1|//h2|//h3|//h4|//h5|//h6", "list items": "//li", "table cells": "//td|//th",
             "links": "//a[@href]"}
    for kind, xpath in kinds.items():
        for element in tree.xpath(xpath):
            text = _norm(element.text_content())
            if (len(text.split()) >= 3 or (" " not in text and len(text) >= 8)) and text in wanted:
                found[kind].append((text, element.get("href") or ""))
    return found


def structure_kept(text: str, elements: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, int]]:
    """Per kind: how many article elements the stored text keeps as structure, as words only, or loses."""
    lines = [_norm(line) for line in text.splitlines()]
    flat = _norm(text)
    structured = {
        "headings": [line for line, raw in zip(lines, text.splitlines()) if raw.lstrip().startswith("#")],
        "list items": [line for line, raw in zip(lines, text.splitlines()) if _LIST_LINE.match(raw)],
        "table cells": [line for line, raw in zip(lines, text.splitlines()) if raw.lstrip().startswith("|")],
    }
    counts = {}
    for kind, items in elements.items():
        kept = words = lost = 0
        for item, href in items:
            if kind == "links":
                as_structure = f"[{item}](" in flat
            else:
                as_structure = any(item in line for line in structured[kind])
            if as_structure:
                kept += 1
            elif item in flat:
                words += 1
            else:
                lost += 1
        counts[kind] = {"as structure": kept, "words only": words, "lost": lost}
    return counts


def run_extractor(name: str, decoded: dict[str, tuple[str, str]]) -> tuple[dict[str, str], float, int]:
    """Stored text per page, CPU seconds of the extractor's calls (second pass), pages with a
    publication date."""
    if name == REFERENCE:
        import trafilatura

        texts = {key: trafilatura.extract(html, include_comments=False) or "" for key, (url, html) in decoded.items()}
        return texts, float("nan"), 0
    settings = IngestSettings(extractor=name)
    warm_up(settings)
    texts, dated = {}, 0
    for key, (url, html) in decoded.items():
        extracted = extract_page(html, url, settings)
        texts[key] = extracted.text if extracted else ""
        dated += bool(extracted and extracted.published_date)
    began = time.process_time()
    for url, html in decoded.values():
        extract_text(html, url, settings)
    return texts, time.process_time() - began, dated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aeb", required=True, help="checkout of scrapinghub/article-extraction-benchmark")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join("bench", "out", "extractors.json"))
    args = parser.parse_args()
    evaluate = load_evaluate(args.aeb)
    aeb_html, aeb_truth = aeb_pages(args.aeb)
    intl_html, intl_truth, intl_urls = intl_pages()
    sets = {
        "article-extraction-benchmark": (aeb_truth, {k: (f"https://example.com/{k}", decode_html(b)[0])
                                                     for k, b in aeb_html.items()}),
        "html-intl (44 with expected text)": (intl_truth, {k: (intl_urls[k], decode_html(b)[0])
                                                           for k, b in intl_html.items()}),
    }
    elements = {name: {k: article_elements(html, truth[k]["articleBody"]) for k, (_, html) in pages.items()}
                for name, (truth, pages) in sets.items()}
    results = {"load_before": os.getloadavg()[0], "pages": {name: len(t) for name, (t, _) in sets.items()},
               "extractors": {}}
    for extractor in (*EXTRACTORS, REFERENCE):
        row = {"sets": {}}
        cpu = 0.0
        for set_name, (truth, pages) in sets.items():
            texts, seconds, dated = run_extractor(extractor, pages)
            cpu += seconds
            scored = evaluate.evaluate(truth, {k: {"articleBody": texts[k]} for k in truth}, args.bootstrap)
            kept: dict[str, dict[str, int]] = {}
            for key in truth:
                for kind, counts in structure_kept(texts[key], elements[set_name][key]).items():
                    for how, n in counts.items():
                        kept.setdefault(kind, {}).setdefault(how, 0)
                        kept[kind][how] += n
            row["sets"][set_name] = {
                **{m: round(scored[m], 4) for m in ("f1", "precision", "recall", "accuracy")},
                **{f"{m}_std": round(scored[f"{m}_std"], 4) for m in ("f1", "precision", "recall")},
                "empty_pages": sum(1 for k in truth if not texts[k].strip()),
                "dated_pages": dated,
                "structure": kept,
            }
        pages_total = sum(len(t) for t, _ in sets.values())
        row["cpu_s"] = cpu
        row["pages_per_s_per_core"] = pages_total / cpu if cpu == cpu and cpu > 0 else None
        results["extractors"][extractor] = row
        aeb = row["sets"]["article-extraction-benchmark"]
        intl = row["sets"]["html-intl (44 with expected text)"]
        speed = f"{row['pages_per_s_per_core']:.1f} pages/s/core" if row["pages_per_s_per_core"] else "(not timed)"
        print(f"{extractor:<44} AEB F1 {aeb['f1']:.3f}±{aeb['f1_std']:.3f} (P {aeb['precision']:.3f} "
              f"R {aeb['recall']:.3f}) | intl F1 {intl['f1']:.3f}±{intl['f1_std']:.3f} | {speed}", flush=True)
        for kind, counts in aeb["structure"].items():
            print(f"    AEB {kind:<12} {counts}")
    results["load_after"] = os.getloadavg()[0]
    save_results(args.out, results)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as handle:
        handle.write(markdown_table(results))


def markdown_table(results: dict) -> str:
    aeb, intl = "article-extraction-benchmark", "html-intl (44 with expected text)"
    lines = [f"Load average {results['load_before']:.1f} → {results['load_after']:.1f} (2 cores, shared).", "",
             "| extractor | pages/s per core | AEB F1 (P / R) | html-intl F1 | dated pages (AEB) | "
             "article headings as headings | list items as list lines | table cells in table rows | "
             "links as links |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["extractors"].items():
        a, i = row["sets"][aeb], row["sets"][intl]

        def share(kind: str) -> str:
            counts = a["structure"][kind]
            total = sum(counts.values())
            return f"{counts['as structure']}/{total} (lost {counts['lost']})"
        speed = f"{row['pages_per_s_per_core']:.1f}" if row["pages_per_s_per_core"] else "–"
        lines.append(f"| {name} | {speed} | {a['f1']:.3f} ± {a['f1_std']:.3f} ({a['precision']:.3f} / "
                     f"{a['recall']:.3f}) | {i['f1']:.3f} ± {i['f1_std']:.3f} | {a['dated_pages']}/"
                     f"{results['pages'][aeb]} | {share('headings')} | {share('list items')} | "
                     f"{share('table cells')} | {share('links')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

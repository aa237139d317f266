"""Retrieval quality of a world against relevance judgments: nDCG@10 and Recall@5/100/1000,
computed by trec_eval itself (pytrec_eval), for bm25, dense or hybrid.

Judgments name documents by corpus id (BrowseComp-Plus qrels: `qid 0 docid rel`) or by URL
(FRAMES-style files whose gold is a list of page URLs). Both are matched on a page's loose
URL key, so any spelling of a gold URL counts; a corpus id is found through the page's
`source` ("<input>#<id>"). Gold documents the world lacks stay in the denominator.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from worldbuild.urls import url_key
from worldbuild.world import World

MEASURES = {"ndcg_cut.10", "recall.5,100,1000"}
REPORTED = {"ndcg_cut_10": "ndcg@10", "recall_5": "recall@5", "recall_100": "recall@100", "recall_1000": "recall@1000"}
DEPTH = 1000
QUERY_FIELDS = ("query", "question", "Prompt", "prompt")
ID_FIELDS = ("query_id", "id", "qid")
URL_LIST_FIELDS = ("gold_urls", "wiki_links", "urls", "evidence_urls")
LINK_COLUMN = re.compile(r"^wikipedia_link_\d+$")


@dataclass
class Benchmark:
    """Queries and graded judgments: qid → query text, qid → {doc: grade}. A doc is "url:<URL>"
    or "id:<corpus id>" until it is resolved against a world."""

    queries: dict[str, str] = field(default_factory=dict)
    judgments: dict[str, dict[str, int]] = field(default_factory=dict)


def read_qrels(path: str) -> dict[str, dict[str, int]]:
    """TREC qrels: `qid iter docid rel` per line."""
    judgments: dict[str, dict[str, int]] = defaultdict(dict)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise ValueError(f"{path}:{number}: a qrels line is `qid iter docid rel`, got {line.strip()[:120]!r}")
            qid, _, docid, rel = parts
            judgments[qid][f"id:{docid}"] = int(rel)
    return dict(judgments)


def _first(record: dict, names: tuple[str, ...]):
    return next((record[name] for name in names if record.get(name) not in (None, "")), None)


def gold_urls(record: dict) -> list[str]:
    """A FRAMES-style record's gold pages: a list field, a list written as a string, or
    `wikipedia_link_N` columns."""
    urls: list[str] = []
    value = _first(record, URL_LIST_FIELDS)
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value) if value.strip().startswith("[") else [value]
        except (ValueError, SyntaxError):
            value = [value]
    urls.extend(str(url) for url in value or [])
    urls.extend(str(record[name]) for name in sorted(record, key=lambda n: int(n.rsplit("_", 1)[1]) if
                                                     LINK_COLUMN.match(n) else 0)
                if LINK_COLUMN.match(name) and record[name])
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


def _doc_ids(items) -> list[str]:
    return [str(item["docid"]) if isinstance(item, dict) else str(item) for item in items or []]


def read_queries(path: str) -> Benchmark:
    """A JSONL benchmark (BrowseComp-Plus decrypted queries, FRAMES-style, {id, question}) or a
    TSV topics file (`qid<TAB>query`). Judgments in the file come along: evidence document ids
    (`evidence_docs`) or gold URLs."""
    bench = Benchmark()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if path.endswith(".tsv"):
                qid, _, query = line.rstrip("\n").partition("\t")
                bench.queries[qid] = query
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            query = _first(record, QUERY_FIELDS)
            if not isinstance(query, str):
                raise ValueError(f"{path}:{number}: no query field (one of {', '.join(QUERY_FIELDS)})")
            qid = str(_first(record, ID_FIELDS) or number)
            bench.queries[qid] = query
            judged = {f"id:{d}": 1 for d in _doc_ids(record.get("evidence_docs"))}
            judged.update({f"url:{u}": 1 for u in gold_urls(record)})
            if judged:
                bench.judgments[qid] = judged
    return bench


def resolve(world: World, judgments: dict[str, dict[str, int]]) -> tuple[dict[str, dict[str, int]], dict]:
    """Judged docs → URL keys of the world's pages; unknown ones keep a key no page has."""
    wanted = {doc[3:] for docs in judgments.values() for doc in docs if doc.startswith("id:")}
    by_id: dict[str, str] = {}
    if wanted:
        for entry in world.manifest.get("inputs", []):
            if str(entry.get("format", "")).startswith("corpus:"):
                for record_id, key in world.store.keys_by_source(entry["name"]):
                    if record_id in wanted:
                        by_id.setdefault(record_id, key)
    resolved: dict[str, dict[str, int]] = {}
    missing = found = 0
    for qid, docs in judgments.items():
        out: dict[str, int] = {}
        for doc, grade in docs.items():
            kind, _, value = doc.partition(":")
            key = by_id.get(value) if kind == "id" else None
            if kind == "url":
                page = world.store.by_url(value)  # any spelling; None for a URL that is not one
                key = url_key(page.canonical_url) if page else None
            if key is None:
                missing += 1
                key = f"missing:{doc}"
            else:
                found += 1
            out[key] = max(grade, out.get(key, 0))
        resolved[qid] = out
    return resolved, {"judged_docs": found + missing, "judged_docs_not_in_world": missing}


def run_queries(world: World, queries: dict[str, str], mode: str, depth: int = DEPTH) -> dict[str, list[str]]:
    """qid → the URL keys of the top `depth` pages, best first."""
    run = {}
    for qid, query in queries.items():
        ranked = world.rank(query, depth, mode)
        keys = world.store.url_keys(doc_id for doc_id, _ in ranked)
        run[qid] = [keys[doc_id] for doc_id, _ in ranked]
    return run


def trec_measures(judgments: dict[str, dict[str, int]], run: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per query, trec_eval's nDCG@10 and Recall@5/100/1000 of a ranked run. The run is handed
    over with scores that fall with rank, so trec_eval keeps our order (it would break score
    ties by document name)."""
    import pytrec_eval

    scored = {qid: {doc: float(len(docs) - rank) for rank, doc in enumerate(docs)} for qid, docs in run.items()}
    evaluator = pytrec_eval.RelevanceEvaluator({q: d for q, d in judgments.items() if d}, MEASURES)
    return {qid: {REPORTED[name]: value for name, value in values.items() if name in REPORTED}
            for qid, values in evaluator.evaluate({q: scored.get(q) or {"(none)": 0.0} for q in judgments}).items()}


def mean_measures(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    if not per_query:
        return {}
    names = sorted({name for values in per_query.values() for name in values})
    return {name: round(sum(v[name] for v in per_query.values()) / len(per_query), 4) for name in names}


def evaluate(world: World, bench: Benchmark, modes: list[str], depth: int = DEPTH) -> dict:
    """Mean measures per mode over the judged queries (the ones trec_eval scores)."""
    judged_queries = {qid: bench.queries[qid] for qid in bench.judgments if qid in bench.queries}
    judgments, coverage = resolve(world, {qid: bench.judgments[qid] for qid in judged_queries})
    report = {"snapshot": world.snapshot, "queries": len(judged_queries),
              "queries_without_judgments": len(set(bench.queries) - set(bench.judgments)), **coverage,
              "depth": depth, "modes": {}}
    for mode in modes:
        per_query = trec_measures(judgments, run_queries(world, judged_queries, mode, depth))
        report["modes"][mode] = mean_measures(per_query)
    return report


def evaluate_files(world_dir: str, queries_path: str, qrels_path: str | None, modes: list[str],
                   out_path: str | None = None) -> dict:
    """`worldbuild eval-retrieval`: the queries file (with its judgments, or those of `qrels_path`)
    against the world at `world_dir`; the report is also written to `out_path` when given."""
    with World.open(world_dir) as world:
        bench = read_queries(queries_path)
        if qrels_path:
            bench.judgments = read_qrels(qrels_path)
        report = evaluate(world, bench, modes)
    if out_path:
        with open(out_path, "w") as handle:
            json.dump(report, handle, indent=2)
    return report

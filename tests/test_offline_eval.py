"""`worldbuild eval` in the BrowseComp-Plus protocol: the stand-in agent (real tool calls into a
live `worldbuild serve` of a corpus world) on a benchmark file in the published shape; every
metric comes out: judged accuracy with the judge's model, evidence recall, search calls,
calibration."""

import asyncio
import json
import re

import pytest
from typer.testing import CliRunner

from tests import corpus_shapes as shapes
from tests.llm_double import LLMDouble, ReadingPolicy
from tests.services import start_server
from worldbuild.agent import evaluate
from worldbuild.agent.jobs import Job, JudgeSettings, evaluate_benchmark
from worldbuild.agent.react import EpisodeSettings
from worldbuild.agent.rollout import RolloutPlan
from worldbuild.agent.tools import ToolSettings
from worldbuild.cli import app
from worldbuild.executor import LocalExecutor
from worldbuild.ingest.corpus import CorpusSpec
from worldbuild.ingest.pipeline import ingest
from worldbuild.records import IngestSettings
from worldbuild.tasks import load_tasks


def strict_judge(body: dict) -> dict:
    """Equivalent when the answers agree ignoring case and punctuation."""
    prompt = body["messages"][0]["content"]
    reference = re.search(r"Reference answer: (.*)", prompt).group(1)
    predicted = re.search(r"Predicted answer: (.*)", prompt).group(1)
    same = re.sub(r"\W", "", reference.lower()) == re.sub(r"\W", "", predicted.lower())
    return {"content": json.dumps({"equivalent": same})}


@pytest.fixture(scope="module")
def bcp(tmp_path_factory):
    root = tmp_path_factory.mktemp("bcp-eval")
    docs = shapes.browsecomp_plus_docs(12)
    docs[5]["url"] = ""  # a corpus document without a URL: doc://browsecomp-plus/10005
    shapes.write_browsecomp_plus_parquet(str(root / "corpus.parquet"), docs)
    world_dir = str(root / "world")
    ingest([str(root / "corpus.parquet")], world_dir, IngestSettings(min_chars=200), LocalExecutor(1),
           corpus=CorpusSpec.build("browsecomp-plus"))
    proc, base = start_server(world_dir)
    yield root, world_dir, base, {d["docid"]: d for d in docs}
    proc.terminate()
    proc.wait(timeout=30)


def write_queries(root, docs):
    def question(i):
        title, _ = shapes.prose(i)
        return f"{title} A-{i:04d}"

    queries = [
        # found and opened; its second evidence document is not in the corpus: recall 1/2
        {"query_id": "1", "query": question(2), "answer": shapes.prose(2)[0],
         "evidence": [docs["10002"], {"docid": "99999", "text": "", "url": ""}], "gold": [docs["10002"]]},
        # evidence without a URL, placed through the world by its docid: recall 1
        {"query_id": "2", "query": question(5), "answer": shapes.prose(5)[0],
         "evidence": [docs["10005"]], "gold": [docs["10005"]]},
        # a wrong label: the judge is asked and says no
        {"query_id": "3", "query": question(7), "answer": "Somewhere else entirely",
         "evidence": [docs["10007"]], "gold": [docs["10007"]]},
    ]
    path = str(root / "browsecomp_plus_decrypted.jsonl")
    shapes.write_browsecomp_plus_queries(path, queries)
    return path, {question(2): 90, question(5): 60, question(7): 80}


def test_eval_of_the_stand_in_agent_in_the_browsecomp_plus_protocol(bcp, tmp_path):
    root, world_dir, base, docs = bcp
    path, confidence = write_queries(root, docs)
    tasks = load_tasks(path)
    assert [t.id for t in tasks] == ["1", "2", "3"]
    assert tasks[0].evidence == ["url:https://bcp.example.com/doc/2", "id:99999"]  # by URL when it has one
    assert tasks[1].evidence == ["id:10005"]
    with LLMDouble(responder=ReadingPolicy(confidence=confidence)) as policy, \
            LLMDouble(responder=strict_judge) as judge:
        job = Job(base_url=policy.base_url, model="policy", tools=ToolSettings(base_url=base, timeout=5),
                  judge=JudgeSettings(judge.base_url, "judge-model", cache_path=None),
                  episode=EpisodeSettings(), plan=RolloutPlan(concurrency=4))
        report = asyncio.run(evaluate_benchmark(job, tasks, str(tmp_path / "eval.jsonl"), world_dir=world_dir))
        judged = len(judge.requests)
    assert report["tasks"] == 3 and report["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["judge_model"] == "judge-model" and judged == 1  # exact matches need no call
    assert report["judge"] == {"judge": 3}
    assert report["search_calls_per_task"] == 1.0 and report["tool_calls_per_task"] == 2.0
    assert report["evidence_recall"] == pytest.approx(round((0.5 + 1 + 1) / 3, 4))
    assert report["evidence_recall_opened"] == report["evidence_recall"]  # the stand-in opens its top hit
    assert report["evidence_docs_not_placed"] == 1  # docid 99999
    calibration = report["calibration"]
    assert calibration["answers_with_confidence"] == 3
    assert calibration["calibration_error"] is None  # fewer answers than one bin of 100


def test_evidence_by_id_needs_the_world_and_says_so(bcp, tmp_path):
    root, world_dir, base, docs = bcp
    path, _ = write_queries(root, docs)
    from worldbuild.agent.jobs import resolve_evidence

    tasks = load_tasks(path)
    with_world, missing_with = resolve_evidence(tasks, world_dir)
    without, missing_without = resolve_evidence(tasks, None)
    assert with_world["2"] == {"doc://browsecomp-plus/10005"} and missing_with == 1
    assert missing_without == 2 and not any(k.startswith("doc://") for k in without["2"])
    assert with_world["1"] - {"missing:id:99999"} == without["1"] - {"missing:id:99999"} == {"bcp.example.com/doc/2"}


def test_calibration_error_matches_hand_computed_bins():
    # 4 answers in bins of 2: (10%, wrong), (30%, right) | (80%, right), (90%, wrong)
    confidences, correct = [90, 10, 80, 30], [False, False, True, True]
    bin1 = (0.2 - 0.5) ** 2
    bin2 = (0.85 - 0.5) ** 2
    assert evaluate.calibration_error(confidences, correct, bin_size=2) == round(((bin1 + bin2) / 2) ** 0.5 * 100, 2)
    # the BrowseComp-Plus script leaves the last bin out
    assert evaluate.calibration_error(confidences, correct, 2, drop_last_bin=True) == round((bin1 / 2) ** 0.5 * 100, 2)
    # 5 answers in bins of 2: the last bin takes the remainder (3 answers)
    five = evaluate.calibration_error([10, 20, 30, 40, 50], [False, True, False, True, True], 2)
    expected = (2 / 5 * (0.15 - 0.5) ** 2 + 3 / 5 * (0.4 - 2 / 3) ** 2) ** 0.5 * 100
    assert five == round(expected, 2)
    assert evaluate.calibration_error([50], [True], 2) is None
    record = {"messages": [{"role": "assistant", "content": "Exact Answer: x\nConfidence: 85%"}]}
    assert evaluate.stated_confidence(record) == 85.0
    assert evaluate.stated_confidence({"messages": [{"role": "assistant", "content": "<answer>x</answer>"}]}) is None


def test_cli_eval_writes_the_report(bcp, tmp_path):
    root, world_dir, base, docs = bcp
    path, confidence = write_queries(root, docs)
    out = str(tmp_path / "eval.jsonl")
    with LLMDouble(responder=ReadingPolicy(confidence=confidence)) as policy:
        done = CliRunner().invoke(app, ["eval", path, "--out", out, "--world", world_dir, "--base-url",
                                        policy.base_url, "--model", "policy", "--world-url", base, "--json",
                                        "--judge-cache", str(tmp_path / "j.sqlite")])
    assert done.exit_code == 0, done.output
    report = json.load(open(out + ".report.json"))
    assert report["accuracy"] == pytest.approx(2 / 3, abs=1e-4) and report["judge_model"] is None
    assert report["evidence_recall"] == pytest.approx(round(2.5 / 3, 4))
    trajectory = json.loads(open(out).readline())
    assert trajectory["search_calls"] == 1 and trajectory["opened_urls"] and trajectory["retrieved_urls"]


def test_frames_records_become_tasks_with_gold_urls(tmp_path):
    path = tmp_path / "frames.jsonl"
    path.write_text(json.dumps({"Prompt": "Which mill turned a forty-foot wheel?", "Answer": "Brennock",
                                "wiki_links": "['https://en.wikipedia.org/wiki/Brennock', "
                                              "'https://en.wikipedia.org/wiki/Water_wheel']"}) + "\n")
    task = load_tasks(str(path))[0]
    assert task.question.startswith("Which mill") and task.answer == "Brennock"
    assert task.evidence == ["url:https://en.wikipedia.org/wiki/Brennock", "url:https://en.wikipedia.org/wiki/Water_wheel"]
    from worldbuild.agent.jobs import resolve_evidence

    keys, missing = resolve_evidence([task])
    assert keys[task.id] == {"en.wikipedia.org/wiki/Brennock", "en.wikipedia.org/wiki/Water_wheel"} and missing == 0
    record = {"task_id": task.id, "retrieved_urls": ["http://en.wikipedia.org/wiki/Brennock/"], "opened_urls": []}
    assert evaluate.evidence_recall([record], keys) == {"evidence_recall": 0.5, "evidence_recall_opened": 0.0,
                                                        "trajectories_with_evidence": 1}

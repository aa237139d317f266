"""synth-qa (single-hop stages) on the sample world against the OpenAI-compatible test double."""

import json
import os

import pytest
from typer.testing import CliRunner

from tests.llm_double import LLMDouble
from worldbuild.cli import app
from worldbuild.llm import LLMUnavailable
from worldbuild.synth.pipeline import Endpoint, ExportSettings, SynthConfig, synthesize
from worldbuild.synth.reach import key_phrases, normalise
from worldbuild.world import WorldNotFound

ALL_OK = {c: {"ok": True, "why": "fine"} for c in
          ("independent", "specific", "unambiguous", "answerable", "closed", "not_common_sense", "time_fixed")}
ROOT = "http://www.iana.org/domains/root/servers"


GRAPH = {
    "13": [("ICANN", "is the count of root authorities listed by"), ("Root Servers", "is the count of")],
    "ICANN": [("Time Zone Database", "hosts"), ("Domain Name Services", "oversees")],
    "Root Servers": [("VeriSign", "include one operated by"), ("NASA", "include one operated by")],
}


def responder(body):
    """Pairs from the page in the prompt; a rubric that fails 'time_fixed' for 'currently' questions."""
    prompt = body["messages"][0]["content"]
    if prompt.startswith("You write research questions"):
        if "Page URL: " + ROOT in prompt:
            return {"json": {"pairs": [
                {"question": "As how many named authorities does IANA list the DNS root servers?", "answer": "13"},
                {"question": "Which organisation manages g.root-servers.net?", "answer": "US Department of Defence (NIC)"},
                {"question": "Who currently runs a.root-servers.net?", "answer": "VeriSign, Inc."},
                {"question": "Which agency runs e.root-servers.net?", "answer": "Jet Propulsion Laboratory"},
                {"question": "Describe the root server system in detail.", "answer": " ".join(["word"] * 30)},
            ]}}
        if "commoncrawl.org" in prompt:
            return {"content": "<think>reading</think>```json\n{\"pairs\": []}\n```"}
        if "maria-antoniak" in prompt:
            return {"content": "I'm sorry, I can't help with that."}
        return {"json": {"pairs": []}}
    if prompt.startswith("You build a small knowledge graph"):
        entity = prompt.split('about the entity "', 1)[1].split('"', 1)[0]
        links = GRAPH.get(entity, [])
        return {"json": {"features": [f"a fact about {entity}"] if links else [],
                         "entities": [{"name": n, "relation": r} for n, r in links]}}
    if prompt.startswith("You write one hard research question"):
        entities = prompt.split("Entities: ", 1)[1].split("\n", 1)[0].split("; ")
        return {"json": {"question": "Which body is linked, three relations away, to the coordinator of the DNS root?",
                         "answer": entities[-1], "hops": 3, "facts": ["f1", "f2", "f999"]}}
    if prompt.startswith("You sort research questions"):
        return {"json": {"capability": "direct" if "IANA" in prompt else "telepathy"}}
    if prompt.startswith("You check one question-answer pair"):
        if "Question: Who currently" in prompt:
            return {"json": {**ALL_OK, "time_fixed": {"ok": False, "why": "currently"}}}
        return {"json": ALL_OK}
    return {"status": 400}


def synth_cli(world_dir, out, base_url, *extra):
    return CliRunner().invoke(app, ["synth-qa", "--world", world_dir, "--out", out, "--base-url", base_url,
                                    "--model", "double-model", "--json", *extra])


def synth(world_dir, out, base_url, service=None, export=ExportSettings(), **config):
    """`synthesize`'s summary for the test double's model (SynthConfig fields as keywords)."""
    return synthesize(world_dir, Endpoint(base_url, "double-model"), SynthConfig(out_dir=out, **config), service,
                      export)


def test_single_hop_tasks_end_to_end_then_from_cache(sample_world, tmp_path):
    out = str(tmp_path / "tasks")
    with LLMDouble(responder=responder) as double:
        summary = synth(sample_world[0], out, double.base_url, max_pages=400)  # every long page
        first_requests = len(double.requests)
    assert 100 < summary["pages_used"] == summary["pages_extracted"] < 197
    assert summary["page_skips"].get("reply not JSON", 0) >= 1  # the refusal
    assert summary["pairs_dropped"] == {"answer longer than allowed": 1, "answer not on the page": 1}
    assert summary["kept"] == 2 and summary["passed_per_condition"]["time_fixed"] == 2
    assert summary["llm"]["prompt_tokens"] > 0
    tasks = {t["question"]: t for t in map(json.loads, open(os.path.join(out, "tasks.jsonl")))}
    assert set(tasks) == {"As how many named authorities does IANA list the DNS root servers?", "Which organisation manages g.root-servers.net?"}
    iana = tasks["As how many named authorities does IANA list the DNS root servers?"]
    assert iana["reachable"] and iana["evidence_urls"] and ROOT not in iana["evidence_urls"]
    assert ROOT in iana["mask_urls"] and iana["snapshot"] == sample_world[1].manifest["snapshot"]
    assert iana["generator"] == {"model": "double-model", "prompt": "extract_qa.v2", "rubric_prompt": "rubric.v2"}
    assert set(iana["rubric"]) == set(ALL_OK) and iana["kind"] == "single_hop"
    dod = tasks["Which organisation manages g.root-servers.net?"]
    assert dod["reachable"] is False and dod["evidence_urls"] == []  # only its masked source says it

    with LLMDouble([{"status": 500}]) as dead:  # the rerun needs no endpoint beyond the check; the command's JSON
        again = synth_cli(sample_world[0], out, dead.base_url, "--max-pages", "400")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["tasks"] == 2 and not [r for r in dead.requests]
    default_export = json.loads(again.stdout)["export"]  # unreachable tasks stay out by default
    assert default_export["unreachable"] == 1 and default_export["train"] + default_export["validation"] == 1
    assert first_requests == summary["pages_used"] + 3  # one per page, one per pair judged


def test_export_for_datasets_and_verl(sample_world, tmp_path):
    import pandas as pd
    from datasets import load_from_disk

    out = str(tmp_path / "tasks")
    with LLMDouble(responder=responder) as double:
        summary = synth(sample_world[0], out, double.base_url, max_pages=400,
                        export=ExportSettings(validation_fraction=0.0, include_unreachable=True))["export"]
    omitted = summary.pop("omitted")
    assert summary == {"tasks": 2, "unreachable": 0, "duplicates": 0, "contaminated": 0, "train": 2,
                       "validation": 0, "system_prompt": "agent_system.v1", "benchmark_questions": 0}
    # an empty split gets no file (a 0-row parquet has no columns and verl cannot read it), and says why
    assert list(omitted) == ["validation"] and "validation_fraction=0.0" in omitted["validation"]
    assert not os.path.exists(os.path.join(out, "verl", "validation.parquet"))
    frame = pd.read_parquet(os.path.join(out, "verl", "train.parquet"))
    row = frame.iloc[0]
    assert row["agent_name"] == "tool_agent" and row["data_source"] == "worldbuild"
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and "<answer>" in row["prompt"][0]["content"]
    assert row["reward_model"]["style"] == "rule" and row["reward_model"]["ground_truth"]
    extra = row["extra_info"]
    assert extra["snapshot"] == sample_world[1].manifest["snapshot"]
    assert ROOT in list(extra["tools_kwargs"]["search"]["create_kwargs"]["mask"])
    assert list(extra["tools_kwargs"]["browse"]["create_kwargs"]["mask"]) == list(extra["mask_urls"])
    hf = load_from_disk(os.path.join(out, "hf"))
    assert hf["train"].num_rows == 2 and set(hf["train"]["snapshot"]) == {sample_world[1].manifest["snapshot"]}
    assert json.loads(hf["train"][0]["rubric"])["time_fixed"]["ok"] is True


def test_resume_after_a_torn_write(sample_world, tmp_path):
    out = str(tmp_path / "tasks")
    with LLMDouble(responder=responder) as double:
        synth(sample_world[0], out, double.base_url, max_pages=20)
        path = os.path.join(out, "extracted.jsonl")
        lines = open(path).read().splitlines(keepends=True)
        with open(path, "w") as handle:  # lose the last record and tear the one before it
            handle.writelines(lines[:-2])
            handle.write(lines[-2][:25])
        before = len(double.requests)
        synth(sample_world[0], out, double.base_url, max_pages=20)
        assert len(open(path).read().splitlines()) == 20
        assert len(double.requests) == before  # the two lost pages came back from the LLM cache
    assert all(json.loads(line) for line in open(path))


def test_missing_endpoint_fails_fast(sample_world, tmp_path):
    result = synth_cli(sample_world[0], str(tmp_path / "t"), "http://127.0.0.1:9/v1")
    assert result.exit_code == 2 and "vllm serve" in result.output
    with pytest.raises(LLMUnavailable, match="vllm serve"):
        synth(sample_world[0], str(tmp_path / "t"), "http://127.0.0.1:9/v1")


def test_a_missing_world_fails_before_the_endpoint_is_asked(tmp_path):
    with LLMDouble(responder=responder) as double:
        with pytest.raises(WorldNotFound):
            synth(str(tmp_path / "no-world"), str(tmp_path / "t"), double.base_url)
        result = synth_cli(str(tmp_path / "no-world"), str(tmp_path / "t"), double.base_url)
        assert not double.requests
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


@pytest.mark.parametrize("question, points", [
    ("What is the name of the philosopher mentioned in the text?", True),  # a local 1.5B's, passed by its rubric
    ("According to the article, who filed the lawsuit?", True),
    ("Which figure is given in the provided passage?", True),
    ("What is the name of the organization that filed the lawsuit?", False),  # the same run: left to the rubric
    ("Which philosopher wrote the Letters to Lucilius?", False),
    ("Which page of the 1911 census lists the mill?", False),
])
def test_a_question_that_points_at_its_source_text_is_dropped(question, points):
    import asyncio

    from worldbuild.llm import LLM
    from worldbuild.synth.extract import extract_pairs

    page = {"url": "https://example.org/seneca", "title": "Seneca"}
    text = "The philosopher Seneca wrote the Letters to Lucilius; the ACLU Foundation filed the lawsuit."
    async def extract(base_url: str) -> dict:
        llm = LLM(base_url, "m")
        try:
            return await extract_pairs(llm, page, text)
        finally:
            await llm.aclose()

    with LLMDouble([{"json": {"pairs": [{"question": question, "answer": "Seneca"}]}}]) as double:
        record = asyncio.run(extract(double.base_url))
    assert record["dropped"] == ({"question points at its source text": 1} if points else {})
    assert len(record["pairs"]) == (0 if points else 1)


def test_normalise_and_key_phrases():
    assert normalise("US Department of Defence (NIC).") == "us department of defence nic"
    assert normalise("1,234,567 people") == "1234567 people"
    assert key_phrases('Which prize did "The Silent Lake" win at the Venice Film Festival?') == [
        "The Silent Lake", "Venice Film Festival"]


def test_over_http_gives_the_same_tasks(sample_world, tmp_path):
    from tests.test_serve import start_server

    proc, base = start_server(sample_world[0])
    try:
        with LLMDouble(responder=responder) as double:
            synth(sample_world[0], str(tmp_path / "local"), double.base_url, max_pages=400)
            synth(sample_world[0], str(tmp_path / "remote"), double.base_url, service=base, max_pages=400)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def tasks(folder):
        keep = ("id", "question", "answer", "mask_urls", "evidence_urls", "reachable", "snapshot")
        return sorted(({k: t[k] for k in keep} for t in map(json.loads, open(tmp_path / folder / "tasks.jsonl"))),
                      key=lambda t: t["id"])

    assert tasks("local") == tasks("remote") and len(tasks("local")) == 2


def test_capability_tagging(sample_world, tmp_path):
    out = str(tmp_path / "tasks")
    with LLMDouble(responder=responder) as double:
        synth(sample_world[0], out, double.base_url, max_pages=400, tag=True)
    tasks = {t["question"]: t for t in map(json.loads, open(os.path.join(out, "tasks.jsonl")))}
    assert tasks["As how many named authorities does IANA list the DNS root servers?"]["capability"] == "direct"
    assert tasks["Which organisation manages g.root-servers.net?"]["capability"] is None  # an unknown label
    skips = [json.loads(line)["skip"] for line in open(os.path.join(out, "tags.jsonl"))]
    assert sorted(map(str, skips)) == ["None", "unknown capability 'telepathy'"]


def test_multi_hop_tasks_from_a_backward_graph(sample_world, tmp_path):
    out = str(tmp_path / "tasks")
    with LLMDouble(responder=responder) as double:
        summary = synth(sample_world[0], out, double.base_url, max_pages=400, multi_hop=2)
    assert summary["multi_hop"] == {"tried": 2, "made": 1, "skips": {"subgraph has 1 nodes": 1}}
    record = next(r for r in map(json.loads, open(os.path.join(out, "multihop.jsonl"))) if r["task"])
    assert record["seed"] == "13"
    assert len(record["graph"]["nodes"]) == 7 and len(record["subgraph"]) == 6  # N_MAX 8, subgraph of 6
    assert all(edge["url"].startswith("http") for edge in record["graph"]["edges"])
    assert ROOT not in {edge["url"] for edge in record["graph"]["edges"]}  # grown with the seed's source masked
    task = next(t for t in map(json.loads, open(os.path.join(out, "tasks.jsonl"))) if t["kind"] == "multi_hop")
    assert task["answer"] == record["subgraph"][-1] and task["hops"] == 3
    assert [f["id"] for f in task["facts"]] == ["f1", "f2"] and all(f["url"] for f in task["facts"])
    assert task["source_urls"] and ROOT in task["mask_urls"]
    assert set(task["rubric"]) == set(ALL_OK) and task["generator"]["rubric_prompt"] == "rubric.v2"
    from datasets import load_from_disk

    hf = load_from_disk(os.path.join(out, "hf"))
    kinds = [k for split in hf.values() for k in split["kind"]]
    assert kinds.count("multi_hop") == (1 if task["reachable"] else 0)


def test_a_killed_run_resumes_to_the_same_tasks(sample_world, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    def slow(body):
        return {**responder(body), "delay": 0.05}

    command = [sys.executable, "-m", "worldbuild", "synth-qa", "--world", sample_world[0], "--model", "double-model",
               "--max-pages", "400", "--concurrency", "2", "--json"]
    with LLMDouble(responder=slow) as double:
        killed_out = str(tmp_path / "killed")
        proc = subprocess.Popen(command + ["--out", killed_out, "--base-url", double.base_url], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        extracted = os.path.join(killed_out, "extracted.jsonl")
        deadline = time.monotonic() + 60
        while not (os.path.exists(extracted) and len(open(extracted).readlines()) >= 10):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = len(open(extracted).readlines())
        assert not os.path.exists(os.path.join(killed_out, "tasks.jsonl")) or not open(
            os.path.join(killed_out, "tasks.jsonl")).read()
        resumed = subprocess.run(command + ["--out", killed_out, "--base-url", double.base_url], cwd=REPO,
                                 capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        synth(sample_world[0], str(tmp_path / "straight"), double.base_url, max_pages=400)
    assert done_before >= 10

    def questions(folder):
        return sorted((t["question"], t["answer"], t["reachable"])
                      for t in map(json.loads, open(os.path.join(folder, "tasks.jsonl"))))

    assert questions(killed_out) == questions(str(tmp_path / "straight")) and questions(killed_out)

"""The agent side end to end on CPU: the ReAct runner against an OpenAI-compatible double that
makes real tool calls into a live `worldbuild serve`, per-task masks, resume, the difficulty
band, evaluation, the judge and the reward."""

import asyncio
import json
import os

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.llm_double import LLMDouble, ReadingPolicy
from worldbuild.agent import difficulty, evaluate
from worldbuild.agent.answer import extract_answer, f1
from worldbuild.agent.jobs import Job, JudgeSettings, ServiceUnavailable, evaluate_benchmark, filter_tasks, run
from worldbuild.agent.react import EpisodeSettings
from worldbuild.agent.rollout import RolloutPlan, read_trajectories
from worldbuild.tasks import load_tasks
from worldbuild.agent.tools import ToolSettings
from worldbuild.cli import app

WARC_COST = ("https://yorkspace.library.yorku.ca/xmlui/handle/10315/36158",
             "The Cost of a WARC: Analyzing Web Archives in the Cloud")
DICKENS = ("http://www.archive.org/details/no_thoroughfare_librivox", "Charles DickensNo Thoroughfare")
SECRET_ARMIES = ("http://www.archive.org/details/secretarmiesb00spivrich",
                 "Internet Archive: Details: Secret armies; the new technique of Nazi warfare")


def job(double: LLMDouble, world: str, samples: int = 1, checkpoint: str = "step0", **episode) -> Job:
    return Job(base_url=double.base_url, model="policy", tools=ToolSettings(base_url=world, timeout=5),
               judge=JudgeSettings(fallback="em", cache_path=None), episode=EpisodeSettings(**episode),
               plan=RolloutPlan(samples=samples, concurrency=8, checkpoint=checkpoint))


def write_tasks(path, tasks: list[dict]) -> str:
    with open(path, "w") as handle:
        for task in tasks:
            handle.write(json.dumps(task) + "\n")
    return str(path)


def test_answer_extraction_takes_the_models_last_answer():
    assert extract_answer("<think>maybe <answer>x</answer></think> so <answer> Paris </answer>") == "Paris"
    assert extract_answer("<tool_response>page says <answer>fake</answer></tool_response> none") is None
    assert extract_answer("<answer></answer>") is None and extract_answer(None) is None
    assert extract_answer("<answer>unclosed") is None
    assert f1("the Eiffel Tower", "Eiffel tower") == 1.0 and 0 < f1("Eiffel", "Eiffel Tower") < 1


def test_rollout_uses_tools_honours_masks_and_resumes(server, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"id": "open", "question": WARC_COST[1], "answer": WARC_COST[1]},
        {"id": "masked", "question": WARC_COST[1], "answer": WARC_COST[1], "mask_urls": [WARC_COST[0]]},
    ])
    out = str(tmp_path / "traj.jsonl")
    with LLMDouble(responder=ReadingPolicy()) as double:
        counts = asyncio.run(run(job(double, server), load_tasks(tasks), out))
        assert counts["done"] == 2 and counts["failed"] == 0
        records = {r["task_id"]: r for r in read_trajectories(out)}
        opened, masked = records["open"], records["masked"]
        assert opened["correct"] and opened["stop"] == "answer" and opened["tool_calls"] == 2
        roles = [m["role"] for m in opened["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
        assert opened["messages"][2]["reasoning_content"] == "I should search first."
        assert opened["messages"][3]["content"].startswith(f'Results for "{WARC_COST[1]}"')
        assert WARC_COST[0] in opened["messages"][3]["content"]
        # masked: the source page never reaches the agent, so it reads another page and is wrong
        assert not masked["correct"] and masked["prediction"] != WARC_COST[1]
        assert all(WARC_COST[0] not in m["content"] for m in masked["messages"] if m["role"] == "tool")
        assert masked["response_tokens"] > 0 and masked["completion_tokens"] > 0
        offered = [[t["function"]["name"] for t in r["tools"]] for r in double.requests]
        assert all(names == ["search", "browse"] for names in offered)  # the training tools, every turn
        assert all("reasoning_content" not in m for r in double.requests for m in r["messages"])
        sent = len(double.requests)
        again = asyncio.run(run(job(double, server), load_tasks(tasks), out))
        assert again["done"] == 0 and again["resumed"] == 2 and len(double.requests) == sent


def test_rollout_stops_at_max_turns_and_reports_tool_errors(server, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"question": "anything", "answer": "x"}])
    script = [{"reasoning": "look", "tool_calls": [{"name": "browse", "arguments": {"url": "http://nowhere.example/"}}]},
              {"tool_calls": [{"name": "python", "arguments": {"code": "1+1"}}]},
              {"tool_calls": [{"name": "search", "arguments": {}}]},
              {"content": "<answer>x</answer>", "tool_calls": [{"name": "search", "arguments": {"query": "q"}}]}]
    with LLMDouble(script) as double:
        asyncio.run(run(job(double, server, max_turns=4), load_tasks(tasks), str(tmp_path / "t.jsonl")))
    (record,) = read_trajectories(str(tmp_path / "t.jsonl"))
    # verl ends at max_assistant_turns without running the last turn's call; its answer is the final turn's
    assert record["stop"] == "max_turns" and record["turns"] == 4 and record["prediction"] == "x"
    assert record["tool_calls"] == 3 and record["tool_errors"] == 3
    errors = [m["content"] for m in record["messages"] if m["role"] == "tool"]
    assert "not available" in errors[0] and "'query'" in errors[2]
    assert errors[1] == "Unknown function 'python'. Available tools: ['search', 'browse']"  # verl's words


def test_response_budget_ends_an_episode(server, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"question": WARC_COST[1], "answer": "x"}])
    with LLMDouble(responder=ReadingPolicy()) as double:
        asyncio.run(run(job(double, server, max_response_tokens=300), load_tasks(tasks), str(tmp_path / "t.jsonl")))
    (record,) = read_trajectories(str(tmp_path / "t.jsonl"))
    assert record["stop"] == "max_response_tokens" and record["response_tokens"] >= 300
    assert record["prediction"] is None  # the response ends in an observation: no final turn, no answer


def test_unreachable_world_or_policy_fails_fast(server, tmp_path):
    tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", [{"question": "q", "answer": "a"}]))
    with LLMDouble() as double:
        with pytest.raises(ServiceUnavailable, match="worldbuild serve"):
            asyncio.run(run(job(double, "http://127.0.0.1:9"), tasks, str(tmp_path / "t.jsonl")))
    dead = Job(base_url="http://127.0.0.1:9/v1", model="m", tools=ToolSettings(base_url=server),
               judge=JudgeSettings(cache_path=None))
    with pytest.raises(ServiceUnavailable, match="vllm serve"):
        asyncio.run(run(dead, tasks, str(tmp_path / "t.jsonl")))


def test_band_parsing():
    assert difficulty.Band.parse("1..7", 8) == difficulty.Band(1, 7)
    assert difficulty.Band.parse("3", 8) == difficulty.Band(3, 3)
    assert difficulty.Band.parse("..2", 8) == difficulty.Band(0, 2)
    assert difficulty.Band.parse("2..", 8) == difficulty.Band(2, 8)
    for bad in ("7..1", "1..9", "x", ""):
        with pytest.raises(ValueError):
            difficulty.Band.parse(bad, 8)


def test_filter_keeps_the_band_and_records_pass_counts(server, tmp_path):
    from worldbuild.tasks import verl_row

    titles = {"never": WARC_COST, "sometimes": DICKENS, "always": SECRET_ARMIES}
    quota = {"never": 0, "sometimes": 3, "always": 8}
    rows = [verl_row({"id": name, "question": title, "answer": title, "kind": "single_hop", "mask_urls": [],
                      "snapshot": "s"}, i, "You are a research assistant.")
            for i, (name, (_url, title)) in enumerate(titles.items())]
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train.parquet")
    out = str(tmp_path / "stage1" / "train.parquet")
    policy = ReadingPolicy({titles[name][1]: q for name, q in quota.items()})
    with LLMDouble(responder=policy) as double:
        summary = asyncio.run(filter_tasks(job(double, server, samples=8, checkpoint="sft"),
                                           load_tasks(str(tmp_path / "train.parquet")), out, "1..7"))
    assert summary["kept"] == 1 and summary["too_hard"] == 1 and summary["too_easy"] == 1
    assert summary["solved_histogram"][0] == 1 and summary["solved_histogram"][3] == 1
    assert summary["solved_histogram"][8] == 1
    (kept,) = pq.read_table(out).to_pylist()
    assert kept["extra_info"]["id"] == "sometimes" and kept["agent_name"] == "tool_agent"
    assert kept["extra_info"]["pass_counts"] == [{"checkpoint": "sft", "correct": 3, "rollouts": 8}]
    assert kept["prompt"] == rows[1]["prompt"]  # the row goes through unchanged
    history = [json.loads(line) for line in open(out + ".passes.jsonl")]
    assert {h["id"]: h["correct"] for h in history} == quota


def test_filter_command_line(server, tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": DICKENS[1], "answer": DICKENS[1]}])
    out = str(tmp_path / "stage.parquet")
    with LLMDouble(responder=ReadingPolicy({DICKENS[1]: 1})) as double:
        result = CliRunner().invoke(app, ["filter", tasks, "--samples", "2", "--keep", "1..1", "--out", out,
                                          "--base-url", double.base_url, "--model", "m", "--world-url", server,
                                          "--judge-cache", str(tmp_path / "j.sqlite"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["kept"] == 1 and summary["band"] == "1..1 of 2"
    assert pq.read_table(out).num_rows == 1
    bad = CliRunner().invoke(app, ["filter", tasks, "--samples", "8", "--keep", "0..9", "--out", out,
                                   "--base-url", "http://x/v1", "--model", "m"])
    assert bad.exit_code == 2 and "0..9" in bad.output


def test_a_system_prompt_file_reaches_the_policy_and_the_sft_rows(server, tmp_path):
    """JSONL tasks carry no prompt: --system-prompt gives them one (the default otherwise), and
    sft-data writes it into the rows it keeps; a missing file is one line."""
    tasks = write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": DICKENS[1], "answer": DICKENS[1]}])
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Search twice, then answer inside <answer></answer>.")
    out = str(tmp_path / "sft.parquet")
    common = ["--base-url", "", "--model", "m", "--world-url", server, "--judge-cache", str(tmp_path / "j.sqlite")]
    with LLMDouble(responder=ReadingPolicy()) as double:
        common[1] = double.base_url
        result = CliRunner().invoke(app, ["sft-data", tasks, "--out", out, "--system-prompt", str(prompt), *common])
        assert result.exit_code == 0, result.output
        assert {r["messages"][0]["content"] for r in double.requests} == {prompt.read_text()}
    rows = pq.read_table(out).to_pylist()
    assert rows and all((r["messages"][0]["role"], r["messages"][0]["content"]) == ("system", prompt.read_text())
                        for r in rows)
    missing = CliRunner().invoke(app, ["eval", tasks, "--out", str(tmp_path / "e.jsonl"), "--system-prompt",
                                       str(tmp_path / "nope.md"), *common])
    assert missing.exit_code == 2 and "nope.md" in missing.output and "Traceback" not in missing.output


def test_eval_reports_accuracy_with_an_interval(server, tmp_path):
    bench = write_tasks(tmp_path / "bench.jsonl", [
        {"question": WARC_COST[1], "answer": WARC_COST[1]},
        {"question": DICKENS[1], "answer": "Charles Dickens No Thoroughfare, the wrong label"},
    ])
    with LLMDouble(responder=ReadingPolicy()) as double:
        report = asyncio.run(evaluate_benchmark(job(double, server), load_tasks(bench),
                                                str(tmp_path / "eval.jsonl")))
    assert report["tasks"] == 2 and report["accuracy"] == 0.5
    low, high = report["ci95"]
    assert low < 0.5 < high and (round(low, 4), round(high, 4)) == tuple(round(x, 4) for x in evaluate.wilson(1, 2))
    assert report["tool_calls_per_task"] == 2.0 and report["stops"] == {"answer": 2}


def test_wilson_interval_matches_the_formula():
    low, high = evaluate.wilson(81, 100)
    assert abs(low - 0.7222) < 1e-3 and abs(high - 0.8749) < 1e-3
    several = evaluate.summarize([
        {"task_id": t, "correct": c, "prediction": "p", "tool_calls": 1, "tool_errors": 0, "turns": 2,
         "completion_tokens": 10, "response_tokens": 20, "stop": "answer", "verdict": {"method": "em"}}
        for t, c in [("a", True), ("a", False), ("b", True), ("b", True)]])
    assert several["accuracy"] == 0.75 and several["pass@2"] == 1.0 and several["samples_per_task"] == 2


def test_endpoint_failures_are_retried_not_scored_and_checkpoints_are_separate(server, tmp_path):
    tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": DICKENS[1],
                                                               "answer": DICKENS[1]}]))
    out = str(tmp_path / "t.jsonl")
    with LLMDouble([{"status": 500}]) as broken:
        failed = asyncio.run(run(job(broken, server), tasks, out))
    assert failed["failed"] == 1 and failed["done"] == 0 and read_trajectories(out) == []
    with LLMDouble(responder=ReadingPolicy()) as double:
        retried = asyncio.run(run(job(double, server), tasks, out))
        assert retried["done"] == 1 and retried["resumed"] == 0  # the failed episode was tried again
        other = asyncio.run(run(job(double, server, checkpoint="step1"), tasks, out))
    assert other["done"] == 1  # another checkpoint is new work, not a resume
    assert sorted(r["checkpoint"] for r in read_trajectories(out)) == ["step0", "step1"]


def test_runner_gives_turns_the_budget_and_history_verl_gives_them(server, tmp_path):
    tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": WARC_COST[1],
                                                               "answer": WARC_COST[1]}]))
    with LLMDouble(responder=ReadingPolicy()) as double:
        asyncio.run(run(job(double, server, max_response_tokens=20000), tasks, str(tmp_path / "t.jsonl")))
        asyncio.run(run(job(double, server, checkpoint="capped", max_tokens_per_turn=500), tasks,
                        str(tmp_path / "t.jsonl")))
        first, second, third = double.requests[:3]
        capped = double.requests[3:]
    # verl: the first turn may use the whole response budget, later ones what the context has left
    assert first["max_tokens"] == 20000 and "max_tokens" not in second and "max_tokens" not in third
    assert all(r["max_tokens"] <= 500 for r in capped)  # only when asked for
    # verl keeps every generated token: the reasoning of earlier turns goes back, where the template reads it
    assistant = [m for m in third["messages"] if m["role"] == "assistant"]
    assert [m["content"].split("</think>")[0] for m in assistant] == [
        "<think>\nI should search first.\n", "<think>\nThe top result looks right.\n"]


def test_pass_counts_are_kept_per_policy(server, tmp_path):
    from worldbuild.agent.rollout import policy_id

    tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": DICKENS[1],
                                                               "answer": DICKENS[1]}]))
    out = str(tmp_path / "t.jsonl")
    with LLMDouble(responder=ReadingPolicy({DICKENS[1]: 1})) as double:
        for model in ("policy-a", "policy-b"):  # two policies, no --checkpoint, one file
            one = Job(base_url=double.base_url, model=model, tools=ToolSettings(base_url=server, timeout=5),
                      judge=JudgeSettings(fallback="em", cache_path=None), plan=RolloutPlan(samples=1))
            assert asyncio.run(run(one, tasks, out))["done"] == 1
    records = read_trajectories(out)
    a, b = (policy_id("", model, double.base_url) for model in ("policy-a", "policy-b"))
    assert {r["policy"] for r in records} == {a, b}
    assert difficulty.pass_counts(records, a, 1) == {"a": [1, 1]}  # the first answer was right
    assert difficulty.pass_counts(records, b, 1) == {"a": [0, 1]}  # never [1, 2]


def test_filter_counts_endpoint_failures_and_a_rerun_retries_them(server, tmp_path):
    tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", [{"id": "a", "question": DICKENS[1],
                                                               "answer": DICKENS[1]}]))
    out = str(tmp_path / "stage.parquet")
    script = [{"status": 500}] * 4 + [{"reasoning": "x", "content": "<answer>unknown</answer>"}]
    with LLMDouble(script) as flaky:  # the first episode fails after its retries, the second answers
        flaky_job = Job(base_url=flaky.base_url, model="m", tools=ToolSettings(base_url=server, timeout=5),
                        judge=JudgeSettings(fallback="em", cache_path=None),
                        plan=RolloutPlan(samples=2, concurrency=1, checkpoint="s1"))
        summary = asyncio.run(filter_tasks(flaky_job, tasks, out, "0..2"))
    assert summary["failed"] == 1 and summary["incomplete"] == 1 and summary["out"] is None
    assert "rerun" in summary["rerun"] and not os.path.exists(out)  # no band from half the rollouts
    with LLMDouble(responder=ReadingPolicy()) as double:
        retried = asyncio.run(filter_tasks(job(double, server, samples=2, checkpoint="s1"), tasks, out, "0..2"))
    assert retried["done"] == 1 and retried["resumed"] == 1 and retried["incomplete"] == 0
    assert retried["out"] == out and pq.read_table(out).num_rows == 1

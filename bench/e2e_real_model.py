"""The whole pipeline with a real model, on this machine: not part of CI (it needs a local
OpenAI-compatible server, e.g. llama.cpp's `llama-server` from ../shared/tools/local-llm/).

    bash ../shared/tools/local-llm/setup.sh 1.5b && bash ../shared/tools/local-llm/serve.sh 1.5b 8012
    python bench/e2e_real_model.py http://127.0.0.1:8012/v1 [--model local] [--seeds 3] [--multi-hop 1]
                                   [--tasks 3] [--samples 2] [--tasks-file JSONL] [--work DIR]

Builds (or reuses, under --work) the sample world from corpora/, starts `worldbuild serve` on it,
then runs the commands a user runs, each as its own process, with the model in every LLM role:
1. `synth-qa` (single-hop from --seeds pages, multi-hop grown from --multi-hop kept answers):
   the model writes the pairs, judges them by the rubric, builds and composes the graph;
2. `filter` (--samples rollouts per task) and 3. `eval`: the model is the policy, calling
   `search`/`browse` on the world through real HTTP, and the judge of its answers;
4. `sft-data` from its own trajectories (the F1–F7 filters).
For each stage: requests to the model, wall time, what was kept and every drop with its reason,
read from the stage files each command leaves. The report goes to bench/out/e2e_real_model.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402
from tests.services import free_port  # noqa: E402
from worldbuild.serve.wait import wait_ready  # noqa: E402

PY = sys.executable


def sh(args: list[str], log: str) -> tuple[dict, float]:
    """Run one worldbuild command with --json; (its summary, wall seconds). Its stderr goes to `log`."""
    began = time.perf_counter()
    with open(log, "a") as err:
        done = subprocess.run([PY, "-m", "worldbuild", *args, "--json"], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=err, text=True)
    seconds = round(time.perf_counter() - began, 1)
    if done.returncode not in (0, 3):  # 3: filter asks for a rerun (counted in its summary)
        raise SystemExit(f"worldbuild {args[0]} failed ({done.returncode}); see {log}")
    return json.loads(done.stdout or "{}"), seconds


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def start_world(world: str, log: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "worldbuild", "serve", "--world", world, "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=open(log, "a"))
    base = f"http://127.0.0.1:{port}"
    why = wait_ready(base, 300, proc.pid)
    if why:
        proc.kill()
        raise SystemExit(f"worldbuild serve: {why}; see {log}")
    return proc, base


def synth_report(out: str, summary: dict, seconds: float) -> dict:
    """Every drop of synth-qa with its reason, from its stage files."""
    pages = read_jsonl(os.path.join(out, "extracted.jsonl"))
    rubric = read_jsonl(os.path.join(out, "rubric.jsonl"))
    reach = read_jsonl(os.path.join(out, "reach.jsonl"))
    multihop = read_jsonl(os.path.join(out, "multihop.jsonl"))
    tasks = read_jsonl(os.path.join(out, "tasks.jsonl"))
    failed = Counter()
    for verdict in rubric:
        if verdict["skip"]:
            failed[f"skip: {verdict['skip'][:80]}"] += 1
        elif not verdict["kept"]:
            failed.update(f"failed {c}" for c, v in verdict["verdicts"].items() if not v["ok"])
    graph_skips = Counter(s.split(":")[0][:60] for r in multihop for s in r["graph"]["skips"])
    return {
        "seconds": seconds, "llm": summary.get("llm"), "stage_seconds": summary.get("seconds"),
        "pages": len(pages), "page_skips": dict(Counter(p["skip"][:80] for p in pages if p["skip"])),
        "pairs_extracted": sum(len(p["pairs"]) for p in pages),
        "pairs_dropped_at_extraction": dict(sum((Counter(p["dropped"]) for p in pages), Counter())),
        "rubric_judged": len(rubric), "rubric_kept": sum(v["kept"] for v in rubric),
        "rubric_drops": dict(failed),
        "unreachable_after_masking": sum(not r["reachable"] for r in reach),
        "multi_hop": {"tried": len(multihop), "made": sum(1 for r in multihop if r["task"]),
                      "drops": dict(Counter(r["skip"][:80] for r in multihop if r["skip"])),
                      "graph_nodes": [len(r["graph"]["nodes"]) for r in multihop],
                      "graph_edges": [len(r["graph"]["edges"]) for r in multihop],
                      "graph_expansion_skips": dict(graph_skips)},
        "tasks": len(tasks), "tasks_by_kind": dict(Counter(t["kind"] for t in tasks)),
        "snapshots": sorted({t["snapshot"] for t in tasks}), "export": summary.get("export"),
        "examples": [{k: t[k] for k in ("kind", "question", "answer", "source_urls", "reachable")} for t in tasks[:4]],
    }


def agent_report(trajectories: list[dict], summary: dict, seconds: float) -> dict:
    """What the policy did: calls to the world, how they were written, why episodes stopped."""
    calls = Counter(c["function"]["name"] for r in trajectories for m in r["messages"] if m["role"] == "assistant"
                    for c in m.get("tool_calls") or [])
    errors = Counter(m["content"][:70] for r in trajectories for m in r["messages"]
                     if m["role"] == "tool" and m["content"].lstrip().lower().startswith(("error", "unknown", "invalid")))
    no_answer = [next((m["content"][:300] for m in reversed(r["messages"]) if m["role"] == "assistant"), "")
                 for r in trajectories if r["prediction"] is None]
    run = summary.get("run", summary)
    return {
        "seconds": seconds, "policy_requests": (run.get("policy_usage") or {}).get("requests"),
        "policy_usage": run.get("policy_usage"), "episodes": len(trajectories),
        "episodes_failed_at_endpoint": run.get("failed", 0), "failure_examples": run.get("failure_examples"),
        "world_snapshot": run.get("world_snapshot"),
        "tool_calls": dict(calls), "tool_calls_read_from_content": sum(r.get("content_tool_calls", 0) for r in trajectories),
        "tool_errors": dict(errors), "stops": dict(Counter(r["stop"].split(":")[0] for r in trajectories)),
        "answered": sum(r["prediction"] is not None for r in trajectories),
        "correct": sum(bool(r["correct"]) for r in trajectories),
        "verdicts": dict(Counter(r["verdict"]["method"] + ("/failed" if r["verdict"].get("error") else "")
                                 for r in trajectories)),
        "seconds_per_episode": sorted(r["seconds"] for r in trajectories),
        "last_turn_without_answer": no_answer[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url", help="OpenAI-compatible endpoint of the model, e.g. http://127.0.0.1:8012/v1")
    parser.add_argument("--model", default="local")
    parser.add_argument("--seeds", type=int, default=3, help="seed pages for single-hop synthesis")
    parser.add_argument("--multi-hop", type=int, default=1, help="multi-hop tasks to try")
    parser.add_argument("--graph-nodes", type=int, default=5, help="entities per multi-hop graph")
    parser.add_argument("--tasks", type=int, default=3, help="tasks the policy runs on")
    parser.add_argument("--samples", type=int, default=2, help="rollouts per task in filter")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-tokens-per-turn", type=int, default=512)
    parser.add_argument("--tool-format", default="hermes_lenient")
    parser.add_argument("--agent-prompt", default="agent_system.v2", help="system prompt version in the tasks")
    parser.add_argument("--tasks-file", help="run the policy on these task rows (JSONL) instead of synth-qa's, "
                        "e.g. corpora/demo-questions.jsonl: synth-qa is not run")
    parser.add_argument("--work", help="scratch folder (kept; a rerun reuses its world and caches)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out", "e2e_real_model.json"))
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="wb-e2e-")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "commands.log")
    report: dict = {"base_url": args.base_url, "model": args.model, "work": work, "load_before": os.getloadavg(),
                    "settings": {k: v for k, v in vars(args).items() if k not in ("out", "work")}}
    models = httpx.get(args.base_url.rstrip("/") + "/models", timeout=10).json()
    report["served_model"] = [m.get("id") for m in models.get("data", [])]
    props = httpx.get(args.base_url.rstrip("/").removesuffix("/v1") + "/props", timeout=10)
    if props.status_code == 200:  # llama.cpp: which weights are behind the name
        report["model_file"] = os.path.basename(props.json().get("model_path", ""))

    world = os.path.join(work, "world")
    if not os.path.exists(os.path.join(world, "world.json")):
        began = time.perf_counter()
        subprocess.run([PY, "-m", "worldbuild", "ingest", os.path.join(REPO, "corpora"), "--world", world],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        report["ingest_seconds"] = round(time.perf_counter() - began, 1)
    server, world_url = start_world(world, log)
    llm = ["--base-url", args.base_url, "--model", args.model]
    agent = [*llm, "--world-url", world_url, "--judge-url", args.base_url, "--judge-model", args.model,
             "--judge-cache", os.path.join(work, "judge.sqlite"), "--concurrency", "1",
             "--max-turns", str(args.max_turns), "--max-tokens-per-turn", str(args.max_tokens_per_turn),
             "--max-response-tokens", "6144", "--browse-chars", "3000", "--results", "5",
             "--tool-format", args.tool_format, "--temperature", "0.7",
             "--system-prompt", os.path.join(REPO, "worldbuild", "prompts", f"{args.agent_prompt}.md")]
    try:
        synth = os.path.join(work, "synth")
        summary, seconds = ({}, 0.0) if args.tasks_file else sh(["synth-qa", "--world", world, "--out", synth, *llm, "--max-pages", str(args.seeds),
                               "--multi-hop", str(args.multi_hop), "--graph-nodes", str(args.graph_nodes), "--service", world_url, "--concurrency", "1",
                               "--timeout", "900", "--validation-fraction", "0", "--system-prompt",
                               os.path.join(REPO, "worldbuild", "prompts", f"{args.agent_prompt}.md")], log)
        if not args.tasks_file:
            report["synth_qa"] = synth_report(synth, summary, seconds)
        tasks = os.path.join(synth, "verl", "train.parquet")
        if args.tasks_file:
            subset = os.path.join(work, "tasks.jsonl")
            rows = read_jsonl(args.tasks_file)[: args.tasks]
            with open(subset, "w") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in rows)
            report["agent_tasks"] = [{**r, "from": os.path.relpath(args.tasks_file, REPO)} for r in rows]
        elif os.path.exists(tasks):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pq.read_table(tasks)  # multi-hop tasks first: they are few
            rows = sorted(table.to_pylist(), key=lambda r: not r["extra_info"]["id"].startswith("mh-"))[: args.tasks]
            subset = os.path.join(work, "tasks.parquet")
            pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), subset)
            report["agent_tasks"] = [{"id": r["extra_info"]["id"], "question": r["extra_info"]["question"],
                                      "answer": r["extra_info"]["answer"], "from": "synth-qa"} for r in rows]
        else:  # synth-qa kept nothing (its report says why): the policy still runs, on the demo questions
            subset = os.path.join(work, "tasks.jsonl")
            rows = read_jsonl(os.path.join(REPO, "corpora", "demo-questions.jsonl"))[: args.tasks]
            with open(subset, "w") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in rows)
            report["agent_tasks"] = [{**r, "from": "corpora/demo-questions.jsonl (synth-qa kept no task)"} for r in rows]

        keep = f"1..{max(1, args.samples - 1)}"
        summary, seconds = sh(["filter", subset, "--out", os.path.join(work, "filtered.parquet"),
                               "--samples", str(args.samples), "--keep", keep, *agent], log)
        trajectories = read_jsonl(os.path.join(work, "filtered.parquet.trajectories.jsonl"))
        report["filter"] = {**agent_report(trajectories, summary, seconds), "band": summary.get("band"),
                            "kept": summary.get("kept"), "dropped": {k: summary.get(k) for k in
                                                                    ("too_easy", "too_hard", "incomplete")},
                            "solved_histogram": summary.get("solved_histogram"), "rerun": summary.get("rerun")}

        summary, seconds = sh(["eval", subset, "--out", os.path.join(work, "eval.jsonl"), *agent], log)
        report["eval"] = {**agent_report(read_jsonl(os.path.join(work, "eval.jsonl")), summary, seconds),
                          **{k: summary.get(k) for k in ("accuracy", "ci95", "answered", "tool_calls_per_task",
                                                         "turns_per_task", "completion_tokens_per_task")}}

        # the teacher's trajectories are the filter's: same policy, same settings, one file
        sft_out = os.path.join(work, "sft.parquet")
        summary, seconds = sh(["sft-data", subset, "--out", sft_out, "--samples", str(args.samples),
                               "--trajectories", os.path.join(work, "filtered.parquet.trajectories.jsonl"),
                               "--no-reminder", *agent], log)
        report["sft_data"] = {"seconds": seconds, "new_policy_requests": (summary.get("policy_usage") or {}).get("requests"),
                              **{k: v for k, v in summary.items() if k not in ("policy_usage", "world_snapshot")}}
        trajectory = next((r for r in trajectories if r["tool_calls"]), None)
        if trajectory:
            report["example_trajectory"] = [{k: m.get(k) for k in ("role", "content", "tool_calls") if m.get(k)}
                                            for m in trajectory["messages"][1:]]
            for message in report["example_trajectory"]:
                if message["role"] == "tool":
                    message["content"] = message["content"][:400] + "…"
    finally:
        server.terminate()
        server.wait(timeout=30)
    report["load_after"] = os.getloadavg()
    save_results(args.out, report)
    print(json.dumps({k: report[k] for k in report if k not in ("example_trajectory",)}, indent=2, default=str))


if __name__ == "__main__":
    main()

"""The agent-side jobs behind the CLI: roll a policy out over tasks, then keep a difficulty
band (filter), score a benchmark (evaluate) or distil SFT data. Each checks its endpoints
first and fails fast with how to start them, and each resumes from its trajectory file."""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from typing import Callable

from worldbuild.agent import difficulty, evaluate, sft
from worldbuild.agent.judge import DEFAULT_CACHE, Judge
from worldbuild.agent.react import EpisodeSettings
from worldbuild.agent.rollout import RolloutPlan, policy_id, read_trajectories, rollout
from worldbuild.agent.tools import ToolSettings
from worldbuild.client import AsyncWorldClient, WorldError
from worldbuild.llm import LLM
from worldbuild.prompts import load
from worldbuild.tasks import SYSTEM_PROMPT, Task


class ServiceUnavailable(RuntimeError):
    """The world service or the policy endpoint does not answer: nothing can run."""


@dataclass(frozen=True)
class JudgeSettings:
    base_url: str | None = None
    model: str | None = None
    fallback: str = "em"
    cache_path: str | None = DEFAULT_CACHE

    def make(self, concurrency: int) -> Judge:
        return Judge(self.base_url, self.model, fallback=self.fallback, cache_path=self.cache_path,
                     concurrency=concurrency)


@dataclass(frozen=True)
class Job:
    base_url: str
    model: str
    tools: ToolSettings
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    episode: EpisodeSettings = field(default_factory=EpisodeSettings)
    plan: RolloutPlan = field(default_factory=RolloutPlan)
    api_key: str | None = None
    timeout: float = 600.0  # one policy turn can be long (thinking models)


async def _world_snapshot(settings: ToolSettings) -> str | None:
    client = AsyncWorldClient(settings.base_url, timeout=10, retries=1)
    try:
        snapshot = (await client.health()).get("snapshot")
        if not snapshot:
            raise WorldError(f"{settings.base_url}/health did not answer as a world service")
        return snapshot
    except WorldError as exc:
        raise ServiceUnavailable(f"no world service at {settings.base_url} ({exc}); start one with "
                                 f"`worldbuild serve --world DIR --port PORT`") from exc
    finally:
        await client.aclose()


async def run(job: Job, tasks: list[Task], trajectories_path: str,
              on_done: Callable[[dict], None] | None = None) -> dict:
    """Roll out what the trajectory file lacks; returns counts and the served snapshot."""
    snapshot = await _world_snapshot(job.tools)
    policy = LLM(job.base_url, job.model, cache_path=None, api_key=job.api_key, concurrency=job.plan.concurrency,
                 timeout=job.timeout, max_retries=3)
    judge = job.judge.make(job.plan.concurrency)
    try:
        try:
            await policy.check()
        except Exception as exc:
            raise ServiceUnavailable(str(exc)) from exc
        counts = await rollout(tasks, trajectories_path, policy, job.tools, judge, job.episode, job.plan, on_done)
    finally:
        await policy.aclose()
        await judge.aclose()
    other = sorted({t.row.get("extra_info", {}).get("snapshot") for t in tasks if t.row} - {None, snapshot})
    return {**counts, "world_snapshot": snapshot, "tasks_from_other_snapshots": other,
            "policy_usage": policy.usage.to_dict(), "judge": judge.method}


def policy_of(job: Job) -> str:
    return policy_id(job.plan.checkpoint, job.model, job.base_url)


async def filter_tasks(job: Job, tasks: list[Task], out_path: str, keep: str, trajectories_path: str | None = None,
                       on_done=None) -> dict:
    """pass@k with the current policy, then the stage parquet of the kept band. Tasks that lack
    k rollouts (the policy endpoint failed them) are counted, and no stage parquet is written
    until a rerun has retried them: a band measured on part of the rollouts is not the band."""
    k = job.plan.samples
    band = difficulty.Band.parse(keep, k)
    trajectories_path = trajectories_path or out_path + ".trajectories.jsonl"
    summary = await run(job, tasks, trajectories_path, on_done)
    policy = policy_of(job)
    counts = difficulty.pass_counts(read_trajectories(trajectories_path), policy, k)
    kept, report = difficulty.select(tasks, counts, k, band)
    label = job.plan.checkpoint or policy
    complete = report["incomplete"] == 0
    if kept and complete:
        difficulty.write_stage(kept, counts, label, out_path)
    if complete:
        difficulty.record_passes(tasks, counts, label, out_path + ".passes.jsonl")
    result = {**summary, "policy": policy, "tasks": len(tasks), "band": f"{band.low}..{band.high} of {k}", **report,
              "solved_histogram": difficulty.histogram(tasks, counts, k), "out": out_path if kept and complete else None}
    if not complete:
        result["rerun"] = (f"{report['incomplete']} task(s) lack {k} rollouts ({summary.get('failed', 0)} episode(s) "
                           "failed at the policy endpoint this run); no stage parquet written: rerun the same "
                           "command to retry them")
    return result


def resolve_evidence(tasks: list[Task], world_dir: str | None = None) -> tuple[dict[str, set[str]], int]:
    """Each task's evidence as URL keys of pages, and how many evidence documents could not be
    placed: a URL is its own key; a corpus document id is looked up in the world's store
    (`world_dir`), so without one only URLs count."""
    from worldbuild.retrieval_eval import resolve

    judged = {t.id: {doc: 1 for doc in t.evidence} for t in tasks if t.evidence}
    if not judged:
        return {}, 0
    if world_dir:
        from worldbuild.world import World

        with World.open(world_dir) as world:
            resolved, coverage = resolve(world, judged)
        missing = coverage["judged_docs_not_in_world"]
    else:
        resolved, missing = {}, 0
        for task_id, docs in judged.items():
            keys = evaluate.url_keys([doc[4:] for doc in docs if doc.startswith("url:")])
            missing += len(docs) - len(keys)
            resolved[task_id] = keys | {f"missing:{doc}" for doc in docs if doc.startswith("id:")}
    return {task_id: set(keys) for task_id, keys in resolved.items()}, missing


async def evaluate_benchmark(job: Job, tasks: list[Task], trajectories_path: str, on_done=None,
                             world_dir: str | None = None) -> dict:
    """Accuracy and cost, plus for offline benchmarks with evidence documents (BrowseComp-Plus,
    FRAMES-style) evidence recall, search calls and calibration; `world_dir` places evidence
    given as corpus document ids. The report is also written to TRAJECTORIES.report.json."""
    summary = await run(job, tasks, trajectories_path, on_done)
    ids, policy = {t.id for t in tasks}, policy_of(job)
    records = [r for r in read_trajectories(trajectories_path)  # this policy's, on this benchmark
               if r["task_id"] in ids and difficulty.record_policy(r) == policy and r["sample"] < job.plan.samples]
    evidence, unplaced = resolve_evidence(tasks, world_dir)
    offline = {**evaluate.search_calls(records), **evaluate.evidence_recall(records, evidence),
               "evidence_docs_not_placed": unplaced, "calibration": evaluate.calibration(records)}
    report = {"run": summary, "model": job.model, "policy": policy,
              "judge_model": job.judge.model if job.judge.base_url else None, **evaluate.summarize(records), **offline}
    with open(trajectories_path + ".report.json", "w") as handle:
        json.dump(report, handle, indent=2)
    return report


async def distil_sft(job: Job, tasks: list[Task], out_path: str, trajectories_path: str | None = None,
                     system_prompt: str | None = None, on_done=None) -> dict:
    trajectories_path = trajectories_path or out_path + ".trajectories.jsonl"
    summary = await run(job, tasks, trajectories_path, on_done)
    report = sft.build(read_trajectories(trajectories_path), system_prompt or load(SYSTEM_PROMPT), out_path)
    return {**summary, **report, "out": out_path if report["kept"] else None}

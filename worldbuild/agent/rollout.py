"""Many episodes at once: every task k times, each trajectory judged and appended to a JSONL
file as soon as it ends, so an interrupted run resumes where it stopped (done keys skipped)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from worldbuild.agent.judge import Judge
from worldbuild.agent.react import EpisodeSettings, run_episode
from worldbuild.agent.tools import ToolSettings, WorldTools
from worldbuild.llm import LLM
from worldbuild.stagefile import StageFile, read_records
from worldbuild.tasks import Task


@dataclass(frozen=True)
class RolloutPlan:
    samples: int = 1
    concurrency: int = 64
    checkpoint: str = ""  # which policy produced the trajectories (recorded in each)


def policy_id(checkpoint: str, model: str, base_url: str) -> str:
    """Who produced a trajectory: the checkpoint's name, or the model at its endpoint. Pass
    counts are kept per policy, never summed across two."""
    return checkpoint or f"{model}@{base_url.rstrip('/')}"


def trajectory_key(task_id: str, sample: int, policy: str = "") -> str:
    """One trajectory per (policy, task, sample): another checkpoint in the same file is new work."""
    return f"{policy}|{task_id}#{sample}" if policy else f"{task_id}#{sample}"


async def rollout(tasks: list[Task], out_path: str, policy: LLM, tool_settings: ToolSettings, judge: Judge,
                  episode: EpisodeSettings = EpisodeSettings(), plan: RolloutPlan = RolloutPlan(),
                  on_done: Callable[[dict], None] | None = None) -> dict:
    """Run what `out_path` lacks; returns counts of this call (`done`, `resumed`, `failed`).
    Episodes the policy endpoint failed (after its retries) are not saved, so a rerun tries
    them again instead of scoring them as wrong."""
    out = StageFile(out_path)
    policy_name = policy_id(plan.checkpoint, policy.model, policy.base_url)
    todo = [(task, s) for task in tasks for s in range(plan.samples)
            if trajectory_key(task.id, s, policy_name) not in out.done]
    resumed = len(tasks) * plan.samples - len(todo)
    tools, slots = WorldTools(tool_settings), asyncio.Semaphore(plan.concurrency)
    counts = {"done": 0, "resumed": resumed, "failed": 0}
    failures: list[str] = []  # the first few endpoint failures, for the summary

    async def one(task: Task, sample: int) -> None:
        async with slots:
            began = time.perf_counter()
            try:
                result = await run_episode(policy, tools, task.prompt, task.mask, episode)
                verdict = await judge.grade(task.question, task.answer, result["prediction"])
            except Exception as exc:  # one broken episode must not end the others
                result, verdict = {"stop": f"llm_error: {type(exc).__name__}: {exc}"}, None
        if result["stop"].startswith("llm_error"):
            counts["failed"] += 1
            if len(failures) < 5:
                failures.append(result["stop"][:200])
            return
        record = {"key": trajectory_key(task.id, sample, policy_name), "task_id": task.id, "sample": sample,
                  "policy": policy_name, "checkpoint": plan.checkpoint, "model": policy.model, "question": task.question,
                  "label": task.answer, **result, "correct": verdict.correct, "score": verdict.score,
                  "verdict": verdict.to_dict(), "seconds": round(time.perf_counter() - began, 3)}
        out.append(record)
        counts["done"] += 1
        if on_done:
            on_done(record)

    try:
        await asyncio.gather(*(one(task, sample) for task, sample in todo))
    finally:
        out.close()
        await tools.aclose()
    return {**counts, "failure_examples": failures} if failures else counts


def read_trajectories(path: str) -> list[dict]:
    return list(read_records(path))

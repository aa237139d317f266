"""Many episodes at once: every task k times, each trajectory judged and appended to a JSONL
file as soon as it ends, so an interrupted run resumes where it stopped (done keys skipped)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from qa_synth.llm import LLM
from qa_synth.stagefile import StageFile, read_records
from worldbuild.agent.judge import Judge
from worldbuild.agent.react import EpisodeSettings, run_episode
from worldbuild.agent.tasks import Task
from worldbuild.agent.tools import ToolSettings, WorldTools


@dataclass(frozen=True)
class RolloutPlan:
    samples: int = 1
    concurrency: int = 64
    checkpoint: str = ""  # which policy produced the trajectories (recorded in each)


def trajectory_key(task_id: str, sample: int) -> str:
    return f"{task_id}#{sample}"


async def rollout(tasks: list[Task], out_path: str, policy: LLM, tool_settings: ToolSettings, judge: Judge,
                  episode: EpisodeSettings = EpisodeSettings(), plan: RolloutPlan = RolloutPlan(),
                  on_done: Callable[[dict], None] | None = None) -> dict:
    """Run what `out_path` lacks; returns counts of this call (`done`, `resumed`, `failed`)."""
    out = StageFile(out_path)
    todo = [(task, s) for task in tasks for s in range(plan.samples) if trajectory_key(task.id, s) not in out.done]
    resumed = len(tasks) * plan.samples - len(todo)
    tools, slots = WorldTools(tool_settings), asyncio.Semaphore(plan.concurrency)
    counts = {"done": 0, "resumed": resumed, "failed": 0}

    async def one(task: Task, sample: int) -> None:
        async with slots:
            began = time.perf_counter()
            result = await run_episode(policy, tools, task.prompt, task.mask, episode)
            verdict = await judge.grade(task.question, task.answer, result["prediction"])
        record = {"key": trajectory_key(task.id, sample), "task_id": task.id, "sample": sample,
                  "checkpoint": plan.checkpoint, "model": policy.model, "question": task.question,
                  "label": task.answer, **result, "correct": verdict.correct, "score": verdict.score,
                  "verdict": verdict.to_dict(), "seconds": round(time.perf_counter() - began, 3)}
        out.append(record)
        counts["failed"] += record["stop"].startswith("llm_error")
        counts["done"] += 1
        if on_done:
            on_done(record)

    try:
        await asyncio.gather(*(one(task, sample) for task, sample in todo))
    finally:
        out.close()
        await tools.aclose()
    return counts


def read_trajectories(path: str) -> list[dict]:
    return list(read_records(path))

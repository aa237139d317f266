"""Accuracy on a benchmark from judged trajectories, with a 95% confidence interval (Wilson for
one sample per task; over per-task means when there are several), plus the cost side: tool
calls, turns and tokens per task, and why episodes stopped."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from statistics import mean

Z95 = 1.959964


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(trajectories: list[dict]) -> dict:
    by_task: dict[str, list[dict]] = defaultdict(list)
    for record in trajectories:
        by_task[record["task_id"]].append(record)
    n = len(by_task)
    if n == 0:
        return {"tasks": 0, "trajectories": 0}
    per_task = [mean(float(r["correct"]) for r in records) for records in by_task.values()]
    samples = max(len(records) for records in by_task.values())
    accuracy = mean(per_task)
    if samples == 1:
        low, high = wilson(sum(per_task), n)
    else:
        spread = math.sqrt(sum((p - accuracy) ** 2 for p in per_task) / max(1, n - 1) / n)
        low, high = max(0.0, accuracy - Z95 * spread), min(1.0, accuracy + Z95 * spread)
    return {
        "tasks": n,
        "trajectories": len(trajectories),
        "samples_per_task": samples,
        "accuracy": round(accuracy, 4),
        "ci95": [round(low, 4), round(high, 4)],
        f"pass@{samples}": round(mean(float(any(r["correct"] for r in rs)) for rs in by_task.values()), 4),
        "answered": round(mean(float(r["prediction"] is not None) for r in trajectories), 4),
        "tool_calls_per_task": round(mean(r["tool_calls"] for r in trajectories), 2),
        "tool_errors_per_task": round(mean(r["tool_errors"] for r in trajectories), 2),
        "turns_per_task": round(mean(r["turns"] for r in trajectories), 2),
        "completion_tokens_per_task": round(mean(r["completion_tokens"] for r in trajectories), 1),
        "response_tokens_per_task": round(mean(r["response_tokens"] for r in trajectories), 1),
        "stops": dict(Counter(r["stop"].split(":")[0] for r in trajectories)),
        "judge": dict(Counter(r["verdict"]["method"] + ("/failed" if r["verdict"].get("error") else "")
                              for r in trajectories)),
    }

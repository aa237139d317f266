"""The curriculum's difficulty filter: pass@k of the current policy per task, and the band of
tasks it keeps (paper: 8 rollouts, keep 1..7 correct: neither solved every time nor never).
Pass counts go into the kept rows (`extra_info.pass_counts`, one entry per checkpoint) and a
JSONL beside the stage parquet, so later stages can see how a task's difficulty moved."""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass

from worldbuild.atomic import replacing
from worldbuild.tasks import Task, verl_row


@dataclass(frozen=True)
class Band:
    low: int
    high: int

    @classmethod
    def parse(cls, text: str, k: int) -> "Band":
        """'1..7' (inclusive), '3' (exactly), '..6' or '2..'."""
        match = re.fullmatch(r"\s*(\d*)\s*(\.\.)?\s*(\d*)\s*", text)
        if not match or not (match.group(1) or match.group(3)):
            raise ValueError(f"--keep must look like 1..7, not {text!r}")
        low = int(match.group(1) or 0)
        high = int(match.group(3) or (k if match.group(2) else low))
        if not 0 <= low <= high <= k:
            raise ValueError(f"--keep {text!r} must satisfy 0 <= low <= high <= k={k}")
        return cls(low, high)

    def holds(self, correct: int) -> bool:
        return self.low <= correct <= self.high


def record_policy(record: dict) -> str:
    """The policy of a trajectory record (files written before records named it: the checkpoint,
    else the model)."""
    return record.get("policy") or record.get("checkpoint") or record.get("model") or ""


def pass_counts(trajectories: list[dict], policy: str | None = None, k: int | None = None) -> dict[str, list[int]]:
    """task id -> [correct, rollouts] over the first k samples of one policy (each sample once)."""
    seen: dict[str, dict[int, bool]] = defaultdict(dict)
    for record in trajectories:
        if policy is not None and record_policy(record) != policy:
            continue
        if k is not None and record["sample"] >= k:
            continue
        seen[record["task_id"]].setdefault(record["sample"], bool(record["correct"]))
    return {task: [sum(samples.values()), len(samples)] for task, samples in seen.items()}


def select(tasks: list[Task], counts: dict[str, list[int]], k: int, band: Band) -> tuple[list[Task], dict]:
    """The tasks in the band, and how many fell out and why."""
    kept, report = [], {"kept": 0, "too_easy": 0, "too_hard": 0, "incomplete": 0}
    for task in tasks:
        correct, total = counts.get(task.id, [0, 0])
        if total < k:
            report["incomplete"] += 1
        elif correct > band.high:
            report["too_easy"] += 1
        elif correct < band.low:
            report["too_hard"] += 1
        else:
            report["kept"] += 1
            kept.append(task)
    return kept, report


def histogram(tasks: list[Task], counts: dict[str, list[int]], k: int) -> list[int]:
    """How many tasks were solved 0, 1, ..., k times."""
    bins = [0] * (k + 1)
    for task in tasks:
        correct, total = counts.get(task.id, [0, 0])
        if total >= k:
            bins[min(correct, k)] += 1
    return bins


def write_stage(kept: list[Task], counts: dict[str, list[int]], checkpoint: str, out_path: str) -> None:
    """The stage parquet: the kept tasks' rows, re-indexed, with this checkpoint's pass count added."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for index, task in enumerate(kept):
        row = json.loads(json.dumps(task.row)) if task.row else _row_for(task)
        info = row.setdefault("extra_info", {})
        info["index"] = index
        correct, total = counts[task.id]
        history = [entry for entry in info.get("pass_counts") or [] if entry["checkpoint"] != checkpoint]
        info["pass_counts"] = history + [{"checkpoint": checkpoint, "correct": correct, "rollouts": total}]
        rows.append(row)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with replacing(out_path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def _row_for(task: Task) -> dict:
    """A verl row for a task that came from JSONL rather than parquet."""
    record = {"id": task.id, "question": task.question, "answer": task.answer, "kind": "external",
              "mask_urls": task.mask, "snapshot": None}
    return verl_row(record, 0, task.prompt[0]["content"])


def record_passes(tasks: list[Task], counts: dict[str, list[int]], checkpoint: str, path: str) -> None:
    """Append every task's pass count for this checkpoint (kept or not) to a JSONL history."""
    with open(path, "a", encoding="utf-8") as handle:
        for task in tasks:
            correct, total = counts.get(task.id, [0, 0])
            handle.write(json.dumps({"id": task.id, "checkpoint": checkpoint, "correct": correct,
                                     "rollouts": total}) + "\n")

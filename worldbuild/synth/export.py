"""Export: tasks → an HF `datasets` DatasetDict on disk and verl-ready parquet (DESIGN.md §4),
split into train/validation by a hash of the task id (stable across reruns)."""

from __future__ import annotations

import hashlib
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

from worldbuild.atomic import replacing
from worldbuild.prompts import load
from worldbuild.synth.dedup import Benchmarks, NearDuplicates
from worldbuild.tasks import SYSTEM_PROMPT, verl_row


def _split(task_id: str, validation_fraction: float) -> str:
    bucket = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < validation_fraction else "train"


HF_COLUMNS = ("id", "question", "answer", "kind", "capability", "hops", "source_urls", "mask_urls",
              "evidence_urls", "reachable", "snapshot", "created_at")


def _hf_record(task: dict) -> dict:
    """One schema for single- and multi-hop tasks: nested parts (rubric, generator, facts) as JSON."""
    record = {column: task.get(column) for column in HF_COLUMNS}
    record["hops"] = task.get("hops", 1)
    for nested in ("rubric", "generator", "facts", "entities"):
        record[nested] = json.dumps(task.get(nested, [] if nested in ("facts", "entities") else {}), ensure_ascii=False)
    return record


def _why_empty(split: str, counts: dict, validation_fraction: float) -> str:
    if split == "validation":
        return (f"no file: no task fell in the validation split (validation_fraction={validation_fraction}); "
                "train with validation off or export more tasks")
    return (f"no file: no task left for training ({counts['tasks']} read: {counts['unreachable']} unreachable, "
            f"{counts['duplicates']} duplicates, {counts['contaminated']} contaminated)")


def export(tasks_path: str, out_dir: str, validation_fraction: float = 0.05, include_unreachable: bool = False,
           system_prompt_file: str | None = None, benchmark_files: list[str] | None = None,
           near_duplicate: float = 0.7) -> dict:
    """Write `out_dir/hf` (DatasetDict) and `out_dir/verl/{train,validation}.parquet`; returns counts.
    Drops unreachable tasks (unless asked), near-duplicate questions and tasks that overlap the
    benchmark files. An empty split gets no file (its reason is in `counts["omitted"]`)."""
    from datasets import Dataset, DatasetDict

    system_prompt = open(system_prompt_file).read() if system_prompt_file else load(SYSTEM_PROMPT)
    duplicates, splits = NearDuplicates(near_duplicate), {"train": [], "validation": []}
    benchmarks = Benchmarks(benchmark_files or [])
    counts = {"tasks": 0, "unreachable": 0, "duplicates": 0, "contaminated": 0}
    with open(tasks_path, encoding="utf-8") as handle:
        for line in handle:
            task = json.loads(line)
            counts["tasks"] += 1
            if not task["reachable"] and not include_unreachable:
                counts["unreachable"] += 1
                continue
            if benchmarks.contaminated(task["question"], task["answer"]):
                counts["contaminated"] += 1
                continue
            if duplicates.seen(task["question"]):
                counts["duplicates"] += 1
                continue
            splits[_split(task["id"], validation_fraction)].append(task)
    os.makedirs(os.path.join(out_dir, "verl"), exist_ok=True)
    omitted = {}
    for name, tasks in splits.items():
        path = os.path.join(out_dir, "verl", f"{name}.parquet")
        counts[name] = len(tasks)
        if not tasks:  # a parquet of no rows has no columns either, and verl's dataset cannot read it
            omitted[name] = _why_empty(name, counts, validation_fraction)
            if os.path.exists(path):
                os.remove(path)  # never leave an older run's split beside this one's
            continue
        rows = [verl_row(task, i, system_prompt) for i, task in enumerate(tasks)]
        with replacing(path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
    if omitted:
        counts["omitted"] = omitted
    records = {name: [_hf_record(t) for t in tasks] for name, tasks in splits.items()}
    if any(records.values()):  # nested verdicts as JSON strings: one schema whatever the rubric says
        DatasetDict({name: Dataset.from_list(rows) for name, rows in records.items() if rows}).save_to_disk(
            os.path.join(out_dir, "hf"))
    counts["system_prompt"] = os.path.basename(system_prompt_file) if system_prompt_file else SYSTEM_PROMPT
    counts["benchmark_questions"] = benchmarks.loaded
    return counts

"""Accuracy on a benchmark from judged trajectories, with a 95% confidence interval (Wilson for
one sample per task; over per-task means when there are several), plus the cost side: tool
calls, turns and tokens per task, and why episodes stopped. For offline benchmarks in the
BrowseComp-Plus protocol: evidence-document recall over what the agent retrieved or opened,
search calls, and the calibration error of the confidence the agent states."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from statistics import mean

import numpy as np

from worldbuild.urls import BadURL, url_key

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


CONFIDENCE = re.compile(r"confidence(?:\s+score)?\s*[:：=]?\s*(\d{1,3}(?:\.\d+)?)\s*%", re.IGNORECASE)
CALIBRATION_BIN = 100  # examples per bin, as BrowseComp-Plus (and HLE) compute it


def stated_confidence(record: dict) -> float | None:
    """The confidence (0-100) the agent stated last, e.g. "Confidence: 80%"; None when it stated none."""
    written = "\n".join(m.get("content") or "" for m in record.get("messages", []) if m.get("role") == "assistant")
    found = CONFIDENCE.findall(written)
    return min(100.0, float(found[-1])) if found else None


def calibration_error(confidences: list[float], correct: list[bool], bin_size: int = CALIBRATION_BIN,
                      drop_last_bin: bool = False) -> float | None:
    """RMS calibration error in percent: answers sorted by confidence, cut into bins of
    `bin_size` (the last bin takes the remainder), each bin's |mean confidence - accuracy|
    squared and weighted by its share. `drop_last_bin` leaves the last bin out, as the
    BrowseComp-Plus evaluation script does. None with fewer answers than one bin."""
    n = len(confidences)
    if n < bin_size or n == 0:
        return None
    confidence = np.asarray(confidences, dtype=float) / 100.0
    outcome = np.asarray(correct, dtype=float)
    order = np.argsort(confidence)  # numpy's default sort, as the reference script
    confidence, outcome = confidence[order], outcome[order]
    bins = [[i * bin_size, (i + 1) * bin_size] for i in range(n // bin_size)]
    bins[-1][1] = n
    total = 0.0
    for start, end in bins[:-1] if drop_last_bin else bins:
        total += (end - start) / n * (confidence[start:end].mean() - outcome[start:end].mean()) ** 2
    return round(float(math.sqrt(total)) * 100, 2)


def calibration(trajectories: list[dict], bin_size: int = CALIBRATION_BIN) -> dict:
    stated = [(c, bool(r["correct"])) for r in trajectories if (c := stated_confidence(r)) is not None]
    confidences, correct = [c for c, _ in stated], [ok for _, ok in stated]
    return {"answers_with_confidence": len(stated), "bin_size": bin_size,
            "calibration_error": calibration_error(confidences, correct, bin_size),
            "calibration_error_browsecomp_plus": calibration_error(confidences, correct, bin_size, drop_last_bin=True)}


def url_keys(urls: list[str]) -> set[str]:
    """The loose URL keys of `urls` (what evidence is matched on); what is no URL is left out."""
    keys = set()
    for url in urls:
        try:
            keys.add(url_key(url))
        except BadURL:
            continue
    return keys


def evidence_recall(trajectories: list[dict], evidence: dict[str, set[str]]) -> dict:
    """Mean share of each task's evidence pages (URL keys) among the pages search showed the
    agent or it opened, and among those it opened; over trajectories of tasks with evidence."""
    seen, opened = [], []
    for record in trajectories:
        gold = evidence.get(record["task_id"])
        if not gold:
            continue
        shown = url_keys(record.get("retrieved_urls", []) + record.get("opened_urls", []))
        seen.append(len(gold & shown) / len(gold))
        opened.append(len(gold & url_keys(record.get("opened_urls", []))) / len(gold))
    return {"evidence_recall": round(mean(seen), 4) if seen else None,
            "evidence_recall_opened": round(mean(opened), 4) if opened else None,
            "trajectories_with_evidence": len(seen)}


def search_calls(trajectories: list[dict]) -> dict:
    return {"search_calls_per_task": round(mean(r.get("search_calls", 0) for r in trajectories), 2)
            if trajectories else 0.0}

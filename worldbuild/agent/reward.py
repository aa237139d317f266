"""verl's custom reward: `reward.custom_reward_function.path=pkg://worldbuild.agent.reward`.

Binary: 1 when the <answer> the policy wrote in its final turn (outside <think>, never in a tool
observation: `answer.extract_answer`) is judged the same as the label, 0 otherwise (missing,
malformed or over-long answers score 0). `thinking=true` in `reward_kwargs` (or
WORLDBUILD_THINKING=1) says the policy's template opens <think> in the prompt (Qwen3-Thinking):
a final turn that never closed its reasoning has no answer. The judge is set through `reward_kwargs`
(`judge_base_url`, `judge_model`, `fallback`, `judge_cache`) or the environment
(`WORLDBUILD_JUDGE_URL`, `WORLDBUILD_JUDGE_MODEL`, ...); without one, exact match (or F1).
Every call returns the same keys, which verl logs per batch."""

from __future__ import annotations

import asyncio
import os
import weakref

from worldbuild.agent.answer import extract_answer, f1
from worldbuild.agent.judge import DEFAULT_CACHE, Judge

_judges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Judge]]" = weakref.WeakKeyDictionary()


def _setting(kwargs: dict, name: str, env: str, default=None):
    value = kwargs.get(name)
    return value if value not in (None, "") else os.environ.get(env) or default


def judge_from(kwargs: dict) -> Judge:
    """One judge per configuration and event loop (its HTTP session belongs to the loop)."""
    base_url = _setting(kwargs, "judge_base_url", "WORLDBUILD_JUDGE_URL")
    model = _setting(kwargs, "judge_model", "WORLDBUILD_JUDGE_MODEL")
    fallback = _setting(kwargs, "fallback", "WORLDBUILD_JUDGE_FALLBACK", "em")
    cache = _setting(kwargs, "judge_cache", "WORLDBUILD_JUDGE_CACHE", DEFAULT_CACHE)
    judges = _judges.setdefault(asyncio.get_running_loop(), {})
    key = (base_url, model, fallback, cache)
    if key not in judges:
        judges[key] = Judge(base_url, model, fallback=fallback, cache_path=cache)
    return judges[key]


def thinking_from(kwargs: dict) -> bool:
    value = _setting(kwargs, "thinking", "WORLDBUILD_THINKING", False)
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")


async def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    extra_info = extra_info or {}
    label = ground_truth["target"] if isinstance(ground_truth, dict) else str(ground_truth)
    prediction = extract_answer(solution_str, thinking=thinking_from(kwargs))
    judge = judge_from(kwargs)
    verdict = await judge.grade(str(extra_info.get("question") or ""), label, prediction)
    return {
        "score": verdict.score,
        "acc": float(verdict.correct),
        "has_answer": float(prediction is not None),
        "f1": f1(prediction, label) if prediction else 0.0,
        "judged": float(verdict.method == "judge" and verdict.error is None and prediction is not None),
        "judge_failed": float(verdict.error is not None),
    }

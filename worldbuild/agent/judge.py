"""Is a predicted answer semantically the same as the label? An LLM judge on any
OpenAI-compatible endpoint (the paper's binary reward), with its model and prompt version
recorded in every verdict and verdicts cached on disk; exact match or F1 when no judge is set."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from worldbuild.agent.answer import exact_match, f1
from worldbuild.jsonreply import extract_json
from worldbuild.llm import LLM, LLMFailed
from worldbuild.prompts import load

PROMPT_VERSION = "judge.v2"  # v1: a small local model said yes to 15 of 19 wrong answers (bench/judge_agreement.py)
MAX_ANSWER_CHARS = 200  # an answer, not an essay: longer ones are wrong without asking (and cannot argue)
FALLBACKS = ("em", "f1")
# the structured output each prompt version asks for; v2 names both answers before the verdict
SCHEMAS = {
    "judge.v1": {"type": "object", "required": ["equivalent"], "properties": {"equivalent": {"type": "boolean"}}},
    "judge.v2": {"type": "object", "required": ["reference_names", "prediction_names", "equivalent"],
                 "properties": {"reference_names": {"type": "string", "maxLength": 120},
                                "prediction_names": {"type": "string", "maxLength": 120},
                                "equivalent": {"type": "boolean"}}},
}
THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "worldbuild", "judge.sqlite")


@dataclass(frozen=True)
class Verdict:
    score: float  # 1.0 / 0.0 from the judge or EM; the F1 value under the f1 fallback
    correct: bool
    method: str  # "judge", "em" or "f1"
    model: str | None = None
    prompt: str | None = None
    error: str | None = None  # why the judge was not used (it failed for good)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


VERDICT_WORD = re.compile(r"^\W*(true|yes|correct|false|no|incorrect|not)\b")
VERDICT_FIELD = re.compile(r'"?equivalent"?\s*[:=]\s*"?(true|false)\b', re.IGNORECASE)


def parse_verdict(reply: str) -> bool:
    """The judge's yes/no: JSON {"equivalent": bool}, an `equivalent: true|false` field however
    quoted, or a reply that starts with a verdict word; raises ValueError when it says neither."""
    text = THINK.sub("", reply)
    try:
        value = extract_json(text)
        if isinstance(value, dict) and isinstance(value.get("equivalent"), bool):
            return value["equivalent"]
    except ValueError:
        pass
    field = VERDICT_FIELD.search(text)
    if field:
        return field.group(1).lower() == "true"
    match = VERDICT_WORD.match(text.strip().lower())
    if match is None:
        raise ValueError(f"judge reply says neither: {reply[:120]!r}")
    return match.group(1) in ("true", "yes", "correct")


def metric_verdict(prediction: str, label: str, fallback: str = "em", error: str | None = None) -> Verdict:
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, not {fallback!r}")
    if fallback == "f1":
        value = f1(prediction, label)
        return Verdict(value, value == 1.0, "f1", error=error)
    correct = exact_match(prediction, label)
    return Verdict(float(correct), correct, "em", error=error)


class Judge:
    """`await judge.grade(question, label, prediction)`; `None` for the URL means no judge. The
    judge sees the question, the reference and an answer of at most MAX_ANSWER_CHARS."""

    def __init__(self, base_url: str | None, model: str | None, fallback: str = "em",
                 cache_path: str | None = DEFAULT_CACHE, concurrency: int = 64, timeout: float = 60.0,
                 max_retries: int = 3, max_tokens: int = 256):
        self.fallback, self.max_tokens = fallback, max_tokens
        metric_verdict("", "", fallback)  # reject a bad fallback name now, not mid-run
        self.llm = None
        if base_url:
            if not model:
                raise ValueError("a judge endpoint needs a judge model name")
            self.llm = LLM(base_url, model, cache_path=cache_path, concurrency=concurrency, timeout=timeout,
                           max_retries=max_retries)
        self.template = load(PROMPT_VERSION)

    @property
    def method(self) -> str:
        return "judge" if self.llm else self.fallback

    async def grade(self, question: str, label: str, prediction: str | None) -> Verdict:
        if prediction is None or not prediction.strip():
            return Verdict(0.0, False, self.method, self.llm.model if self.llm else None)
        prediction = prediction.strip()
        if len(prediction) > MAX_ANSWER_CHARS:
            return Verdict(0.0, False, "too_long", self.llm.model if self.llm else None)
        if self.llm is None:
            return metric_verdict(prediction, label, self.fallback)
        if exact_match(prediction, label):  # no need to ask
            return Verdict(1.0, True, "judge", self.llm.model, PROMPT_VERSION)
        prompt = self.template.format(question=question, reference=label, prediction=prediction)
        try:
            reply = await self.llm.complete_structured([{"role": "user", "content": prompt}], SCHEMAS[PROMPT_VERSION],
                                                       temperature=0.0, max_tokens=self.max_tokens)
            correct = parse_verdict(reply.text)
        except (LLMFailed, ValueError) as exc:
            return metric_verdict(prediction, label, self.fallback, error=f"judge: {exc}")
        return Verdict(float(correct), correct, "judge", self.llm.model, PROMPT_VERSION)

    async def aclose(self) -> None:
        if self.llm:
            await self.llm.aclose()

"""The final answer of a trajectory and the label-matching metrics the judge falls back to."""

from __future__ import annotations

import re
import string
from collections import Counter

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# the innermost <answer>…</answer>: '<answer><answer>Rome</answer>' is 'Rome', never '<answer>Rome'
INNERMOST = re.compile(r"<answer>((?:(?!<answer>).)*?)</answer>", re.DOTALL | re.IGNORECASE)
# any control tag an answer cannot contain (a pasted tag is not an answer)
CONTROL_TAG = re.compile(r"</?\s*(?:answer|think|tool_call|tool_response)\b|<\|", re.IGNORECASE)
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = str.maketrans("", "", string.punctuation)


def final_turn(text: str) -> str:
    """The policy's last turn in a decoded multi-turn response (hermes / Qwen format): what follows
    the last tool observation. Observations are neutralised (`observe.neutralise`), so no page can
    fake the end of one; a response cut inside an observation has no final turn."""
    lowered = text.lower()
    opened, closed = lowered.rfind(TOOL_RESPONSE_OPEN), lowered.rfind(TOOL_RESPONSE_CLOSE)
    if opened > closed:
        return ""
    return text[closed + len(TOOL_RESPONSE_CLOSE):] if closed >= 0 else text


def outside_thinking(turn: str, thinking: bool = False) -> str:
    """The part of one turn that is not reasoning: after its last </think>. An unclosed <think>
    (a response cut while thinking) leaves nothing after it; with `thinking` (a model whose
    template opens <think> in the prompt, e.g. Qwen3-Thinking), a turn without </think> never
    left its reasoning and has no answer."""
    lowered = turn.lower()
    closed = lowered.rfind(THINK_CLOSE)
    if closed >= 0:
        turn, lowered = turn[closed + len(THINK_CLOSE):], lowered[closed + len(THINK_CLOSE):]
    elif thinking:
        return ""
    opened = lowered.find(THINK_OPEN)
    return turn[:opened] if opened >= 0 else turn


def answer_in(turn: str) -> str | None:
    """The last non-empty innermost <answer>…</answer> of a turn's visible text, or None."""
    found = [m.strip() for m in INNERMOST.findall(turn)]
    found = [answer for answer in found if answer and not CONTROL_TAG.search(answer)]
    return found[-1] if found else None


def extract_answer(text: str | None, thinking: bool = False) -> str | None:
    """The answer the policy wrote in its own final turn, outside its reasoning, or None: never
    one from an observation, an earlier turn or a <think> block (see `final_turn`)."""
    if not text:
        return None
    return answer_in(outside_thinking(final_turn(text), thinking))


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = ARTICLES.sub(" ", text.lower().translate(PUNCTUATION))
    return " ".join(text.split())


def exact_match(prediction: str, label: str) -> bool:
    return normalize(prediction) == normalize(label)


def f1(prediction: str, label: str) -> float:
    predicted, expected = normalize(prediction).split(), normalize(label).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not predicted or not expected or common == 0:
        return float(predicted == expected)
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)

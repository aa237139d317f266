"""The final answer of a trajectory and the label-matching metrics the judge falls back to."""

from __future__ import annotations

import re
import string
from collections import Counter

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
# what the policy did not write: tool observations in the decoded response (hermes/Qwen format)
NOT_THE_MODEL = re.compile(r"<tool_response>.*?(?:</tool_response>|$)", re.DOTALL)
ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = str.maketrans("", "", string.punctuation)


def extract_answer(text: str | None) -> str | None:
    """The last non-empty <answer>…</answer> the model wrote, or None. Text inside tool
    responses is ignored (a page may quote the tags)."""
    if not text:
        return None
    found = [m.strip() for m in ANSWER.findall(NOT_THE_MODEL.sub(" ", text))]
    found = [answer for answer in found if answer]
    return found[-1] if found else None


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

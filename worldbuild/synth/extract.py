"""Stage 2: single-hop extraction. One LLM call per seed page → question/answer pairs."""

from __future__ import annotations

import hashlib
import re

from worldbuild.llm import LLM
from worldbuild.prompts import load

PROMPT = "extract_qa.v2"  # v1 (kept): a 0.5B model wrote sentences as answers, all over the word limit
MAX_PAGE_CHARS = 12000
SCHEMA = {"type": "object", "required": ["pairs"], "properties": {"pairs": {"type": "array", "items": {
    "type": "object", "required": ["question", "answer"],
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}}}}}}


def pair_id(url: str, question: str) -> str:
    return hashlib.sha256(f"{url}\0{question.strip().lower()}".encode()).hexdigest()[:16]


async def extract_pairs(llm: LLM, page: dict, text: str, max_pairs: int = 5, max_answer_words: int = 10) -> dict:
    """The stage record for one page: its pairs, the pairs dropped and why, or the skip reason."""
    prompt = (load(PROMPT).replace("{max_pairs}", str(max_pairs)).replace("{max_answer_words}", str(max_answer_words))
              .replace("{title}", page["title"]).replace("{url}", page["url"]).replace("{text}", text[:MAX_PAGE_CHARS]))
    record = {"key": page["url"], "url": page["url"], "pairs": [], "dropped": {}, "skip": None,
              "generator": {"model": llm.model, "prompt": PROMPT}}
    data, record["skip"] = await llm.ask_json(prompt, max_tokens=1024, schema=SCHEMA)
    if record["skip"]:
        return record
    pairs = data.get("pairs") if isinstance(data, dict) else data
    if not isinstance(pairs, list):
        record["skip"] = "reply has no 'pairs' list"
        return record
    on_page = _normal(text)
    for item in pairs[: max_pairs * 2]:
        reason = _problem(item, max_answer_words) or _not_on_page(item, on_page)
        if reason:
            record["dropped"][reason] = record["dropped"].get(reason, 0) + 1
            continue
        question, answer = item["question"].strip(), str(item["answer"]).strip()
        record["pairs"].append({"id": pair_id(page["url"], question), "question": question, "answer": answer})
    if not record["pairs"] and not record["dropped"]:
        record["skip"] = "no pairs on this page"
    return record


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _not_on_page(item, on_page: str) -> str | None:
    """A pair whose answer the page does not state (a small model copies the prompt's example, or
    recalls instead of reading) is not grounded: the answer must occur in the page's words."""
    answer = _normal(str(item["answer"]))
    return None if answer and f" {answer} " in f" {on_page} " else "answer not on the page"


# a question that points at the page it was made from cannot be answered by anyone who has not
# been shown that page; a 1.5B model's rubric passed "...the philosopher mentioned in the text?"
_POINTS_AT_SOURCE = re.compile(
    r"\b(?:in|from|by|of|according to|on) (?:the|this|that) (?:text|article|passage|excerpt|paragraph|document|"
    r"page|post|source|snippet)\b|\bmentioned (?:above|here|earlier)\b|\bthe (?:given|provided|above) \w+",
    re.IGNORECASE)


def _problem(item, max_answer_words: int) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str) or "answer" not in item:
        return "malformed pair"
    answer = str(item["answer"]).strip()
    if not item["question"].strip() or not answer:
        return "empty question or answer"
    if _POINTS_AT_SOURCE.search(item["question"]):
        return "question points at its source text"
    if len(answer.split()) > max_answer_words:
        return "answer longer than allowed"
    if answer.lower() in {"yes", "no", "true", "false"}:
        return "yes/no answer"
    return None

"""Stage 3: the 7-point rubric. A pair is kept only if every condition holds; every verdict is kept."""

from __future__ import annotations

from worldbuild.llm import LLM
from worldbuild.prompts import load

PROMPT = "rubric.v2"  # v1 (kept): its example `"why": "..."` was copied, all true, by a 1.5B model
CONDITIONS = ("independent", "specific", "unambiguous", "answerable", "closed", "not_common_sense", "time_fixed")
_VERDICT = {"type": "object", "required": ["why", "ok"],  # the reason first, then the verdict it supports
            "properties": {"why": {"type": "string", "maxLength": 200}, "ok": {"type": "boolean"}}}
SCHEMA = {"type": "object", "required": list(CONDITIONS), "properties": {c: _VERDICT for c in CONDITIONS}}


async def judge(llm: LLM, pair: dict) -> dict:
    prompt = load(PROMPT).replace("{question}", pair["question"]).replace("{answer}", pair["answer"])
    record = {"key": pair["id"], "verdicts": {}, "kept": False, "skip": None, "prompt": PROMPT}
    data, record["skip"] = await llm.ask_json(prompt, max_tokens=768, schema=SCHEMA)
    if record["skip"]:
        return record
    if not isinstance(data, dict) or any(c not in data for c in CONDITIONS):
        record["skip"] = "reply lacks a verdict for every condition"
        return record
    for condition in CONDITIONS:
        verdict = data[condition]
        ok = verdict.get("ok") if isinstance(verdict, dict) else verdict
        record["verdicts"][condition] = {"ok": ok is True,
                                         "why": str(verdict.get("why", ""))[:300] if isinstance(verdict, dict) else ""}
    record["kept"] = all(v["ok"] for v in record["verdicts"].values())
    return record

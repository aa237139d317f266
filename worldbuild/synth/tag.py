"""Optional stage: tag each kept task with the atomic search capability it exercises most."""

from __future__ import annotations

from worldbuild.llm import LLM
from worldbuild.prompts import load

PROMPT = "capability.v1"
CAPABILITIES = ("direct", "aggregation", "enumeration", "cross_verification", "statistics")
SCHEMA = {"type": "object", "required": ["capability"], "properties": {"capability": {"enum": list(CAPABILITIES)}}}


async def tag(llm: LLM, pair: dict) -> dict:
    prompt = load(PROMPT).replace("{question}", pair["question"]).replace("{answer}", pair["answer"])
    data, skip = await llm.ask_json(prompt, max_tokens=64, schema=SCHEMA)
    capability = data.get("capability") if isinstance(data, dict) else None
    if skip is None and capability not in CAPABILITIES:
        skip = f"unknown capability {str(capability)[:40]!r}"
    return {"key": pair["id"], "capability": None if skip else capability, "skip": skip, "prompt": PROMPT}

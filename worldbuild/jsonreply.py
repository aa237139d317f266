"""JSON out of a language model's reply: it may think first (<think>…</think>), wrap the
object in a code fence, or talk before and after it."""

from __future__ import annotations

import json
import re

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(reply: str | None):
    """The first JSON object or array in `reply`; raises ValueError saying why there is none."""
    text = _THINK.sub("", reply or "")
    if "<think>" in text.lower():
        text = text[: text.lower().index("<think>")]  # an unclosed think block: nothing after it counts
    text = text.strip()
    if not text:
        raise ValueError("empty reply")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start, char in enumerate(candidate):
            if char in "{[":
                try:
                    value, _ = decoder.raw_decode(candidate, start)
                    return value
                except json.JSONDecodeError:
                    continue
    raise ValueError("reply holds no JSON object")

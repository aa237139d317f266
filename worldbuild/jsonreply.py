"""JSON out of a language model's reply: it may think first (<think>…</think>), wrap the
object in a code fence, talk before and after it, or come back with its quotes HTML-escaped
(`&#34;`, `&quot;`, as some servers send them)."""

from __future__ import annotations

import html
import json
import re

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|quot|amp|lt|gt|apos);")


def extract_json(reply: str | None):
    """The first JSON object or array in `reply`; raises ValueError saying why there is none."""
    text = _THINK.sub("", reply or "")
    if "<think>" in text.lower():
        text = text[: text.lower().index("<think>")]  # an unclosed think block: nothing after it counts
    text = text.strip()
    if not text:
        raise ValueError("empty reply")
    texts = [text]
    if _ENTITY.search(text):
        # quotes all escaped: only the unescaped text is JSON; else an entity may belong to a string
        texts = [html.unescape(text)] if '"' not in text else [text, html.unescape(text)]
    candidates = [c for t in texts for c in [m.group(1) for m in _FENCE.finditer(t)] + [t]]
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

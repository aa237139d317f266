"""Browse(url, goal) with an LLM: goal-conditioned evidence and summary from any
OpenAI-compatible endpoint, cached by (snapshot, url, goal, model, prompt version). Any
failure (timeout, HTTP error, unparsable reply) returns the reason, and browse falls back
to the raw window."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

from worldbuild.jsonreply import extract_json
from worldbuild.prompts import load
from worldbuild.records import Page

PROMPT_VERSION = "browse_summary.v1"


def parse_summary(reply: str) -> dict:
    """The {"evidence", "summary"} object in a model reply (tolerates <think> blocks, code
    fences and text around the JSON); raises ValueError with the reason."""
    data = extract_json(reply)
    if not isinstance(data, dict) or not isinstance(data.get("summary"), str) or not data["summary"].strip():
        raise ValueError("reply has no non-empty 'summary'")
    evidence = data.get("evidence", "")
    return {"evidence": evidence if isinstance(evidence, str) else "\n".join(map(str, evidence)),
            "summary": data["summary"].strip()}


class SummaryCache:
    """SQLite, shared by all workers of a server (WAL), keyed by a hash of what decides a reply."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS summaries (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT value FROM summaries WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO summaries (key, value) VALUES (?, ?)", (key, json.dumps(value)))


class Summarizer:
    def __init__(self, base_url: str, model: str, cache_path: str, api_key: str | None = None,
                 timeout: float = 60.0, max_page_chars: int = 24000, max_tokens: int = 1024):
        from openai import AsyncOpenAI

        self.model = model
        self.client = AsyncOpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                                  timeout=timeout, max_retries=1)
        self.cache = SummaryCache(cache_path)
        self.prompt = load(PROMPT_VERSION)
        self.max_page_chars = max_page_chars
        self.max_tokens = max_tokens

    async def summarize(self, snapshot: str, page: Page, goal: str) -> tuple[dict | None, str | None]:
        """(summary, None) or (None, why it failed)."""
        key = SummaryCache.key(snapshot, page.canonical_url, goal, self.model, PROMPT_VERSION)
        cached = self.cache.get(key)
        if cached is not None:
            return {**cached, "cached": True}, None
        prompt = (self.prompt.replace("{goal}", goal).replace("{title}", page.title).replace("{url}", page.url)
                  .replace("{text}", page.text[: self.max_page_chars]))
        try:
            response = await self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], temperature=0.0,
                max_tokens=self.max_tokens)
            summary = parse_summary(response.choices[0].message.content or "")
        except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to the raw page
            return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        value = {**summary, "model": self.model, "prompt": PROMPT_VERSION}
        self.cache.put(key, value)
        return {**value, "cached": False}, None

"""Browse(url, goal) with an LLM: goal-conditioned evidence and summary from any
OpenAI-compatible endpoint, cached by what the model is asked (page text, goal, model, prompt). Any
failure (timeout, HTTP error, unparsable reply) returns the reason, and browse falls back
to the raw window."""

from __future__ import annotations

from worldbuild.jsonreply import extract_json
from worldbuild.llm import LLM
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


class Summarizer:
    """The project's LLM client (one retry policy, one reply cache) asked for one page and goal:
    a reply is cached by everything that decides it (model, prompt version, page text, goal), so
    a page whose text is unchanged in a new snapshot costs nothing again."""

    def __init__(self, base_url: str, model: str, cache_path: str, api_key: str | None = None,
                 timeout: float = 60.0, max_page_chars: int = 24000, max_tokens: int = 1024, max_retries: int = 1,
                 concurrency: int = 16):
        self.llm = LLM(base_url, model, cache_path=cache_path, api_key=api_key, concurrency=concurrency,
                       timeout=timeout, max_retries=max_retries)
        self.prompt = load(PROMPT_VERSION)
        self.max_page_chars = max_page_chars
        self.max_tokens = max_tokens

    async def summarize(self, page: Page, goal: str) -> tuple[dict | None, str | None]:
        """(summary, None) or (None, why it failed)."""
        prompt = (self.prompt.replace("{goal}", goal).replace("{title}", page.title).replace("{url}", page.url)
                  .replace("{text}", page.text[: self.max_page_chars]))
        try:
            reply = await self.llm.complete([{"role": "user", "content": prompt}], temperature=0.0,
                                            max_tokens=self.max_tokens)
            summary = parse_summary(reply.text)
        except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to the raw page
            return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        return {**summary, "model": self.llm.model, "prompt": PROMPT_VERSION, "cached": reply.cached}, None

    async def aclose(self) -> None:
        await self.llm.aclose()

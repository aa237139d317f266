"""Search(q) and Browse(url, goal) against a world service, as an agent calls them: OpenAI
function schemas, argument checks, per-task masks, and an error observation (never an
exception) when the service is slow, failing or down, so one bad call cannot end a rollout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Iterable

from worldbuild.agent import observe
from worldbuild.client import AsyncWorldClient, WorldError

SEARCH_SCHEMA = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web. Returns a ranked list of pages, each with a title, a URL and a snippet.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for"}},
            "required": ["query"],
        },
    },
}
BROWSE_SCHEMA = {
    "type": "function",
    "function": {
        "name": "browse",
        "description": "Read the web page at a URL. The parts most relevant to the goal come first.",
        "parameters": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The page's URL, e.g. one from the search results"},
                "goal": {"type": "string", "description": "What you are looking for on the page"},
            },
            "required": ["url", "goal"],
        },
    },
}
SCHEMAS = {"search": SEARCH_SCHEMA, "browse": BROWSE_SCHEMA}


@dataclass(frozen=True)
class ToolSettings:
    base_url: str = "http://127.0.0.1:8000"
    timeout: float = 30.0  # seconds per request to the world service
    retries: int = 2  # on connection errors, timeouts, 429 and 5xx
    top_k: int = 10
    mode: str = "bm25"  # bm25 | dense | hybrid
    max_chars: int = 8000  # the browse window the service cuts
    observation_chars: int = 12000  # hard cap on any observation's text

    @classmethod
    def from_config(cls, config: dict) -> "ToolSettings":
        known = {name: config[name] for name in cls.__dataclass_fields__ if config.get(name) is not None}
        return cls(**known)


@dataclass(frozen=True)
class Observation:
    text: str
    ok: bool
    metrics: dict = field(default_factory=dict)


def _mask(mask: Iterable[Any] | None) -> list[str]:
    return [str(url) for url in (mask if mask is not None else [])]


def _text_arg(arguments: dict, name: str) -> str | None:
    value = arguments.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


class WorldTools:
    """One per process; the HTTP client is made per event loop (verl runs tools in its own)."""

    def __init__(self, settings: ToolSettings):
        self.settings = settings
        self._clients: dict[int, AsyncWorldClient] = {}

    def _client(self) -> AsyncWorldClient:
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            self._clients[loop] = AsyncWorldClient(self.settings.base_url, timeout=self.settings.timeout,
                                                   retries=self.settings.retries)
        return self._clients[loop]

    async def call(self, name: str, arguments: Any, mask: Iterable[Any] | None = None) -> Observation:
        """Run one tool call; bad arguments and service failures come back as error observations.
        Whatever comes back has its control tags neutralised (`observe.neutralise`)."""
        observation = await self._call(name, arguments, mask)
        return Observation(observe.neutralise(observation.text), observation.ok, observation.metrics)

    async def _call(self, name: str, arguments: Any, mask: Iterable[Any] | None = None) -> Observation:
        if name not in SCHEMAS:
            return Observation(observe.error(f"unknown tool {name!r}; the tools are: {', '.join(SCHEMAS)}"), False,
                               {"error": "unknown_tool"})
        if not isinstance(arguments, dict):
            return Observation(observe.error(f"{name} takes a JSON object of arguments"), False,
                               {"error": "bad_arguments"})
        try:
            if name == "search":
                return await self.search(arguments, _mask(mask))
            return await self.browse(arguments, _mask(mask))
        except WorldError as exc:
            kind = "unavailable" if exc.status is None else f"http_{exc.status}"
            return Observation(observe.error(f"{name} failed: {exc}"), False, {"error": kind})
        except Exception as exc:  # a tool must never end the rollout
            return Observation(observe.error(f"{name} failed: {type(exc).__name__}: {exc}"), False,
                               {"error": type(exc).__name__})

    async def search(self, arguments: dict, mask: list[str]) -> Observation:
        query = _text_arg(arguments, "query")
        if query is None:
            return Observation(observe.error("search needs a non-empty 'query' string"), False,
                               {"error": "bad_arguments"})
        hits = await self._client().search(query[:1000], k=self.settings.top_k, mode=self.settings.mode, mask=mask)
        return Observation(observe.search_results(query, hits, self.settings.observation_chars), True,
                           {"hits": len(hits), "urls": [hit["url"] for hit in hits]})

    async def browse(self, arguments: dict, mask: list[str]) -> Observation:
        url = _text_arg(arguments, "url")
        if url is None:
            return Observation(observe.error("browse needs a 'url' string"), False, {"error": "bad_arguments"})
        goal = _text_arg(arguments, "goal")
        result = await self._client().browse(url[:4096], goal=goal[:1000] if goal else None, mask=mask,
                                             max_chars=self.settings.max_chars)
        if result is None:
            return Observation(observe.error(f"the page {url} is not available; try another result"), False,
                               {"error": "not_found"})
        return Observation(observe.page(result, self.settings.observation_chars), True,
                           {"chars": len(result.get("content") or ""), "url": result.get("url") or url})

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

"""LLM access for every stage that asks a model (task synthesis, the judge, rollouts): any
OpenAI-compatible endpoint (vLLM, SGLang, OpenAI).

- async, with a concurrency limit, a timeout per request and retries on 429, 5xx, timeouts and
  dropped connections (other 4xx are final), waiting as `worldbuild.retry` says (the server's
  `Retry-After`, else exponential backoff with jitter);
- an on-disk cache keyed by model + messages + parameters, so a rerun costs nothing and gives
  the same tasks;
- token usage counted (and cache hits, and retries) for the closing report;
- `check()` fails fast, with how to start an endpoint, when none answers;
- `ask_json(..., schema=)` asks for structured output (`response_format` with a JSON schema, as
  vLLM, SGLang, llama.cpp, ollama and OpenAI accept it) and, once an endpoint refuses it, asks
  without it from then on, reading JSON out of the text instead (`worldbuild.jsonreply`).

`openai` is imported when a client is made, not with this module: verl's reward function and the
CLI import it on paths that never ask a model, and openai costs about a second to import.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field

from worldbuild.jsonreply import extract_json
from worldbuild.retry import Backoff

START_HINT = ("start one, e.g. `vllm serve Qwen/Qwen3-30B-A3B-Instruct-2507 --port 8000` and pass "
              "--base-url http://127.0.0.1:8000/v1, or set OPENAI_BASE_URL / OPENAI_API_KEY")


class LLMUnavailable(RuntimeError):
    """No endpoint answers at the base URL (or it refuses the key): nothing can be generated."""


class LLMFailed(RuntimeError):
    """One request failed for good (after its retries); the caller records it as a skip."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status of a refused request, None for timeouts and drops


@dataclass
class Usage:
    requests: int = 0
    cached: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    structured_refused: int = 0  # requests the endpoint refused for their response_format

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reply:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False
    tool_calls: tuple = ()  # OpenAI tool calls ({"id", "type", "function": {"name", "arguments"}})
    reasoning: str = ""  # what a reasoning parser (vLLM/SGLang) split off the content


    def json(self):
        """The JSON value in the reply; raises ValueError when there is none."""
        return extract_json(self.text)


class ReplyCache:
    """SQLite: one row per (model, messages, parameters); safe across processes (WAL)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")

    @staticmethod
    def key(model: str, messages: list[dict], params: dict) -> str:
        blob = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> Reply | None:
        row = self.db.execute("SELECT reply FROM replies WHERE key=?", (key,)).fetchone()
        if not row:
            return None
        value = json.loads(row[0])
        return Reply(**{**value, "tool_calls": tuple(value.get("tool_calls", ())), "cached": True})

    def put(self, key: str, reply: Reply) -> None:
        value = {k: v for k, v in reply.__dict__.items() if k != "cached"}
        self.db.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, json.dumps(value)))


def json_schema_format(schema: dict, name: str = "reply") -> dict:
    """OpenAI's `response_format` for a JSON schema."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


@dataclass
class LLM:
    base_url: str
    model: str
    cache_path: str | None = None
    api_key: str | None = None
    concurrency: int = 16
    timeout: float = 120.0
    max_retries: int = 5
    backoff: float = 1.0
    structured: bool = True  # send JSON schemas as response_format (turned off once the endpoint refuses one)
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        # aiohttp under the openai client: httpx's pool spends O(connections x queued) per event,
        # which capped 64 requests in flight at ~70% of the ideal rate (bench/synth_throughput.py)
        import openai

        self.client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=self.timeout, max_retries=0, http_client=openai.DefaultAioHttpClient(timeout=self.timeout),
        )
        self.cache = ReplyCache(self.cache_path) if self.cache_path else None
        self._slots = asyncio.Semaphore(self.concurrency)

    async def check(self) -> None:
        """Raise LLMUnavailable unless the endpoint answers (a model list, within a few seconds)."""
        import openai

        try:
            await self.client.with_options(timeout=10, max_retries=0).models.list()
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise LLMUnavailable(f"no OpenAI-compatible endpoint answers at {self.base_url}: {START_HINT}") from exc
        except openai.AuthenticationError as exc:
            raise LLMUnavailable(f"{self.base_url} refused the API key: set OPENAI_API_KEY") from exc
        except openai.APIStatusError:
            pass  # some servers have no /models; a completion will tell

    async def complete(self, messages: list[dict], *, temperature: float = 0.0, max_tokens: int | None = 2048,
                       **params) -> Reply:
        """One chat completion, from the cache if this exact request was answered before.
        `max_tokens=None` leaves the length to the server (vLLM: the rest of its context)."""
        params = {"temperature": temperature, **({"max_tokens": max_tokens} if max_tokens else {}), **params}
        key = ReplyCache.key(self.model, messages, params) if self.cache else None
        if key and (hit := self.cache.get(key)):
            self.usage.cached += 1
            return hit
        async with self._slots:
            reply = await self._with_retries(messages, params)
        if key:
            self.cache.put(key, reply)
        return reply

    async def _with_retries(self, messages: list[dict], params: dict) -> Reply:
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                self.usage.requests += 1
                response = await self.client.chat.completions.create(model=self.model, messages=messages, **params)
                choice = response.choices[0]
                usage = response.usage
                message = choice.message
                reply = Reply(text=message.content or "", finish_reason=choice.finish_reason or "",
                              prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                              completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                              tool_calls=tuple(call.model_dump(exclude_none=True)
                                               for call in message.tool_calls or ()),
                              reasoning=getattr(message, "reasoning_content", None)
                              or getattr(message, "reasoning", None) or "")
                self.usage.prompt_tokens += reply.prompt_tokens
                self.usage.completion_tokens += reply.completion_tokens
                return reply
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as exc:
                if attempt == self.max_retries:
                    self.usage.failures += 1
                    raise LLMFailed(f"{type(exc).__name__} after {attempt + 1} tries") from exc
                self.usage.retries += 1
                response = getattr(exc, "response", None)  # a status error carries the server's Retry-After
                asked = response.headers.get("retry-after") if response is not None else None
                await asyncio.sleep(Backoff(self.max_retries, self.backoff).delay(attempt, asked))
            except openai.APIStatusError as exc:
                self.usage.failures += 1
                raise LLMFailed(f"HTTP {exc.status_code}: {' '.join(str(exc.message).split())[:160]}",
                                exc.status_code) from exc
        raise AssertionError("unreachable")

    async def complete_structured(self, messages: list[dict], schema: dict | None, **params) -> Reply:
        """`complete`, asking for structured output under `schema` while the endpoint accepts it.
        An endpoint that refuses it (HTTP 400/404/422/501) and then answers the same request
        without it is asked without it from then on."""
        if schema is None or not self.structured:
            return await self.complete(messages, **params)
        try:
            return await self.complete(messages, response_format=json_schema_format(schema), **params)
        except LLMFailed as exc:
            if exc.status not in (400, 404, 422, 501):
                raise
            reply = await self.complete(messages, **params)  # fails too: the schema was not the problem
            self.structured = False
            self.usage.structured_refused += 1
            return reply

    async def ask_json(self, prompt: str, max_tokens: int = 1024, schema: dict | None = None):
        """(JSON value, None) for a one-message prompt, or (None, the skip reason) when the
        request failed for good or the reply holds no JSON (`schema`: see `complete_structured`)."""
        try:
            reply = await self.complete_structured([{"role": "user", "content": prompt}], schema,
                                                   max_tokens=max_tokens)
        except LLMFailed as exc:
            return None, f"LLM failed: {exc}"
        if reply.finish_reason == "length":  # a cut object is no answer, whatever inner value still parses
            return None, "reply not JSON: cut at max_tokens"
        try:
            return reply.json(), None
        except ValueError as exc:
            return None, f"reply not JSON: {exc}"

    async def aclose(self) -> None:
        await self.client.close()

"""An OpenAI-compatible chat-completions server that answers from a script: the stand-in for
vLLM/SGLang/OpenAI in tests (no weights exist here). A real HTTP server (aiohttp) on 127.0.0.1,
asynchronous, so a fixed latency costs it no thread per request: it can serve hundreds of
requests in flight, as a real inference server does.

    python -m tests.llm_double --port 8001 [--script steps.json]

A script is a list of steps, used in order (the last one repeats):
    {"content": "text"}           reply with this message
    {"json": {...}}               reply with this object, serialised
    {"status": 500}               answer with this HTTP status (429, 500, ...)
    {"delay": 3.0, ...}           wait before answering (for timeouts and latency)
    {"echo": true}                reply with the last user message
    {"tool_calls": [{"name", "arguments"}], "content"?, "reasoning"?}
                                  an assistant turn that calls tools (OpenAI shape), with
                                  reasoning in `reasoning_content` as vLLM's parser returns it
    {"finish_reason": "length"}   override the finish reason
Without a script every request gets {"echo": true}. Requests are kept in `.requests`.

    python -m tests.llm_double --port 8001 --reader

plays a trivial research agent instead (`ReadingPolicy`): it searches the question, browses the
top hit and answers with that page's title, through real tool calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
from collections import Counter

from aiohttp import web


class LLMDouble:
    def __init__(self, script: list[dict] | None = None, host: str = "127.0.0.1", port: int = 0,
                 responder=None):
        """`responder(request_body) -> step` answers instead of the script (concurrent tests)."""
        self.script = list(script or [{"echo": True}])
        self.responder = responder
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _next(self, body: dict) -> dict:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "double", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        step = self._next(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(step.get("delay", 0))
        finally:
            self.in_flight -= 1
        if "status" in step:
            return web.json_response({"error": {"message": f"scripted status {step['status']}"}}, status=step["status"],
                                     headers=step.get("headers"))
        if "json" in step:
            content = json.dumps(step["json"])
        elif step.get("echo"):
            content = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
        else:
            content = step.get("content", "")
        message = {"role": "assistant", "content": content}
        finish = "stop"
        if step.get("tool_calls"):
            message["tool_calls"] = [
                {"id": f"call_{len(self.requests)}_{i}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))}}
                for i, call in enumerate(step["tool_calls"])]
            finish = "tool_calls"
        if step.get("reasoning"):
            message["reasoning_content"] = step["reasoning"]
        # tokens as a chars/4 estimate, so budgets over a conversation can be tested
        prompt_tokens = sum(len(json.dumps(m)) for m in body.get("messages", [])) // 4
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "double"),
            "choices": [{"index": 0, "message": message, "finish_reason": step.get("finish_reason", finish)}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> "LLMDouble":
        self.thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


class ReadingPolicy:
    """A responder that plays the agent: search the question, browse the top hit, answer with
    the page title. `quota[question]` caps how many of its answers to a question are right (the
    rest say "unknown"), which gives each task a known pass count."""

    def __init__(self, quota: dict[str, int] | None = None, confidence: dict[str, int] | None = None):
        self.quota, self.answered = quota, Counter()
        self.confidence = confidence or {}  # question → the confidence (%) it states with its answer
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> dict:
        messages = body["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        observations = [m["content"] for m in messages if m["role"] == "tool"]
        if not observations:
            return {"reasoning": "I should search first.",
                    "tool_calls": [{"name": "search", "arguments": {"query": question}}]}
        found = re.search(r"URL: (\S+)", observations[0])
        if len(observations) == 1 and found:
            return {"reasoning": "The top result looks right.",
                    "tool_calls": [{"name": "browse", "arguments": {"url": found.group(1), "goal": question}}]}
        title = re.search(r"Title: (.*)", observations[-1])
        answer = title.group(1) if title else "unknown"
        with self._lock:
            self.answered[question] += 1
            if self.quota is not None and self.answered[question] > self.quota.get(question, 0):
                answer = "unknown"
        stated = f"\nConfidence: {self.confidence[question]}%" if question in self.confidence else ""
        return {"reasoning": "The page names it.", "content": f"The answer is <answer>{answer}</answer>{stated}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--script", help="JSON file with a list of steps")
    parser.add_argument("--reader", action="store_true", help="Play a trivial agent (ReadingPolicy)")
    args = parser.parse_args()
    script = json.load(open(args.script)) if args.script else None
    with LLMDouble(script, port=args.port, responder=ReadingPolicy() if args.reader else None) as double:
        print(f"OpenAI-compatible double at {double.base_url}", flush=True)
        try:
            double.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

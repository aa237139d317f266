"""One ReAct episode against an OpenAI-compatible chat endpoint, as in training: the system
prompt and tools of the task parquet, tool calls run against the world with the task's mask,
until the model answers without calling a tool, runs out of turns, or fills its response
budget (the `response_length` verl gives it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from uuid import uuid4

from qa_synth.llm import LLM, LLMFailed
from worldbuild.agent import observe
from worldbuild.agent.answer import extract_answer
from worldbuild.agent.tools import SCHEMAS, WorldTools

HERMES_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
REMINDER = "You have one turn left. Give your final answer now, inside <answer></answer>."


@dataclass(frozen=True)
class EpisodeSettings:
    max_turns: int = 32  # assistant turns (verl: multi_turn.max_assistant_turns)
    max_response_tokens: int = 32768  # everything after the prompt (verl: response_length)
    max_tokens_per_turn: int = 8192
    max_parallel_calls: int = 1  # verl: multi_turn.max_parallel_calls
    temperature: float = 1.0
    top_p: float = 1.0
    reminder: bool = False  # a last-turn nudge to answer (teacher runs for SFT data; training has none)


def text_tool_calls(content: str) -> tuple[str, list[dict]]:
    """Hermes-format calls written in the content (an endpoint without a tool parser)."""
    calls = []
    for body in HERMES_CALL.findall(content):
        try:
            value = json.loads(body)
            name, arguments = value["name"], value.get("arguments", {})
        except (ValueError, KeyError, TypeError):
            name, arguments = "invalid_tool_call", body
        calls.append({"id": f"call_{uuid4().hex[:12]}", "type": "function",
                      "function": {"name": name, "arguments": arguments if isinstance(arguments, str)
                                   else json.dumps(arguments, ensure_ascii=False)}})
    return HERMES_CALL.sub("", content).strip(), calls


def _arguments(call: dict):
    raw = call.get("function", {}).get("arguments")
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw or "{}")
    except ValueError:
        return None  # the tool answers with an error observation


def _request_messages(messages: list[dict]) -> list[dict]:
    """What goes back to the endpoint: no reasoning (chat templates drop it) and no extras."""
    keep = ("role", "content", "tool_calls", "tool_call_id", "name")
    return [{k: v for k, v in message.items() if k in keep} for message in messages]


async def run_episode(llm: LLM, tools: WorldTools, prompt: list[dict], mask: list[str],
                      settings: EpisodeSettings) -> dict:
    """The trajectory: messages (with reasoning), the answer, why it stopped, counts."""
    messages = [dict(m) for m in prompt]
    first_prompt_tokens = None
    response_tokens = completion_tokens = tool_calls = tool_errors = search_calls = 0
    retrieved: list[str] = []  # URLs search showed the agent, then the pages it opened
    opened: list[str] = []
    stop = "max_turns"
    for turn in range(settings.max_turns):
        if settings.reminder and turn == settings.max_turns - 1 and turn > 0:
            messages.append({"role": "user", "content": REMINDER})
        budget = settings.max_response_tokens - response_tokens
        if budget <= 0:
            stop = "max_response_tokens"
            break
        try:
            reply = await llm.complete(_request_messages(messages), temperature=settings.temperature,
                                       top_p=settings.top_p, max_tokens=min(settings.max_tokens_per_turn, budget),
                                       tools=list(SCHEMAS.values()))
        except LLMFailed as exc:
            stop = f"llm_error: {exc}"
            break
        if first_prompt_tokens is None:
            first_prompt_tokens = reply.prompt_tokens
        completion_tokens += reply.completion_tokens
        response_tokens = reply.prompt_tokens + reply.completion_tokens - first_prompt_tokens
        content, calls = reply.text, [dict(call) for call in reply.tool_calls]
        if not calls:
            content, calls = text_tool_calls(content)
        calls = calls[: settings.max_parallel_calls]
        message = {"role": "assistant", "content": content}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
        if not calls:
            if extract_answer(content) is not None:
                stop = "answer"
            else:
                stop = "max_response_tokens" if reply.finish_reason == "length" else "no_answer"
            break
        if reply.finish_reason == "length":
            stop = "max_response_tokens"
            break
        for call in calls:
            name = call.get("function", {}).get("name", "")
            observation = await tools.call(name, _arguments(call), mask)
            tool_calls += 1
            tool_errors += not observation.ok
            search_calls += name == "search"
            retrieved.extend(observation.metrics.get("urls", []))
            if name == "browse" and observation.ok:
                opened.append(observation.metrics["url"])
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "name": name,
                             "content": observation.text})
    written = "\n".join(m.get("content") or "" for m in messages if m["role"] == "assistant")
    return {
        "messages": messages,
        # the last <answer> the model wrote in any turn: what the verl reward reads from the response
        "prediction": extract_answer(written),
        "stop": stop,
        "turns": sum(m["role"] == "assistant" for m in messages),
        "tool_calls": tool_calls,
        "tool_errors": tool_errors,
        "search_calls": search_calls,
        "retrieved_urls": list(dict.fromkeys(retrieved)),
        "opened_urls": list(dict.fromkeys(opened)),
        "prompt_tokens": first_prompt_tokens or 0,
        "completion_tokens": completion_tokens,
        "response_tokens": response_tokens,
    }


def is_tool_error(message: dict) -> bool:
    return message.get("role") == "tool" and observe.is_error(message.get("content") or "")

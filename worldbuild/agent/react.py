"""One ReAct episode against an OpenAI-compatible chat endpoint, under the conditions verl's
`ToolAgentLoop` trains in (`worldbuild.agent.verl_loop`): the system prompt and tools of the
task parquet; tool calls run against the world with the task's mask; a turn may use what is
left of the response budget unless `max_tokens_per_turn` is set; earlier turns' reasoning goes
back as the chat template keeps it; the episode ends when a turn calls no tool, when the turns
or the response budget (verl's `response_length`) run out. The answer is read from the final
turn only, as the reward reads it."""

from __future__ import annotations

from dataclasses import dataclass

from worldbuild.agent import observe, toolcalls, verl_loop
from worldbuild.agent.answer import extract_answer
from worldbuild.agent.tools import SCHEMAS, Observation, WorldTools
from worldbuild.llm import LLM, LLMFailed

REMINDER = "You have one turn left. Give your final answer now, inside <answer></answer>."


@dataclass(frozen=True)
class EpisodeSettings:
    max_turns: int = 32  # assistant turns (verl: multi_turn.max_assistant_turns)
    max_response_tokens: int = 32768  # everything after the prompt (verl: response_length)
    max_tokens_per_turn: int | None = None  # None: as verl, a turn may use the rest of the budget
    max_parallel_calls: int = 1  # verl: multi_turn.max_parallel_calls
    max_tool_response_length: int | None = None  # verl: multi_turn.max_tool_response_length (chars)
    tool_response_truncate_side: str = "middle"  # verl: multi_turn.tool_response_truncate_side
    keep_reasoning: bool = True  # send earlier turns' reasoning back, as verl's token history has it
    thinking: bool = False  # the template opens <think> in the prompt (Qwen3-Thinking): see answer.py
    temperature: float = 1.0
    top_p: float = 1.0
    reminder: bool = False  # a last-turn nudge to answer (teacher runs for SFT data; training has none)
    tool_format: str = "hermes"  # verl: multi_turn.format; how calls written in the content are read


def text_tool_calls(content: str, tool_format: str = "hermes") -> tuple[str, list[dict]]:
    """Calls written in the content (an endpoint without a tool parser, or a model that writes
    them its own way), read as verl's parser of that name reads them (`toolcalls`)."""
    return toolcalls.parse(content, tool_format, list(SCHEMAS))


def turn_text(message: dict) -> str:
    """One assistant turn as the policy wrote it: its reasoning inside <think>, then the content."""
    reasoning = message.get("reasoning_content") or ""
    content = message.get("content") or ""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}" if reasoning else content


def _request_messages(messages: list[dict], keep_reasoning: bool) -> list[dict]:
    """What goes back to the endpoint. verl keeps every token a turn generated, reasoning
    included, and Qwen3's template renders reasoning inline for the turns after the last user
    message: so reasoning goes back inline, where the template finds it (`</think>`)."""
    keep = ("role", "content", "tool_calls", "tool_call_id", "name")
    out = []
    for message in messages:
        sent = {k: v for k, v in message.items() if k in keep}
        if keep_reasoning and message.get("role") == "assistant" and message.get("reasoning_content"):
            sent["content"] = turn_text(message)
        out.append(sent)
    return out


async def _run_call(tools: WorldTools, call: dict, mask: list[str], settings: EpisodeSettings) -> Observation:
    """One call as verl's loop makes it: its own error for an unknown tool or unparsable
    arguments, our tool otherwise, then its cut of a long response."""
    name = call.get("function", {}).get("name", "")
    if name not in SCHEMAS:
        return Observation(verl_loop.unknown_function(name, list(SCHEMAS)), False, {"error": "unknown_tool"})
    arguments, problem = verl_loop.parse_arguments(name, call.get("function", {}).get("arguments"))
    if problem:
        return Observation(problem, False, {"error": "bad_arguments"})
    observation = await tools.call(name, arguments, mask)
    text = verl_loop.truncate_tool_response(observation.text, settings.max_tool_response_length,
                                            settings.tool_response_truncate_side)
    return Observation(text, observation.ok, observation.metrics)


async def run_episode(llm: LLM, tools: WorldTools, prompt: list[dict], mask: list[str],
                      settings: EpisodeSettings) -> dict:
    """The trajectory: messages (with reasoning), the answer, why it stopped, counts."""
    messages = [dict(m) for m in prompt]
    first_prompt_tokens = None
    response_tokens = completion_tokens = tool_calls = tool_errors = search_calls = content_calls = 0
    retrieved: list[str] = []  # URLs search showed the agent, then the pages it opened
    opened: list[str] = []
    stop, final = "max_turns", None
    for turn in range(settings.max_turns):
        if settings.reminder and turn == settings.max_turns - 1 and turn > 0:
            messages.append({"role": "user", "content": REMINDER})
        budget = settings.max_response_tokens - response_tokens
        if budget <= 0:
            stop = "max_response_tokens"
            break
        # verl: a turn gets min(response_length, prompt_length + response_length - context); its
        # vLLM server has max_model_len = prompt + response, so after the first turn the server's
        # own default (what is left of its context) is that number
        max_tokens = settings.max_response_tokens if turn == 0 else None
        if settings.max_tokens_per_turn:
            max_tokens = min(settings.max_tokens_per_turn, budget)
        try:
            reply = await llm.complete(_request_messages(messages, settings.keep_reasoning),
                                       temperature=settings.temperature, top_p=settings.top_p,
                                       max_tokens=max_tokens, tools=list(SCHEMAS.values()))
        except LLMFailed as exc:
            stop = f"llm_error: {exc}"
            break
        if first_prompt_tokens is None:
            first_prompt_tokens = reply.prompt_tokens
        if turn > 0 and reply.prompt_tokens - first_prompt_tokens >= settings.max_response_tokens:
            response_tokens = reply.prompt_tokens - first_prompt_tokens
            # verl stops once the observations fill the budget: no such turn, and the response ends
            # in an observation, so it has no final answer
            final, stop = None, "max_response_tokens"
            break
        completion_tokens += reply.completion_tokens
        response_tokens = reply.prompt_tokens + reply.completion_tokens - first_prompt_tokens
        content, calls = reply.text, [dict(call) for call in reply.tool_calls]
        if not calls:
            content, calls = text_tool_calls(content, settings.tool_format)
            content_calls += len(calls)
        calls = calls[: settings.max_parallel_calls]
        message = {"role": "assistant", "content": content}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
        final = message
        if response_tokens > settings.max_response_tokens:
            final, stop = None, "max_response_tokens"  # verl cuts this turn at the budget: its end is lost
            break
        if response_tokens == settings.max_response_tokens or reply.finish_reason == "length":
            stop = "max_response_tokens"
            break
        if not calls:
            stop = "answer" if extract_answer(turn_text(message), settings.thinking) is not None else "no_answer"
            break
        if turn == settings.max_turns - 1:
            break  # verl ends at max_assistant_turns before running the turn's calls
        for call in calls:
            observation = await _run_call(tools, call, mask, settings)
            tool_calls += 1
            tool_errors += not observation.ok
            name = call.get("function", {}).get("name", "")
            search_calls += name == "search"
            retrieved.extend(observation.metrics.get("urls", []))
            if name == "browse" and observation.ok:
                opened.append(observation.metrics["url"])
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "name": name,
                             "content": observation.text})
    return {
        "messages": messages,
        # what the verl reward reads: the final turn's answer, outside its reasoning
        "prediction": extract_answer(turn_text(final), settings.thinking) if final else None,
        "stop": stop,
        "turns": sum(m["role"] == "assistant" for m in messages),
        "tool_calls": tool_calls,
        "tool_errors": tool_errors,
        "search_calls": search_calls,
        "content_tool_calls": content_calls,  # calls read from the content, not the endpoint's tool_calls
        "retrieved_urls": list(dict.fromkeys(retrieved)),
        "opened_urls": list(dict.fromkeys(opened)),
        "prompt_tokens": first_prompt_tokens or 0,
        "completion_tokens": completion_tokens,
        "response_tokens": response_tokens,
    }


def is_tool_error(message: dict) -> bool:
    return message.get("role") == "tool" and observe.is_error(message.get("content") or "")

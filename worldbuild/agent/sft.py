"""Cold-start SFT data from teacher trajectories (DESIGN.md §1): keep a trajectory only if it
passes F1–F7, clean it with C1–C4, and write verl multi-turn SFT parquet (`messages` + `tools`,
as `verl.trainer.sft_trainer` reads them)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

from worldbuild.agent.answer import ANSWER, extract_answer
from worldbuild.agent.react import is_tool_error
from worldbuild.agent.tools import SCHEMAS
from worldbuild.atomic import replacing

MAX_REPEATS = 3  # F2: one identical call at most this often
MIN_TOOL_CALLS = 2  # F3
MAX_TOOL_ERRORS = 2  # F6
MAX_ANSWER_CHARS = 100  # C2
ARTIFACTS = re.compile(r"\ufffd|Ã[\x80-\xbf]|â€|Â\s|\\boxed\{")  # F5: mojibake, replacement chars, \boxed{}
THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def _calls(messages: list[dict]) -> list[dict]:
    return [call for m in messages if m["role"] == "assistant" for call in m.get("tool_calls") or []]


def _call_key(call: dict) -> tuple[str, str]:
    function = call.get("function", {})
    arguments = function.get("arguments")
    try:
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        pass
    return function.get("name", ""), json.dumps(arguments, sort_keys=True, ensure_ascii=False)


def _thought(message: dict) -> bool:
    if (message.get("reasoning_content") or "").strip():
        return True
    return any(block.strip() for block in THINK.findall(message.get("content") or ""))


def _written(messages: list[dict]) -> str:
    return "\n".join((m.get("content") or "") + (m.get("reasoning_content") or "")
                     for m in messages if m["role"] == "assistant")


FILTERS = {
    "F1 wrong answer": lambda t: bool(t.get("correct")),
    "F2 a tool call repeated more than 3 times":
        lambda t: max(Counter(map(_call_key, _calls(t["messages"]))).values(), default=0) <= MAX_REPEATS,
    "F3 fewer than 2 tool calls": lambda t: len(_calls(t["messages"])) >= MIN_TOOL_CALLS,
    "F4 a tool other than search/browse (code interpreter)":
        lambda t: all(call.get("function", {}).get("name") in SCHEMAS for call in _calls(t["messages"])),
    "F5 encoding artifacts or \\boxed{}": lambda t: not ARTIFACTS.search(_written(t["messages"])),
    "F6 more than 2 tool errors": lambda t: sum(map(is_tool_error, t["messages"])) <= MAX_TOOL_ERRORS,
    "F7 a tool call without thinking before it":
        lambda t: all(_thought(m) for m in t["messages"] if m["role"] == "assistant" and m.get("tool_calls")),
}


def rejection(trajectory: dict) -> str | None:
    """The first filter a trajectory fails, or None when it passes all seven."""
    return next((name for name, passes in FILTERS.items() if not passes(trajectory)), None)


def clean(trajectory: dict, system_prompt: str) -> list[dict]:
    """C1 standard system prompt; C3 reminders folded into the observation before them;
    C4 nothing after the final </answer>; C2 an answer over 100 characters becomes the label."""
    messages = [dict(m) for m in trajectory["messages"] if m["role"] != "system"]
    messages.insert(0, {"role": "system", "content": system_prompt})  # C1
    merged: list[dict] = []
    for message in messages:
        later_user = message["role"] == "user" and any(m["role"] == "user" for m in merged)
        if later_user and merged[-1]["role"] in ("tool", "user"):  # C3
            merged[-1] = {**merged[-1], "content": f"{merged[-1]['content']}\n\n{message['content']}"}
        else:
            merged.append(message)
    final = max(i for i, m in enumerate(merged) if m["role"] == "assistant")
    merged = merged[: final + 1]  # C4: nothing after the answer turn
    content = merged[-1]["content"]
    matches = list(ANSWER.finditer(content))
    if matches:
        last = matches[-1]
        answer = last.group(1).strip()
        if len(answer) > MAX_ANSWER_CHARS:  # C2
            answer = trajectory["label"]
        merged[-1] = {**merged[-1], "content": content[: last.start()] + f"<answer>{answer}</answer>"}  # C4
    return [_sft_message(m) for m in merged]


def _sft_message(message: dict) -> dict:
    """The keys chat templates read; tool-call arguments as JSON strings (one parquet type)."""
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message.get("reasoning_content"):
        out["reasoning_content"] = message["reasoning_content"]
    if message.get("tool_calls"):
        out["tool_calls"] = [{"id": c.get("id") or f"call_{i}", "type": "function",
                              "function": {"name": c["function"]["name"],
                                           "arguments": c["function"]["arguments"]
                                           if isinstance(c["function"]["arguments"], str)
                                           else json.dumps(c["function"]["arguments"], ensure_ascii=False)}}
                             for i, c in enumerate(message["tool_calls"])]
    if message["role"] == "tool":
        out["tool_call_id"] = message.get("tool_call_id") or ""
        out["name"] = message.get("name") or ""
    return out


def build(trajectories: list[dict], system_prompt: str, out_path: str) -> dict:
    """Filter, clean and write the SFT parquet; returns kept/rejected counts by filter."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, report = [], Counter()
    for trajectory in trajectories:
        reason = rejection(trajectory)
        if reason:
            report[reason] += 1
            continue
        messages = clean(trajectory, system_prompt)
        if extract_answer(messages[-1]["content"]) is None:
            report["no final answer after cleaning"] += 1
            continue
        rows.append({"messages": messages, "tools": list(SCHEMAS.values()), "id": trajectory["key"],
                     "question": trajectory["question"], "answer": trajectory["label"]})
    if rows:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        with replacing(out_path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
    return {"trajectories": len(trajectories), "kept": len(rows), "rejected": dict(report)}

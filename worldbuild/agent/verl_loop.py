"""What verl's `ToolAgentLoop` (0.9) does around our tools, written out so our runner does the
same and pass@k is measured under GRPO's conditions: the observations it writes itself (unknown
function, unparsable arguments), how it cuts a long tool response, and which tool calls its
hermes parser accepts. `tests/test_verl_loop.py` checks each against verl's own code."""

from __future__ import annotations

import json

TRUNCATE_SIDES = ("left", "middle", "right")


def unknown_function(name: str, available: list[str]) -> str:
    return f"Unknown function '{name}'. Available tools: {available}"


def invalid_arguments(name: str, error: Exception) -> str:
    return f"Invalid JSON in arguments for '{name}': {error}"


def parse_arguments(name: str, raw) -> tuple[object, str | None]:
    """(arguments, None), or (None, verl's error observation) when they are not JSON."""
    if isinstance(raw, (dict, list)):
        return raw, None
    try:
        return json.loads(raw), None
    except (json.JSONDecodeError, TypeError) as exc:
        return None, invalid_arguments(name, exc)


def truncate_tool_response(text: str, max_length: int | None, side: str = "middle") -> str:
    """`multi_turn.max_tool_response_length` / `tool_response_truncate_side`, as verl cuts."""
    if side not in TRUNCATE_SIDES:
        raise ValueError(f"tool_response_truncate_side must be one of {TRUNCATE_SIDES}, not {side!r}")
    if not max_length or not text or len(text) <= max_length:
        return text
    if side == "left":
        return "(truncated)..." + text[-max_length:]
    if side == "right":
        return text[:max_length] + "...(truncated)"
    half = max_length // 2
    return text[:half] + "...(truncated)..." + text[-half:]


def hermes_call(body: str) -> tuple[str, str] | None:
    """(name, JSON arguments) of one `<tool_call>` body as verl's hermes parser reads it (it needs
    both keys, and re-dumps the arguments), or None when it would drop the call."""
    try:
        value = json.loads(body)
        return value["name"], json.dumps(value["arguments"], ensure_ascii=False)
    except Exception:
        return None

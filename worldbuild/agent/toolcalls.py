"""Tool calls a model wrote in its content, for endpoints and models without a tool parser.

Two formats, named as verl names its tool parsers (`actor_rollout_ref.rollout.multi_turn.format`):
- "hermes": `<tool_call>{"name", "arguments"}</tool_call>` only, kept and dropped as verl's
  hermes parser keeps and drops them (`verl_loop.hermes_call`);
- "hermes_lenient": those, and what small instruction models write instead when asked to call
  a tool (measured with Qwen2.5-Coder 0.5B/1.5B under llama.cpp: tests/fixtures/real_replies.json):
  a ```json fence holding the call, a bare JSON object with `name` and `arguments` (or
  `parameters`) in the text, a list of such objects, OpenAI's `{"function": {...}}` shape, and
  bodies whose quotes came back HTML-escaped (`&#34;`, `&quot;`). A JSON object counts as a call
  when its `name` is one of the tools offered, or when it has the exact call shape (`name` and an
  `arguments` object: the 0.5B model calls tools it invents that way, and the loop's "Unknown
  function" answer is what it must learn from); an answer that merely quotes JSON is not one,
  and a tool's definition echoed from the prompt (`parameters` holding a JSON schema, which the
  1.5B model writes inside `<tools>` tags) is not one either.

`worldbuild.agent.verl_parser` registers "hermes_lenient" with verl, so training and
`worldbuild rollout` read a turn the same way."""

from __future__ import annotations

import html
import json
import re
from uuid import uuid4

from worldbuild.agent.verl_loop import hermes_call

FORMATS = ("hermes", "hermes_lenient")
HERMES_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
FENCE = re.compile(r"```[a-zA-Z_]*[ \t]*\n?(.*?)```", re.DOTALL)
ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|quot|amp|lt|gt|apos);")


def _loads(text: str):
    """JSON, or the same after undoing HTML escapes (some servers send `&#34;` for quotes)."""
    try:
        return json.loads(text)
    except ValueError:
        if not ENTITY.search(text):
            raise
        return json.loads(html.unescape(text))


def _as_call(value, names: set[str] | None) -> tuple[str, str] | None:
    """(name, JSON arguments) when `value` reads as one call of an offered tool."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI's {"type": "function", "function": {...}}
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str):
        return None
    if "arguments" not in value and _is_schema(value.get("parameters")):
        return None  # the tool's definition, echoed from the prompt: not a call
    if names is not None and name not in names and not isinstance(value.get("arguments"), dict):
        return None  # only the exact call shape names a tool we do not offer (the loop then says so)
    arguments = value.get("arguments", value.get("parameters"))
    if isinstance(arguments, str):  # OpenAI sends arguments as a JSON string
        try:
            arguments = _loads(arguments)
        except ValueError:
            return name, arguments  # left unparsable: the loop answers with its own error
    if arguments is None:
        arguments = {}
    return name, json.dumps(arguments, ensure_ascii=False)


def _is_schema(parameters) -> bool:
    return isinstance(parameters, dict) and parameters.get("type") == "object" and "properties" in parameters


def _calls_in(value, names: set[str] | None) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else [value]
    calls = [_as_call(item, names) for item in items]
    return [call for call in calls if call is not None]


def _json_objects(text: str):
    """Every top-level JSON value in `text` with its span, scanning left to right."""
    decoder, position = json.JSONDecoder(), 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        yield value, start, end
        position = end


def _lenient(content: str, names: set[str] | None) -> tuple[str, list[tuple[str, str]]]:
    """Hermes tags first (escaped ones too); else fenced JSON; else bare JSON objects."""
    text = content
    if "&lt;tool_call&gt;" in text:
        text = text.replace("&lt;tool_call&gt;", "<tool_call>").replace("&lt;/tool_call&gt;", "</tool_call>")
    if HERMES_CALL.search(text):
        calls = []
        for body in HERMES_CALL.findall(text):
            try:
                calls += _calls_in(_loads(body.strip()), None)  # tagged: the model meant a call
            except ValueError:
                continue
        return HERMES_CALL.sub("", text), calls
    for fence in FENCE.finditer(text):
        try:
            found = _calls_in(_loads(fence.group(1).strip()), names)
        except ValueError:
            continue
        if found:
            calls = []
            rest = text
            for other in FENCE.finditer(text):  # every fence that holds calls goes, in order
                try:
                    got = _calls_in(_loads(other.group(1).strip()), names)
                except ValueError:
                    continue
                if got:
                    calls += got
                    rest = rest.replace(other.group(0), "", 1)
            return rest, calls
    unescaped = html.unescape(text) if ENTITY.search(text) else text
    calls, rest, cut = [], [], 0
    for value, start, end in _json_objects(unescaped):
        found = _calls_in(value, names)
        if found:
            calls += found
            rest.append(unescaped[cut:start])
            cut = end
    if calls:
        rest.append(unescaped[cut:])
        return "".join(rest), calls
    return content, []


def parse(content: str, tool_format: str = "hermes", names: list[str] | None = None) -> tuple[str, list[dict]]:
    """(content without the calls, OpenAI-shaped tool calls) of one assistant turn's text.
    `names`: the tools offered (bare and fenced JSON counts as a call only for these)."""
    if tool_format not in FORMATS:
        raise ValueError(f"tool format must be one of {FORMATS}, not {tool_format!r}")
    if tool_format == "hermes":
        found = [call for body in HERMES_CALL.findall(content) if (call := hermes_call(body)) is not None]
        rest = HERMES_CALL.sub("", content)
    else:
        rest, found = _lenient(content, set(names) if names is not None else None)
    calls = [{"id": f"call_{uuid4().hex[:12]}", "type": "function", "function": {"name": name, "arguments": arguments}}
             for name, arguments in found]
    return rest.strip(), calls

"""Our runner's copy of verl's tool-loop rules (`worldbuild.agent.verl_loop`) against verl's own
code: `ToolAgentLoop._call_tool` (unknown function, unparsable arguments, the tool-response cut)
and the hermes parser (which calls it keeps), on the same inputs."""

import asyncio
import json
from types import SimpleNamespace

import pytest

pytest.importorskip("verl", reason="verl is not installed (pip install -e '.[rl]')")

from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop  # noqa: E402
from verl.experimental.agent_loop.tool_parser import FunctionCall, HermesToolParser  # noqa: E402
from verl.tools.base_tool import BaseTool  # noqa: E402
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse  # noqa: E402

from worldbuild.agent import verl_loop  # noqa: E402
from worldbuild.agent.react import text_tool_calls  # noqa: E402
from worldbuild.agent.tools import SCHEMAS  # noqa: E402

PAGE = "".join(f"line {i:04d} of a long page\n" for i in range(400))


class FixedTool(BaseTool):
    """A verl BaseTool whose every call returns PAGE (what our browse tool may return)."""

    async def execute(self, instance_id, parameters, **kwargs):
        return ToolResponse(text=PAGE), 0.0, {}


def verl_loop_with(side: str, max_length: int) -> ToolAgentLoop:
    """verl's loop object with only what `_call_tool` reads (the rest needs GPUs and servers)."""
    loop = object.__new__(ToolAgentLoop)
    loop.tools = {name: FixedTool({}, OpenAIFunctionToolSchema.model_validate(schema))
                  for name, schema in SCHEMAS.items()}
    loop.max_tool_response_length, loop.tool_response_truncate_side = max_length, side
    return loop


def verl_says(loop: ToolAgentLoop, name: str, arguments: str) -> str:
    response, _, _ = asyncio.run(loop._call_tool(FunctionCall(name=name, arguments=arguments), {},
                                                 SimpleNamespace()))
    return response.text


def test_error_observations_read_as_verl_writes_them():
    loop = verl_loop_with("middle", 100000)
    assert verl_says(loop, "python", "{}") == verl_loop.unknown_function("python", list(SCHEMAS))
    for bad in ("{not json", "", "[1, 2"):
        _, ours = verl_loop.parse_arguments("search", bad)
        assert verl_says(loop, "search", bad) == ours


@pytest.mark.parametrize("side", ["left", "middle", "right"])
def test_long_tool_responses_are_cut_as_verl_cuts_them(side):
    for limit in (1000, 5001, len(PAGE), len(PAGE) + 1):
        assert verl_says(verl_loop_with(side, limit), "browse", json.dumps({"url": "u"})) == \
            verl_loop.truncate_tool_response(PAGE, limit, side)


def test_text_tool_calls_are_kept_and_dropped_as_verls_hermes_parser_does():
    text = ('<think>x</think>I will look. <tool_call>{"name": "search", "arguments": {"query": "Valdora"}}</tool_call>'
            '<tool_call>{"name": "browse"}</tool_call><tool_call>not json</tool_call>'
            '<tool_call>{"name": "browse", "arguments": {"url": "https://a.example/", "goal": "g"}}</tool_call>')
    parser = HermesToolParser(SimpleNamespace(decode=lambda ids: ids))  # a tokenizer whose ids are the text
    content, calls = asyncio.run(parser.extract_tool_calls(text))
    our_content, ours = text_tool_calls(text)
    assert [(c.name, c.arguments) for c in calls] == [(c["function"]["name"], c["function"]["arguments"]) for c in ours]
    assert len(ours) == 2 and our_content == content.strip()

"""Tool calls written in the content (`worldbuild.agent.toolcalls`), in each format a model writes
them, and verl's tool-parser registry running the same code ("hermes_lenient"). Real replies of a
small model, captured by bench/capture_replies.py, are in tests/fixtures/real_replies.json
(tests/test_real_replies.py)."""

import asyncio
import json
from types import SimpleNamespace

import pytest

from worldbuild.agent import toolcalls
from worldbuild.agent.react import text_tool_calls

NAMES = ["search", "browse"]


def calls(text: str, fmt: str = "hermes_lenient"):
    content, found = toolcalls.parse(text, fmt, NAMES)
    return content, [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in found]


@pytest.mark.parametrize("text, expected", [
    ('<tool_call>\n{"name": "search", "arguments": {"query": "Gutenberg Bible"}}\n</tool_call>',
     [("search", {"query": "Gutenberg Bible"})]),
    ('I will search.\n```json\n{"name": "search", "arguments": {"query": "Gutenberg Bible"}}\n```',
     [("search", {"query": "Gutenberg Bible"})]),
    ('```\n{"name": "browse", "arguments": {"url": "https://a.example/", "goal": "year"}}\n```',
     [("browse", {"url": "https://a.example/", "goal": "year"})]),
    ('{"name": "search", "arguments": {"query": "x"}}', [("search", {"query": "x"})]),
    ('Let me look. {"name": "search", "parameters": {"query": "x"}} then read.', [("search", {"query": "x"})]),
    ('[{"name": "search", "arguments": {"query": "a"}}, {"name": "search", "arguments": {"query": "b"}}]',
     [("search", {"query": "a"}), ("search", {"query": "b"})]),
    ('{"type": "function", "function": {"name": "search", "arguments": "{\\"query\\": \\"x\\"}"}}',
     [("search", {"query": "x"})]),
    ('<tool_call>{&#34;name&#34;: &#34;search&#34;, &#34;arguments&#34;: {&#34;query&#34;: &#34;x&#34;}}</tool_call>',
     [("search", {"query": "x"})]),
    ('{&quot;name&quot;: &quot;search&quot;, &quot;arguments&quot;: {&quot;query&quot;: &quot;x&quot;}}',
     [("search", {"query": "x"})]),
])
def test_each_written_form_of_a_call_is_read(text, expected):
    assert calls(text)[1] == expected


@pytest.mark.parametrize("text", [
    "The answer is <answer>1455</answer>.",
    'The page says {"name": "Gutenberg", "born": 1400}.',  # JSON, but no tool's name
    '```json\n{"name": "python", "parameters": {"code": "1+1"}}\n```',  # not offered, not the call shape
    "", '{"name": "search", "arguments"',  # cut mid-call
])
def test_what_is_not_a_call_stays_content(text):
    content, found = calls(text)
    assert found == [] and content == text.strip()


def test_the_call_leaves_the_content_and_the_rest_stays():
    content, found = calls('First I search.\n```json\n{"name": "search", "arguments": {"query": "x"}}\n```\nThen read.')
    assert found == [("search", {"query": "x"})]
    assert content == "First I search.\n\nThen read."


def test_a_call_of_an_unknown_tool_is_kept_for_the_loop_to_answer():
    """As verl's hermes parser does: the loop answers 'Unknown function', the policy learns from it."""
    assert calls('<tool_call>{"name": "python", "arguments": {}}</tool_call>')[1] == [("python", {})]
    # what Qwen2.5-Coder-0.5B wrote for a title question (bench/out/e2e_real_model.json, first run)
    assert calls('{\n  "name": "Cost of a WARC",\n  "arguments": {\n    "description": "costs"\n  }\n}')[1] == \
        [("Cost of a WARC", {"description": "costs"})]


def test_hermes_format_reads_tags_only():
    fenced = '```json\n{"name": "search", "arguments": {"query": "x"}}\n```'
    assert calls(fenced, "hermes")[1] == []
    assert text_tool_calls(fenced, "hermes")[1] == [] and len(text_tool_calls(fenced, "hermes_lenient")[1]) == 1
    with pytest.raises(ValueError):
        toolcalls.parse(fenced, "json")


def test_verl_runs_the_same_parser_under_its_format_name():
    pytest.importorskip("verl", reason="verl is not installed (pip install -e '.[rl]')")
    import worldbuild.agent.verl_tools  # noqa: F401  (what verl imports when it loads tool_config.yaml)
    from verl.experimental.agent_loop.tool_parser import ToolParser
    from verl.tools.schemas import OpenAIFunctionToolSchema

    from worldbuild.agent.tools import SCHEMAS

    parser = ToolParser.get_tool_parser("hermes_lenient", SimpleNamespace(decode=lambda ids: ids))
    tools = [OpenAIFunctionToolSchema.model_validate(s) for s in SCHEMAS.values()]
    text = 'Searching.\n```json\n{"name": "search", "arguments": {"query": "Valdora"}}\n```'
    content, found = asyncio.run(parser.extract_tool_calls(text, tools))
    ours_content, ours = toolcalls.parse(text, "hermes_lenient", list(SCHEMAS))
    assert [(c.name, c.arguments) for c in found] == [(c["function"]["name"], c["function"]["arguments"]) for c in ours]
    assert content == ours_content == "Searching."

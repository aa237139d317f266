"""The reply parsers on what a real model wrote: Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) under
llama.cpp's llama-server, captured by bench/capture_replies.py into tests/fixtures/real_replies.json
(how each was asked is recorded there). Each case names the reply by its index and says what a
reader of that text must get out of it."""

import json
import os

import pytest

from worldbuild.agent.answer import extract_answer
from worldbuild.agent.judge import parse_verdict
from worldbuild.agent.tools import SCHEMAS
from worldbuild.agent import toolcalls
from worldbuild.llm import Reply
from tests.conftest import REPO

REPLIES = json.load(open(os.path.join(REPO, "tests", "fixtures", "real_replies.json")))["replies"]


def reply(index: int, kind: str) -> str:
    found = REPLIES[index]
    assert found["kind"] == kind, f"fixture {index} is a {found['kind']} reply, not {kind}"
    return found["content"]


@pytest.mark.parametrize("index, answer", [(0, "1488"), (1, "1450")])
def test_an_answer_from_memory_is_an_answer_and_no_call(index, answer):
    text = reply(index, "agent_first_turn")
    assert toolcalls.parse(text, "hermes_lenient", list(SCHEMAS))[1] == []
    assert extract_answer(text) == answer


@pytest.mark.parametrize("index", [2, 3])
def test_echoed_tool_definitions_are_not_calls(index):
    """The model copied the <tools> block of its prompt instead of calling: no call, no answer."""
    text = reply(index, "agent_first_turn")
    assert "<tools>" in text and '"parameters": {"type": "object"' in text
    content, calls = toolcalls.parse(text, "hermes_lenient", list(SCHEMAS))
    assert calls == [] and content == text.strip() and extract_answer(text) is None


def test_a_bare_answer_without_tags_is_no_answer():
    assert extract_answer(reply(4, "agent_after_search")) is None


def test_extraction_json_is_read():
    value = Reply(reply(5, "extract_qa"), "stop", 1, 1).json()
    assert [p["answer"] for p in value["pairs"]][0] == "May 10, 1996" and len(value["pairs"]) == 3


def test_rubric_v1_reply_copies_the_example():
    """Why rubric.v2 exists: under v1 the model filled the example's `"why": "..."` and said true."""
    value = Reply(reply(6, "rubric"), "stop", 1, 1).json()
    assert {v["why"] for v in value.values()} == {"..."} and all(v["ok"] for v in value.values())


def test_judge_reply_is_read():
    assert parse_verdict(reply(7, "judge")) is True


AGENT_V2 = json.load(open(os.path.join(REPO, "tests", "fixtures", "real_replies_0.5b.json")))["replies"]


def test_a_bare_json_call_after_an_observation_is_read():
    """Qwen2.5-Coder-0.5B under agent_system.v2, after a search result: a bare JSON object, no tags."""
    turn = AGENT_V2[4]
    assert turn["kind"] == "agent_after_search" and "<tool_call>" not in turn["content"]
    content, calls = toolcalls.parse(turn["content"], "hermes_lenient", list(SCHEMAS))
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == \
        [("search", {"query": "Internet Archive founder"})] and content == ""
    assert toolcalls.parse(turn["content"], "hermes", list(SCHEMAS))[1] == []  # verl's hermes drops it


@pytest.mark.parametrize("index, answer", [(0, "1604"), (1, "2000"), (2, None), (3, None)])
def test_answers_from_memory_with_and_without_tags(index, answer):
    """The 0.5B model answers from memory, sometimes without the tags (then: no answer, no call)."""
    text = AGENT_V2[index]["content"]
    assert toolcalls.parse(text, "hermes_lenient", list(SCHEMAS))[1] == [] and extract_answer(text) == answer


def test_a_reply_cut_at_max_tokens_is_not_read_as_its_inner_list():
    """The 0.5B model's graph expansion ran past max_tokens: the object never closed, and the first
    value that still parses is its `features` list. The reply is a skip, never that list."""
    import asyncio

    from worldbuild.llm import LLM
    from tests.llm_double import LLMDouble

    turn = AGENT_V2[-1]
    assert turn["kind"] == "graph_expand" and turn["finish_reason"] == "length"
    assert isinstance(Reply(turn["content"], "length", 1, 1).json(), list)  # what a lenient reader finds

    async def ask(url):
        llm = LLM(url, "m")
        try:
            return await llm.ask_json("expand", schema={"type": "object"})
        finally:
            await llm.aclose()

    with LLMDouble([{"content": turn["content"], "finish_reason": "length"}]) as double:
        assert asyncio.run(ask(double.base_url)) == (None, "reply not JSON: cut at max_tokens")

"""worldbuild.llm against the OpenAI-compatible test double: retries, cache, limits, failures."""

import asyncio
import socket
import time

import pytest

from tests.llm_double import LLMDouble
from worldbuild.llm import LLM, LLMFailed, LLMUnavailable

MESSAGES = [{"role": "user", "content": "Extract facts from this page."}]


_opened: list[LLM] = []


def run(coro):
    """Run a test coroutine, then close every LLM it made (inside the same event loop)."""
    async def closing():
        try:
            return await coro
        finally:
            while _opened:
                await _opened.pop().aclose()

    return asyncio.run(closing())


def make(double, tmp_path=None, **kwargs) -> LLM:
    cache = str(tmp_path / "cache.sqlite") if tmp_path else None
    _opened.append(LLM(double.base_url, "double-model", cache_path=cache, backoff=0.01, **kwargs))
    return _opened[-1]


def test_reply_usage_and_cache(tmp_path):
    with LLMDouble([{"json": {"question": "q", "answer": "a"}}]) as double:
        async def go():
            llm = make(double, tmp_path)
            first = await llm.complete(MESSAGES)
            second = await llm.complete(MESSAGES)
            other = await llm.complete(MESSAGES, temperature=0.7)  # other parameters: another request
            await llm.aclose()
            return llm, first, second, other

        llm, first, second, other = run(go())
        assert first.json() == {"question": "q", "answer": "a"} and not first.cached
        assert second.cached and second.text == first.text
        assert not other.cached
        assert len(double.requests) == 2 and double.requests[0]["model"] == "double-model"
        assert llm.usage.to_dict() == {"requests": 2, "cached": 1, "retries": 0, "failures": 0,
                                       "prompt_tokens": 2 * first.prompt_tokens,
                                       "completion_tokens": 2 * first.completion_tokens, "structured_refused": 0}
        assert first.prompt_tokens > 0 and first.completion_tokens > 0
    with LLMDouble([{"status": 500}]) as dead:  # a rerun is served from the cache without the server
        async def again():
            llm = make(dead, tmp_path)
            return await llm.complete(MESSAGES)

        assert run(again()).cached and not dead.requests


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried(status):
    with LLMDouble([{"status": status}, {"status": status}, {"content": "fine"}]) as double:
        async def go():
            llm = make(double)
            return llm, await llm.complete(MESSAGES)

        llm, reply = run(go())
        assert reply.text == "fine" and llm.usage.retries == 2 and len(double.requests) == 3


def test_persistent_errors_fail_after_the_retries():
    with LLMDouble([{"status": 500}]) as double:
        async def go():
            llm = make(double, max_retries=3)
            with pytest.raises(LLMFailed, match="after 4 tries"):
                await llm.complete(MESSAGES)
            return llm

        assert run(go()).usage.failures == 1 and len(double.requests) == 4


def test_client_errors_are_not_retried():
    with LLMDouble([{"status": 400}]) as double:
        async def go():
            with pytest.raises(LLMFailed, match="HTTP 400"):
                await make(double).complete(MESSAGES)

        run(go())
        assert len(double.requests) == 1


def test_timeouts_are_retried_then_fail():
    with LLMDouble([{"delay": 2, "content": "late"}]) as double:
        async def go():
            with pytest.raises(LLMFailed, match="APITimeoutError"):
                await make(double, timeout=0.3, max_retries=1).complete(MESSAGES)

        run(go())
        assert len(double.requests) == 2


def test_concurrency_limit():
    with LLMDouble([{"delay": 0.2, "content": "ok"}]) as double:
        async def go():
            llm = make(double, concurrency=4)
            began = time.perf_counter()
            await asyncio.gather(*(llm.complete([{"role": "user", "content": f"page {i}"}]) for i in range(12)))
            return time.perf_counter() - began

        elapsed = run(go())
        assert double.max_in_flight == 4 and elapsed >= 0.55  # 12 requests, 4 at a time, 0.2 s each


def test_server_dying_mid_run_is_a_failure_not_a_crash():
    double = LLMDouble([{"delay": 0.3, "content": "ok"}]).__enter__()

    async def go():
        llm = make(double, max_retries=2)
        first = await llm.complete([{"role": "user", "content": "before"}])
        double.__exit__(None, None, None)
        with pytest.raises(LLMFailed):
            await llm.complete([{"role": "user", "content": "after"}])
        return first

    assert run(go()).text == "ok"


def test_missing_endpoint_fails_fast_with_how_to_start_one():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go():
        llm = LLM(f"http://127.0.0.1:{port}/v1", "m")
        _opened.append(llm)
        await llm.check()

    began = time.perf_counter()
    with pytest.raises(LLMUnavailable, match="vllm serve"):
        run(go())
    assert time.perf_counter() - began < 15


def test_check_passes_against_a_live_endpoint():
    with LLMDouble() as double:
        run(make(double).check())


@pytest.mark.parametrize("text,value", [
    ('{"a": 1}', {"a": 1}),
    ('<think>hmm {"no": 1}</think>```json\n[{"a": 1}]\n```', [{"a": 1}]),
    ('Sure! {"a": "x"} — done.', {"a": "x"}),
    ('{&#34;a&#34;: [&#34;x&#34;]}', {"a": ["x"]}),  # quotes HTML-escaped: nothing is JSON until unescaped
    ('{"a": "Tom &amp; Jerry"}', {"a": "Tom &amp; Jerry"}),  # real quotes: an entity in a string stays
])
def test_json_replies(text, value):
    from worldbuild.llm import Reply

    assert Reply(text, "stop", 1, 1).json() == value


@pytest.mark.parametrize("text", ["", "I cannot help with that.", "<think>still thinking {\"a\": 1}", "{broken"])
def test_json_replies_rejected(text):
    from worldbuild.llm import Reply

    with pytest.raises(ValueError):
        Reply(text, "stop", 1, 1).json()


SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}


def test_structured_output_is_asked_for_with_the_schema():
    with LLMDouble([{"json": {"a": 1}}]) as double:
        async def go():
            llm = make(double)
            return llm, await llm.ask_json("give a", schema=SCHEMA)

        llm, (value, skip) = run(go())
    assert (value, skip) == ({"a": 1}, None) and llm.structured
    sent = double.requests[0]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == SCHEMA


def test_an_endpoint_refusing_structured_output_is_asked_without_it_from_then_on():
    def refuses_schemas(body):  # an endpoint without structured output (HTTP 400 for the field)
        return {"status": 400} if "response_format" in body else {"content": '```json\n{"a": 2}\n```'}

    with LLMDouble(responder=refuses_schemas) as double:
        async def go():
            llm = make(double)
            first = await llm.ask_json("give a", schema=SCHEMA)
            second = await llm.ask_json("give a again", schema=SCHEMA)
            return llm, first, second

        llm, first, second = run(go())
    assert first == second == ({"a": 2}, None)
    assert not llm.structured and llm.usage.structured_refused == 1
    assert ["response_format" in r for r in double.requests] == [True, False, False]


def test_a_refusal_that_is_not_about_the_schema_keeps_structured_output():
    with LLMDouble([{"status": 400}]) as double:  # refuses every request, schema or not
        async def go():
            llm = make(double)
            return llm, await llm.ask_json("give a", schema=SCHEMA)

        llm, (value, skip) = run(go())
    assert value is None and skip.startswith("LLM failed: HTTP 400") and llm.structured


def test_a_reply_cut_at_max_tokens_says_so():
    with LLMDouble([{"content": '{"pairs": [{"question": "In which ye', "finish_reason": "length"}]) as double:
        async def go():
            return await make(double).ask_json("pairs")

        value, skip = run(go())
    assert (value, skip) == (None, "reply not JSON: cut at max_tokens")

"""Browse with an LLM summarizer, against a real OpenAI-compatible test double over HTTP."""

import httpx
import pytest

from tests.llm_double import LLMDouble
from tests.test_serve import ROOT_SERVERS, start_server
from worldbuild.serve.summarize import parse_summary

GOAL = "which organisation manages the root server at 192.112.36.4"
ANSWER = {"evidence": "g.root-servers.net | 192.112.36.4 | US Department of Defence (NIC)",
          "summary": "The page lists g.root-servers.net at 192.112.36.4, managed by the US DoD (NIC)."}


@pytest.fixture(scope="module")
def double():
    with LLMDouble([{"json": ANSWER}]) as running:
        yield running


@pytest.fixture(scope="module")
def server(sample_world, double, tmp_path_factory):

    cache = str(tmp_path_factory.mktemp("cache") / "summaries.sqlite")
    proc, base = start_server(sample_world[0], extra=["--summarizer-url", double.base_url, "--summarizer-model",
                                                      "double-model", "--summarizer-timeout", "2",
                                                      "--summary-cache", cache])
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def browse(base, **body):
    return httpx.post(base + "/browse", json={"url": ROOT_SERVERS, **body}, timeout=60).json()


def test_goal_gives_evidence_and_summary_then_the_cache(server, double):
    double.script[:] = [{"json": ANSWER}]
    before = len(double.requests)
    first = browse(server, goal=GOAL)
    assert first["mode"] == "summary" and first["summary"]["cached"] is False
    assert first["content"].startswith("Evidence:\ng.root-servers.net") and "Summary:\nThe page lists" in first["content"]
    assert first["summary"]["model"] == "double-model" and first["summary"]["prompt"] == "browse_summary.v1"
    prompt = double.requests[-1]["messages"][0]["content"]
    assert GOAL in prompt and "a.root-servers.net" in prompt and double.requests[-1]["model"] == "double-model"
    again = browse(server, goal=GOAL)
    assert again["summary"]["cached"] is True and len(double.requests) == before + 1
    assert browse(server)["mode"] == "window"  # no goal: no LLM call
    assert len(double.requests) == before + 1


def test_literesearcher_browse_gets_the_authors_evidence_and_summary(server, double):
    """Their browse tool's {url, question} goes through the summarizer; the answer is the
    authors' text, which their tool's strip_evidence option knows how to cut."""
    double.script[:] = [{"json": ANSWER}]
    question = f"{GOAL} (their browse tool)"
    answer = httpx.post(server + "/lr/query", json={"url": ROOT_SERVERS, "question": question}, timeout=60).json()
    assert answer["success"] is True and answer["mode"] == "summary"
    assert answer["result"] == (f"The useful information in {ROOT_SERVERS} for user goal {question} as follows: \n\n"
                                f"Evidence in page: \n{ANSWER['evidence']}\n\nSummary: \n{ANSWER['summary']}\n\n")
    assert question in double.requests[-1]["messages"][0]["content"]


@pytest.mark.parametrize("step,reason", [
    ({"status": 500}, "InternalServerError"),
    ({"content": "I am sorry, I cannot help with that."}, "no JSON object"),
    ({"json": {"evidence": "x"}}, "summary"),
    ({"delay": 5, "json": ANSWER}, "Timeout"),
])
def test_llm_failures_fall_back_to_the_raw_window(server, double, step, reason):
    double.script[:] = [step]
    result = browse(server, goal=f"{GOAL} ({reason})")  # a new goal: not cached
    assert result["mode"] == "window" and reason in result["summary_error"]
    assert result["title"] == "Root Servers" and "192.112.36.4" in result["content"]


@pytest.mark.parametrize("reply", [
    '{"evidence": "e", "summary": "s"}',
    '<think>let me look</think>\n```json\n{"evidence": "e", "summary": "s"}\n```',
    'Here you go: {"evidence": "e", "summary": "s"} Hope this helps.',
])
def test_parse_summary_tolerates_wrapping(reply):
    assert parse_summary(reply) == {"evidence": "e", "summary": "s"}


@pytest.mark.parametrize("reply", ["", "no json", '{"summary": ""}', "[1, 2]", '{"evidence": "only"}'])
def test_parse_summary_rejects(reply):
    with pytest.raises(ValueError):
        parse_summary(reply)

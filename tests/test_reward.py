"""The RL reward as verl calls it (`compute_score`), with an LLM judge on an OpenAI-compatible
double and with the exact-match / F1 fallbacks; verdicts cached; judge failures fall back."""

import asyncio
import re

import pytest

from tests.llm_double import LLMDouble
from worldbuild.agent import reward
from worldbuild.agent.judge import PROMPT_VERSION, Judge

QUESTION = "How many pages did the crawl hold?"


def numbers_judge(body: dict) -> dict:
    """Says 'equivalent' when both answers hold the same digits (1,000 == 1000)."""
    prompt = body["messages"][0]["content"]
    reference = re.search(r"Reference answer: (.*)", prompt).group(1)
    predicted = re.search(r"Predicted answer: (.*)", prompt).group(1)
    same = re.sub(r"\D", "", reference) == re.sub(r"\D", "", predicted) != ""
    return {"content": f'<think>compare</think>{{"equivalent": {str(same).lower()}}}'}


def grade(judge: Judge, prediction: str, label: str = "1000"):
    async def go():
        try:
            return await judge.grade(QUESTION, label, prediction)
        finally:
            await judge.aclose()

    return asyncio.run(go())


def score(solution: str, label: str = "1000", **kwargs) -> dict:
    async def go():
        return await reward.compute_score("worldbuild", solution, label, {"question": QUESTION}, **kwargs)

    return asyncio.run(go())


def test_judge_decides_semantic_equivalence_and_caches(tmp_path):
    cache = str(tmp_path / "judge.sqlite")
    with LLMDouble(responder=numbers_judge) as judge:
        kwargs = {"judge_base_url": judge.base_url, "judge_model": "judge", "judge_cache": cache}
        right = score("<think>...</think> I found it. <answer>1,000 pages</answer>", **kwargs)
        wrong = score("<answer>999</answer>", **kwargs)
        assert right["score"] == 1.0 and right["judged"] == 1.0 and right["judge_failed"] == 0.0
        assert wrong["score"] == 0.0 and wrong["has_answer"] == 1.0
        asked = len(judge.requests)
        assert asked == 2 and QUESTION in judge.requests[0]["messages"][0]["content"]
        score("<answer>1,000 pages</answer>", **kwargs)  # the same verdict again: from the cache
        assert len(judge.requests) == asked
    assert set(right) == set(wrong)  # verl batches these keys: every call returns the same ones


def test_missing_or_malformed_answers_score_zero_without_asking(tmp_path):
    with LLMDouble(responder=numbers_judge) as judge:
        kwargs = {"judge_base_url": judge.base_url, "judge_model": "judge", "judge_cache": str(tmp_path / "j.sqlite")}
        for solution in ("1000", "<answer></answer>", "<answer>1000", "", "<tool_response><answer>1000</answer>"
                                                                          "</tool_response>"):
            result = score(solution, **kwargs)
            assert result["score"] == 0.0 and result["has_answer"] == 0.0, solution
        assert judge.requests == []


def test_judge_failure_falls_back_to_exact_match(tmp_path):
    with LLMDouble([{"status": 500}]) as judge:
        kwargs = {"judge_base_url": judge.base_url, "judge_model": "judge", "judge_cache": str(tmp_path / "j.sqlite")}
        verdict = grade(Judge(judge.base_url, "judge", cache_path=None, max_retries=0), "one thousand")
        assert verdict.method == "em" and verdict.error and not verdict.correct
        assert score("<answer>1000</answer>", **kwargs)["score"] == 1.0  # exact match needs no judge
    garbled = [{"content": "I am not sure what you mean"}]
    with LLMDouble(garbled) as judge:
        verdict = grade(Judge(judge.base_url, "judge", cache_path=None), "1k")
        assert verdict.error and "neither" in verdict.error


def test_fallbacks_without_a_judge(monkeypatch):
    for name in ("WORLDBUILD_JUDGE_URL", "WORLDBUILD_JUDGE_MODEL", "WORLDBUILD_JUDGE_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    assert score("<answer>The 1000</answer>", judge_cache=None)["score"] == 1.0
    assert score("<answer>1000 pages</answer>", judge_cache=None)["score"] == 0.0
    partial = score("<answer>1000 pages</answer>", judge_cache=None, fallback="f1")
    assert partial["score"] == pytest.approx(2 / 3) and partial["judged"] == 0.0
    monkeypatch.setenv("WORLDBUILD_JUDGE_FALLBACK", "f1")
    assert score("<answer>1000 pages</answer>", judge_cache=None)["score"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="fallback"):
        Judge(None, None, fallback="bleu")


def test_verdicts_record_the_judge_model_and_prompt(tmp_path):
    with LLMDouble(responder=numbers_judge) as judge:
        verdict = grade(Judge(judge.base_url, "judge-7b", cache_path=None), "1,000")
    with LLMDouble([{"content": "Not equivalent: different year."}]) as judge:
        assert not grade(Judge(judge.base_url, "j", cache_path=None), "1999").error
    assert verdict.correct and verdict.model == "judge-7b" and verdict.prompt == PROMPT_VERSION


@pytest.mark.parametrize("reply, verdict", [
    ('{"equivalent": "false"}', False), ('{"equivalent": false, }', False), ("Equivalent: false", False),
    ('"equivalent": false', False), ('<think>hm</think>{"equivalent": true}', True), ("Yes, the same.", True),
    ("Not equivalent: another year.", False), ("Incorrect", False)])
def test_judge_replies_are_read_strictly(reply, verdict):
    from worldbuild.agent.judge import parse_verdict

    assert parse_verdict(reply) is verdict

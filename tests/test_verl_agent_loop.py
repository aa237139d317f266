"""verl's own agent loop, on CPU: `AgentLoopWorker.generate_sequences` (the class verl runs as a Ray
actor) over a batch verl's `RLHFDataset` makes from our parquet, instantiating `ToolAgentLoop` with
our tools from `recipes/config/tool_config.yaml` against a live `worldbuild serve`, the Qwen2.5
tokenizer and chat template, and the "hermes_lenient" tool parser; then verl's reward loop with our
`compute_score`. Only the rollout server is a stand-in: a replica that answers verl's
`generate(prompt_ids)` with the tokens of a turn a real Qwen2.5-Coder-1.5B wrote
(tests/fixtures/real_replies_0.5b.json). The tokenizer is read from the GGUF file that
../shared/tools/local-llm/setup.sh fetches; without it (CI) the test skips.
With a real model behind the replica: bench/verl_loop_real.py."""

import asyncio
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, needs_extra

needs_extra("verl", "rl")
GGUF = os.environ.get("WORLDBUILD_GGUF", os.path.expanduser(
    "~/.cache/local-llm/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"))
pytestmark = pytest.mark.skipif(not os.path.exists(GGUF), reason=f"no GGUF model at {GGUF} (run "
                                "../shared/tools/local-llm/setup.sh 1.5b, or set WORLDBUILD_GGUF)")

SOURCE = "https://yorkspace.library.yorku.ca/xmlui/handle/10315/36158"
QUESTION = "What is the title of the 2019 article on the cost of storing web archives in the cloud?"
LABEL = "The Cost of a WARC: Analyzing Web Archives in the Cloud"
FIXTURES = os.path.join(REPO, "tests", "fixtures", "real_replies_0.5b.json")


class ScriptedReplica:
    """verl's `server_manager.generate` protocol (token ids in, `TokenOutput` out), answering with
    the given turns in order, each ended by <|im_end|> as vLLM returns it."""

    def __init__(self, tokenizer, turns: list[str]):
        self.tokenizer, self.turns, self.prompts = tokenizer, list(turns), []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        self.prompts.append(list(prompt_ids))
        text = self.turns.pop(0)
        ids = self.tokenizer.encode(text) + [self.tokenizer.convert_tokens_to_ids("<|im_end|>")]
        return TokenOutput(token_ids=ids, stop_reason="completed")


def real_search_turn() -> str:
    """A turn a real model wrote (Qwen2.5-Coder-0.5B, bench/capture_replies.py): the call as a bare
    JSON object, no tags; our query put in its arguments (its own was for another question)."""
    replies = json.load(open(FIXTURES))["replies"]
    turn = next(r["content"] for r in replies if r["kind"] == "agent_after_search")
    return turn.replace(json.loads(turn)["arguments"]["query"], "cost of a WARC web archives cloud")


def test_verls_tool_agent_loop_runs_our_tools_and_reward_on_cpu(server, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from bench.verl_loop_real import compose, hf_folder, run_loop
    from worldbuild.prompts import load
    from worldbuild.tasks import verl_row

    model_dir = hf_folder(GGUF, os.path.join(os.path.expanduser("~"), ".cache", "worldbuild"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tasks = str(tmp_path / "tasks.parquet")
    task = {"id": "t-warc", "question": QUESTION, "answer": LABEL, "mask_urls": [], "snapshot": "s", "kind": "single_hop"}
    pq.write_table(pa.Table.from_pylist([verl_row(task, 0, load("agent_system.v1"))]), tasks)
    monkeypatch.setenv("WORLD_URL", server)
    monkeypatch.setenv("WORLDBUILD_JUDGE_URL", "")  # no judge: exact match

    class Args:
        n, prompt_length, response_length, temperature, format = 1, 2048, 4096, 0.7, "hermes_lenient"
        max_turns, max_tool_response_length, base_url, model = 4, 3000, "", ""
        judge_cache = str(tmp_path / "judge.sqlite")

    config, _ = compose(model_dir, tasks, Args, judge=False)
    replica = ScriptedReplica(tokenizer, [real_search_turn(), f"It is <answer>{LABEL}</answer>"])
    tokenizer, output, rewards, _ = asyncio.run(run_loop(config, replica, 1))

    assert len(replica.prompts) == 2  # a tool call was read from the bare JSON, so a second turn came
    second_prompt = tokenizer.decode(replica.prompts[1])
    assert "<tool_response>" in second_prompt and SOURCE in second_prompt  # the world answered the search
    prompt_len = output.batch["prompts"].shape[1]
    valid = output.batch["attention_mask"][0, prompt_len:].bool()
    trained = output.batch["response_mask"][0][valid].bool()
    response = output.batch["responses"][0][valid]
    assert SOURCE not in tokenizer.decode(response[trained])  # observations are not trained on
    assert SOURCE in tokenizer.decode(response[~trained])
    assert rewards[0]["reward_score"] == 1.0 and rewards[0]["reward_extra_info"]["has_answer"] == 1.0
    assert int(output.non_tensor_batch["__num_turns__"][0]) == 4  # user, assistant, tool, assistant


def test_verls_multi_turn_sft_dataset_reads_sft_data_with_the_qwen_template(server, tmp_path):
    """`worldbuild sft-data` over rollouts that call the served world (the reading policy: it
    searches, browses the top hit and answers, through real tool calls), read by verl's own
    `MultiTurnSFTDataset` with Qwen2.5's chat template: each kept row tokenizes within bounds, the
    model's turns (its tool calls as the template writes them, its answer) are trained on, and the
    system prompt, the question and the world's observations are not."""
    from transformers import AutoTokenizer
    from typer.testing import CliRunner
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    from bench.verl_loop_real import hf_folder
    from tests.llm_double import LLMDouble, ReadingPolicy
    from worldbuild.cli import app

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t-warc", "question": QUESTION, "answer": LABEL}) + "\n")
    out = str(tmp_path / "sft.parquet")
    with LLMDouble(responder=ReadingPolicy()) as double:
        result = CliRunner().invoke(app, ["sft-data", str(tasks), "--out", out, "--base-url", double.base_url,
                                          "--model", "m", "--world-url", server, "--judge-cache",
                                          str(tmp_path / "judge.sqlite")])
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(hf_folder(GGUF, os.path.join(os.path.expanduser("~"), ".cache",
                                                                           "worldbuild")))
    dataset = MultiTurnSFTDataset(out, tokenizer, {"max_length": 16384, "truncation": "error",
                                                   "messages_key": "messages", "tools_key": "tools"})
    assert len(dataset) >= 1  # one row per rollout kept
    item = dataset[0]
    valid = item["attention_mask"].bool()
    ids, trained = item["input_ids"][valid], item["loss_mask"][valid].bool()
    whole, learned = tokenizer.decode(ids), tokenizer.decode(ids[trained])
    assert whole.startswith("<|im_start|>system") and '"name": "search"' in whole  # Qwen's template, tools listed
    assert learned.count("<tool_call>") == 2 and '"name": "browse"' in learned and LABEL in learned
    observation = f"URL: {SOURCE}"  # how the world's search results name a page
    assert "<tool_response>" in whole and observation in whole  # the observations, in the template's tags
    assert not [part for part in ("<tool_response>", observation, "<|im_start|>user", "<|im_start|>system")
                if part in learned]

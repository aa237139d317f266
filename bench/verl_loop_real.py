"""verl's own agent loop on CPU, with a real model: not part of CI (it needs a local llama.cpp server).

    python bench/verl_loop_real.py http://127.0.0.1:8012 --tasks WORK/tasks.parquet --world-url URL
        [--gguf ~/.cache/local-llm/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf] [--n 3]
        [--sft WORK/sft.parquet] [--rollouts WORK/eval.jsonl]

What runs is verl 0.9's code, not an emulation of it:
- the config: `ppo_trainer` composed by Hydra with the overrides of recipes/run_rl_4b.sh (tool agent loop,
  recipes/config/tool_config.yaml, `pkg://worldbuild.agent.reward`), the model path pointing at a
  Hugging Face folder written from the GGUF file (its tokenizer, chat template and config; no weights);
- `AgentLoopWorker.generate_sequences` (the class verl runs as a Ray actor, here in process) over a
  `DataProto` that verl's `RLHFDataset` and `collate_fn` make from our parquet: it instantiates
  `ToolAgentLoop` through verl's registry, which tokenizes with the Qwen2.5 template, calls our
  `SearchTool`/`BrowseTool` on the live world, parses calls with the tool parser named by
  `multi_turn.format` and pads the batch;
- `RewardLoopWorker.compute_score_batch` (verl's naive reward manager) with our `compute_score`, the
  judge on the same local model;
- `MultiTurnSFTDataset` over the `sft-data` parquet with the real template.
The one piece replaced is the rollout server: verl's vLLM/SGLang replicas need a GPU, so the
`server_manager.generate(prompt_ids) -> TokenOutput` it calls is answered by llama.cpp's
`/completion` on the same token ids (token ids in, token ids out), with max_tokens computed as
verl's vLLM server computes it. The report (bench/out/verl_loop_real.json) compares each
trajectory with `worldbuild rollout`'s on the same task (--rollouts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.realdata import REPO, save_results  # noqa: E402

DEFAULT_GGUF = os.path.expanduser("~/.cache/local-llm/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


def hf_folder(gguf: str, cache: str) -> str:
    """A Hugging Face model folder (tokenizer, chat template, config; no weights) read from the GGUF
    file by transformers, once: reading the 1 GB file takes minutes on a busy machine."""
    from transformers import AutoConfig, AutoTokenizer

    out = os.path.join(cache, os.path.basename(gguf).removesuffix(".gguf") + "-hf")
    if not os.path.exists(os.path.join(out, "config.json")):
        folder, name = os.path.split(gguf)
        AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out + ".partial")
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        if not config.architectures:  # the GGUF names its model type only; verl wants the class
            from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

            config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.model_type]]
        config.save_pretrained(out + ".partial")
        os.replace(out + ".partial", out)
    return out


class LlamaCppReplica:
    """What `ToolAgentLoop` awaits from `server_manager.generate`: token ids in, `TokenOutput` out,
    from llama.cpp's `/completion` (a prompt of token ids; `return_tokens`, `n_probs` for log-probs).
    max_tokens as verl's vLLM server sets it when the sampling params carry none."""

    def __init__(self, root: str, prompt_length: int, response_length: int, max_model_len: int, eos_id: int):
        self.root, self.eos_id = root.rstrip("/"), eos_id
        self.prompt_length, self.response_length, self.max_model_len = prompt_length, response_length, max_model_len
        self.requests: list[dict] = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        prompt_ids = list(prompt_ids)
        room = self.max_model_len - len(prompt_ids)
        max_tokens = sampling_params.get("max_tokens") or min(
            self.response_length, self.prompt_length + self.response_length - len(prompt_ids))
        max_tokens = max(1, min(max_tokens, room))
        body = {"prompt": prompt_ids, "n_predict": max_tokens, "temperature": sampling_params.get("temperature", 1.0),
                "top_p": sampling_params.get("top_p", 1.0), "top_k": max(0, sampling_params.get("top_k", -1) or 0),
                "return_tokens": True, "cache_prompt": True, "n_probs": 1 if sampling_params.get("logprobs") else 0,
                "seed": abs(hash(request_id)) % (2 ** 31)}
        began = time.perf_counter()
        async with httpx.AsyncClient(timeout=1800) as client:
            reply = (await client.post(f"{self.root}/completion", json=body)).json()
        tokens = list(reply.get("tokens") or [])
        # vLLM returns the end-of-turn token it stopped on; llama.cpp leaves it out of `tokens`
        if reply.get("stop_type") == "eos" and (not tokens or tokens[-1] != self.eos_id):
            tokens.append(self.eos_id)
        self.requests.append({"prompt_tokens": len(prompt_ids), "max_tokens": max_tokens, "tokens": len(tokens),
                              "stop_type": reply.get("stop_type"), "seconds": round(time.perf_counter() - began, 1)})
        return TokenOutput(token_ids=tokens, log_probs=None, stop_reason="completed", num_preempted=0)


def compose(model_dir: str, tasks: str, args, judge: bool = True) -> object:
    from omegaconf import OmegaConf, open_dict

    from worldbuild.agent.verl_config import compose as compose_verl
    from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl

    overrides = [
        "algorithm.adv_estimator=grpo", f"data.train_files={tasks}", f"data.val_files={tasks}",
        f"data.train_batch_size={args.n}", f"data.max_prompt_length={args.prompt_length}",
        f"data.max_response_length={args.response_length}", "data.return_raw_chat=True", "data.truncation=error",
        f"actor_rollout_ref.model.path={model_dir}", "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.mode=async", "actor_rollout_ref.rollout.n=1",
        f"actor_rollout_ref.rollout.max_model_len={args.prompt_length + args.response_length}",
        f"actor_rollout_ref.rollout.temperature={args.temperature}",
        "actor_rollout_ref.rollout.multi_turn.enable=True", f"actor_rollout_ref.rollout.multi_turn.format={args.format}",
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={os.path.join(REPO, 'recipes', 'config', 'tool_config.yaml')}",
        f"actor_rollout_ref.rollout.multi_turn.max_assistant_turns={args.max_turns}",
        f"actor_rollout_ref.rollout.multi_turn.max_tool_response_length={args.max_tool_response_length}",
        "actor_rollout_ref.rollout.agent.default_agent_loop=tool_agent",
        "reward.custom_reward_function.path=pkg://worldbuild.agent.reward",
        "reward.custom_reward_function.name=compute_score",
    ]
    if judge:  # the judge on the same model, as `worldbuild eval --judge-url` uses it
        overrides += [f"+reward.custom_reward_function.reward_kwargs.judge_base_url={args.base_url.rstrip('/')}/v1",
                      f"+reward.custom_reward_function.reward_kwargs.judge_model={args.model}",
                      f"+reward.custom_reward_function.reward_kwargs.judge_cache={args.judge_cache}"]
    config = compose_verl("ppo_trainer", overrides)
    OmegaConf.resolve(config)
    with open_dict(config):
        if "reward_model" in config:
            config = migrate_legacy_reward_impl(config)
    return config, overrides


def tool_calls_of(messages) -> list[tuple[str, str]]:
    return [(c["function"]["name"], json.dumps(json.loads(c["function"]["arguments"])
                                               if isinstance(c["function"]["arguments"], str)
                                               else c["function"]["arguments"], sort_keys=True))
            for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]


async def run_loop(config, replica, rows: int):
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    tokenizer = hf_tokenizer(config.actor_rollout_ref.model.path)
    dataset = RLHFDataset(config.data.train_files, tokenizer, config.data)
    batch = DataProto.from_single_dict(collate_fn([dataset[i] for i in range(min(rows, len(dataset)))]))
    batch.meta_info.update(global_steps=1, validate=False)
    worker = AgentLoopWorker(config, llm_client=replica)
    began = time.perf_counter()
    output = await worker.generate_sequences(batch)
    rollout_seconds = time.perf_counter() - began
    rewards = await RewardLoopWorker(config).compute_score_batch(output)
    return tokenizer, output, rewards, rollout_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base_url", help="llama-server root, e.g. http://127.0.0.1:8012")
    parser.add_argument("--tasks", required=True, help="verl parquet (e.g. the e2e bench's tasks.parquet)")
    parser.add_argument("--world-url", required=True)
    parser.add_argument("--gguf", default=DEFAULT_GGUF)
    parser.add_argument("--model", default="local")
    parser.add_argument("--n", type=int, default=3, help="tasks in the batch")
    parser.add_argument("--format", default="hermes_lenient")
    parser.add_argument("--agent-prompt", default="agent_system.v2", help="system prompt for JSONL tasks")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--prompt-length", type=int, default=2048)
    parser.add_argument("--response-length", type=int, default=6144)
    parser.add_argument("--max-tool-response-length", type=int, default=3000)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--judge-cache", default=os.path.join(os.path.expanduser("~"), ".cache", "worldbuild", "judge.sqlite"))
    parser.add_argument("--rollouts", help="`worldbuild rollout`/`eval` trajectories of the same tasks, to compare")
    parser.add_argument("--sft", help="`worldbuild sft-data` parquet to read with MultiTurnSFTDataset")
    parser.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "worldbuild"))
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "out", "verl_loop_real.json"))
    args = parser.parse_args()
    os.environ["WORLD_URL"] = args.world_url  # tool_config.yaml reads it
    report: dict = {"load_before": os.getloadavg(), "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    began = time.perf_counter()
    model_dir = hf_folder(args.gguf, args.cache)
    report["hf_folder_seconds"] = round(time.perf_counter() - began, 1)
    tasks = args.tasks
    if tasks.endswith(".jsonl"):  # question/answer lines: the verl rows synth-qa would export for them
        import pyarrow as pa
        import pyarrow.parquet as pq

        from worldbuild.prompts import load
        from worldbuild.tasks import verl_row

        records = [json.loads(line) for line in open(tasks) if line.strip()]
        rows = [verl_row({"mask_urls": [], "snapshot": "", "kind": "demo", **r}, i, load(args.agent_prompt))
                for i, r in enumerate(records)]
        tasks = os.path.join(args.cache, "verl_loop_real_tasks.parquet")
        pq.write_table(pa.Table.from_pylist(rows), tasks)
    config, overrides = compose(model_dir, tasks, args)
    report["overrides"] = overrides
    from transformers import AutoTokenizer

    eos = AutoTokenizer.from_pretrained(model_dir).convert_tokens_to_ids("<|im_end|>")
    replica = LlamaCppReplica(args.base_url, args.prompt_length, args.response_length,
                              args.prompt_length + args.response_length, eos)
    tokenizer, output, rewards, seconds = asyncio.run(run_loop(config, replica, args.n))

    prompt_len = output.batch["prompts"].shape[1]
    episodes = []
    for i in range(len(output)):
        mask = output.batch["attention_mask"][i, prompt_len:].bool()
        response = output.batch["responses"][i][mask]
        trained = output.batch["response_mask"][i][mask].bool()
        text = tokenizer.decode(response, skip_special_tokens=False)
        info = output.non_tensor_batch["extra_info"][i]
        episodes.append({
            "task_id": info["id"], "question": info["question"], "label": info["answer"],
            "turns": int(output.non_tensor_batch["__num_turns__"][i]), "response_tokens": int(mask.sum()),
            "policy_tokens": int(trained.sum()), "observation_tokens": int((~trained).sum()),
            "tool_calls_written": text.count("<tool_call>") + text.count("```json"),
            "observations": text.count("<tool_response>"), "reward": rewards[i]["reward_score"],
            "reward_extra_info": rewards[i]["reward_extra_info"], "response_text": text[:3000],
        })
    report["verl_loop"] = {"seconds": round(seconds, 1), "generate_calls": len(replica.requests),
                           "generate_requests": replica.requests, "episodes": episodes,
                           "mean_reward": sum(e["reward"] for e in episodes) / max(1, len(episodes))}
    if args.rollouts:  # `worldbuild rollout`/`eval` on the same tasks, same model and settings
        ours = {}
        for line in open(args.rollouts):
            record = json.loads(line)
            ours.setdefault(record["task_id"], record)
        report["compare"] = [{
            "task_id": e["task_id"], "verl_turns": e["turns"], "verl_observations": e["observations"],
            "verl_reward": e["reward"],
            "worldbuild_turns": ours[e["task_id"]]["turns"] if e["task_id"] in ours else None,
            "worldbuild_tool_calls": ours[e["task_id"]]["tool_calls"] if e["task_id"] in ours else None,
            "worldbuild_calls": tool_calls_of(ours[e["task_id"]]["messages"]) if e["task_id"] in ours else None,
            "worldbuild_correct": ours[e["task_id"]]["correct"] if e["task_id"] in ours else None,
            "worldbuild_stop": ours[e["task_id"]]["stop"] if e["task_id"] in ours else None,
        } for e in episodes]
    if args.sft and not os.path.exists(args.sft):
        report["sft_dataset"] = f"not run: {args.sft} does not exist (sft-data kept no trajectory)"
    elif args.sft:
        from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

        dataset = MultiTurnSFTDataset(args.sft, tokenizer, {"max_length": 16384, "truncation": "error",
                                                           "messages_key": "messages", "tools_key": "tools"})
        items = [dataset[i] for i in range(len(dataset))]
        report["sft_dataset"] = {"rows": len(items), "tokens": [int(item["attention_mask"].sum()) for item in items],
                                 "trained_tokens": [int(item["loss_mask"].sum()) for item in items],
                                 "first_trained_text": tokenizer.decode(items[0]["input_ids"][items[0]["loss_mask"].bool()])[:1500]
                                 if items else None}
    report["load_after"] = os.getloadavg()
    save_results(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "overrides"}, indent=2, default=str)[:6000])


if __name__ == "__main__":
    main()

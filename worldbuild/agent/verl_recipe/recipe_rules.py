"""The paper's recipe (DESIGN.md §1) as rules a composed config can break: GRPO, strictly
on-policy, no KL, no entropy bonus, 128 prompts x 8 rollouts, lr 1e-6, async vLLM multi-turn
rollouts with the tool agent loop, a response budget of 32K growing by 16K per curriculum stage,
and sequences that fit the context and the GPU's token budget."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from worldbuild.agent.verl_recipe.checks import AGENT_LOOP
from worldbuild.agent.verl_recipe.compose import select


@dataclass(frozen=True)
class Recipe:
    """The paper's numbers; a deliberate deviation (a smaller smoke run) passes its own."""

    train_batch_size: int = 128
    rollout_n: int = 8
    lr: float = 1e-6
    first_length: int = 32768
    length_step: int = 16384

    def response_length(self, stage: int) -> int:
        """Stage 1 gets 32K tokens; every later stage adds 16K (the curriculum's longer budget)."""
        return self.first_length + (stage - 1) * self.length_step


def ppo_summary(config, stage: int) -> dict[str, Any]:
    """The resolved values a reader checks against the paper, in one flat dict."""
    actor = "actor_rollout_ref.actor"
    rollout = "actor_rollout_ref.rollout"
    keys = {
        "adv_estimator": "algorithm.adv_estimator",
        "train_batch_size": "data.train_batch_size",
        "ppo_mini_batch_size": f"{actor}.ppo_mini_batch_size",
        "ppo_epochs": f"{actor}.ppo_epochs",
        "rollout_n": f"{rollout}.n",
        "lr": f"{actor}.optim.lr",
        "use_kl_loss": f"{actor}.use_kl_loss",
        "kl_loss_coef": f"{actor}.kl_loss_coef",
        "use_kl_in_reward": "algorithm.use_kl_in_reward",
        "entropy_coeff": f"{actor}.entropy_coeff",
        "rollout": f"{rollout}.name",
        "rollout_mode": f"{rollout}.mode",
        "multi_turn": f"{rollout}.multi_turn.enable",
        "agent_loop": f"{rollout}.agent.default_agent_loop",
        "prompt_length": f"{rollout}.prompt_length",
        "response_length": f"{rollout}.response_length",
        "max_assistant_turns": f"{rollout}.multi_turn.max_assistant_turns",
        "max_tool_response_length": f"{rollout}.multi_turn.max_tool_response_length",
        "trainer_mode": "trainer.v1.trainer_mode",
        "save_freq": "trainer.save_freq",
        "nnodes": "trainer.nnodes",
        "n_gpus_per_node": "trainer.n_gpus_per_node",
        "model": "actor_rollout_ref.model.path",
        "train_files": "data.train_files",
        "local_dir": "trainer.default_local_dir",
    }
    return {"stage": stage, **{name: select(config, key) for name, key in keys.items()}}


def recipe_problems(s: dict, recipe: Recipe, use_v1: bool) -> list[str]:
    """Each rule of DESIGN.md §1 that a config can break, as `recipe: <what> (<why>)`."""
    expected_length = recipe.response_length(s["stage"])
    rules = [
        (s["adv_estimator"] == "grpo", f"algorithm.adv_estimator={s['adv_estimator']}, expected grpo"),
        (s["train_batch_size"] == recipe.train_batch_size,
         f"data.train_batch_size={s['train_batch_size']}, expected {recipe.train_batch_size} prompts per step"),
        (s["ppo_mini_batch_size"] == s["train_batch_size"],
         f"actor.ppo_mini_batch_size={s['ppo_mini_batch_size']} != data.train_batch_size={s['train_batch_size']} "
         "(strictly on-policy: one update per rollout batch)"),
        (s["ppo_epochs"] == 1, f"actor.ppo_epochs={s['ppo_epochs']}, expected 1 (each rollout batch used once)"),
        (s["rollout_n"] == recipe.rollout_n,
         f"rollout.n={s['rollout_n']}, expected {recipe.rollout_n} rollouts per prompt"),
        (close(s["lr"], recipe.lr), f"actor.optim.lr={s['lr']}, expected {recipe.lr:g}"),
        (not s["use_kl_loss"], "actor.use_kl_loss=True, the recipe has no KL loss"),
        (not s["use_kl_in_reward"], "algorithm.use_kl_in_reward=True, the recipe has no KL penalty"),
        (close(s["entropy_coeff"], 0.0), f"actor.entropy_coeff={s['entropy_coeff']}, the recipe has no entropy bonus"),
        (s["rollout"] == "vllm", f"rollout.name={s['rollout']}, expected vllm"),
        (s["rollout_mode"] == "async", f"rollout.mode={s['rollout_mode']}, expected async (agent loops need it)"),
        (bool(s["multi_turn"]), "rollout.multi_turn.enable=False, the agent calls tools over many turns"),
        (s["agent_loop"] == AGENT_LOOP,
         f"rollout.agent.default_agent_loop={s['agent_loop']}, expected {AGENT_LOOP} (rows without agent_name use it)"),
        (s["response_length"] == expected_length,
         f"rollout.response_length={s['response_length']}, stage {s['stage']} expects {expected_length} "
         f"({recipe.first_length} + {recipe.length_step} per later stage)"),
        (not use_v1 or s["trainer_mode"] == "sync",
         f"trainer.v1.trainer_mode={s['trainer_mode']}, only sync is strictly on-policy"),
        (isinstance(s["save_freq"], int) and s["save_freq"] > 0,
         f"trainer.save_freq={s['save_freq']} saves no checkpoint, the next stage starts from this one's last"),
    ]
    return [f"recipe: {message}" for ok, message in rules if not ok]


def close(value: Any, target: float) -> bool:
    try:
        return math.isclose(float(value), target, rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def budget_problems(config) -> list[str]:
    """One sequence (prompt + whole trajectory) must fit vLLM's context and, with dynamic batching,
    a GPU's token budget, or verl fails mid-run when the first long trajectory arrives."""
    actor = "actor_rollout_ref.actor"
    longest = (select(config, "actor_rollout_ref.rollout.prompt_length") or 0) + \
              (select(config, "actor_rollout_ref.rollout.response_length") or 0)
    problems = []
    context = select(config, "actor_rollout_ref.rollout.max_model_len")
    if context is not None and context < longest:
        problems.append(f"recipe: rollout.max_model_len={context} < prompt + response = {longest}")
    sp = select(config, f"{actor}.ulysses_sequence_parallel_size") or 1
    budget = (select(config, f"{actor}.ppo_max_token_len_per_gpu") or 0) * sp
    if select(config, f"{actor}.use_dynamic_bsz") and budget < longest:
        problems.append(f"recipe: actor.ppo_max_token_len_per_gpu x ulysses_sequence_parallel_size = {budget} < "
                        f"prompt + response = {longest}")
    return problems

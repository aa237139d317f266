"""One report per curriculum stage (main_ppo) or SFT cold start: compose, then every check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from worldbuild.agent.verl_recipe.checks import (agent_loop_problems, reward_problems, tool_problems,
                                                 verl_problems)
from worldbuild.agent.verl_recipe.compose import (PPO_CONFIG, SFT_CONFIG, compose, compose_problem, first_line,
                                                  quiet, resolved, select)
from worldbuild.agent.verl_recipe.recipe_rules import Recipe, budget_problems, ppo_summary, recipe_problems


@dataclass
class Report:
    """What one composed config looks like and what is wrong with it."""

    label: str
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: Any = None


def _compose_into(report: Report, config_name: str, overrides: Sequence[str]):
    """The composed config, kept in `report`; None (and the reason in its problems) when it fails."""
    try:
        report.config = compose(config_name, overrides)
    except Exception as exc:
        report.problems.append(compose_problem(exc))
    return report.config


def check_ppo(overrides: Sequence[str], stage: int, recipe: Recipe = Recipe(),
              load_plugins: bool = True) -> Report:
    """Compose the main_ppo config for one curriculum stage and list everything wrong with it."""
    report = Report(label=f"stage {stage}")
    config = _compose_into(report, PPO_CONFIG, overrides)
    if config is None:
        return report
    report.summary = ppo_summary(config, stage)
    report.problems += verl_problems(config)
    report.problems += recipe_problems(report.summary, recipe, bool(select(config, "trainer.use_v1")))
    report.problems += budget_problems(config)
    report.problems += agent_loop_problems(config)
    if load_plugins:
        report.problems += tool_problems(config, report.summary)
        report.problems += reward_problems(config, report.summary)
    return report


def check_sft(overrides: Sequence[str]) -> Report:
    """Compose `verl.trainer.sft_trainer`'s config and build what it builds before touching a
    model (engine, optimizer, checkpoint, profiler), plus the multi-turn data keys we rely on."""
    from verl.utils.config import omega_conf_to_dataclass

    report = Report(label="sft")
    config = _compose_into(report, SFT_CONFIG, overrides)
    if config is None:
        return report
    keys = {"model": "model.path", "train_files": "data.train_files", "messages_key": "data.messages_key",
            "tools_key": "data.tools_key", "max_length": "data.max_length", "lr": "optim.lr",
            "epochs": "trainer.total_epochs", "train_batch_size": "data.train_batch_size",
            "nnodes": "trainer.nnodes", "n_gpus_per_node": "trainer.n_gpus_per_node",
            "local_dir": "trainer.default_local_dir"}
    report.summary = {name: select(config, key) for name, key in keys.items()}
    try:
        cfg = resolved(config)
    except Exception as exc:
        report.problems.append(f"verl: cannot resolve the config: {first_line(exc)}")
        return report
    for key in ("engine", "optim", "checkpoint", "profiler"):
        try:
            with quiet():
                omega_conf_to_dataclass(select(cfg, key))
        except Exception as exc:
            report.problems.append(f"verl: {key}: {first_line(exc)}")
    s = report.summary
    if s["messages_key"] != "messages" or s["tools_key"] != "tools":
        report.problems.append(f"recipe: data.messages_key/tools_key = {s['messages_key']}/{s['tools_key']}, "
                               "`worldbuild sft-data` writes messages/tools")
    budget = select(config, "data.max_token_len_per_gpu") or 0
    if select(config, "data.use_dynamic_bsz") and budget < (s["max_length"] or 0):
        report.problems.append(f"recipe: data.max_token_len_per_gpu={budget} < data.max_length={s['max_length']} "
                               "(one trajectory must fit)")
    return report


def describe(report: Report) -> str:
    """The one line a recipe prints per stage when it is clean."""
    s = report.summary
    if "adv_estimator" not in s:
        return f"{report.label}: ok " + " ".join(f"{k}={v}" for k, v in s.items())
    return (f"{report.label}: ok {s['adv_estimator']} batch={s['train_batch_size']} mini={s['ppo_mini_batch_size']} "
            f"epochs={s['ppo_epochs']} n={s['rollout_n']} lr={s['lr']:g} kl_loss={s['use_kl_loss']} "
            f"kl_reward={s['use_kl_in_reward']} entropy={s['entropy_coeff']} "
            f"rollout={s['rollout']}/{s['rollout_mode']} "
            f"agent={s['agent_loop']} tools={','.join(s.get('tools', []))} response={s['response_length']} "
            f"nodes={s['nnodes']}x{s['n_gpus_per_node']}")

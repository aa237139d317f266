"""verl's own checks, run as verl's entry point and workers would run them: `validate_config`,
the dataclasses the workers build, the agent loop registry, the tool registry and the reward loader."""

from __future__ import annotations

import inspect

from worldbuild.agent.verl_recipe.compose import first_line, quiet, resolved, select

REWARD_PATH = "pkg://worldbuild.agent.reward"
REWARD_NAME = "compute_score"
REWARD_KWARGS = ("judge_base_url", "judge_model")
TOOL_NAMES = ("search", "browse")
AGENT_LOOP = "tool_agent"


def verl_problems(config) -> list[str]:
    """Run `validate_config` as main_ppo does, then build the dataclasses verl's workers build
    (actor, rollout, the rollout's checkpoint engine), so a bad value fails here and not on a GPU
    node. (verl 0.9.1 never builds `reward` as a dataclass: its RewardManagerConfig cannot be.)"""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    problems = []
    try:
        with quiet():
            validate_config(config=config, use_reference_policy=need_reference_policy(config),
                            use_critic=need_critic(config))
    except Exception as exc:  # verl raises AssertionError and ValueError alike
        problems.append(f"verl: validate_config: {first_line(exc)}")
    try:
        cfg = resolved(config)
    except Exception as exc:
        return problems + [f"verl: cannot resolve the config: {first_line(exc)}"]
    for key in ("actor_rollout_ref.actor", "actor_rollout_ref.rollout", "actor_rollout_ref.rollout.checkpoint_engine"):
        try:
            with quiet():
                omega_conf_to_dataclass(select(cfg, key))
        except Exception as exc:
            message = first_line(exc)
            if not any(message in seen for seen in problems):  # validate_config built the actor already
                problems.append(f"verl: {key}: {message}")
    return problems


def agent_loop_problems(config) -> list[str]:
    """Rows name their loop (`agent_name: tool_agent`); rows without one fall back to
    `rollout.agent.default_agent_loop`. Both must be a loop verl has registered."""
    default = select(config, "actor_rollout_ref.rollout.agent.default_agent_loop")
    try:
        with quiet():
            import verl.experimental.agent_loop  # noqa: F401  (registers single_turn_agent, tool_agent)
            from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
    except Exception as exc:
        return [f"verl: cannot import the agent loops: {first_line(exc)}"]
    return [f"verl: agent loop {name!r} is not registered (known: {sorted(_agent_loop_registry)})"
            for name in {AGENT_LOOP, default} if name not in _agent_loop_registry]


def tool_problems(config, summary: dict) -> list[str]:
    """Instantiate the tools from the tool config as each agent-loop worker will."""
    from verl.tools.tool_registry import initialize_tools_from_config
    from verl.utils.import_utils import resolve_config_path

    path = select(config, "actor_rollout_ref.rollout.multi_turn.tool_config_path")
    if not path:
        return ["tools: actor_rollout_ref.rollout.multi_turn.tool_config_path is not set"]
    try:
        path = resolve_config_path(path)
        missing = [problem for name in tool_class_names(path) for problem in import_problem(name)]
        if missing:
            return missing
        with quiet():
            tools = initialize_tools_from_config(path)
    except Exception as exc:
        return [f"tools: cannot load {path}: {first_line(exc)}"]
    names = [tool.name for tool in tools]
    summary["tools"] = names
    problems = []
    if sorted(names) != sorted(TOOL_NAMES):
        problems.append(f"tools: {path} defines {names}, the agent needs exactly {list(TOOL_NAMES)}")
    return problems


def tool_class_names(path: str) -> list[str]:
    from omegaconf import OmegaConf

    return [str(tool.class_name) for tool in OmegaConf.load(path).tools]


def import_problem(class_name: str) -> list[str]:
    """Import a tool class ourselves first: verl's loader turns a missing module into an
    AttributeError on None that names nothing."""
    import importlib

    module, _, name = class_name.rpartition(".")
    try:
        getattr(importlib.import_module(module), name)
    except Exception as exc:
        return [f"tools: cannot import {class_name}: {first_line(exc)}"]
    return []


def reward_problems(config, summary: dict) -> list[str]:
    """Load the reward through `get_custom_reward_fn`, the loader verl's reward workers use, and
    check that the judge's endpoint reaches it as keyword arguments it accepts."""
    from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
    from verl.utils.import_utils import load_extern_object

    fn_cfg = select(config, "reward.custom_reward_function") or {}
    path, name = fn_cfg.get("path"), fn_cfg.get("name")
    kwargs = dict(fn_cfg.get("reward_kwargs") or {})
    summary["reward"] = f"{path}:{name}"
    problems = []
    try:
        with quiet():
            resolve_reward_manager_cls(config)
    except Exception as exc:
        problems.append(f"reward: reward.reward_manager: {first_line(exc)}")
    if (path, name) != (REWARD_PATH, REWARD_NAME):
        problems.append(f"recipe: reward.custom_reward_function is {path}:{name}, expected the LLM judge "
                        f"{REWARD_PATH}:{REWARD_NAME} (binary reward, DESIGN.md §1)")
    missing = [key for key in REWARD_KWARGS if not kwargs.get(key)]
    if missing:
        problems.append("recipe: reward.custom_reward_function.reward_kwargs lacks "
                        + ", ".join(missing) + " (add them with '+reward.custom_reward_function.reward_kwargs.<key>=')")
    if not path:
        return problems
    try:
        with quiet():
            if get_custom_reward_fn(config) is None:
                return problems + ["reward: get_custom_reward_fn returned nothing"]
            raw = load_extern_object(module_path=path, object_name=name)
    except Exception as exc:
        return problems + [f"reward: cannot load {path}:{name}: {first_line(exc)}"]
    return problems + signature_problems(raw, kwargs)


def signature_problems(fn, kwargs: dict) -> list[str]:
    """verl calls fn(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    wanted = ["data_source", "solution_str", "ground_truth", "extra_info", *kwargs]
    missing = [key for key in wanted if key not in params]
    return [f"reward: {fn.__module__}.{fn.__name__} does not accept {', '.join(missing)}"] if missing else []

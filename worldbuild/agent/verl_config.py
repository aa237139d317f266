"""Check a verl recipe before any GPU is spent on it.

`recipes/run_rl_4b.sh` builds its `python -m verl.trainer.main_ppo` overrides once; this module
composes them exactly as `main_ppo --cfg job` would (Hydra compose against the installed verl),
runs verl's own validation, loads the tool classes and the reward function the way verl's workers
will, and checks the invariants of the paper's recipe (DESIGN.md §1): GRPO, strictly on-policy,
no KL, no entropy bonus, 128 prompts x 8 rollouts, lr 1e-6, async vLLM multi-turn rollouts with
the tool agent loop, and a response budget of 32K growing by 16K per curriculum stage.

    python -m worldbuild.agent.verl_config --stage 1 [--print-config] -- key=value ...
    python -m worldbuild.agent.verl_config --stage 1 -- ... --stage 2 -- ...   (one import, many stages)
    python -m worldbuild.agent.verl_config --sft -- key=value ...

Exit status 0 when every stage is clean, 1 with one line per problem otherwise, 2 on bad usage.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

PPO_CONFIG = "ppo_trainer"
SFT_CONFIG = "sft_trainer_engine"
CONFIG_MODULE = "verl.trainer.config"

REWARD_PATH = "pkg://worldbuild.agent.reward"
REWARD_NAME = "compute_score"
REWARD_KWARGS = ("judge_base_url", "judge_model")
TOOL_NAMES = ("search", "browse")
AGENT_LOOP = "tool_agent"


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


@dataclass
class Report:
    """What one composed config looks like and what is wrong with it."""

    label: str
    problems: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: Any = None


# --------------------------------------------------------------------------------------------
# composition


def compose(config_name: str, overrides: Sequence[str]):
    """Compose a verl config the way its `@hydra.main` entry point would, so unknown keys and
    bad values fail here (Hydra rejects keys the schema lacks unless they carry a `+`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def compose_problem(exc: Exception) -> str:
    """One readable line for a Hydra composition failure (its messages span several lines)."""
    text = " ".join(str(exc).split())
    hint = ""
    if "not in struct" in text or "Could not override" in text or "Key '" in text:
        hint = " (a key verl does not define: check its spelling, or prefix a new key with '+')"
    return f"compose: {text}{hint}"


def resolved(config):
    """A resolved deep copy, as verl's TaskRunner resolves the config before building dataclasses."""
    from omegaconf import OmegaConf

    cfg = copy.deepcopy(config)
    OmegaConf.resolve(cfg)
    return cfg


@contextlib.contextmanager
def quiet():
    """verl prints banners and warnings while validating; keep our one-line-per-problem output."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"


# --------------------------------------------------------------------------------------------
# verl's own checks


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


# --------------------------------------------------------------------------------------------
# the paper's recipe


def select(config, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(config, key, default=default)


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


# --------------------------------------------------------------------------------------------
# SFT cold start


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


# --------------------------------------------------------------------------------------------
# command line


USAGE = ("usage: python -m worldbuild.agent.verl_config (--stage N [--print-config] | --sft) -- OVERRIDES... "
         "[--stage M -- ...]")


@dataclass
class Job:
    stage: Optional[int] = None
    sft: bool = False
    print_config: bool = False
    overrides: list[str] = field(default_factory=list)


def parse(argv: Sequence[str]) -> tuple[list[Job], Recipe]:
    """Split `--stage N [opts] -- overrides...` groups; a new `--stage`/`--sft` starts the next
    group, which no Hydra override can be mistaken for (they never begin with `--`)."""
    jobs: list[Job] = []
    numbers: dict[str, Any] = {}
    fields = {"--train-batch-size": ("train_batch_size", int), "--rollout-n": ("rollout_n", int),
              "--lr": ("lr", float), "--first-length": ("first_length", int), "--length-step": ("length_step", int)}
    args = list(argv)
    in_overrides = False
    while args:
        arg = args.pop(0)
        if arg in ("--stage", "--sft"):
            job = Job(sft=arg == "--sft")
            if arg == "--stage":
                job.stage = int(args.pop(0))
                if job.stage < 1:
                    raise ValueError("--stage counts from 1")
            jobs.append(job)
            in_overrides = False
        elif in_overrides:
            jobs[-1].overrides.append(arg)
        elif arg == "--":
            if not jobs:
                raise ValueError("give --stage N or --sft before --")
            in_overrides = True
        elif arg == "--print-config" and jobs:
            jobs[-1].print_config = True
        elif arg in fields:
            name, kind = fields[arg]
            numbers[name] = kind(args.pop(0))
        else:
            raise ValueError(f"unexpected argument {arg!r}")
    if not jobs:
        raise ValueError("nothing to check: give --stage N or --sft")
    return jobs, Recipe(**numbers)


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"]) or not argv:
        print(__doc__.strip())
        return 0 if argv else 2
    try:
        jobs, recipe = parse(argv)
    except (ValueError, IndexError) as exc:
        print(f"usage error: {exc}\n{USAGE}", file=sys.stderr)
        return 2
    failed = False
    for job in jobs:
        report = check_sft(job.overrides) if job.sft else check_ppo(job.overrides, job.stage, recipe)
        if job.print_config and report.config is not None:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(report.config))
        for problem in report.problems:
            print(f"{report.label}: {problem}", file=sys.stderr)
        if report.problems:
            failed = True
        else:
            print(describe(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m worldbuild.agent.verl_config`: check one or more stages (one verl import for all).

    python -m worldbuild.agent.verl_config --stage 1 [--print-config] -- key=value ...
    python -m worldbuild.agent.verl_config --stage 1 -- ... --stage 2 -- ...   (one import, many stages)
    python -m worldbuild.agent.verl_config --sft -- key=value ...

Exit status 0 when every stage is clean, 1 with one line per problem otherwise, 2 on bad usage."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

from worldbuild.agent.verl_recipe.recipe_rules import Recipe

PROG = "python -m worldbuild.agent.verl_config"
STARTS = ("--stage", "--sft")  # each starts a job; no Hydra override begins with `--`
RECIPE_OPTIONS = ("train_batch_size", "rollout_n", "lr", "first_length", "length_step")


@dataclass
class Job:
    stage: Optional[int] = None
    sft: bool = False
    print_config: bool = False
    overrides: list[str] = field(default_factory=list)


def _stage_number(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("--stage counts from 1")
    return number


def parser() -> argparse.ArgumentParser:
    """The options of one job (before its `--`); the recipe's numbers may come with any of them."""
    made = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=f"{PROG} [RECIPE NUMBERS] (--stage N [--print-config] | --sft) -- OVERRIDES... [--stage M -- ...]",
        description="Compose each stage's verl config as main_ppo (or sft_trainer) would, run verl's own checks, "
                    "load the tools and the reward as verl's workers will, and check the paper's recipe.",
        epilog=__doc__.split("\n\n", 1)[1])
    job = made.add_mutually_exclusive_group()
    job.add_argument("--stage", type=_stage_number, metavar="N", help="A main_ppo curriculum stage (from 1)")
    job.add_argument("--sft", action="store_true", help="The SFT cold start (verl.trainer.sft_trainer)")
    made.add_argument("--print-config", action="store_true", help="Print the composed config as YAML")
    numbers = made.add_argument_group("recipe numbers (a declared deviation, e.g. a smoke run)")
    numbers.add_argument("--train-batch-size", type=int, help=f"Prompts per step [{Recipe.train_batch_size}]")
    numbers.add_argument("--rollout-n", type=int, help=f"Rollouts per prompt [{Recipe.rollout_n}]")
    numbers.add_argument("--lr", type=float, help=f"Actor learning rate [{Recipe.lr:g}]")
    numbers.add_argument("--first-length", type=int, help=f"Stage 1's response length [{Recipe.first_length}]")
    numbers.add_argument("--length-step", type=int, help=f"Added per later stage [{Recipe.length_step}]")
    return made


def _groups(argv: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """Split argv into (options, overrides) groups: a group's overrides follow its `--` and run
    until the next `--stage`/`--sft`."""
    groups: list[tuple[list[str], list[str]]] = [([], [])]
    in_overrides = False
    for arg in argv:
        if arg in STARTS and (in_overrides or any(a in STARTS for a in groups[-1][0])):
            groups.append(([], []))
            in_overrides = False
        if in_overrides:
            groups[-1][1].append(arg)
        elif arg == "--":
            in_overrides = True
        else:
            groups[-1][0].append(arg)
    return groups


def parse(argv: Sequence[str]) -> tuple[list[Job], Recipe]:
    """The jobs in order and the recipe numbers (given anywhere; a later value wins). Bad usage
    exits with status 2 and argparse's message."""
    made, jobs, numbers = parser(), [], {}
    for options, overrides in _groups(argv):
        args = made.parse_args(options)
        numbers.update({name: getattr(args, name) for name in RECIPE_OPTIONS if getattr(args, name) is not None})
        if args.stage is None and not args.sft:
            if overrides or args.print_config:
                made.error("give --stage N or --sft before --print-config and --")
            continue
        jobs.append(Job(stage=args.stage, sft=args.sft, print_config=args.print_config, overrides=overrides))
    if not jobs:
        made.error("nothing to check: give --stage N or --sft")
    return jobs, Recipe(**numbers)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from worldbuild.agent.verl_recipe.stages import check_ppo, check_sft, describe

    try:
        jobs, recipe = parse(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2), already printed
        return int(exc.code or 0)
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

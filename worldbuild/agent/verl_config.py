"""Check a verl recipe before any GPU is spent on it: `recipes/run_rl_4b.sh` and
`recipes/run_sft_4b.sh` run `python -m worldbuild.agent.verl_config` (see
`worldbuild.agent.verl_recipe.cli` for its usage). The work lives in `worldbuild.agent.verl_recipe`;
this module keeps the entry point and the names callers import."""

from __future__ import annotations

import sys

from worldbuild.agent.verl_recipe.checks import (AGENT_LOOP, REWARD_KWARGS, REWARD_NAME, REWARD_PATH, TOOL_NAMES,
                                                 agent_loop_problems, reward_problems, signature_problems,
                                                 tool_problems, verl_problems)
from worldbuild.agent.verl_recipe.cli import Job, main, parse
from worldbuild.agent.verl_recipe.compose import (CONFIG_MODULE, PPO_CONFIG, SFT_CONFIG, compose, compose_problem,
                                                  select)
from worldbuild.agent.verl_recipe.recipe_rules import Recipe, budget_problems, ppo_summary, recipe_problems
from worldbuild.agent.verl_recipe.stages import Report, check_ppo, check_sft, describe

__all__ = ["AGENT_LOOP", "CONFIG_MODULE", "Job", "PPO_CONFIG", "REWARD_KWARGS", "REWARD_NAME", "REWARD_PATH",
           "Recipe", "Report", "SFT_CONFIG", "TOOL_NAMES", "agent_loop_problems", "budget_problems", "check_ppo",
           "check_sft", "compose", "compose_problem", "describe", "main", "parse", "ppo_summary", "recipe_problems",
           "reward_problems", "select", "signature_problems", "tool_problems", "verl_problems"]

if __name__ == "__main__":
    sys.exit(main())

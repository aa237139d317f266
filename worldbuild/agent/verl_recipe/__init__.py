"""Check a verl recipe before any GPU is spent on it, one job per module: `compose` (Hydra
composition against the installed verl), `checks` (verl's own validation and loaders), `recipe_rules`
(the paper's numbers, DESIGN.md §1), `stages` (one report per stage or SFT run) and `cli` (the
`python -m worldbuild.agent.verl_config` entry)."""

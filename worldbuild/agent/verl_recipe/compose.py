"""Compose a verl config exactly as its `@hydra.main` entry point would, and the small helpers
every check shares (select a key, resolve a copy, silence verl's banners, one-line errors)."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from typing import Any, Sequence

PPO_CONFIG = "ppo_trainer"
SFT_CONFIG = "sft_trainer_engine"
CONFIG_MODULE = "verl.trainer.config"


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


def select(config, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(config, key, default=default)

"""Argument types and flags that several parsers share (`rlcv train`, `rlcv config`, the benches)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rlcv.config import numbers_as_numbers
from rlcv.errors import RlcvError


def parse_env_kwargs(text: str) -> dict[str, Any]:
    """``--env-kwargs``: a JSON or YAML mapping (JSON is YAML, and `{state_dim: 4}` is friendlier to type)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RlcvError(f"--env-kwargs must be a JSON/YAML mapping, got {text!r}.") from exc
    if not isinstance(value, dict):
        raise RlcvError(f"--env-kwargs must be a JSON/YAML mapping like '{{\"horizon\": 30}}', got {text!r}.")
    value = numbers_as_numbers(value)
    for key, item in value.items():
        # JSON's NaN / Infinity (YAML reads them as strings; .nan / .inf as floats): never a setting
        if (isinstance(item, float) and not math.isfinite(item)) or item in ("NaN", "Infinity", "-Infinity"):
            raise RlcvError(f"--env-kwargs {key}={item} is not a finite number; give a finite value.")
    return value


def add_overrides_argument(parser: argparse.ArgumentParser, *, help: str, metavar: str = "KEY=VALUE") -> None:
    """``--set KEY=VALUE ...`` (repeatable), collected into ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", nargs="+", action="extend", default=[], metavar=metavar, help=help
    )


class _OldSpelling(argparse.Action):
    """A flag's old spelling: stores into the new flag's destination, with one deprecation line."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        from rlcv.legacy import deprecated

        deprecated(f"{option} is now {self.new}; use that spelling.")
        setattr(namespace, self.dest, values)


def add_renamed_flag(parser: argparse.ArgumentParser, new: str, old: str, **kwargs: Any) -> None:
    """``parser.add_argument(new, **kwargs)`` plus ``old``, the flag's former spelling, which still
    works (same type and choices, one deprecation line) and is left out of ``--help``."""
    action = parser.add_argument(new, **kwargs)
    same = {k: v for k, v in kwargs.items() if k in ("type", "choices", "nargs")}
    parser.add_argument(
        old,
        dest=action.dest,
        action=_OldSpelling,
        new=new,
        default=argparse.SUPPRESS,  # the new flag's default stands unless the old one is given
        help=argparse.SUPPRESS,
        **same,
    )


def add_train_arguments(train: argparse.ArgumentParser, *, algo_help: str = "") -> None:
    """`rlcv train`'s flags (also read by the bench runner, which resolves a run's config from its
    train arguments without importing the CLI)."""
    train.add_argument("--algo", help=algo_help)
    train.add_argument("--env", help="Gymnasium env id, e.g. HalfCheetah-v5 or rlcv/LQR-v0")
    train.add_argument("--steps", "-n", type=int, help="total env steps")
    train.add_argument("--seed", type=int, help="in [0, 2**32); default 0")
    train.add_argument("--config", dest="config_file", help="YAML file of config overrides")
    add_overrides_argument(train, help="override config keys, e.g. --set learning_rate=1e-4 n_steps=1024")
    train.add_argument("--run-dir", help="output folder (default: runs/ALGO_ENV_N, the next free N)")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its last checkpoint (accepts --steps, --from and --set of the keys "
        "each config class declares resumable: learning_rate, clip_range, ... (`rlcv config` lists them))",
    )
    train.add_argument(
        "--from",
        dest="from_checkpoint",
        metavar="step_N.pt",
        help="with --resume: start from this file of RUN_DIR/checkpoints/ instead of last.pt",
    )
    train.add_argument("--n-envs", type=int, help="parallel envs (config key n_envs)")
    train.add_argument("--eval-freq", type=int, help="env steps between evaluations (config key eval_freq)")
    train.add_argument("--eval-episodes", type=int, help="episodes per evaluation")
    train.add_argument("--num-threads", type=int, help="torch threads")
    train.add_argument("--env-kwargs", help="JSON/YAML mapping passed to gym.make")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """`rlcv train`'s config overrides: --set pairs, then the flags that are config keys."""
    from rlcv.config import parse_overrides

    overrides = parse_overrides(args.overrides)
    for key in ("n_envs", "eval_freq", "eval_episodes", "num_threads"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    return overrides

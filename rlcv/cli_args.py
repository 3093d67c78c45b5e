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

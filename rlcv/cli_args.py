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

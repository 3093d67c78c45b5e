"""The resolved config a bench run is made with, so that a finished run counts only while the presets
still give it the config it was made with.

Comparing train arguments alone misses a preset edit: ``rlcv train --algo mbmf-ppo ...`` made with a
5-member model ensemble has the same arguments after the preset moves to 2 members. Summaries record
the run's resolved config (config.yaml's); :func:`runs.triage` compares it with what the arguments
resolve to now. Summaries from before this record are trusted on their arguments alone.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir


def normalised(config: dict[str, Any]) -> dict[str, Any]:
    """JSON's view of a config (tuples as lists), so a YAML round trip compares equal."""
    value: dict[str, Any] = json.loads(json.dumps(config))
    return value


def planned_config(train_args: list[str]) -> dict[str, Any] | None:
    """What ``rlcv train ARGS`` would resolve its config to now; None if ARGS do not start a new run
    (a resume) or do not resolve (the run itself will then say why)."""
    import argparse

    from rlcv.cli_args import add_train_arguments, parse_env_kwargs, train_overrides
    from rlcv.launch import resolve

    if train_args[:1] != ["train"]:
        return None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_train_arguments(parser)
    try:
        args, _ = parser.parse_known_args(train_args[1:])
    except (argparse.ArgumentError, SystemExit):  # e.g. --seed x: the run itself will say so
        return None
    if args.resume or not (args.algo and args.env):
        return None
    try:
        overrides = train_overrides(args)
        if args.env_kwargs is not None:
            overrides["env_kwargs"] = parse_env_kwargs(args.env_kwargs)
        _, config = resolve(args.algo, args.env, args.config_file, overrides)
    except RlcvError:
        return None
    return normalised(dataclasses.asdict(config))


def differs(made: dict[str, Any], planned: dict[str, Any] | None) -> bool:
    """Whether a key both configs hold has another value (nested settings compared key by key). Keys
    only one side holds are ignored: a key added since, with a default that keeps old runs' behaviour,
    must not void every finished run. ``planned`` None (cannot resolve now): not a difference."""
    if planned is None:
        return False
    for key in made.keys() & planned.keys():
        old, new = made[key], planned[key]
        if isinstance(old, dict) and isinstance(new, dict):
            if differs(old, new):
                return True
        elif old != new:
            return True
    return False


def run_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a finished run recorded in its config.yaml (None if unreadable)."""
    try:
        config = RunDir(run_dir).read_meta().get("config")
    except (RlcvError, OSError):
        return None
    return normalised(config) if isinstance(config, dict) else None

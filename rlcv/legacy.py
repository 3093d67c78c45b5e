"""Old spellings that still work, rewritten to the current ones in one place.

Where a user typed the old spelling (``rlcv train`` / ``rlcv config`` arguments, a ``--config`` file,
the Python API) it is rewritten with one ``rlcv: deprecated: ...`` line on stderr. A run folder
written by an older version is read in the current spelling silently (:func:`upgrade_meta`; its
config.yaml is left as written), so it still resumes and evaluates.

Spellings kept:
- ``--algo ppo --set oracle_ratio=R``: the oracle experiment was a branch inside PPO; it is the
  ``ppo-oracle`` agent now (:mod:`rlcv.agents.ppo_oracle`), whose key is still ``oracle_ratio``. Every
  PPO-config run of that time (ppo, mbmf-ppo, sb3-ppo) stored ``oracle_ratio: 1``.
- ``rlcv bench sharpness / dualcutout --model``: now ``--network`` (:func:`rlcv.cli_args.add_renamed_flag`).
- ``rlcv/OnlineHPO-v0``'s ``model`` (env kwarg and meta_tasks key): now ``network`` (envs/online_hpo.py).
"""

from __future__ import annotations

import sys
from typing import Any

from rlcv.errors import RlcvError

ORACLE_KEY, ORACLE_ALGO = "oracle_ratio", "ppo-oracle"


_SAID: set[str] = set()  # messages given with once=True in this process


def deprecated(message: str, *, once: bool = False) -> None:
    """The one line an old spelling costs (stderr, so a command's output stays parseable); ``once``:
    only the first time in this process (an env built once per vector-env member and evaluation)."""
    if once and message in _SAID:
        return
    _SAID.add(message)
    print(f"rlcv: deprecated: {message}", file=sys.stderr)


def upgrade_request(algo: str, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``algo`` and the user's config values (``--config`` file and ``--set`` merged) in the current
    spelling, with a deprecation line for each old spelling; other algorithms' oracle keys are errors."""
    if ORACLE_KEY not in values or algo == ORACLE_ALGO:
        return algo, values
    ratio = values[ORACLE_KEY]
    if algo == "ppo":
        deprecated(
            f"--algo ppo --set {ORACLE_KEY}={ratio} is now --algo {ORACLE_ALGO} --set {ORACLE_KEY}={ratio} "
            "(the same training); use that spelling."
        )
        return ORACLE_ALGO, values
    if ratio == 1:  # "no extra samples" was a key of every PPO config; it means nothing elsewhere
        deprecated(f"{ORACLE_KEY}=1 is no key of --algo {algo} (it had no effect); drop it.")
        return algo, {k: v for k, v in values.items() if k != ORACLE_KEY}
    raise RlcvError(
        f"--algo {algo} has no oracle samples ({ORACLE_KEY}); use --algo {ORACLE_ALGO} --set "
        f"{ORACLE_KEY}={ratio} (PPO with the plain GAE estimator)."
    )


def upgrade_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A run's config.yaml content in the current spelling (a new dict; nothing is printed)."""
    config = meta.get("config")
    if not isinstance(config, dict):
        return meta
    algo, config = _oracle_meta(str(meta.get("algo")), config)
    if meta.get("env") == "rlcv/OnlineHPO-v0" and isinstance(config.get("env_kwargs"), dict):
        config = {**config, "env_kwargs": _network_key(config["env_kwargs"])}
    return {**meta, "algo": algo, "config": config}


def _oracle_meta(algo: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if ORACLE_KEY not in config or algo == ORACLE_ALGO:
        return algo, config
    if algo == "ppo" and config[ORACLE_KEY] != 1:
        return ORACLE_ALGO, config
    if config[ORACLE_KEY] == 1:
        return algo, {k: v for k, v in config.items() if k != ORACLE_KEY}
    return algo, config


def _network_key(kwargs: dict[str, Any]) -> dict[str, Any]:
    """OnlineHPO's kwargs with ``network`` for the inner-task network's old key ``model``."""

    def renamed(d: dict[str, Any]) -> dict[str, Any]:
        return {("network" if k == "model" else k): v for k, v in d.items()}

    out = renamed(kwargs)
    if isinstance(out.get("meta_tasks"), list):
        out["meta_tasks"] = [renamed(t) if isinstance(t, dict) else t for t in out["meta_tasks"]]
    return out


def upgrade_train_args(args: list[str]) -> list[str]:
    """``rlcv train`` arguments in the current spelling, so a bench that compares a finished run's
    recorded arguments with the ones it would pass now sees an old spelling of the same run as equal."""
    try:
        at = args.index("--algo") + 1
    except ValueError:
        return args
    sets = args[args.index("--set") + 1 :] if "--set" in args else []
    if at < len(args) and args[at] == "ppo" and any(a.startswith(f"{ORACLE_KEY}=") for a in sets):
        return [*args[:at], ORACLE_ALGO, *args[at + 1 :]]
    return args

"""`rlcv train`, `rlcv train --resume` and `rlcv eval`: the layer above the two training backends.

It validates the request, resolves the config, owns the order of effects on the run directory
(nothing is written until everything that can fail on bad input has run), and dispatches to the
native loop (:mod:`rlcv.loop`) or the Stable-Baselines3 backend (:mod:`rlcv.sb3_backend`). The
backends import neither this module nor each other, so there is no import cycle; each offers
``config_class(algo)``, ``new_trainer(...)`` and ``resume_trainer(run, meta)``, and its trainer
``.step`` and ``.train(run, total_steps=..., progress=..., resume_step=...)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from rlcv.agents import AGENTS, SB3_ALGOS
from rlcv.config import build_config, load_yaml, preset
from rlcv.env_factory import check_env_id
from rlcv.errors import RlcvError, did_you_mean
from rlcv.run_dir import RunDir, default_run_dir, new_meta


@dataclass(kw_only=True)
class TrainRequest:
    """Everything `rlcv train` was asked for; CLI flags like --n-envs arrive inside ``overrides``."""

    algo: str
    env: str
    steps: int
    seed: int = 0
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    progress: bool = True
    command: list[str] | None = None  # the CLI arguments, recorded in command.txt


def _backend(algo: str) -> ModuleType:
    """The backend module of ``algo``, imported on first use (SB3 is slow to import)."""
    if algo in SB3_ALGOS:
        from rlcv import sb3_backend

        return sb3_backend
    from rlcv import loop

    return loop


def check_algo(algo: str) -> None:
    known = [*AGENTS, *SB3_ALGOS]
    if algo not in known:
        raise RlcvError(f"unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}.")


def resolve_config(algo: str, env: str, config_file: str | None, overrides: dict[str, Any]) -> Any:
    """defaults < preset `default` < preset env block < --config FILE < --set (SB3 algorithms read the
    preset of the rlcv agent they mirror, see config.PRESET_BASE)."""
    values = preset(algo, env)
    if config_file:
        values.update(load_yaml(config_file))
    values.update(overrides)
    return build_config(_backend(algo).config_class(algo), values)


def train(request: TrainRequest) -> Path:
    """Start a new run; returns its directory."""
    check_algo(request.algo)
    if request.steps < 1:
        raise RlcvError(f"--steps must be >= 1, got {request.steps}.")
    check_env_id(request.env)
    config = resolve_config(request.algo, request.env, request.config_file, request.overrides)
    run = RunDir(request.run_dir or default_run_dir(request.algo, request.env, request.seed))
    run.check_new()
    trainer = _backend(request.algo).new_trainer(
        algo=request.algo, env_id=request.env, config=config, seed=request.seed
    )
    # Everything that can fail on bad input (env id, kwargs, action space) has run: now create files.
    meta = new_meta(
        algo=request.algo,
        env=request.env,
        steps=request.steps,
        seed=request.seed,
        config=dataclasses.asdict(config),
    )
    run.create(meta, request.command)
    trainer.train(run, total_steps=request.steps, progress=request.progress)
    return run.path


def resume(
    run_dir: str | Path, *, steps: int | None = None, progress: bool = True, command: list[str] | None = None
) -> Path:
    """Continue a run from ``checkpoints/last.pt``, optionally to a new ``steps`` target."""
    run = RunDir(run_dir)
    meta = run.read_meta()
    check_algo(meta["algo"])
    trainer = _backend(meta["algo"]).resume_trainer(run, meta)
    run.set_total_steps(meta, steps)
    run.log_command(command)
    trainer.train(run, total_steps=int(meta["steps"]), progress=progress, resume_step=trainer.step)
    return run.path


def evaluate_run(
    run_dir: str | Path,
    *,
    episodes: int,
    seed: int = 0,
    video_dir: str | None = None,
    grid_path: str | None = None,
) -> dict[str, Any]:
    """`rlcv eval`: deterministic evaluation of a run's final policy (else its last checkpoint)."""
    run = RunDir(run_dir)
    meta = run.read_meta()
    if episodes < 1:
        raise RlcvError(f"--episodes must be >= 1, got {episodes}.")
    if meta["algo"] in SB3_ALGOS:
        from rlcv import sb3_backend

        return sb3_backend.evaluate_run(run, meta, episodes=episodes, seed=seed, video_dir=video_dir)
    from rlcv import evaluation

    return evaluation.evaluate_run(
        run, episodes=episodes, seed=seed, video_dir=video_dir, grid_path=grid_path
    )

"""The Python API: ``rlcv.Agent`` and ``rlcv.load``, shaped like Stable-Baselines3's.

::

    agent = rlcv.Agent("mbmf-ppo", "InvertedPendulum-v5", seed=1, k=5)   # = rlcv train ... --set k=5
    agent.learn(30_000)                                                  # writes a run directory
    action, _ = agent.predict(obs, deterministic=True)
    agent = rlcv.load("runs/mbmf-ppo_InvertedPendulum-v5_1")           # any run `rlcv train` wrote

A thin layer over the CLI's own code, not a second training path: the config is resolved by
:func:`rlcv.launch.resolve_config` (keyword overrides are checked exactly like ``--set``), ``learn``
calls :func:`rlcv.launch.train` and then :func:`rlcv.launch.resume` (so the run directory, its
metrics and checkpoints are those of ``rlcv train`` / ``rlcv train --resume`` with the same
arguments), and ``predict`` / ``evaluate`` use the policy that ``rlcv eval`` loads
(:func:`rlcv.launch.load_policy`). SB3 backends (``sb3-ppo``, ``sb3-trpo``) go through the same
functions. The class holds no training state of its own: everything is in its run directory, so an
agent can be dropped and reopened with :func:`load` at any time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from rlcv import launch
from rlcv.env_factory import check_env_id
from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir, default_run_dir

# Files of a run directory that ``load`` also accepts in place of the directory (SB3 users pass
# the model file to ``PPO.load``).
_RUN_FILES = ("policy.pt", "model.pt", "model.zip", "config.yaml")


class Agent:
    """An rlcv run, driven from Python.

    ``Agent(algo, env, *, seed=0, run_dir=None, config_file=None, **overrides)`` resolves the config
    (defaults < preset < ``config_file`` < ``overrides``, as ``rlcv train --config FILE --set
    KEY=VALUE``) and checks it; nothing is written until :meth:`learn`. ``run_dir`` defaults to the
    CLI's ``runs/ALGO_ENV_N``, chosen when ``learn`` starts the run.
    """

    algo: str
    env_id: str
    seed: int
    config: dict[str, Any]  # the resolved config, as config.yaml holds it
    run_dir: Path | None  # None until the first learn() (or for an agent opened by load: its run)

    def __init__(
        self,
        algo: str,
        env: str,
        *,
        seed: int = 0,
        run_dir: str | os.PathLike[str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        **overrides: Any,
    ) -> None:
        launch.check_algo(algo)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise RlcvError(f"seed must be an int in [0, 2**32), got {seed!r}.")
        launch.check_seed(seed)
        check_env_id(env)
        config_text = None if config_file is None else str(config_file)
        algo, config = launch.resolve(algo, env, config_text, overrides)  # an old spelling: the new algo
        if run_dir is not None:
            _check_new(Path(run_dir))
        self.algo, self.env_id, self.seed = algo, env, seed
        self.config = dataclasses.asdict(config)
        self.run_dir = None
        self._config_file = config_text
        self._overrides = dict(overrides)
        self._wanted_dir = None if run_dir is None else Path(run_dir)
        self._loaded: tuple[Any, Any] | None = None  # (policy, normaliser), read on first predict

    # -- opening a run ----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Agent:
        """Open a run directory made by ``rlcv train`` or by :meth:`learn` (or a file in it, such as
        ``policy.pt`` or SB3's ``model.zip``). Its policy is read now, so a damaged run fails here."""
        folder = Path(path)
        if folder.is_file() and folder.name in _RUN_FILES:
            folder = folder.parent
        meta, policy, normalizer = launch.load_policy(folder)
        agent = cls.__new__(cls)
        agent.algo, agent.env_id, agent.seed = meta["algo"], meta["env"], meta["seed"]
        agent.config = meta["config"]
        agent.run_dir = folder.absolute()
        agent._config_file, agent._overrides, agent._wanted_dir = None, {}, None
        agent._loaded = (policy, normalizer)
        return agent

    # -- training ---------------------------------------------------------------------------------
    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far (summed over parallel envs; SB3's name)."""
        return 0 if self.run_dir is None else RunDir(self.run_dir).last_step()

    def learn(self, total_timesteps: int, *, progress_bar: bool = False) -> Agent:
        """Train ``total_timesteps`` more env steps; returns the agent (as SB3's ``learn``).

        The first call is ``rlcv train --algo ALGO --env ENV --steps N --seed S --set ...``; each
        later call is ``rlcv train --resume RUN_DIR --steps M`` with M = :attr:`num_timesteps` + N
        (config.yaml's ``steps`` becomes M). An update is ``n_steps * n_envs`` env steps, and a run
        stops at the first update that reaches its target, as the CLI's does.
        """
        if not isinstance(total_timesteps, int) or isinstance(total_timesteps, bool) or total_timesteps < 1:
            raise RlcvError(f"learn() needs a number of env steps >= 1, got {total_timesteps!r}.")
        if self.run_dir is None:
            self._start(total_timesteps, progress_bar)
        else:
            target = self.num_timesteps + total_timesteps
            launch.resume(
                launch.ResumeRequest(
                    run_dir=self.run_dir,
                    steps=target,
                    progress=progress_bar,
                    command=["train", "--resume", str(self.run_dir), "--steps", str(target)],
                )
            )
        self._loaded = None
        return self

    def _start(self, steps: int, progress: bool) -> None:
        path = self._wanted_dir or default_run_dir(self.algo, self.env_id)
        request = launch.TrainRequest(
            algo=self.algo,
            env=self.env_id,
            steps=steps,
            seed=self.seed,
            config_file=self._config_file,
            overrides=self._overrides,
            run_dir=str(path),
            progress=progress,
            command=self._command(steps),
        )
        existed = path.exists()
        try:
            launch.train(request)
        except BaseException:
            if not existed and RunDir(path).checkpoint().is_file():  # stopped after the first checkpoint
                self.run_dir = path.absolute()  # learn() again resumes it
            raise
        self.run_dir = path.absolute()

    def _command(self, steps: int) -> list[str]:
        """The `rlcv train` arguments of the same run (written to command.txt, as the CLI writes its own)."""
        args = ["train", "--algo", self.algo, "--env", self.env_id]
        args += ["--steps", str(steps), "--seed", str(self.seed)]
        if self._config_file is not None:
            args += ["--config", self._config_file]
        overrides = dict(self._overrides)
        if "env_kwargs" in overrides:
            args += ["--env-kwargs", _json(overrides.pop("env_kwargs"))]
        if overrides:
            args += ["--set", *(f"{key}={_set_value(value)}" for key, value in overrides.items())]
        if self._wanted_dir is not None:
            args += ["--run-dir", str(self._wanted_dir)]
        return args

    # -- using the policy -------------------------------------------------------------------------
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """The action for one observation, or actions for a batch [N, *obs_shape]: ``(action, None)``
        as SB3's ``predict`` (``state`` and ``episode_start`` exist for its signature; rlcv policies
        have no recurrent state). Raw env observations go in (the run's saved normaliser is applied)
        and env actions come out (clipped to a Box's bounds, offset by a Discrete's start), exactly
        what `rlcv eval` feeds its env; ``deterministic=True`` is the action `rlcv eval` takes."""
        policy, normalizer = self._policy()
        obs = np.asarray(observation)
        shape = tuple(normalizer.rms.mean.shape)
        single = obs.shape == shape
        if not single and obs.shape[1:] != shape:
            raise RlcvError(
                f"observation of shape {obs.shape} does not fit {self.env_id}: expected {shape} or a batch "
                f"(N, {', '.join(map(str, shape))})."
            )
        batch = obs[None] if single else obs
        with torch.no_grad():
            x = torch.from_numpy(normalizer(batch))
            if deterministic:
                raw = policy.mode(x)
            elif hasattr(policy, "sample_action"):  # SB3's adapter
                raw = policy.sample_action(x)
            else:
                raw = policy.sample(x).action[:, 0]
        actions = np.stack([np.asarray(policy.env_action(a)) for a in raw.numpy()])
        return (actions[0] if single else actions), None

    def evaluate(self, episodes: int = 10, *, seed: int = 0, video_dir: str | None = None) -> dict[str, Any]:
        """`rlcv eval RUN_DIR --episodes N --seed S --json`: deterministic episodes of the run's policy
        (episode i reset with seed S + i); the same dict the CLI prints."""
        launch.check_seed(seed)
        result = launch.evaluate_run(self._run().path, episodes=episodes, seed=seed, video_dir=video_dir)
        return launch.eval_summary(result)

    def _policy(self) -> tuple[Any, Any]:
        if self._loaded is None:
            _, policy, normalizer = launch.load_policy(self._run().path)
            self._loaded = (policy, normalizer)
        return self._loaded

    def _run(self) -> RunDir:
        if self.run_dir is None:
            raise RlcvError(
                "this agent has no policy yet: call learn() first, or open a run with rlcv.load(PATH)."
            )
        return RunDir(self.run_dir)

    # -- saving -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Copy the run directory to ``path`` (a new folder; an existing one is never overwritten),
        which `rlcv eval PATH`, `rlcv train --resume PATH` and :func:`load` accept. The agent goes on
        with its own run directory; saving to it is a no-op. Returns ``path``."""
        source = self._run().path
        target = Path(path)
        if target.absolute() == source or (target.exists() and target.resolve() == source.resolve()):
            return target
        if source.resolve() in target.absolute().resolve().parents:
            raise RlcvError(
                f"cannot save the run into itself ('{target}' is inside '{source}'); choose another path."
            )
        _check_new(target)
        staging = target.parent / f".{target.name}.saving"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging, ignore=shutil.ignore_patterns("*.tmp"), symlinks=True)
            if target.is_dir():  # an empty folder made for it: rename() needs it gone
                target.rmdir()
            os.rename(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise RlcvError(
                f"cannot save the run to '{target}' ({exc.strerror or exc}); choose another path."
            ) from exc
        return target

    def __repr__(self) -> str:
        where = "not started" if self.run_dir is None else f"run_dir='{self.run_dir}'"
        return (
            f"Agent({self.algo!r}, {self.env_id!r}, seed={self.seed}, {where}, "
            f"num_timesteps={self.num_timesteps})"
        )


def load(path: str | os.PathLike[str]) -> Agent:
    """Open a run directory made by ``rlcv train`` or :meth:`Agent.learn`; see :meth:`Agent.load`."""
    return Agent.load(path)


def _check_new(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RlcvError(
            f"'{path}' already exists; open a run there with rlcv.load('{path}') (learn() continues it), "
            "or choose another path."
        )


def _set_value(value: Any) -> str:
    """``value`` as ``--set KEY=VALUE`` text that reads back as the same value."""
    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return _json(value)


def _json(value: Any) -> str:
    """JSON (which YAML, and so ``--set`` and ``--env-kwargs``, reads); numpy scalars as numbers."""
    return json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))

"""Stable-Baselines3 baselines (``--algo sb3-ppo`` / ``sb3-trpo``) behind rlcv's CLI and run-dir format.

A comparison is only fair when the baseline gets the same hyper-parameters and is measured the same
way, so SB3 runs reuse rlcv's config dataclasses (``PPOConfig`` / ``TRPOConfig``, same keys), the
``ppo`` / ``trpo`` presets (overlaid by ``presets/sb3-*.yaml`` if one exists), the same ``metrics.csv``
columns and the same evaluation function (:func:`rlcv.evaluation.evaluate`) as rlcv's own agents.

Run directory, where it differs from :mod:`rlcv.train`::

    checkpoints/last.pt, step_N.pt   plain torch.save: SB3's policy + optimiser state dicts
                                     (``model.get_parameters()``), VecNormalize running statistics,
                                     step / episode counters; no pickled objects
    model.zip                        SB3's own format: ``PPO.load`` / ``TRPO.load`` open it
    vecnormalize.pt                  the running statistics that go with model.zip

Rows: SB3 calls ``on_rollout_end`` *before* ``train()``, so a row (the rollout's statistics plus the
``train/*`` values of the update on that rollout) is written once the update is done, i.e. at the next
``on_rollout_start`` or at ``on_training_end``. Evaluation and checkpoints happen there too, on the
updated policy, exactly where rlcv's loop does them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from sb3_contrib import TRPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize
from tqdm import tqdm

from rlcv import checkpoint
from rlcv.agents.ppo import PPOConfig
from rlcv.agents.trpo import TRPOConfig
from rlcv.config import CommonConfig, build_config, load_yaml, preset
from rlcv.env_factory import check_env_id, make_env
from rlcv.errors import RlcvError
from rlcv.evaluation import evaluate
from rlcv.logger import COMMON_METRICS, MetricsLogger
from rlcv.normalize import ObsNormalizer, _load_rms, _rms_state
from rlcv.train import TrainRequest, _write_command, check_new_run_dir, default_run_dir, set_total_steps

CHECKPOINT_FORMAT = "rlcv-sb3-checkpoint-v1"
STATS_WINDOW = 100  # episodes behind episode_return_mean (SB3's stats_window_size, rlcv's logger)
SB3Config = PPOConfig | TRPOConfig


@dataclass(frozen=True)
class _Spec:
    base: str  # the rlcv agent whose config class (and, via config.PRESET_BASE, preset) it shares
    config_cls: type[CommonConfig]
    model_cls: type[BaseAlgorithm]
    keys: tuple[str, ...]  # config fields passed unchanged to the SB3 constructor (same names by design)
    metrics: dict[str, tuple[str, float]]  # CSV column -> (SB3 logger key, sign)


_SHARED = (
    "n_steps",
    "batch_size",
    "learning_rate",
    "gamma",
    "gae_lambda",
    "target_kl",
    "normalize_advantage",
)
_COMMON_TRAIN = {
    "value_loss": ("train/value_loss", 1.0),
    "explained_variance": ("train/explained_variance", 1.0),
}
ALGOS: dict[str, _Spec] = {
    "sb3-ppo": _Spec(
        base="ppo",
        config_cls=PPOConfig,
        model_cls=PPO,
        keys=(*_SHARED, "n_epochs", "clip_range", "ent_coef", "vf_coef", "max_grad_norm"),
        metrics={
            "policy_loss": ("train/policy_gradient_loss", 1.0),
            **_COMMON_TRAIN,
            "entropy": ("train/entropy_loss", -1.0),
            "approx_kl": ("train/approx_kl", 1.0),
            "clip_fraction": ("train/clip_fraction", 1.0),
        },
    ),
    "sb3-trpo": _Spec(
        base="trpo",
        config_cls=TRPOConfig,
        model_cls=TRPO,
        keys=(
            *_SHARED,
            "n_critic_updates",
            "cg_max_steps",
            "cg_damping",
            "line_search_shrinking_factor",
            "line_search_max_iter",
        ),
        # rlcv's TRPO reports policy_loss = −(surrogate objective) and kl = the KL of the accepted step.
        metrics={
            "policy_loss": ("train/policy_objective", -1.0),
            **_COMMON_TRAIN,
            "kl": ("train/kl_divergence_loss", 1.0),
            "step_accepted": ("train/is_line_search_success", 1.0),
        },
    ),
}


def resolve_config(algo: str, env: str, config_file: str | None, overrides: dict[str, Any]) -> SB3Config:
    """As :func:`rlcv.train.resolve_config`; ``preset`` starts from the base agent's file (PRESET_BASE)."""
    spec = ALGOS[algo]
    values = preset(algo, env)
    if config_file:
        values.update(load_yaml(config_file))
    values.update(overrides)
    return build_config(spec.config_cls, values)  # type: ignore[return-value]


# -- envs, model, normaliser statistics -----------------------------------------------------------------
def _monitored_env(env_id: str, env_kwargs: dict[str, Any]) -> Monitor:
    return Monitor(make_env(env_id, env_kwargs))  # Monitor fills model.ep_info_buffer with raw returns


def make_venv(env_id: str, config: CommonConfig) -> VecEnv:
    fns = [functools.partial(_monitored_env, env_id, config.env_kwargs) for _ in range(config.n_envs)]
    if config.vectorization == "async":
        make_env(env_id, config.env_kwargs).close()  # bad env_kwargs fail here, not in a dead subprocess
        venv: VecEnv = SubprocVecEnv(fns)
    else:
        venv = DummyVecEnv(fns)
    if config.normalize_obs or config.normalize_reward:
        venv = VecNormalize(
            venv,
            norm_obs=config.normalize_obs,
            norm_reward=config.normalize_reward,
            clip_obs=config.clip_obs,
            clip_reward=config.clip_reward,
            gamma=config.gamma,
        )
    return venv


def make_model(algo: str, config: SB3Config, venv: VecEnv, seed: int) -> BaseAlgorithm:
    spec = ALGOS[algo]
    policy_kwargs = {
        "net_arch": {"pi": list(config.hidden_sizes), "vf": list(config.hidden_sizes)},
        "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[config.activation],
        "ortho_init": config.ortho_init,
        "log_std_init": config.log_std_init,
    }
    kwargs = {key: getattr(config, key) for key in spec.keys}
    try:
        # CPU like rlcv's agents: small MLPs gain nothing from a GPU and timings stay comparable.
        return spec.model_cls(
            "MlpPolicy", venv, policy_kwargs=policy_kwargs, seed=seed, device="cpu", verbose=0, **kwargs
        )
    except (AssertionError, ValueError) as exc:  # SB3 validates spaces and sizes with both
        raise RlcvError(
            f"{algo} cannot run with this env/config ({_first_line(exc)}); fix the config "
            f"(--set) or choose another env."
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _build(algo: str, env_id: str, config: SB3Config, seed: int) -> tuple[VecEnv, BaseAlgorithm]:
    torch.set_num_threads(config.num_threads)
    venv = make_venv(env_id, config)
    try:
        return venv, make_model(algo, config, venv, seed)
    except BaseException:
        venv.close()
        raise


def _norm_stats(venv: VecEnv) -> dict[str, Any]:
    if not isinstance(venv, VecNormalize):
        return {}
    return {"obs_rms": _rms_state(venv.obs_rms), "ret_rms": _rms_state(venv.ret_rms)}


def _load_norm_stats(venv: VecEnv, stats: dict[str, Any]) -> None:
    if isinstance(venv, VecNormalize):
        _load_rms(venv.obs_rms, stats["obs_rms"])
        _load_rms(venv.ret_rms, stats["ret_rms"])


def _obs_normalizer(config: CommonConfig, shape: tuple[int, ...], stats: dict[str, Any]) -> ObsNormalizer:
    """Frozen copy of VecNormalize's observation statistics (same formula: clip((x − μ)/√(σ² + 1e-8)))."""
    normalizer = ObsNormalizer(shape, enabled=config.normalize_obs, clip=config.clip_obs)
    if config.normalize_obs:
        _load_rms(normalizer.rms, stats["obs_rms"])
    normalizer.training = False
    return normalizer


class _SB3Policy:
    """The two methods of :class:`rlcv.policies.Policy` that :func:`rlcv.evaluation.evaluate` calls."""

    def __init__(self, model: BaseAlgorithm) -> None:
        self.model = model

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        action, _ = self.model.predict(obs.numpy(), deterministic=True)  # clipped to the Box bounds
        return torch.as_tensor(action)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return action


# -- the training loop ------------------------------------------------------------------------------------
class _Recorder(BaseCallback):
    """Turns SB3's rollout/train cycle into rlcv rows, evaluations, checkpoints and a progress bar."""

    def __init__(
        self,
        *,
        spec: _Spec,
        env_id: str,
        config: SB3Config,
        seed: int,
        run_dir: Path,
        metrics: MetricsLogger,
        bar: tqdm,
        episodes: int,
    ) -> None:
        super().__init__()
        self.spec, self.env_id, self.config, self.seed, self.run_dir = spec, env_id, config, seed, run_dir
        self.metrics, self.bar, self.episodes = metrics, bar, episodes
        self.pending = False
        self.last_eval: float | None = None

    def _on_training_start(self) -> None:
        self.start_time, self.start_step = time.perf_counter(), self.model.num_timesteps
        self.prev_step = self.model.num_timesteps

    def _on_step(self) -> bool:
        self.episodes += sum("episode" in info for info in self.locals["infos"])
        return True

    def _on_rollout_end(self) -> None:
        self.pending = True

    def _on_rollout_start(self) -> None:
        if self.pending:
            self._update_done()

    _on_training_end = _on_rollout_start  # the last update is followed by the end, not by a rollout

    def _update_done(self) -> None:
        self.pending = False
        cfg, step, prev = self.config, self.model.num_timesteps, self.prev_step
        elapsed = time.perf_counter() - self.start_time
        episodes = self.model.ep_info_buffer or []
        row: dict[str, Any] = {
            "step": step,
            "time_elapsed": elapsed,
            "fps": (step - self.start_step) / elapsed,
            "episodes": self.episodes,
            "episode_return_mean": float(np.mean([e["r"] for e in episodes])) if episodes else None,
            "episode_length_mean": float(np.mean([e["l"] for e in episodes])) if episodes else None,
        }
        values = self.model.logger.name_to_value  # train/* of the update that just finished
        for name, (key, sign) in self.spec.metrics.items():
            if key in values:
                row[name] = sign * float(values[key])
        # Cadences count env steps (summed over envs), never callback calls.
        if cfg.eval_freq and step // cfg.eval_freq > prev // cfg.eval_freq:
            normalizer = _obs_normalizer(
                cfg, self.model.observation_space.shape, _norm_stats(self.training_env)
            )
            result = evaluate(
                _SB3Policy(self.model),
                self.env_id,  # type: ignore[arg-type]
                episodes=cfg.eval_episodes,
                obs_normalizer=normalizer,
                seed=self.seed + 10_000,
                env_kwargs=cfg.env_kwargs,
            )
            row["eval_return_mean"], row["eval_return_std"] = result["mean_return"], result["std_return"]
            self.last_eval = result["mean_return"]
        self.metrics.log(row)
        state = self.checkpoint_state()
        checkpoint.save(state, self.run_dir / "checkpoints" / "last.pt")
        if cfg.checkpoint_freq and step // cfg.checkpoint_freq > prev // cfg.checkpoint_freq:
            checkpoint.save(state, self.run_dir / "checkpoints" / f"step_{step:09d}.pt")
        self.bar.update(step - prev)
        postfix = {"fps": f"{row['fps']:.0f}"}
        if row["episode_return_mean"] is not None:
            postfix["return"] = f"{row['episode_return_mean']:.1f}"
        if self.last_eval is not None:
            postfix["eval"] = f"{self.last_eval:.1f}"
        self.bar.set_postfix(postfix)
        self.prev_step = step

    def checkpoint_state(self) -> dict[str, Any]:
        episodes = self.model.ep_info_buffer or []
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.model.num_timesteps,
            "episodes": self.episodes,
            "episode_returns": [float(e["r"]) for e in episodes],
            "episode_lengths": [float(e["l"]) for e in episodes],
            "parameters": self.model.get_parameters(),
            "vecnormalize": _norm_stats(self.training_env),
        }


def _learn(
    algo: str,
    env_id: str,
    config: SB3Config,
    seed: int,
    run_dir: Path,
    *,
    venv: VecEnv,
    model: BaseAlgorithm,
    total_steps: int,
    progress: bool,
    resume_step: int | None = None,
    episodes: int = 0,
) -> None:
    spec = ALGOS[algo]
    metrics = MetricsLogger(run_dir, (*COMMON_METRICS, *spec.metrics), resume_step=resume_step)
    bar = tqdm(
        total=total_steps,
        initial=model.num_timesteps,
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
        desc=f"{algo} {env_id}",
    )
    recorder = _Recorder(
        spec=spec,
        env_id=env_id,
        config=config,
        seed=seed,
        run_dir=run_dir,
        metrics=metrics,
        bar=bar,
        episodes=episodes,
    )
    try:
        if total_steps > model.num_timesteps:
            try:
                # reset_num_timesteps=False: SB3 then trains for (argument + num_timesteps) steps in total.
                model.learn(total_steps - model.num_timesteps, callback=recorder, reset_num_timesteps=False)
            except ValueError as exc:
                if "nan" not in str(exc).lower():
                    raise
                raise RlcvError(
                    f"{algo} diverged (NaN in the policy) at step {model.num_timesteps}; lower "
                    f"learning_rate (--set learning_rate=...) or resume from the last checkpoint "
                    f"with other settings."
                ) from exc
        # model.zip last, written whole then renamed: its presence means the run finished (bench.learn).
        checkpoint.save(_norm_stats(venv), run_dir / "vecnormalize.pt")
        model.save(run_dir / "model.tmp.zip")
        os.replace(run_dir / "model.tmp.zip", run_dir / "model.zip")
    finally:
        bar.close()
        metrics.close()
        venv.close()


# -- entry points called by rlcv.train and rlcv.eval_run -----------------------------------------------------
def train(request: TrainRequest) -> Path:
    check_env_id(request.env)
    config = resolve_config(request.algo, request.env, request.config_file, request.overrides)
    run_dir = Path(request.run_dir or default_run_dir(request.algo, request.env, request.seed))
    check_new_run_dir(run_dir)
    venv, model = _build(request.algo, request.env, config, request.seed)
    # Everything that can fail on bad input has run: now create files.
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "algo": request.algo,
        "env": request.env,
        "steps": request.steps,
        "seed": request.seed,
        "config": dataclasses.asdict(config),
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    _write_command(run_dir, "w", request.command)
    _learn(
        request.algo,
        request.env,
        config,
        request.seed,
        run_dir,
        venv=venv,
        model=model,
        total_steps=request.steps,
        progress=request.progress,
    )
    return run_dir


def resume(
    run_dir: Path,
    meta: dict[str, Any],
    *,
    progress: bool,
    steps: int | None = None,
    command: list[str] | None = None,
) -> Path:
    algo = meta["algo"]
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RlcvError(
            f"'{run_dir}/checkpoints/last.pt' is not an {algo} checkpoint; resume the run that "
            f"wrote it, or start a new run."
        )
    config = build_config(ALGOS[algo].config_cls, meta["config"])
    step = int(state["step"])
    # As in rlcv.train: fresh episodes seeded from (seed, step), so a resumed run is itself reproducible.
    venv, model = _build(algo, meta["env"], config, meta["seed"] + 7919 * (step + 1))
    try:
        model.set_parameters(state["parameters"], exact_match=True, device="cpu")
        _load_norm_stats(venv, state["vecnormalize"])
        returns, lengths = state["episode_returns"], state["episode_lengths"]
        episodes = int(state["episodes"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        venv.close()
        raise RlcvError(
            f"checkpoint does not match this run's algorithm/config ({_first_line(exc)}); resume "
            f"the run that wrote it, or start a new run."
        ) from exc
    set_total_steps(run_dir, meta, steps)
    model.num_timesteps = step
    # Kept by learn(reset_num_timesteps=False), so episode_return_mean continues where it stopped.
    model.ep_info_buffer = deque(
        ({"r": r, "l": int(n), "t": 0.0} for r, n in zip(returns, lengths, strict=True)), maxlen=STATS_WINDOW
    )
    model.ep_success_buffer = deque(maxlen=STATS_WINDOW)
    _write_command(run_dir, "a", command)
    _learn(
        algo,
        meta["env"],
        config,
        int(meta["seed"]),
        run_dir,
        venv=venv,
        model=model,
        total_steps=int(meta["steps"]),
        progress=progress,
        resume_step=step,
        episodes=episodes,
    )
    return run_dir


def evaluate_run(
    run_dir: Path, meta: dict[str, Any], *, episodes: int, seed: int, video_dir: str | None
) -> dict[str, Any]:
    """Deterministic evaluation of ``model.zip`` (else the last checkpoint), frozen normaliser statistics."""
    algo = meta["algo"]
    config = build_config(ALGOS[algo].config_cls, meta["config"])
    zip_path = run_dir / "model.zip"
    if zip_path.is_file():
        params: Any = str(zip_path)
        stats = checkpoint.load(run_dir / "vecnormalize.pt") if config.normalize_obs else {}
    else:
        state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
        params, stats = state.get("parameters"), state.get("vecnormalize", {})
    # Only the spaces matter here: one plain env, no VecNormalize (its statistics are applied by hand).
    eval_config = dataclasses.replace(
        config, n_envs=1, vectorization="sync", normalize_obs=False, normalize_reward=False
    )
    with warnings.catch_warnings():  # e.g. "batch_size does not divide n_steps * n_envs": moot here
        warnings.simplefilter("ignore")
        venv, model = _build(algo, meta["env"], eval_config, seed)
    try:
        model.set_parameters(params, exact_match=True, device="cpu")
        normalizer = _obs_normalizer(config, model.observation_space.shape, stats)
    except Exception as exc:  # ValueError, KeyError, RuntimeError, ...: a damaged or foreign file
        raise RlcvError(
            f"cannot load the model in '{run_dir}' ({type(exc).__name__}: {_first_line(exc)}); "
            f"the file is damaged or from another config: evaluate another run, or retrain."
        ) from exc
    finally:
        venv.close()
    return evaluate(
        _SB3Policy(model),
        meta["env"],  # type: ignore[arg-type]
        episodes=episodes,
        obs_normalizer=normalizer,
        seed=seed,
        env_kwargs=config.env_kwargs,
        video_dir=video_dir,
    )

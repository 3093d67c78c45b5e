"""Stable-Baselines3 baselines (``--algo sb3-ppo`` / ``sb3-trpo``) behind rlcv's CLI and run-dir format.

A comparison is only fair when the baseline gets the same hyper-parameters and is measured the same
way, so SB3 runs reuse rlcv's config dataclasses (``PPOConfig`` / ``TRPOConfig``, same keys), the
``ppo`` / ``trpo`` presets (overlaid by ``presets/sb3-*.yaml`` if one exists), the same ``metrics.csv``
columns, the same recorder (:mod:`rlcv.recorder`: rows, evaluation and checkpoint cadences, progress
bar) and the same evaluation function (:func:`rlcv.evaluation.evaluate`) as rlcv's own agents.
:mod:`rlcv.launch` dispatches ``sb3-*`` algorithms here; this module imports nothing from the native
loop. SB3's algorithm object (``PPO`` / ``TRPO`` instance) is called ``algorithm`` throughout.

Run directory (:class:`rlcv.run_dir.RunDir`), where it differs from a native run::

    checkpoints/last.pt, step_N.pt   plain torch.save: SB3's policy + optimiser state dicts
                                     (``algorithm.get_parameters()``), VecNormalize running statistics,
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
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import TRPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

from rlcv import checkpoint
from rlcv.agents.ppo import PPOConfig
from rlcv.agents.trpo import TRPOConfig
from rlcv.config import CommonConfig, build_config
from rlcv.env_factory import make_env
from rlcv.errors import RlcvError
from rlcv.evaluation import evaluate
from rlcv.finite import check_env_data, check_parameters, raised_by_a_distribution
from rlcv.normalize import ObsNormalizer, load_rms, rms_state
from rlcv.recorder import Recorder
from rlcv.run_dir import RunDir

CHECKPOINT_FORMAT = "rlcv-sb3-checkpoint-v1"
STATS_WINDOW = 100  # episodes behind episode_return_mean (SB3's stats_window_size, rlcv's logger)
SB3Config: TypeAlias = PPOConfig | TRPOConfig


@dataclass(frozen=True)
class _Spec:
    base: str  # the rlcv agent whose config class (and, via the `base:` of its preset file, preset) it shares
    config_cls: type[SB3Config]
    algorithm_cls: type[BaseAlgorithm]
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
        algorithm_cls=PPO,
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
        algorithm_cls=TRPO,
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


def check_config(algo: str, config: SB3Config) -> None:
    """Refuse the keys SB3 would silently ignore: the gradient estimator (SB3 computes its own GAE
    gradient); estimators are rlcv agents' features (so is ppo-oracle's ``oracle_ratio``, which SB3's
    config classes do not have)."""
    if config.estimator != "gae":
        raise RlcvError(
            f"--algo {algo} cannot use estimator '{config.estimator}' or its keys (SB3 computes its own "
            f"policy gradient); use --algo {ALGOS[algo].base} with --set estimator={config.estimator}."
        )


def config_class(algo: str) -> type[SB3Config]:
    """The rlcv config dataclass an SB3 algorithm shares with its rlcv counterpart (same keys)."""
    return ALGOS[algo].config_cls


# -- envs, algorithm, normaliser statistics-------------------------------------------------------------
def _monitored_env(env_id: str, env_kwargs: dict[str, Any]) -> Monitor:
    return Monitor(make_env(env_id, env_kwargs))  # Monitor fills algorithm.ep_info_buffer with raw returns


def make_venv(env_id: str, config: CommonConfig) -> VecEnv:
    fns: list[Callable[[], gym.Env]] = [
        functools.partial(_monitored_env, env_id, config.env_kwargs) for _ in range(config.n_envs)
    ]
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


def make_algorithm(algo: str, config: SB3Config, venv: VecEnv, seed: int) -> BaseAlgorithm:
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
        return spec.algorithm_cls(
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
        return venv, make_algorithm(algo, config, venv, seed)
    except BaseException:
        venv.close()
        raise


def _obs_rms(venv: VecNormalize) -> RunningMeanStd:
    # VecNormalize keeps a dict of statistics only for Dict observation spaces, which MlpPolicy rejects.
    assert isinstance(venv.obs_rms, RunningMeanStd), "rlcv's SB3 runs have Box observations"
    return venv.obs_rms


def _norm_stats(venv: VecEnv | None) -> dict[str, Any]:
    """VecNormalize's running statistics ({} without one; ``algorithm.get_env()`` may be None)."""
    if not isinstance(venv, VecNormalize):
        return {}
    return {"obs_rms": rms_state(_obs_rms(venv)), "ret_rms": rms_state(venv.ret_rms)}


def _load_norm_stats(venv: VecEnv, stats: dict[str, Any]) -> None:
    if isinstance(venv, VecNormalize):
        load_rms(_obs_rms(venv), stats["obs_rms"])
        load_rms(venv.ret_rms, stats["ret_rms"])


def _obs_normalizer(
    config: CommonConfig, shape: tuple[int, ...] | None, stats: dict[str, Any]
) -> ObsNormalizer:
    """Frozen copy of VecNormalize's observation statistics (same formula: clip((x − μ)/√(σ² + 1e-8)))."""
    normalizer = ObsNormalizer(shape, enabled=config.normalize_obs, clip=config.clip_obs)
    if config.normalize_obs:
        load_rms(normalizer.rms, stats["obs_rms"])
    normalizer.training = False
    return normalizer


class _SB3Policy:
    """The two methods of :class:`rlcv.policies.Policy` that :func:`rlcv.evaluation.evaluate` calls."""

    def __init__(self, algorithm: BaseAlgorithm) -> None:
        self.algorithm = algorithm

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        action, _ = self.algorithm.predict(obs.numpy(), deterministic=True)  # clipped to the Box bounds
        return torch.as_tensor(action)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return action

    def sample_action(self, obs: torch.Tensor) -> torch.Tensor:
        """A sampled action [B, *action_shape] (``rlcv.Agent.predict(..., deterministic=False)``)."""
        action, _ = self.algorithm.predict(obs.numpy(), deterministic=False)
        return torch.as_tensor(action)


# -- the training loop ------------------------------------------------------------------------------------
class _RecorderCallback(BaseCallback):
    """Turns SB3's rollout/train cycle into :meth:`Recorder.record` calls. (``self.model`` is SB3's name
    for the algorithm object a callback is attached to.)"""

    def __init__(self, trainer: SB3Trainer, recorder: Recorder) -> None:
        super().__init__()
        self.trainer, self.recorder = trainer, recorder
        self.pending = False

    def _on_training_start(self) -> None:
        self.recorder.start(self.model.num_timesteps)
        self.prev_step = self.model.num_timesteps

    def _on_step(self) -> bool:
        self.trainer.episodes += sum("episode" in info for info in self.locals["infos"])
        # SB3 checks nothing: a NaN from the env is named here, before it reaches a loss.
        check_env_data(
            self.trainer.env_id,
            self.model.num_timesteps,
            reward=self.locals.get("rewards"),
            observation=self.locals.get("new_obs"),
        )
        return True

    def _on_rollout_end(self) -> None:
        self.pending = True

    def _on_rollout_start(self) -> None:
        if self.pending:
            self._update_done()

    _on_training_end = _on_rollout_start  # the last update is followed by the end, not by a rollout

    def _update_done(self) -> None:
        self.pending = False
        trainer, step = self.trainer, self.model.num_timesteps
        check_parameters(self.model.policy, trainer.algo, step)  # before a checkpoint can hold them
        episodes: Sequence[dict[str, Any]] = self.model.ep_info_buffer or []
        values = self.model.logger.name_to_value  # train/* of the update that just finished
        metrics = {
            name: sign * float(values[key])
            for name, (key, sign) in trainer.spec.metrics.items()
            if key in values
        }
        self.recorder.record(
            step=step,
            prev_step=self.prev_step,
            episodes=trainer.episodes,
            episode_return_mean=float(np.mean([e["r"] for e in episodes])) if episodes else None,
            episode_length_mean=float(np.mean([e["l"] for e in episodes])) if episodes else None,
            metrics=metrics,
            evaluate=trainer.evaluate,
            state=trainer.checkpoint_state,
        )
        self.prev_step = step


class SB3Trainer:
    """An SB3 algorithm, its vector env and rlcv's counters: the SB3 side of :class:`rlcv.loop.Trainer`."""

    def __init__(
        self, *, algo: str, env_id: str, config: SB3Config, seed: int, venv: VecEnv, algorithm: BaseAlgorithm
    ) -> None:
        self.algo, self.env_id, self.config, self.seed = algo, env_id, config, seed
        self.spec = ALGOS[algo]
        self.venv, self.algorithm = venv, algorithm
        self.episodes = 0

    @property
    def step(self) -> int:
        return int(self.algorithm.num_timesteps)

    def evaluate(self) -> dict[str, Any]:
        """Deterministic evaluation of the current policy, VecNormalize's statistics frozen."""
        cfg = self.config
        stats = _norm_stats(self.algorithm.get_env())  # the VecNormalize SB3 trains on
        normalizer = _obs_normalizer(cfg, self.algorithm.observation_space.shape, stats)
        return evaluate(
            _SB3Policy(self.algorithm),
            self.env_id,
            episodes=cfg.eval_episodes,
            obs_normalizer=normalizer,
            seed=self.seed + 10_000,
            env_kwargs=cfg.env_kwargs,
        )

    def checkpoint_state(self) -> dict[str, Any]:
        episodes: Sequence[dict[str, Any]] = self.algorithm.ep_info_buffer or []
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.algorithm.num_timesteps,
            "episodes": self.episodes,
            "episode_returns": [float(e["r"]) for e in episodes],
            "episode_lengths": [float(e["l"]) for e in episodes],
            "parameters": self.algorithm.get_parameters(),
            "vecnormalize": _norm_stats(self.algorithm.get_env()),
        }

    def train(self, run: RunDir, *, total_steps: int, progress: bool, resume_step: int | None = None) -> None:
        """Learn until ``total_steps``, then write model.zip; closes the envs."""
        algorithm, cfg = self.algorithm, self.config
        recorder = Recorder(
            run,
            tuple(self.spec.metrics),
            total_steps=total_steps,
            start_step=algorithm.num_timesteps,
            eval_freq=cfg.eval_freq,
            checkpoint_freq=cfg.checkpoint_freq,
            progress=progress,
            desc=f"{self.algo} {self.env_id}",
            resume_step=resume_step,
        )
        try:
            if total_steps > algorithm.num_timesteps:
                try:
                    # reset_num_timesteps=False: SB3 trains for (argument + num_timesteps) steps in total.
                    algorithm.learn(
                        total_steps - algorithm.num_timesteps,
                        callback=_RecorderCallback(self, recorder),
                        reset_num_timesteps=False,
                    )
                except (ValueError, RuntimeError) as exc:
                    # A diverged update fails inside SB3 (e.g. a Normal with NaN loc or zero scale)
                    # before our callback sees it: judged by the weights and by where the exception
                    # was raised, not by its text.
                    check_parameters(algorithm.policy, self.algo, algorithm.num_timesteps)
                    if raised_by_a_distribution(exc):
                        raise RlcvError(
                            f"{self.algo} diverged: an update before step {algorithm.num_timesteps} made the "
                            f"policy distribution invalid (the loss, not the env, is the cause); lower "
                            f"learning_rate (--set learning_rate=...) and, if the run has one, resume "
                            f"from an earlier checkpoint (`--from step_N.pt`)."
                        ) from exc
                    raise
            # model.zip last, written whole then renamed: its presence means the run finished
            # (RunDir.is_finished).
            checkpoint.save(_norm_stats(self.venv), run.sb3_vecnormalize)
            tmp = run.path / "model.tmp.zip"
            algorithm.save(tmp)
            os.replace(tmp, run.sb3_algorithm)
        finally:
            recorder.close()
            self.venv.close()


# -- entry points called by rlcv.launch -------------------------------------------------------------------
def new_trainer(*, algo: str, env_id: str, config: SB3Config, seed: int) -> SB3Trainer:
    venv, algorithm = _build(algo, env_id, config, seed)
    return SB3Trainer(algo=algo, env_id=env_id, config=config, seed=seed, venv=venv, algorithm=algorithm)


def resume_trainer(run: RunDir, meta: dict[str, Any], checkpoint_name: str = "last.pt") -> SB3Trainer:
    """An SB3 trainer restored from ``checkpoints/<checkpoint_name>`` (the run directory is not touched)."""
    algo = meta["algo"]
    state = checkpoint.load(run.checkpoint(checkpoint_name))
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RlcvError(
            f"'{run.checkpoint(checkpoint_name)}' is not an {algo} checkpoint; resume the run that "
            f"wrote it, or start a new run."
        )
    config = build_config(config_class(algo), meta["config"])
    step = int(state["step"])
    # As in rlcv.loop: fresh episodes seeded from (seed, step), so a resumed run is itself reproducible.
    venv, algorithm = _build(algo, meta["env"], config, meta["seed"] + 7919 * (step + 1))
    try:
        algorithm.set_parameters(state["parameters"], exact_match=True, device="cpu")
        _load_norm_stats(venv, state["vecnormalize"])
        returns, lengths = state["episode_returns"], state["episode_lengths"]
        episodes = int(state["episodes"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        venv.close()
        raise RlcvError(
            f"checkpoint does not match this run's algorithm/config ({_first_line(exc)}); resume "
            f"the run that wrote it, or start a new run."
        ) from exc
    algorithm.num_timesteps = step
    # Kept by learn(reset_num_timesteps=False), so episode_return_mean continues where it stopped.
    algorithm.ep_info_buffer = deque(
        ({"r": r, "l": int(n), "t": 0.0} for r, n in zip(returns, lengths, strict=True)), maxlen=STATS_WINDOW
    )
    algorithm.ep_success_buffer = deque(maxlen=STATS_WINDOW)
    trainer = SB3Trainer(
        algo=algo, env_id=meta["env"], config=config, seed=int(meta["seed"]), venv=venv, algorithm=algorithm
    )
    trainer.episodes = episodes
    return trainer


def load_policy(run: RunDir, meta: dict[str, Any], *, seed: int = 0) -> tuple[_SB3Policy, ObsNormalizer]:
    """The policy of ``model.zip`` (else the last checkpoint) and its frozen observation normaliser."""
    algo = meta["algo"]
    config = build_config(config_class(algo), meta["config"])
    if run.sb3_algorithm.is_file():
        params: Any = str(run.sb3_algorithm)
        stats = checkpoint.load(run.sb3_vecnormalize) if config.normalize_obs else {}
    else:
        state = checkpoint.load(run.checkpoint())
        params, stats = state.get("parameters"), state.get("vecnormalize", {})
    # Only the spaces matter here: one plain env, no VecNormalize (its statistics are applied by hand).
    eval_config = dataclasses.replace(
        config, n_envs=1, vectorization="sync", normalize_obs=False, normalize_reward=False
    )
    with warnings.catch_warnings():  # e.g. "batch_size does not divide n_steps * n_envs": moot here
        warnings.simplefilter("ignore")
        venv, algorithm = _build(algo, meta["env"], eval_config, seed)
    try:
        algorithm.set_parameters(params, exact_match=True, device="cpu")
        normalizer = _obs_normalizer(config, algorithm.observation_space.shape, stats)
    except Exception as exc:  # ValueError, KeyError, RuntimeError, ...: a damaged or foreign file
        raise RlcvError(
            f"cannot load the SB3 algorithm in '{run}' ({type(exc).__name__}: {_first_line(exc)}); "
            f"the file is damaged or from another config: evaluate another run, or retrain."
        ) from exc
    finally:
        venv.close()
    return _SB3Policy(algorithm), normalizer


def evaluate_run(
    run: RunDir, meta: dict[str, Any], *, episodes: int, seed: int, video_dir: str | None
) -> dict[str, Any]:
    """Deterministic evaluation of ``model.zip`` (else the last checkpoint), frozen normaliser statistics."""
    policy, normalizer = load_policy(run, meta, seed=seed)
    config = build_config(config_class(meta["algo"]), meta["config"])
    return evaluate(
        policy,
        meta["env"],
        episodes=episodes,
        obs_normalizer=normalizer,
        seed=seed,
        env_kwargs=config.env_kwargs,
        video_dir=video_dir,
    )

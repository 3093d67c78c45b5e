"""MBMF-PPO and MBMF-TRPO: PPO / TRPO whose policy gradient uses the multi-step model-based
control variate (:mod:`rlcv.estimators.mbmf`), with a dynamics model trained online.

Per update, in this order (the order keeps the estimate unbiased):

1. measure the model's 1-step and k-step error on the new batch — data it has never seen;
2. PPO / TRPO update with the control variate built from the model as it was *before* this batch
   (a model fitted on the batch would make C_t depend on a_t beyond its argument);
3. add the batch to the replay of recent real transitions and train the model on k-step windows.

Until the model has been trained once, the control variate is off (η = 0), which is a decision
that does not depend on the batch and so keeps the estimate unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from rlcv.agents.ppo import PPO, PPOConfig
from rlcv.agents.trpo import TRPO, TRPOConfig

from rlcv.config import _check as check
from rlcv.dynamics import EnsembleDynamics, ExactDynamics, TransitionReplay, cut_windows, fit_normalizers
from rlcv.env_factory import make_env
from rlcv.errors import RlcvError
from rlcv.estimators.base import GradientEstimator
from rlcv.estimators.mbmf import ETA_MODES, MBMFControlVariate
from rlcv.rollout import RolloutBatch

MBMF_METRICS = ("cv_eta_mean", "cv_corr", "cv_score_var_ratio", "model_loss", "model_error_1step",
                "model_error_kstep")


@dataclass(kw_only=True)
class MBMFSettings:
    """The control variate and its model (shared by MBMF-PPO and MBMF-TRPO)."""

    k: int = 3
    eta: float = 1.0
    eta_mode: str = "fixed"  # fixed | fitted | conservative | aggressive (see rlcv.estimators.mbmf)
    noise_embedding: str = "policy"  # policy | model_residual (biased unless the model is exact)
    model: str = "learned"  # learned | exact (envs with a model_step, e.g. rlcv/LQR-v0)
    model_ensemble_size: int = 5
    model_hidden_sizes: list[int] = field(default_factory=lambda: [200, 200])
    model_lr: float = 1e-3
    model_weight_decay: float = 1e-5
    model_train_steps: int = 40
    model_batch_size: int = 256
    model_horizon: int = 0  # unroll length of the model loss; 0 means max(1, k)
    model_buffer_size: int = 100_000
    predict_termination: bool = True

    def check_mbmf(self) -> None:
        check(self.k >= 0, "k must be >= 0")
        check(self.eta_mode in ETA_MODES, f"eta_mode must be one of {', '.join(ETA_MODES)}")
        check(self.noise_embedding in ("policy", "model_residual"), "noise_embedding must be policy|model_residual")
        check(self.model in ("learned", "exact"), "model must be 'learned' or 'exact'")
        check(self.model_ensemble_size >= 1 and self.model_train_steps >= 0, "model sizes must be positive")


@dataclass(kw_only=True)
class MBMFPPOConfig(PPOConfig, MBMFSettings):
    def __post_init__(self) -> None:
        PPOConfig.__post_init__(self)
        self.check_mbmf()


@dataclass(kw_only=True)
class MBMFTRPOConfig(TRPOConfig, MBMFSettings):
    def __post_init__(self) -> None:
        TRPOConfig.__post_init__(self)
        self.check_mbmf()


class ModelBasedMixin:
    """Adds the dynamics model, its replay and training to an on-policy agent."""

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: Any,
                 estimator: GradientEstimator | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Box):
            raise RlcvError(f"{self.algo} needs a continuous (Box) action space, got {action_space}; "
                            f"use ppo / trpo for discrete actions.")
        obs_dim, act_dim = int(np.prod(observation_space.shape)), int(np.prod(action_space.shape))
        self.model = EnsembleDynamics(
            obs_dim, act_dim, ensemble_size=config.model_ensemble_size, hidden_sizes=config.model_hidden_sizes,
            action_low=action_space.low.reshape(-1), action_high=action_space.high.reshape(-1),
            predict_termination=config.predict_termination)
        self.model_optimizer = torch.optim.Adam(self.model.parameters(), lr=config.model_lr,
                                                weight_decay=config.model_weight_decay)
        self.replay = TransitionReplay(config.model_buffer_size)
        self.model_fitted = config.model == "exact"
        super().__init__(observation_space=observation_space, action_space=action_space, config=config,
                         estimator=estimator)

    @property
    def model_horizon(self) -> int:
        return self.config.model_horizon or max(1, self.config.k)

    def default_estimator(self) -> GradientEstimator:
        cfg = self.config
        return MBMFControlVariate(model=self.model, k=cfg.k, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, eta=cfg.eta,
                                  eta_mode=cfg.eta_mode, normalize_advantage=cfg.normalize_advantage,
                                  noise_embedding=cfg.noise_embedding)

    def bind(self, **kwargs: Any) -> None:
        super().bind(**kwargs)
        if self.config.model == "exact":
            env = make_env(kwargs["env_id"], kwargs["env_kwargs"])
            try:
                self.estimator.model = ExactDynamics(env)
            except ValueError as exc:
                raise RlcvError(f"{exc} (--set model=learned)") from exc

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**super().optimizers(), "model_adam": self.model_optimizer}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "model": self.model.state_dict(), "model_fitted": self.model_fitted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.model.load_state_dict(state["model"])
        self.model_fitted = bool(state["model_fitted"])

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        held_out = self._held_out_error(batch)
        est = self.estimator
        est.enabled = self.model_fitted
        est.obs_transform = self.obs_normalizer.torch_transform()
        est.reward_scale = self.reward_scaler.scale
        out = super().update(batch)
        out.update(held_out)
        out["model_loss"] = self._train_model(batch)
        return out

    def _held_out_error(self, batch: RolloutBatch) -> dict[str, float]:
        if not self.model_fitted or self.config.model == "exact":
            return {}
        data = {"obs": batch.raw_obs, "actions": batch.actions[:, :, 0], "next_obs": batch.raw_next_obs,
                "rewards": batch.raw_rewards, "terminated": batch.terminated, "done": batch.dones}
        w = cut_windows(data, None, self.model_horizon, None)
        with torch.no_grad():
            _, per_step = self.model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)
        return {"model_error_1step": per_step[0].item(), "model_error_kstep": per_step[-1].item()}

    def _train_model(self, batch: RolloutBatch) -> float:
        if self.config.model == "exact" or self.config.model_train_steps == 0:
            return float("nan")
        self.replay.add(batch.raw_obs, batch.actions[:, :, 0], batch.raw_next_obs, batch.raw_rewards,
                        batch.terminated, batch.truncated)
        fit_normalizers(self.model, self.replay)
        losses = []
        for _ in range(self.config.model_train_steps):
            w = self.replay.sample_windows(self.config.model_batch_size, self.model_horizon)
            loss, _ = self.model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)
            self.check_finite("model loss", loss)
            self.model_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.model_optimizer.step()
            losses.append(loss.item())
        self.model_fitted = True
        return float(np.mean(losses))


class MBMFPPO(ModelBasedMixin, PPO):
    config_cls = MBMFPPOConfig
    algo = "mbmf-ppo"
    metric_names = (*PPO.metric_names, *MBMF_METRICS)


class MBMFTRPO(ModelBasedMixin, TRPO):
    config_cls = MBMFTRPOConfig
    algo = "mbmf-trpo"
    metric_names = (*TRPO.metric_names, *MBMF_METRICS)

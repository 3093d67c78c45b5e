"""A checkpoint of an actor-critic run (PPO, TRPO) frozen for diagnostics: its session (policy,
critic and normaliser statistics fixed), fresh batches of its policy, a dynamics model fitted on
them, the model's held-out error, and an estimator bound to it.

Used by `rlcv bench variance` and `rlcv bench model-diag`; a user can call them on their own run.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlcv.agents.ppo import PPOConfig
    from rlcv.agents.trpo import TRPOConfig
    from rlcv.dynamics import EnsembleDynamics
    from rlcv.estimators.base import GradientEstimator
    from rlcv.estimators.mbmf import MBMFSettings
    from rlcv.loop import Trainer
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


def load_session(run_dir: Path, checkpoint_name: str, seed: int) -> tuple[dict[str, Any], Trainer]:
    from rlcv import checkpoint
    from rlcv.agents import build_agent_config
    from rlcv.loop import Trainer
    from rlcv.run_dir import RunDir

    run = RunDir(run_dir)
    meta = run.read_meta()
    config = build_agent_config(meta["algo"], meta["config"])
    session = Trainer(algo=meta["algo"], env_id=meta["env"], config=config, seed=seed)
    session.load_state_dict(checkpoint.load(run.checkpoint(checkpoint_name)))
    session.obs_normalizer.training = False
    session.reward_scaler.training = False
    session.collector.reset(seed)
    return meta, session


def run_config(session: Trainer) -> PPOConfig | TRPOConfig:
    """The checkpoint's config: the harness reads actor-critic runs (PPO, TRPO)."""
    from rlcv.agents.ppo import PPOConfig
    from rlcv.agents.trpo import TRPOConfig

    assert isinstance(session.config, PPOConfig | TRPOConfig), f"{type(session.config).__name__} has no λ"
    return session.config


def value_function(session: Trainer) -> ValueFunction:
    """V(s) of the checkpoint's agent: the harness reads actor-critic runs (PPO, TRPO)."""
    from rlcv.agents.base import ActorCriticAgent

    assert isinstance(session.agent, ActorCriticAgent), f"{type(session.agent).__name__} has no V(s)"
    return session.agent.value_fn


def collect_batches(session: Trainer, count: int, steps: int) -> list[RolloutBatch]:
    return [session.collector.collect(steps) for _ in range(count)]


def model_errors(model: EnsembleDynamics, batches: list[RolloutBatch], horizon: int) -> dict[str, float]:
    """Held-out normalised MSE of the model after 1 and ``horizon`` steps, on the evaluation batches."""
    import torch

    from rlcv.dynamics import held_out_errors

    errors = torch.stack([held_out_errors(model, b, horizon) for b in batches]).mean(0)
    return {"model_error_1step": errors[0].item(), f"model_error_{horizon}step": errors[-1].item()}


def make_estimator(
    name: str,
    session: Trainer,
    model: Any,
    k: int,
    eta_mode: str,
    cv_form: str = "kstep",
    trust_gate: bool = False,
) -> GradientEstimator:
    """Estimator ``name`` with the run's γ and λ, no advantage normalisation, η = 1 and ``k`` / ``eta_mode``
    / ``cv_form`` / ``trust_gate`` where its settings have them, using ``model`` (a model-based one);
    bound to the run's (frozen) normalisers."""
    from rlcv.diagnostics.estimator import estimator_with
    from rlcv.env_hooks import BindContext

    cfg = run_config(session)
    est = estimator_with(
        name,
        observation_space=session.envs.single_observation_space,
        action_space=session.envs.single_action_space,
        algo=f"bench variance --estimator {name}",
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        k=k,
        eta=1.0,
        eta_mode=eta_mode,
        cv_form=cv_form,
        trust_gate=trust_gate,
    )
    if hasattr(est, "use_model"):
        est.use_model(model)
    context = BindContext(
        env_id=session.env_id,
        env_kwargs=cfg.env_kwargs,
        obs_normalizer=session.obs_normalizer,
        reward_scaler=session.reward_scaler,
    )
    est.bind(context)
    return est


def fit_model(
    session: Trainer,
    settings: MBMFSettings,
    fit_batches: Callable[[], list[RolloutBatch]],
    *,
    capacity: int,
    model_steps: int,
    model_horizon: int,
    model_td_weight: float = 0.0,
) -> tuple[EnsembleDynamics, float]:
    """The MBMF model of ``settings`` fitted on the batches ``fit_batches()`` returns: ``model_steps`` Adam
    steps (lr ``settings.model_lr``, batch ``settings.model_batch_size``) on random windows; with
    ``model_td_weight`` > 0 also on the imagined TD errors of the session's frozen critic, as MBMF's
    ``model_td_weight`` does. ``fit_batches`` is called after the model
    is built, so a seeded run draws model init, then data. Returns (model, mean training loss)."""
    import gymnasium as gym
    import torch

    from rlcv.dynamics import EnsembleDynamics, TDLoss, TransitionReplay, train_dynamics

    space = session.envs.single_action_space
    obs_shape = session.envs.single_observation_space.shape
    assert isinstance(space, gym.spaces.Box) and obs_shape is not None and space.shape is not None
    model = EnsembleDynamics(
        obs_shape[0],
        space.shape[0],
        ensemble_size=settings.model_ensemble_size,
        hidden_sizes=settings.model_hidden_sizes,
        action_low=space.low,
        action_high=space.high,
        structure=settings.model_structure,
        action_smooth=settings.model_action_smooth,
    )
    replay = TransitionReplay(capacity)
    for b in fit_batches():
        replay.add_batch(b)
    td = None
    if model_td_weight > 0:
        critic = copy.deepcopy(value_function(session)).requires_grad_(False)
        transform = session.obs_normalizer.torch_transform()
        td = TDLoss(
            value=lambda s: critic(transform(s)).reshape(-1),
            gamma=session.config.gamma,
            reward_scale=session.reward_scaler.scale(),
            weight=model_td_weight,
        )
    loss = train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=settings.model_lr, weight_decay=settings.model_weight_decay),
        replay,
        steps=model_steps,
        batch_size=settings.model_batch_size,
        horizon=model_horizon,
        td=td,
        lr_final=settings.model_lr_final,
    )
    return model, loss


def model_settings(cfg: PPOConfig | TRPOConfig, model_lr: float | None) -> MBMFSettings:
    """The model of the MBMF preset (the run's own settings when it is an MBMF run)."""
    from rlcv.estimators.mbmf import MBMFSettings

    settings = getattr(cfg, "estimator_settings", None)
    if not isinstance(settings, MBMFSettings):
        settings = MBMFSettings()
    return settings if model_lr is None else dataclasses.replace(settings, model_lr=model_lr)

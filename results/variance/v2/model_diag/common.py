"""Shared setup of the model diagnostics (td_diag.py, block_diag.py): one checkpoint, 30k fresh
transitions to fit on, 21 evaluation batches, the estimator's default model fitted with seed 0."""

from pathlib import Path

import torch

from rlcv.bench.variance import collect_batches, fit_model, load_session
from rlcv.dynamics import EnsembleDynamics
from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings

FIT_STEPS = 30000


def setup(run: str, checkpoint: str):
    """(session, fit batches, evaluation batches) — seeded, so every invocation sees the same data."""
    torch.set_num_threads(1)
    _, session = load_session(Path(run), checkpoint, 0)
    steps = session.config.n_steps
    return session, collect_batches(session, FIT_STEPS // steps, steps), collect_batches(session, 21, steps)


def fitted(
    session, fit, *, horizon: int, steps: int, td_weight: float = 0.0, hidden: int = 128, lr: float = 1e-3
) -> EnsembleDynamics:
    torch.manual_seed(0)
    model, _ = fit_model(
        session,
        MBMFSettings(model_hidden_sizes=[hidden, hidden], model_lr=lr),
        lambda: fit,
        capacity=FIT_STEPS,
        model_steps=steps,
        model_horizon=horizon,
        model_td_weight=td_weight,
    )
    return model


def estimator(session, model: EnsembleDynamics, k: int) -> MBMFControlVariate:
    """The λ-matched CV with split η at horizon k, bound to the checkpoint's frozen normalisers."""
    cfg = session.config
    est = MBMFControlVariate(
        MBMFSettings(k=k, eta_mode="split", trust_gate=False),
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        normalize_advantage=False,
        model=model,
    )
    norm, scale = session.obs_normalizer.torch_transform(), session.reward_scaler.scale()
    est.obs_transform = lambda: norm
    est.reward_scale = lambda: scale
    return est

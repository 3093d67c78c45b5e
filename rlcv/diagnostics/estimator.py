"""A registered estimator set up for a diagnostic: no advantage normalisation (the diagnostics compare
raw gradients) and whichever of the given settings its dataclass has."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlcv.errors import RlcvError

if TYPE_CHECKING:
    import gymnasium as gym

    from rlcv.estimators.base import GradientEstimator


def estimator_with(
    name: str,
    *,
    observation_space: gym.Space,
    action_space: gym.Space,
    algo: str,
    gamma: float,
    gae_lambda: float,
    **given: Any,
) -> GradientEstimator:
    """Estimator ``name`` (``rlcv.estimators.ESTIMATORS``) with the settings among ``given`` (e.g. k,
    eta, eta_mode, cv_form, trust_gate) that its settings class has; ``algo`` names the diagnostic in
    its messages. A model-based estimator gets ``model="exact"``: it builds no model of its own, the
    caller hands it one (``use_model``)."""
    from rlcv.config import field_names
    from rlcv.errors import did_you_mean
    from rlcv.estimators import ESTIMATORS, estimator_class
    from rlcv.estimators.base import EstimatorSetup

    if name not in ESTIMATORS:
        raise RlcvError(f"unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    cls = estimator_class(name)
    names = field_names(cls.settings_cls)
    settings = cls.settings_cls(**{key: v for key, v in {**given, "model": "exact"}.items() if key in names})
    setup = EstimatorSetup(
        observation_space=observation_space,
        action_space=action_space,
        algo=algo,
        gamma=gamma,
        gae_lambda=gae_lambda,
        normalize_advantage=False,
    )
    return cls.from_setup(settings, setup)

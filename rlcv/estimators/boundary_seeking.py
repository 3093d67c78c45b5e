"""The boundary-seeking GAN estimator for any generator: the choice made by the action space.

Discrete generators (MultiBinary / MultiDiscrete) use the self-normalised importance weights
(:mod:`rlcv.estimators.self_normalized`); continuous ones (Box) the continuous objective
(V − log Z)² (:mod:`rlcv.estimators.continuous_bgan`), or with ``continuous_objective=weights`` the
same self-normalised weights with the Gaussian's log-density. Why the option: the continuous
objective moves every sample towards the decision boundary on its own, so nothing asks different
latents to draw different images, and on DigitsCont the latents drift to one glyph
(``results/bgan_collapse_pilot_digitscont_init_notes.md``); the weights make a latent's samples
compete, the M-step of EM whose symmetry ``out_init_gain`` breaks. Both log the same columns, so a run's
metrics.csv has one layout whatever the space (``log_z_ema`` stays empty for discrete generators).
The equations live with the two estimators; this file only picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym

from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.estimators.continuous_bgan import BoundarySeekingSettings, ContinuousBoundarySeeking
from rlcv.estimators.self_normalized import WEIGHT_METRICS, SelfNormalizedWeights
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch
from rlcv.value import ValueFunction

if TYPE_CHECKING:
    from rlcv.env_hooks import BindContext


class BoundarySeeking(GradientEstimator):
    name = "boundary_seeking"
    settings_cls = BoundarySeekingSettings
    metric_names = (*WEIGHT_METRICS, "log_z_ema")

    def __init__(self, inner: GradientEstimator) -> None:
        self.inner = inner

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> BoundarySeeking:
        continuous = isinstance(setup.action_space, gym.spaces.Box)
        if continuous and getattr(settings, "continuous_objective", "boundary") == "boundary":
            return cls(ContinuousBoundarySeeking.from_setup(settings, setup))
        return cls(SelfNormalizedWeights(power=float(getattr(settings, "weight_power", 1.0))))

    def bind(self, context: BindContext) -> None:
        self.inner.bind(context)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        return self.inner.prepare(batch, policy=policy, value_fn=value_fn)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)

"""Policy-gradient estimators, by the name an agent config's ``estimator`` key uses.

Adding an estimator is one new file here plus one line below: agents build whichever estimator
their config names (:func:`build_estimator`), validate its settings with its own dataclass
(``settings_cls``), checkpoint its state and log its ``metric_names``.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> "module:Class"; imported lazily so that resolving a config stays cheap.
ESTIMATORS: dict[str, str] = {
    "gae": "rlcv.estimators.state_baseline:StateValueBaseline",
    "mbmf": "rlcv.estimators.mbmf:MBMFControlVariate",
    "boundary_seeking": "rlcv.estimators.boundary_seeking:BoundarySeeking",
    "self_normalized": "rlcv.estimators.self_normalized:SelfNormalizedWeights",
    "continuous_bgan": "rlcv.estimators.continuous_bgan:ContinuousBoundarySeeking",
    "moving_average": "rlcv.estimators.moving_average:MovingAverageBaseline",
    "relaxed": "rlcv.estimators.relaxed:RelaxedPathwise",
}


def estimator_class(name: str) -> Any:
    """The estimator class registered as ``name`` (a KeyError for an unknown name)."""
    module, cls = ESTIMATORS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def settings_class(name: str) -> type:
    """The dataclass that holds (and validates) the settings of estimator ``name``."""
    return estimator_class(name).settings_cls


def build_estimator(name: str, settings: Any, setup: Any) -> Any:
    """Build estimator ``name`` from its settings and an :class:`~rlcv.estimators.base.EstimatorSetup`."""
    return estimator_class(name).from_setup(settings, setup)

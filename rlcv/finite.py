"""Where a NaN came from: the env's data is checked before the agent sees it, so a non-finite loss
(``PolicyGradientAgent.check_finite``) means the optimisation diverged, not the env."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from rlcv.errors import RlcvError


def check_env_data(env_id: str, step: int, **arrays: Any) -> None:
    """Raise naming the first of ``arrays`` (e.g. ``reward=``, ``observation=``) that holds a
    non-finite value; ``step`` is the env step count after the rollout."""
    for name, value in arrays.items():
        if value is None:
            continue
        finite = torch.isfinite(value).all() if isinstance(value, torch.Tensor) else np.isfinite(value).all()
        if not bool(finite):
            raise RlcvError(
                f"the env {env_id} returned a non-finite {name} in the rollout ending at step {step} (the "
                f"env, not the optimisation, produced the NaN/inf); fix the env or its --env-kwargs."
            )


def raised_by_a_distribution(exc: BaseException) -> bool:
    """The exception was raised inside ``torch.distributions`` (argument validation of a policy
    distribution whose parameters an update made non-finite or degenerate, e.g. a scale of 0):
    judged by where it was raised, not by its text."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and f"torch{os.sep}distributions{os.sep}" in frames[-1].filename


def check_parameters(module: torch.nn.Module, algo: str, step: int) -> None:
    """Raise when an update left a non-finite weight (SB3 does not check its losses)."""
    for name, param in module.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise RlcvError(
                f"{algo} diverged: the update ending at step {step} made '{name}' non-finite (the loss, "
                f"not the env, produced the NaN/inf); lower learning_rate (--set learning_rate=...) and, "
                f"if the run has one, resume from an earlier checkpoint (`--from step_N.pt`)."
            )

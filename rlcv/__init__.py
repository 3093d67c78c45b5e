"""rlcv: policy-gradient agents built around multi-step model-based control variates.

Importing the package registers the project's Gymnasium environments under the ``rlcv/``
namespace, so ``gym.make("rlcv/LQR-v0")`` works after ``import rlcv``. The Python API,
``rlcv.Agent`` and ``rlcv.load`` (:mod:`rlcv.api`), is imported on first use, so ``import rlcv``
stays cheap (no torch).
"""

import importlib
from typing import Any

from rlcv import envs as _envs  # noqa: F401  (registration side effect)

__version__ = "0.1.0"
__all__ = ["Agent", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("rlcv.api"), name)
    raise AttributeError(f"module 'rlcv' has no attribute {name!r}")

"""rlcv: policy-gradient agents built around multi-step model-based control variates.

Importing the package registers the project's Gymnasium environments under the ``rlcv/``
namespace, so ``gym.make("rlcv/LQR-v0")`` works after ``import rlcv``.
"""

from rlcv import envs as _envs  # noqa: F401  (registration side effect)

__version__ = "0.1.0"

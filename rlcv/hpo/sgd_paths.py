"""What `rlcv bench walk` and `rlcv bench sharpness` run: a plain SGD path of an inner task in one
process (their per-run JSON summaries and their launching: :mod:`rlcv.bench.runs`).

:class:`InnerRun` is one inner training run on a flat-parameter model of :mod:`rlcv.hpo.inner_tasks`
(no L2 term: the landscape studied is the training loss itself). Each :meth:`InnerRun.step` takes

- ``noise="minibatch"``: SGD, a minibatch of S training examples drawn with replacement (as in
  ``rlcv/OnlineHPO-v0``); S ≥ n_train is full-batch gradient descent;
- ``noise="isotropic"``: the full-batch gradient plus isotropic Gaussian noise with the *same norm
  per step* as this step's minibatch noise, (‖g_B − g‖ / √P)·ξ, ξ ~ N(0, I): the same noise
  magnitude as SGD without its direction (the "isotropic-noise control").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from rlcv.hpo.inner_tasks import FlatNetwork, make_network, task_split

NOISES = ("minibatch", "isotropic")


class InnerRun:
    """θ_0 from ``seed`` (the same seed gives the same init and the same minibatch order)."""

    def __init__(
        self,
        *,
        task: str,
        model: str,
        lr: float,
        batch_size: int,
        seed: int,
        noise: str = "minibatch",
        hidden: int = 64,
        channels: int = 16,
        n_train: int | None = None,
        n_val: int | None = None,
    ) -> None:
        if noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
        self.data = task_split(task, n_train, n_val)
        self.X, self.y = self.data["train"]
        self.model: FlatNetwork = make_network(model, self.X.shape[1], 10, hidden=hidden, channels=channels)
        self.lr, self.batch_size, self.noise = float(lr), int(batch_size), noise
        self.gen = torch.Generator().manual_seed(int(seed))
        self.theta = self.model.init(self.gen)
        self.theta0 = self.theta.clone()
        self.steps = 0
        self.full_batch = self.batch_size >= len(self.y)

    @property
    def epochs(self) -> float:
        """Training examples processed so far / training-set size."""
        return self.steps * min(self.batch_size, len(self.y)) / len(self.y)

    def loss_fn(self, split: str = "train", n: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """θ ↦ mean cross-entropy on ``split`` (its first ``n`` examples: a fixed probe subset)."""
        X, y = self.data[split]
        if n is not None:
            X, y = X[:n], y[:n]
        return lambda theta: self.model.loss(theta, X, y)[0]

    def evaluate(self, split: str) -> tuple[float, float]:
        """(mean loss, accuracy) of the current θ."""
        X, y = self.data[split]
        with torch.no_grad():
            loss, correct = self.model.loss(self.theta, X, y)
        return float(loss), float(correct) / len(y)

    def _grad(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        theta = self.theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(self.model.loss(theta, X, y)[0], theta)
        return g

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One step; returns (θ_t, θ_{t+1})."""
        before = self.theta
        if self.full_batch:
            grad = self._grad(self.X, self.y)
        else:
            idx = torch.randint(0, len(self.y), (self.batch_size,), generator=self.gen)
            grad = self._grad(self.X[idx], self.y[idx])
            if self.noise == "isotropic":
                full = self._grad(self.X, self.y)
                scale = float((grad - full).norm()) / math.sqrt(full.numel())
                grad = full + scale * torch.randn(full.shape, generator=self.gen)
        self.theta = before - self.lr * grad
        self.steps += 1
        return before, self.theta


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks on ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)

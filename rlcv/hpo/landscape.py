r"""Loss-landscape diagnostics of SGD, as pure functions of a loss over one flat parameter vector.

After Xing, Arpit, Tsirigotis & Bengio, "A Walk with SGD" (arXiv 1802.08770) and Jastrzębski et
al., "Three Factors Influencing Minima in SGD" (arXiv 1711.04623). ``f`` is always a function
θ [P] -> scalar loss (float32 or float64), differentiable by autograd and ``torch.func``.

- :func:`interpolate_step`: for a step D = θ_{t+1} − θ_t, the loss along the line
  l(α) = f(θ_t + α D) on a grid of α (default :data:`DEFAULT_ALPHAS` = {0, 0.1, …, 1.0}: the paper's
  {0, …, 0.9} plus the step's end, so "the floor is strictly inside the step" is 0 < α* < 1 on the
  grid). Valley floor = min_α l(α) at α*; height h = l(0) − floor = L(θ_t) − floor; convexity =
  the smallest second difference of l on the grid, relative to the loss scale.
- :func:`hessian_extremes`: the algebraically largest (and smallest) Hessian eigenvalue by Lanczos on
  Hessian-vector products, with full re-orthogonalisation. Power iteration converges to the
  eigenvalue of largest *magnitude*, which is the most negative one at a saddle or at an unstable
  learning rate; Lanczos gives both ends of the spectrum.
- :func:`distance`, :func:`grad_cosine`, :func:`grad_sq_norm`, :func:`log10_noise_scale` (η / S).
- :class:`LandscapeProbe`: a callback for any torch training loop (an ``nn.Module`` and a loss
  closure on a fixed probe batch), via :func:`module_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_ALPHAS",
    "HessianExtremes",
    "LandscapeProbe",
    "StepInterpolation",
    "distance",
    "grad_cosine",
    "grad_sq_norm",
    "hessian_extremes",
    "hvp",
    "interpolate_step",
    "log10_noise_scale",
    "module_loss",
]

FlatLoss = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_ALPHAS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


# ------------------------------------------------------------------------------ interpolation


@dataclass(frozen=True)
class StepInterpolation:
    """The loss along one step; ``losses[i] = f(θ + alphas[i] D)``."""

    alphas: tuple[float, ...]
    losses: tuple[float, ...]
    alpha_star: float  # grid position of the floor (first one on ties)
    floor: float  # min over the grid
    height: float  # l(0) − floor >= 0
    min_second_difference: float  # min_i l(α_{i−1}) − 2 l(α_i) + l(α_{i+1}) (uniform grids), relative
    alpha_fit: float  # α* of the parabola through the floor and its two grid neighbours (nan at an end)

    @property
    def inside(self) -> bool:
        """The floor lies strictly inside the step (0 < α* < 1): the step overshot the valley floor."""
        return 0.0 < self.alpha_star < 1.0

    @property
    def convex(self) -> bool:
        """Roughly convex on the grid: no second difference below −1e-3 of the loss scale."""
        return self.min_second_difference >= -1e-3


def interpolate_step(
    f: FlatLoss, theta: torch.Tensor, step: torch.Tensor, alphas: Sequence[float] = DEFAULT_ALPHAS
) -> StepInterpolation:
    """Evaluate ``f`` along θ + α D for α in ``alphas`` (sorted, with 0 first) without gradients."""
    grid = [float(a) for a in alphas]
    if len(grid) < 3 or grid[0] != 0.0 or any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise ValueError(f"alphas must be increasing, start at 0 and hold >= 3 points, got {alphas}")
    with torch.no_grad():
        losses = [float(f(theta + a * step)) for a in grid]
    i = int(np.argmin(losses))
    floor = losses[i]
    scale = max(abs(losses[0]), 1e-12)
    second = [
        (losses[k - 1] - 2 * losses[k] + losses[k + 1]) / scale
        if math.isclose(grid[k] - grid[k - 1], grid[k + 1] - grid[k], rel_tol=1e-6)
        else math.inf
        for k in range(1, len(grid) - 1)
    ]
    alpha_fit = math.nan
    if 0 < i < len(grid) - 1:
        # Vertex of the parabola through three points: exact when l is quadratic in α.
        (a0, a1, a2), (l0, l1, l2) = grid[i - 1 : i + 2], losses[i - 1 : i + 2]
        den = (a0 - a1) * (a0 - a2) * (a1 - a2)
        A = (a2 * (l1 - l0) + a1 * (l0 - l2) + a0 * (l2 - l1)) / den
        B = (a2**2 * (l0 - l1) + a1**2 * (l2 - l0) + a0**2 * (l1 - l2)) / den
        if A > 0:
            alpha_fit = -B / (2 * A)
    return StepInterpolation(
        alphas=tuple(grid),
        losses=tuple(losses),
        alpha_star=grid[i],
        floor=floor,
        height=losses[0] - floor,
        min_second_difference=min(second),
        alpha_fit=alpha_fit,
    )


# ----------------------------------------------------------------------------- small quantities


def distance(theta: torch.Tensor, theta0: torch.Tensor) -> float:
    """‖θ − θ_0‖₂."""
    return float((theta - theta0).norm())


def grad_cosine(g_prev: torch.Tensor, g: torch.Tensor) -> float:
    """cos(g_{t−1}, g_t); 0 when either is zero."""
    den = float(g_prev.norm()) * float(g.norm())
    return float(g_prev @ g) / den if den > 0 else 0.0


def grad_sq_norm(g: torch.Tensor) -> float:
    """‖g‖²."""
    return float(g @ g)


def log10_noise_scale(lr: float, batch_size: float) -> float:
    """log10 η/S: SGD's noise scale up to the data-dependent constant (Jastrzębski et al.)."""
    return math.log10(lr / batch_size)


# ------------------------------------------------------------------------------ Hessian spectrum


def hvp(f: FlatLoss, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H(θ) v by double backward (one product; :func:`hessian_extremes` reuses one graph for many)."""
    return _HessianOperator(f, theta)(v)


class _HessianOperator:
    """v ↦ H(θ) v by double backward through one retained graph of ∇f(θ): the gradient graph is built
    once and every product is one backward pass (≈ 3× cheaper here than ``torch.func.jvp(grad)`` per
    product, whose per-call set-up dominates on small networks)."""

    def __init__(self, f: FlatLoss, theta: torch.Tensor) -> None:
        self.theta = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            (self.grad,) = torch.autograd.grad(f(self.theta), self.theta, create_graph=True)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        if not self.grad.requires_grad:  # f is linear in θ: H = 0
            return torch.zeros_like(self.theta)
        (hv,) = torch.autograd.grad(
            self.grad, self.theta, grad_outputs=v.to(self.theta.dtype), retain_graph=True
        )
        return hv.detach()


@dataclass(frozen=True)
class HessianExtremes:
    lambda_max: float  # algebraically largest Ritz value
    lambda_min: float  # algebraically smallest Ritz value
    iterations: int  # Lanczos steps taken (= Krylov dimension)


def hessian_extremes(
    f: FlatLoss,
    theta: torch.Tensor,
    *,
    iterations: int = 20,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> HessianExtremes:
    r"""Extreme eigenvalues of ∇²f(θ) by Lanczos with full re-orthogonalisation.

    Builds an orthonormal Krylov basis Q = [q_1 … q_m] of span{v, Hv, …, H^{m−1}v} (v random, seeded)
    and the tridiagonal T = QᵀHQ (α_j on the diagonal, β_j off it); the extreme eigenvalues of T
    (Ritz values) converge to the extreme eigenvalues of H from the inside, the extremes first.
    With m = P it is exact. The basis is re-orthogonalised against all previous vectors (twice:
    "twice is enough"), which costs m·P memory, fine for the small networks here. An invariant
    subspace found early (β ≈ 0) stops the iteration: its Ritz values are exact.
    """
    theta = theta.detach()
    n = theta.numel()
    m = max(1, min(int(iterations), n))
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=gen, dtype=dtype)
    q = v / v.norm()
    H = _HessianOperator(f, theta)
    basis: list[torch.Tensor] = []
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(m):
        basis.append(q)
        w = H(q).to(dtype)
        a = float(w @ q)
        alphas.append(a)
        Q = torch.stack(basis, 1)
        for _ in range(2):
            w = w - Q @ (Q.T @ w)
        b = float(w.norm())
        if j == m - 1 or b <= 1e-10 * max(1.0, abs(a)):
            break
        betas.append(b)
        q = w / b
    k = len(alphas)
    T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if k > 1:
        off = torch.tensor(betas[: k - 1], dtype=torch.float64)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    ritz = torch.linalg.eigvalsh(T)
    return HessianExtremes(lambda_max=float(ritz[-1]), lambda_min=float(ritz[0]), iterations=k)


# ------------------------------------------------------------------------------ torch modules


def module_loss(
    module: torch.nn.Module, loss: Callable[[torch.nn.Module], torch.Tensor]
) -> tuple[torch.Tensor, FlatLoss]:
    """A module's trainable parameters as one flat vector θ_0 [P] and f(θ) = ``loss(module)`` with the
    parameters replaced by θ (``torch.func.functional_call``: the module itself is left untouched,
    and every method ``loss`` calls on it — ``forward``, ``log_prob``, ... — sees θ)."""
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    params = [p for n, p in module.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    theta0 = torch.cat([p.detach().reshape(-1) for p in params])

    class _Call(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self) -> torch.Tensor:
            return loss(self.inner)

    wrapper = _Call()

    def f(theta: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(theta, sizes)
        swapped = {f"inner.{n}": c.view(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        return torch.func.functional_call(wrapper, swapped, ())

    return theta0, f


def _flat_params(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters() if p.requires_grad])


@dataclass
class LandscapeProbe:
    """Landscape diagnostics as a callback on an ordinary training loop.

    Call :meth:`before_step` before ``optimizer.step()`` and :meth:`after_step` after it; every
    ``every``-th step is measured on the fixed probe loss ``loss(module)`` (e.g. the loss on a held
    probe batch; for PPO the policy or value loss on one rollout). ``lanczos_every`` (in measured
    steps; 0 = never) adds the Hessian's extreme eigenvalues at θ_t. Rows go to :attr:`history`.

    Row keys: ``step``, ``loss`` (l(0)), ``floor``, ``alpha_star``, ``inside``, ``height``,
    ``min_second_difference``, ``dist_init``, ``grad_sq_norm``, ``grad_cosine`` (with the previous
    measured step's probe gradient), and ``lambda_max`` / ``lambda_min`` when computed.
    """

    module: torch.nn.Module
    loss: Callable[[torch.nn.Module], torch.Tensor]
    every: int = 1
    lanczos_every: int = 0
    lanczos_iterations: int = 20
    alphas: Sequence[float] = DEFAULT_ALPHAS
    history: list[dict[str, float]] = field(default_factory=list)
    _theta_init: torch.Tensor | None = None
    _theta_before: torch.Tensor | None = None
    _prev_grad: torch.Tensor | None = None
    _steps: int = 0
    _measured: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.lanczos_every < 0:
            raise ValueError(
                f"need every >= 1 and lanczos_every >= 0, got {self.every}, {self.lanczos_every}"
            )
        self._theta_init = _flat_params(self.module).clone()

    def before_step(self) -> None:
        self._theta_before = _flat_params(self.module).clone() if self._steps % self.every == 0 else None

    def after_step(self) -> dict[str, float] | None:
        """Measure the step just taken (when it is a measured one); returns the new row or None."""
        step, self._steps = self._steps, self._steps + 1
        if self._theta_before is None:
            return None
        theta0, f = module_loss(self.module, self.loss)  # θ_{t+1}
        theta = self._theta_before
        self._theta_before = None
        inter = interpolate_step(f, theta, theta0 - theta, self.alphas)
        grad = torch.func.grad(f)(theta).detach()
        assert self._theta_init is not None
        row: dict[str, Any] = {
            "step": step,
            "loss": inter.losses[0],
            "floor": inter.floor,
            "alpha_star": inter.alpha_star,
            "inside": float(inter.inside),
            "height": inter.height,
            "min_second_difference": inter.min_second_difference,
            "dist_init": distance(theta, self._theta_init),
            "grad_sq_norm": grad_sq_norm(grad),
            "grad_cosine": grad_cosine(self._prev_grad, grad) if self._prev_grad is not None else math.nan,
        }
        if self.lanczos_every and self._measured % self.lanczos_every == 0:
            ext = hessian_extremes(f, theta, iterations=self.lanczos_iterations, seed=step)
            row["lambda_max"], row["lambda_min"] = ext.lambda_max, ext.lambda_min
        self._prev_grad = grad
        self._measured += 1
        self.history.append(row)
        return row

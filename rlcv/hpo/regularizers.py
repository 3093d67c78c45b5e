r"""Input-masking regularisers for the inner tasks: Cutout and DualCutout.

Inputs are any tensor ``x [B, ...]`` whose per-example values, flattened, form a signal of spatial
shape ``shape`` (``prod(shape)`` values): ``(8, 8)`` for scikit-learn's digits (given flat as 64
features), ``(40,)`` for an MNIST-1D signal. Nothing here knows the model; the loss takes a
``logits_fn(x) -> [B, C]``.

Cutout (DeVries & Taylor, 2017, arXiv 1708.04552): a box of side ``size`` (per spatial dimension) is
set to 0; its centre is uniform over all positions and the box is clipped at the borders (their
code's convention, so the masked area is sometimes smaller than ``size``). 0 is the right fill here
because the inner tasks standardise features with training statistics: 0 is the training mean.

- ``per_batch=False`` (default): every example gets its own box.
- ``per_batch=True``: one box for the whole minibatch — the variant the DualCutout issue attributes
  to the paper's official code (one mask drawn per call of the augmentation on a batch; not checked
  against that code here). Cheaper and more correlated; both are offered so the choice is explicit.

DualCutout (Kawaguchi, Bengio, Verma & Kaelbling, arXiv 1802.07426, §6)::

    L = ½ [CE(f(c₁x), y) + CE(f(c₂x), y)] + α · mean_b ‖f(c₁x_b) − f(c₂x_b)‖²

with c₁, c₂ two independent cutout masks and f the logits. The squared norm is **summed over the C
logits** (it is the squared Euclidean norm of the output vector, as in the paper) and **averaged over
the batch**, like the cross-entropy: the loss is then an empirical mean over examples, so α does not
change meaning with the batch size (which the online controllers change). Both branches go through
the model as one batch of 2B, so a dual step costs about two single-cutout steps, not more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["REGULARIZERS", "CutoutSpec", "cutout", "cutout_mask", "dual_cutout_loss", "infer_input_shape"]

REGULARIZERS: tuple[str, ...] = ("none", "cutout", "dualcutout")


def infer_input_shape(n_features: int) -> tuple[int, ...]:
    """A square image when ``n_features`` is a perfect square (digits: 8×8), else a 1-D signal."""
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features and side > 1 else (n_features,)


@dataclass(frozen=True)
class CutoutSpec:
    """Where cutout acts: ``shape`` the spatial shape of one example, ``size`` the box side per dim."""

    shape: tuple[int, ...]
    size: tuple[int, ...]
    per_batch: bool = False

    @classmethod
    def make(cls, shape: Sequence[int], size: int | Sequence[int], *, per_batch: bool = False) -> CutoutSpec:
        shape_t = tuple(int(s) for s in shape)
        size_t = (int(size),) * len(shape_t) if isinstance(size, int) else tuple(int(s) for s in size)
        if not shape_t or min(shape_t) < 1:
            raise ValueError(f"cutout shape must be positive sizes, got {shape!r}")
        if len(size_t) != len(shape_t) or any(not 1 <= z <= s for z, s in zip(size_t, shape_t, strict=True)):
            raise ValueError(f"cutout size {size!r} must be 1..side per dimension of shape {shape_t}")
        return cls(shape_t, size_t, bool(per_batch))


def cutout_mask(
    batch: int, spec: CutoutSpec, *, generator: torch.Generator | None = None, device: str = "cpu"
) -> torch.Tensor:
    """Keep-masks [B, *shape] (1 kept, 0 cut). One box per example, or one shared by the batch."""
    n_boxes = 1 if spec.per_batch else batch
    keep = torch.ones(n_boxes, *spec.shape, device=device)
    # Centres uniform over all positions, per dimension; the box is [c − ⌊s/2⌋, c − ⌊s/2⌋ + s) ∩ [0, n).
    inside = torch.ones(n_boxes, *spec.shape, dtype=torch.bool, device=device)
    for d, (n, s) in enumerate(zip(spec.shape, spec.size, strict=True)):
        centre = torch.randint(0, n, (n_boxes,), generator=generator, device=device)
        lo = centre - s // 2
        pos = torch.arange(n, device=device)
        in_d = (pos[None, :] >= lo[:, None]) & (pos[None, :] < lo[:, None] + s)  # [n_boxes, n]
        view = [n_boxes] + [1] * len(spec.shape)
        view[d + 1] = n
        inside &= in_d.view(view)
    keep[inside] = 0.0
    return keep.expand(batch, *spec.shape) if spec.per_batch else keep


def cutout(x: torch.Tensor, spec: CutoutSpec, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x [B, ...]`` with a cutout box set to 0 (see the module docstring); same shape as ``x``."""
    per_example = math.prod(x.shape[1:])
    if per_example != math.prod(spec.shape):
        raise ValueError(f"inputs of {per_example} values per example do not fit cutout shape {spec.shape}")
    keep = cutout_mask(x.shape[0], spec, generator=generator, device=str(x.device)).to(x.dtype)
    return x * keep.reshape(x.shape)


def dual_cutout_loss(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    spec: CutoutSpec,
    *,
    alpha: float,
    generator: torch.Generator | None = None,
    masked: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(DualCutout loss, number of correct predictions of the first branch) on ``x [B, ...]``.

    ``masked`` = (c₁x, c₂x) replaces the random masks (tests). Both branches run as one 2B batch."""
    x1, x2 = (
        masked
        if masked is not None
        else (cutout(x, spec, generator=generator), cutout(x, spec, generator=generator))
    )
    logits = logits_fn(torch.cat([x1, x2]))
    z1, z2 = logits[: len(x)], logits[len(x) :]
    ce = 0.5 * (F.cross_entropy(z1, y) + F.cross_entropy(z2, y))
    consistency = (z1 - z2).pow(2).sum(1).mean()
    return ce + alpha * consistency, (z1.detach().argmax(1) == y).sum()

r"""f-divergences for GAN discriminators and the importance weights of boundary-seeking GANs.

An f-divergence D_f(P‖Q) = E_Q[f(p/q)] (f convex, f(1) = 0) has the variational lower bound
(Nguyen et al. 2010; f-GAN, Nowozin et al. 2016)

    D_f(P‖Q) ≥ sup_T  E_P[T(x)] − E_Q[f*(T(x))],        f*(t) = sup_u  u·t − f(u)

with equality at T*(x) = f'(p(x)/q(x)). A discriminator outputs an unconstrained V(x) ∈ ℝ and
T = g_f(V) maps it into dom f* (the "output activation"). Boundary-seeking GANs (Hjelm et al.,
ICLR 2018) invert the optimality condition: since (f*)' = (f')⁻¹,

    w(x) = (f*)'(T(x))   estimates   p(x)/q(x)

so a generator q can be moved towards p with importance weights w. Per divergence (V the
discriminator output, log w what the env returns as reward):

=============  ==================  ======================  ==================  ==================
name           f(u)                f*(t)                   T = g_f(V)          w = (f*)'(T)
=============  ==================  ======================  ==================  ==================
gan            u log u             −log(1 − eᵗ)            log σ(V)            e^V
               − (u+1) log(u+1)
js             u log u − (u+1)     −log(2 − eᵗ)            log 2 + log σ(V)    e^V
               · log((u+1)/2)
kl             u log u             e^(t−1)                 V                   e^(V−1)
reverse_kl     −log u              −1 − log(−t)            −e^(−V)             e^V
hellinger      (√u − 1)²           t / (1 − t)             1 − e^(−V)          e^(2V)
pearson        (u − 1)²            t²/4 + t                V                   max(V/2 + 1, 0)
=============  ==================  ======================  ==================  ==================

(`hellinger` is the squared Hellinger distance, `pearson` the Pearson χ²; χ² weights can be
negative and are clipped at 0 as in the paper — ``log_weight`` floors them at ``PEARSON_FLOOR``
so a fully clipped group still has finite log-weights.)

The discriminator *maximises* E_P[T] − E_Q[f*(T)]; :meth:`FDivergence.disc_loss` returns its
negative, with f*(g_f(V)) written in a numerically stable form of V.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.functional import softplus

from rlcv.errors import RlcvError, did_you_mean

LOG2 = math.log(2.0)
PEARSON_FLOOR = 1e-8  # clipped χ² weights: log w = log max(w, floor), i.e. ≈ −18.4


def _xlogx(u: torch.Tensor) -> torch.Tensor:
    return torch.special.xlogy(u, u)


@dataclass(frozen=True)
class FDivergence:
    name: str
    f: Callable[[torch.Tensor], torch.Tensor]  # generator f(u), u > 0
    conjugate: Callable[[torch.Tensor], torch.Tensor]  # f*(t) on dom f*
    activation: Callable[[torch.Tensor], torch.Tensor]  # T = g_f(V)
    conjugate_of_activation: Callable[[torch.Tensor], torch.Tensor]  # f*(g_f(V)), stable in V
    log_weight: Callable[[torch.Tensor], torch.Tensor]  # log w(V) = log (f*)'(g_f(V))

    def disc_loss(self, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
        """−(E_P[T] − E_Q[f*(T)]): minimised by the discriminator (real = P, generated = Q)."""
        return -(self.activation(v_real).mean() - self.conjugate_of_activation(v_fake).mean())


DIVERGENCES: dict[str, FDivergence] = {
    "gan": FDivergence(
        name="gan",
        f=lambda u: _xlogx(u) - _xlogx(u + 1),
        conjugate=lambda t: -torch.log1p(-torch.exp(t)),
        activation=lambda v: -softplus(-v),
        conjugate_of_activation=lambda v: softplus(v),
        log_weight=lambda v: v,
    ),
    "js": FDivergence(
        name="js",
        f=lambda u: _xlogx(u) - (u + 1) * torch.log((u + 1) / 2),
        conjugate=lambda t: -torch.log(2 - torch.exp(t)),
        activation=lambda v: LOG2 - softplus(-v),
        conjugate_of_activation=lambda v: softplus(v) - LOG2,
        log_weight=lambda v: v,
    ),
    "kl": FDivergence(
        name="kl",
        f=_xlogx,
        conjugate=lambda t: torch.exp(t - 1),
        activation=lambda v: v,
        conjugate_of_activation=lambda v: torch.exp(v - 1),
        log_weight=lambda v: v - 1,
    ),
    "reverse_kl": FDivergence(
        name="reverse_kl",
        f=lambda u: -torch.log(u),
        conjugate=lambda t: -1 - torch.log(-t),
        activation=lambda v: -torch.exp(-v),
        conjugate_of_activation=lambda v: v - 1,
        log_weight=lambda v: v,
    ),
    "hellinger": FDivergence(
        name="hellinger",
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        conjugate=lambda t: t / (1 - t),
        activation=lambda v: 1 - torch.exp(-v),
        conjugate_of_activation=lambda v: torch.expm1(v),
        log_weight=lambda v: 2 * v,
    ),
    "pearson": FDivergence(
        name="pearson",
        f=lambda u: (u - 1) ** 2,
        conjugate=lambda t: t * t / 4 + t,
        activation=lambda v: v,
        conjugate_of_activation=lambda v: v * v / 4 + v,
        log_weight=lambda v: torch.log((v / 2 + 1).clamp_min(PEARSON_FLOOR)),
    ),
}


def get_divergence(name: str) -> FDivergence:
    if name not in DIVERGENCES:
        raise RlcvError(
            f"unknown f-divergence '{name}'.{did_you_mean(name, DIVERGENCES)} "
            f"Known: {', '.join(DIVERGENCES)}."
        )
    return DIVERGENCES[name]

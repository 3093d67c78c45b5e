"""The control-affine dynamics model (``model_structure=affine``, rlcv.dynamics): exactly quadratic in
the action at every state, trainable, and refused by name when misspelt."""

from __future__ import annotations

import pytest
import torch

from rlcv.dynamics import EnsembleDynamics
from rlcv.errors import RlcvError
from rlcv.estimators.mbmf import MBMFSettings


def _model(structure: str) -> EnsembleDynamics:
    torch.manual_seed(0)
    return EnsembleDynamics(4, 2, ensemble_size=2, hidden_sizes=[16, 16], structure=structure)


def test_affine_model_is_quadratic_in_the_action_and_the_mlp_is_not() -> None:
    """Third finite differences along an action direction vanish for [1, a, a²] features."""
    s = torch.randn(8, 4, dtype=torch.float64)
    e = torch.tensor([0.7, -0.3], dtype=torch.float64)

    def third_difference(model: EnsembleDynamics) -> float:
        model = model.double()
        f = [model.predict(s, j * e.expand(8, -1))[0] for j in range(4)]
        return (f[3] - 3 * f[2] + 3 * f[1] - f[0]).abs().max().item()

    assert third_difference(_model("affine")) < 1e-10
    assert third_difference(_model("mlp")) > 1e-4


def _fit_loss(structure: str, s: torch.Tensor, a: torch.Tensor, nxt: torch.Tensor, r: torch.Tensor) -> float:
    model = _model(structure)
    model.in_stats.fit(torch.cat([s, a], -1))
    model.out_stats.fit(torch.cat([nxt - s, r[:, None]], -1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        ns, rr, _ = model._members(s.repeat(2, 1), a.repeat(2, 1), split=True)
        loss = (ns - nxt).pow(2).mean() + (rr - r).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_affine_model_fits_a_control_affine_system_better_than_the_mlp() -> None:
    """s' = 1.1 s + B(s) a, r = −|a|²: same data, budget and seed; the structure is the difference."""
    g = torch.Generator().manual_seed(1)
    s, a = torch.randn(128, 4, generator=g), torch.randn(128, 2, generator=g)
    b = torch.stack([s[:, 0], torch.ones(128), s[:, 1], -s[:, 2]], -1)  # B(s)'s first column
    nxt = 1.1 * s + b * a[:, :1] + 0.5 * a[:, 1:]
    r = -(a * a).sum(-1)
    affine, mlp = _fit_loss("affine", s, a, nxt, r), _fit_loss("mlp", s, a, nxt, r)
    assert affine < 0.01 and affine < mlp / 3


def test_unknown_structure_is_a_config_error() -> None:
    with pytest.raises(RlcvError, match="model_structure must be one of mlp, affine"):
        MBMFSettings(model_structure="linear")
    with pytest.raises(ValueError, match="structure must be one of"):
        EnsembleDynamics(4, 2, structure="linear")

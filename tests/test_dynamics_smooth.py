"""The action-roughness penalty of the dynamics model (``model_action_smooth``, rlcv.dynamics):
its finite-difference estimate matches the exact action Jacobian, it shrinks the fitted action
response, and a zero weight leaves training bit-identical. The cosine step size within a fit
(``model_lr_final``): its shape, the step size restored after the fit, and 1 = constant."""

from __future__ import annotations

import pytest
import torch

from rlcv.dynamics import EnsembleDynamics, TransitionReplay, _CosineLR, train_dynamics
from rlcv.estimators.mbmf import MBMFSettings


def _model(smooth: float = 0.0) -> EnsembleDynamics:
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 2, ensemble_size=2, hidden_sizes=[16], action_smooth=smooth).double()
    model.in_stats.std.copy_(torch.tensor([1.0, 1.0, 1.0, 2.0, 0.5]))
    model.out_stats.std.copy_(torch.tensor([1.0, 2.0, 4.0, 0.5]))
    return model


def _exact_roughness(model: EnsembleDynamics, s: torch.Tensor, a: torch.Tensor) -> float:
    """‖∂f/∂a · diag(action std)‖²_F in normalised output units, per output, members and states averaged."""
    total = 0.0
    for i in range(len(s)):

        def outputs(act: torch.Tensor, i: int = i) -> torch.Tensor:
            n, r, _ = model._members(s[i : i + 1], act.unsqueeze(0))
            return torch.cat([n[:, 0] / model.out_stats.std[:-1], (r / model.out_stats.std[-1])], -1)

        jac = torch.autograd.functional.jacobian(outputs, a[i])  # [E, S + 1, A]
        total += (jac * model.in_stats.std[3:]).pow(2).sum().item() / jac.shape[0]
    return total / (len(s) * 4)


def test_roughness_estimate_matches_the_exact_jacobian() -> None:
    model = _model()
    s, a = torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 2, dtype=torch.float64)
    torch.manual_seed(1)
    draws = [model.action_roughness(s, a, scale=1e-4).item() for _ in range(400)]
    exact = _exact_roughness(model, s, a)
    assert sum(draws) / len(draws) == pytest.approx(exact, rel=0.05)


def _replay(n: int = 400) -> TransitionReplay:
    """Transitions whose next state does not depend on the action: any fitted action response is spurious."""
    g = torch.Generator().manual_seed(3)
    obs = torch.randn(n, 1, 3, generator=g)
    actions = torch.randn(n, 1, 2, generator=g)
    nxt = 0.9 * obs + 0.3 * torch.randn(n, 1, 3, generator=g)
    replay = TransitionReplay(n)
    done = torch.zeros(n, 1, dtype=torch.bool)
    replay.add(obs, actions, nxt, torch.randn(n, 1, generator=g), done, done)
    return replay


def _trained(smooth: float, steps: int = 30) -> EnsembleDynamics:
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 2, ensemble_size=2, hidden_sizes=[32, 32], action_smooth=smooth)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(5)
    train_dynamics(model, opt, _replay(), steps=steps, batch_size=64, horizon=1)
    return model


def test_penalty_shrinks_the_spurious_action_response() -> None:
    s, a = torch.randn(200, 3), torch.randn(200, 2)
    torch.manual_seed(2)
    free = _trained(0.0).action_roughness(s, a).item()
    torch.manual_seed(2)
    smooth = _trained(10.0).action_roughness(s, a).item()
    assert smooth < 0.5 * free


def test_zero_weight_is_bit_identical_to_no_penalty() -> None:
    """Weight 0 draws no random numbers: old runs and presets replay exactly."""
    a = _trained(0.0, steps=10)
    torch.manual_seed(0)
    plain = EnsembleDynamics(3, 2, ensemble_size=2, hidden_sizes=[32, 32])
    opt = torch.optim.Adam(plain.parameters(), lr=1e-2)
    torch.manual_seed(5)
    train_dynamics(plain, opt, _replay(), steps=10, batch_size=64, horizon=1)
    for x, y in zip(a.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_negative_weight_is_refused() -> None:
    from rlcv.errors import RlcvError

    with pytest.raises((RlcvError, ValueError), match="model_action_smooth"):
        MBMFSettings(model_action_smooth=-1.0)


def test_cosine_step_size_runs_from_the_base_to_its_final_fraction_and_is_restored() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    schedule = _CosineLR(opt, 10, 0.1)
    seen = []
    for i in range(11):
        schedule.at(i)
        seen.append(opt.param_groups[0]["lr"])
    assert (
        seen[0] == pytest.approx(2e-3)
        and seen[5] == pytest.approx(1.1e-3)
        and seen[10] == pytest.approx(2e-4)
    )
    assert all(a >= b for a, b in zip(seen, seen[1:], strict=False))
    schedule.restore()
    assert opt.param_groups[0]["lr"] == 2e-3


def test_a_fit_with_a_decaying_step_size_leaves_the_optimiser_at_its_base_and_differs() -> None:
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 2, ensemble_size=2, hidden_sizes=[32, 32])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(5)
    train_dynamics(model, opt, _replay(), steps=10, batch_size=64, horizon=1, lr_final=0.1)
    assert opt.param_groups[0]["lr"] == 1e-2
    plain = _trained(0.0, steps=10)
    assert not torch.equal(model.layers[0].weight, plain.layers[0].weight)


def test_lr_final_out_of_range_is_refused() -> None:
    from rlcv.errors import RlcvError

    for bad in (0.0, 1.5):
        with pytest.raises((RlcvError, ValueError), match="model_lr_final"):
            MBMFSettings(model_lr_final=bad)

"""rlcv.hpo.landscape: closed forms on a quadratic, Lanczos vs dense eigvalsh, and the training-loop probe."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlcv.hpo.landscape import (
    DEFAULT_ALPHAS,
    LandscapeProbe,
    distance,
    grad_cosine,
    grad_sq_norm,
    hessian_extremes,
    hvp,
    interpolate_step,
    module_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _quadratic(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return M @ M.T + 0.1 * torch.eye(n, dtype=torch.float64), torch.randn(
        n, generator=gen, dtype=torch.float64
    )


@pytest.mark.parametrize("lr", [0.02, 0.1, 0.3])
def test_interpolation_matches_the_closed_form_on_a_quadratic(lr: float) -> None:
    A, b = _quadratic()

    def f(th: torch.Tensor) -> torch.Tensor:
        return 0.5 * th @ A @ th - b @ th

    theta = torch.linspace(-1, 1, 6, dtype=torch.float64)
    g = A @ theta - b
    D = -lr * g
    # l(α) = f(θ) + α gᵀD + ½ α² DᵀAD; its minimiser α* = −gᵀD / DᵀAD.
    gD, DAD = float(g @ D), float(D @ A @ D)
    exact = [float(f(theta)) + a * gD + 0.5 * a * a * DAD for a in DEFAULT_ALPHAS]
    res = interpolate_step(f, theta, D)
    np.testing.assert_allclose(res.losses, exact, rtol=0, atol=1e-6)
    i = int(np.argmin(exact))
    assert res.alpha_star == DEFAULT_ALPHAS[i]
    assert res.floor == pytest.approx(min(exact), abs=1e-6)
    assert res.height == pytest.approx(exact[0] - min(exact), abs=1e-6)
    # l is a parabola with curvature DᵀAD: every second difference on the 0.1 grid is 0.01·DᵀAD.
    assert res.min_second_difference == pytest.approx(0.01 * DAD / abs(exact[0]), abs=1e-6)
    assert res.convex
    alpha_true = -gD / DAD
    if 0 < i < len(DEFAULT_ALPHAS) - 1:
        assert res.alpha_fit == pytest.approx(alpha_true, abs=1e-6)
        assert res.inside
    else:
        assert math.isnan(res.alpha_fit)


def test_interpolation_rejects_a_bad_grid() -> None:
    with pytest.raises(ValueError, match="alphas"):
        interpolate_step(lambda th: th.sum(), torch.zeros(2), torch.ones(2), [0.5, 1.0, 2.0])


def test_small_quantities() -> None:
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    assert distance(a, b) == 5.0 and grad_sq_norm(a) == 25.0
    assert grad_cosine(a, -a) == pytest.approx(-1.0) and grad_cosine(a, b) == 0.0


class _MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))


def _mlp_loss() -> tuple[torch.Tensor, object]:
    torch.manual_seed(0)
    model = _MLP().double()
    X = torch.randn(40, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    return module_loss(model, lambda m: torch.nn.functional.cross_entropy(m.net(X), y))


def _dense_hessian(f, theta: torch.Tensor) -> torch.Tensor:
    return torch.func.hessian(f)(theta)


def test_hvp_equals_the_dense_hessian_times_v() -> None:
    theta, f = _mlp_loss()
    v = torch.randn(theta.numel(), dtype=torch.float64)
    torch.testing.assert_close(hvp(f, theta, v), _dense_hessian(f, theta) @ v)


def test_lanczos_matches_dense_eigvalsh_on_a_small_mlp() -> None:
    theta, f = _mlp_loss()  # P = 51
    eig = torch.linalg.eigvalsh(_dense_hessian(f, theta))
    ext = hessian_extremes(f, theta, iterations=30)
    assert ext.lambda_max == pytest.approx(float(eig[-1]), rel=1e-4)
    assert ext.lambda_min == pytest.approx(float(eig[0]), rel=1e-4)


def _power_iteration(f, theta: torch.Tensor, iters: int = 500) -> float:
    v = torch.randn(theta.numel(), dtype=theta.dtype, generator=torch.Generator().manual_seed(1))
    lam = 0.0
    for _ in range(iters):
        w = hvp(f, theta, v / v.norm())
        lam = float(w @ (v / v.norm()))
        v = w
    return lam


def test_lanczos_returns_the_top_eigenvalue_where_power_iteration_returns_a_negative_one() -> None:
    theta, f_mlp = _mlp_loss()
    u = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    u = u / u.norm()
    top = float(torch.linalg.eigvalsh(_dense_hessian(f_mlp, theta))[-1])

    def f(th: torch.Tensor) -> torch.Tensor:  # one strongly concave direction: a saddle
        return f_mlp(th) - 2.5 * top * (u @ th) ** 2

    eig = torch.linalg.eigvalsh(_dense_hessian(f, theta))
    assert eig[-1] > 0 and abs(float(eig[0])) > float(eig[-1])  # indefinite, the negative end dominates
    assert _power_iteration(f, theta) == pytest.approx(float(eig[0]), rel=1e-3)  # largest |λ|: negative
    ext = hessian_extremes(f, theta, iterations=30)
    assert ext.lambda_max == pytest.approx(float(eig[-1]), rel=1e-4)
    assert ext.lambda_min == pytest.approx(float(eig[0]), rel=1e-4)


def test_lanczos_is_exact_with_a_full_krylov_space_on_a_quadratic() -> None:
    A, b = _quadratic(8)
    ext = hessian_extremes(
        lambda th: 0.5 * th @ A @ th - b @ th, torch.zeros(8, dtype=torch.float64), iterations=8
    )
    eig = torch.linalg.eigvalsh(A)
    assert ext.lambda_max == pytest.approx(float(eig[-1]), rel=1e-10)
    assert ext.lambda_min == pytest.approx(float(eig[0]), rel=1e-10)


def test_module_loss_swaps_parameters_without_touching_the_module() -> None:
    theta, f = _mlp_loss()
    before = theta.clone()
    assert float(f(theta)) != float(f(theta + 0.1))
    (g,) = torch.autograd.grad(f(theta.requires_grad_(True)), theta)
    assert g.shape == theta.shape and torch.isfinite(g).all()
    torch.testing.assert_close(theta.detach(), before)


def test_probe_on_rlcv_ppo_policy_and_value_losses() -> None:
    """The probe as a callback on PPO's own networks: the clipped surrogate and the value loss on a
    fixed rollout-like batch, each stepped by its own optimiser."""
    from rlcv.agents import agent_class, build_agent_config

    obs_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    torch.manual_seed(0)
    agent = agent_class("ppo")(
        observation_space=obs_space, action_space=act_space, config=build_agent_config("ppo", {})
    )
    obs = torch.randn(64, 3)
    with torch.no_grad():
        sample = agent.policy.sample(obs)
        actions, old_log_prob = sample.action[:, 0], sample.log_prob[:, 0]
    adv, returns = torch.randn(64), torch.randn(64)

    def policy_loss(policy: torch.nn.Module) -> torch.Tensor:
        ratio = (policy.log_prob(obs, actions) - old_log_prob).exp()
        return -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()

    def value_loss(value_fn: torch.nn.Module) -> torch.Tensor:
        return (value_fn(obs) - returns).pow(2).mean()

    probes, opts = [], []
    for module, loss in ((agent.policy, policy_loss), (agent.value_fn, value_loss)):
        probes.append(LandscapeProbe(module, loss, every=2, lanczos_every=1, lanczos_iterations=10))
        opts.append(torch.optim.SGD(module.parameters(), lr=0.05))
    for _ in range(6):
        for probe, opt, (module, loss) in zip(
            probes, opts, ((agent.policy, policy_loss), (agent.value_fn, value_loss)), strict=True
        ):
            opt.zero_grad()
            loss(module).backward()
            probe.before_step()
            opt.step()
            probe.after_step()
    for probe in probes:
        assert [r["step"] for r in probe.history] == [0, 2, 4]
        first, last = probe.history[0], probe.history[-1]
        assert first["dist_init"] == 0.0 and last["dist_init"] > 0.0
        assert all(r["height"] >= 0 and r["lambda_max"] >= r["lambda_min"] for r in probe.history)
        assert math.isnan(first["grad_cosine"]) and -1 <= last["grad_cosine"] <= 1
    # The value loss is a least-squares fit: its first step from init goes downhill.
    assert probes[1].history[0]["floor"] < probes[1].history[0]["loss"]

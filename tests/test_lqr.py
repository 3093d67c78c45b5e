"""Tests of the ``rlcv/LQR-v0`` environment and of its exact return / policy gradient."""

from __future__ import annotations

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

# Importing from rlcv also imports the rlcv package, which registers rlcv/LQR-v0.
from rlcv.envs.lqr import LQREnv, exact_policy_gradient, exact_return

ENV_ID = "rlcv/LQR-v0"


def _policy(action_dim: int, state_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random linear-Gaussian policy parameters (K, k0, log_std) in float64."""
    g = torch.Generator().manual_seed(seed)
    K = 0.3 * torch.randn(action_dim, state_dim, generator=g, dtype=torch.float64)
    k0 = 0.5 * torch.randn(action_dim, generator=g, dtype=torch.float64)
    log_std = -0.7 + 0.2 * torch.randn(action_dim, generator=g, dtype=torch.float64)
    return K, k0, log_std


# ---------------------------------------------------------------------------- environment


def test_make_and_check_env() -> None:
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, LQREnv)
    # Unbounded Box spaces only trigger warnings (expected: actions must not be clipped).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
        check_env(env)
        check_env(gym.make(ENV_ID, state_dim=4, action_dim=2, horizon=30))


def test_kwargs_spaces_and_matrices() -> None:
    env = gym.make(ENV_ID, state_dim=4, action_dim=2, horizon=30)
    lqr = env.unwrapped
    assert env.observation_space.shape == (4,) and env.observation_space.dtype == np.float32
    assert env.action_space.shape == (2,) and env.action_space.dtype == np.float32
    assert np.all(np.isinf(env.action_space.low)) and np.all(np.isinf(env.action_space.high))
    assert lqr.A.shape == (4, 4) and lqr.B.shape == (4, 2)
    assert lqr.Q.shape == (4, 4) and lqr.R.shape == (2, 2)
    assert all(m.dtype == np.float64 for m in (lqr.A, lqr.B, lqr.Q, lqr.R))
    assert np.max(np.abs(np.linalg.eigvals(lqr.A))) == pytest.approx(0.9)
    np.testing.assert_array_equal(lqr.Q, np.eye(4))
    np.testing.assert_array_equal(lqr.R, 0.1 * np.eye(2))
    # Matrices depend on system_seed only.
    np.testing.assert_array_equal(lqr.A, LQREnv(state_dim=4, action_dim=2).A)
    assert not np.allclose(lqr.A, LQREnv(state_dim=4, action_dim=2, system_seed=1).A)

    obs, info = env.reset(seed=0)
    assert obs.shape == (4,) and obs.dtype == np.float32 and info == {}
    big = np.full(2, 1e3, dtype=np.float32)  # far outside any "normal" range: must not be clipped
    for t in range(30):
        obs, reward, terminated, truncated, info = env.step(big)
        assert isinstance(reward, float) and not truncated and info == {}
        assert terminated == (t == 29)  # finite horizon: terminated after exactly `horizon` steps
    with pytest.raises(RuntimeError):
        env.unwrapped.step(big)


def test_action_not_clipped() -> None:
    lqr = LQREnv(noise_std=0.0)
    s = np.array([0.3, -0.2])
    a = np.array([50.0], dtype=np.float32)
    lqr.reset(options={"state": s})
    obs, reward, *_ = lqr.step(a)
    np.testing.assert_allclose(obs, lqr.A @ s + lqr.B @ a, rtol=1e-6)
    assert reward == pytest.approx(-(s @ s + 0.1 * 50.0**2))


def test_seeded_reset_reproducible() -> None:
    def trajectory(seed: int) -> np.ndarray:
        env = gym.make(ENV_ID)
        obs = [env.reset(seed=seed)[0]]
        for _ in range(5):
            obs.append(env.step(np.array([0.1], dtype=np.float32))[0])
        return np.stack(obs)

    np.testing.assert_array_equal(trajectory(123), trajectory(123))
    assert not np.allclose(trajectory(123), trajectory(124))


# ---------------------------------------------------------------------------- exact model


def test_model_step_matches_env() -> None:
    lqr = gym.make(ENV_ID, state_dim=3, action_dim=2).unwrapped
    g = torch.Generator().manual_seed(0)
    s = torch.randn(5, 3, generator=g, dtype=torch.float64)
    a = torch.randn(5, 2, generator=g, dtype=torch.float64)
    mean_next, reward = lqr.model_step(s, a)
    assert mean_next.shape == (5, 3) and reward.shape == (5,)
    np.testing.assert_allclose(mean_next.numpy(), s.numpy() @ lqr.A.T + a.numpy() @ lqr.B.T, rtol=1e-12)
    torch.testing.assert_close(reward, lqr.reward_fn(s, a))

    lqr.reset(seed=0)
    for i in range(5):
        lqr.reset(options={"state": s[i].numpy()})
        _, env_reward, *_ = lqr.step(a[i].numpy())
        assert env_reward == pytest.approx(reward[i].item(), rel=1e-12)

    # Extra batch dimensions and autograd: d r / d a = -2 R a.
    a_req = a.reshape(5, 1, 2).clone().requires_grad_(True)
    _, r = lqr.model_step(s.reshape(5, 1, 3), a_req)
    assert r.shape == (5, 1)
    r.sum().backward()
    torch.testing.assert_close(a_req.grad, -2 * 0.1 * a_req.detach())

    # With no process noise the env's next state is exactly the model mean (up to float32 obs).
    det = LQREnv(state_dim=3, action_dim=2, noise_std=0.0)
    det.reset(options={"state": s[0].numpy()})
    obs, *_ = det.step(a[0].numpy())
    np.testing.assert_allclose(obs, mean_next[0].numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- exact return / gradient


def test_exact_return_one_step_closed_form() -> None:
    # H = 1: J = -(init_std^2 tr(Q) + k0^T R k0 + init_std^2 tr(R K K^T) + sum_i R_ii sigma_i^2).
    lqr = LQREnv(state_dim=3, action_dim=2, horizon=1, init_std=0.7, action_cost=0.3)
    K, k0, log_std = _policy(2, 3, seed=1)
    sigma2 = torch.exp(2 * log_std)
    expected = -(0.49 * 3 + 0.3 * (k0 @ k0) + 0.3 * 0.49 * (K**2).sum() + 0.3 * sigma2.sum())
    torch.testing.assert_close(exact_return(lqr, K, k0, log_std), expected)


def test_exact_return_accepts_wrapped_env_and_numpy() -> None:
    env = gym.make(ENV_ID)
    K, k0, log_std = _policy(1, 2, seed=2)
    j = exact_return(env.unwrapped, K, k0, log_std)
    assert j.dtype == torch.float64 and j.shape == ()
    torch.testing.assert_close(exact_return(env, K, k0, log_std), j)
    torch.testing.assert_close(exact_return(env, K.numpy(), k0.numpy(), log_std.numpy()), j)
    torch.testing.assert_close(
        exact_return(env, K.float(), k0.float(), log_std.float()), j, rtol=1e-6, atol=0
    )
    with pytest.raises(ValueError):
        exact_return(env, K.T, k0, log_std)


@pytest.mark.parametrize("gamma", [1.0, 0.99])
@pytest.mark.parametrize(("state_dim", "action_dim"), [(2, 1), (3, 2)])
def test_exact_gradient_matches_finite_differences(gamma: float, state_dim: int, action_dim: int) -> None:
    env = gym.make(ENV_ID, state_dim=state_dim, action_dim=action_dim)
    params = dict(zip(("K", "k0", "log_std"), _policy(action_dim, state_dim, seed=3), strict=True))
    grad = exact_policy_gradient(env, **params, gamma=gamma)
    assert all(not p.requires_grad and p.grad is None for p in params.values())  # inputs untouched

    h = 1e-5
    for name, value in params.items():
        assert grad[name].shape == value.shape and grad[name].dtype == torch.float64
        fd = torch.zeros_like(value)
        for idx in np.ndindex(*value.shape):
            plus, minus = dict(params), dict(params)
            plus[name], minus[name] = value.clone(), value.clone()
            plus[name][idx] += h
            minus[name][idx] -= h
            fd[idx] = (exact_return(env, **plus, gamma=gamma) - exact_return(env, **minus, gamma=gamma)) / (
                2 * h
            )
        rel_err = (torch.linalg.norm(fd - grad[name]) / torch.linalg.norm(grad[name])).item()
        assert rel_err < 1e-6, (name, rel_err)


def test_exact_return_matches_monte_carlo() -> None:
    """Roll out the real env; the mean (discounted) return must be within 4 SE of the exact one.

    The same check against deliberately wrong formulas (process noise or policy noise ignored)
    must fail, which shows the test can detect errors of that size.
    """
    n_episodes = 4000
    env = gym.make(ENV_ID)
    lqr = env.unwrapped
    # A stabilising gain keeps the return variance (and so the standard error) moderate.
    K = torch.tensor([[0.5, -0.3]], dtype=torch.float64)
    k0 = torch.tensor([0.3], dtype=torch.float64)
    log_std = torch.tensor([np.log(0.5)], dtype=torch.float64)
    K_np, k0_np, sigma = K.numpy(), k0.numpy(), float(np.exp(log_std.item()))

    gammas = (1.0, 0.99)
    policy_rng = np.random.default_rng(12345)
    returns = np.zeros((len(gammas), n_episodes))
    env.reset(seed=2024)  # seeds the env's np_random once; later resets continue the stream
    for ep in range(n_episodes):
        obs, _ = env.reset()
        terminated, t = False, 0
        while not terminated:
            action = K_np @ obs.astype(np.float64) + k0_np + sigma * policy_rng.standard_normal(1)
            obs, reward, terminated, truncated, _ = env.step(action)
            assert not truncated
            for g_idx, gamma in enumerate(gammas):
                returns[g_idx, ep] += gamma**t * reward
            t += 1
        assert t == lqr.horizon

    no_process_noise = copy.copy(lqr)
    no_process_noise.noise_std = 0.0
    deterministic_policy = torch.full_like(log_std, -np.inf)
    for g_idx, gamma in enumerate(gammas):
        mc_mean = returns[g_idx].mean()
        se = returns[g_idx].std(ddof=1) / np.sqrt(n_episodes)
        exact = exact_return(env, K, k0, log_std, gamma=gamma).item()
        assert abs(mc_mean - exact) < 4 * se, (gamma, mc_mean, exact, se)
        for wrong in (
            exact_return(no_process_noise, K, k0, log_std, gamma=gamma).item(),
            exact_return(env, K, k0, deterministic_policy, gamma=gamma).item(),
        ):
            assert abs(mc_mean - wrong) > 4 * se, (gamma, mc_mean, wrong, se)

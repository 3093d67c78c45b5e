"""compute_gae against hand-computed values: termination, truncation, λ = 1 and λ = 0."""

from __future__ import annotations

import pytest
import torch

from rlcv.rollout import compute_gae

GAMMA = 0.5

# [T=4, N=2]. Env 0 terminates at t=1 (no bootstrap; next_values[1] = 9 must be ignored).
# Env 1 is truncated at t=2 (bootstraps from next_values[2] = 7, the value of the final obs, but the
# recursion is cut there: t=3 starts a new episode). Both bootstrap from next_values at t=3.
REWARDS = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
VALUES = torch.tensor([[0.5, 1.0], [1.0, 2.0], [1.5, 3.0], [2.0, 4.0]])
NEXT_VALUES = torch.tensor([[1.0, 2.0], [9.0, 3.0], [2.0, 7.0], [2.5, 1.5]])
TERMINATED = torch.tensor([[False, False], [True, False], [False, False], [False, False]])
TRUNCATED = torch.tensor([[False, False], [False, False], [False, True], [False, False]])

# One-step TD errors δ_t = r_t + γ (1 − term_t) V(s'_t) − V(s_t), by hand with γ = 0.5:
#   env 0: 1 + .5·1 − .5 = 1;  2 − 1 = 1 (terminated);  3 + .5·2 − 1.5 = 2.5;  4 + .5·2.5 − 2 = 3.25
#   env 1: 0 + .5·2 − 1 = 0;  1 + .5·3 − 2 = .5;  0 + .5·7 − 3 = .5 (truncated);  1 + .5·1.5 − 4 = −2.25
DELTAS = torch.tensor([[1.0, 0.0], [1.0, 0.5], [2.5, 0.5], [3.25, -2.25]])


def _gae(gae_lambda: float, **overrides) -> tuple[torch.Tensor, torch.Tensor]:
    kwargs = {
        "rewards": REWARDS,
        "values": VALUES,
        "next_values": NEXT_VALUES,
        "terminated": TERMINATED,
        "truncated": TRUNCATED,
    }
    kwargs.update(overrides)
    return compute_gae(**kwargs, gamma=GAMMA, gae_lambda=gae_lambda)


def test_gae_hand_computed_lambda_half() -> None:
    adv, ret = _gae(0.5)  # γλ = 0.25
    expected = torch.tensor(
        [
            [1.0 + 0.25 * 1.0, 0.0 + 0.25 * (0.5 + 0.25 * 0.5)],  # 1.25, 0.15625
            [1.0, 0.5 + 0.25 * 0.5],  # env 0 terminated: cut;  0.625
            [2.5 + 0.25 * 3.25, 0.5],  # 3.3125; env 1 truncated: cut
            [3.25, -2.25],
        ]
    )
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(ret, expected + VALUES, rtol=0, atol=1e-6)


def test_gae_lambda_zero_is_td_error() -> None:
    adv, ret = _gae(0.0)
    torch.testing.assert_close(adv, DELTAS, rtol=0, atol=1e-6)
    torch.testing.assert_close(ret, DELTAS + VALUES, rtol=0, atol=1e-6)


def test_gae_lambda_one_is_monte_carlo_return_minus_value() -> None:
    adv, ret = _gae(1.0)
    # Discounted returns G_t (bootstrapped with γ V(s') only at truncation and at the rollout end):
    #   env 0: G_1 = 2 (terminal), G_0 = 1 + .5·2 = 2;  G_3 = 4 + .5·2.5 = 5.25, G_2 = 3 + .5·5.25 = 5.625
    #   env 1: G_2 = 0 + .5·7 = 3.5 (truncated), G_1 = 1 + .5·3.5 = 2.75, G_0 = .5·2.75 = 1.375;
    #          G_3 = 1 + .5·1.5 = 1.75
    mc = torch.tensor([[2.0, 1.375], [2.0, 2.75], [5.625, 3.5], [5.25, 1.75]])
    torch.testing.assert_close(ret, mc, rtol=0, atol=1e-6)
    torch.testing.assert_close(adv, mc - VALUES, rtol=0, atol=1e-6)


def test_gae_termination_ignores_next_value_truncation_uses_it() -> None:
    nv = NEXT_VALUES.clone()
    nv[1, 0] = -1000.0  # terminated step: irrelevant
    adv, _ = _gae(0.5, next_values=nv)
    torch.testing.assert_close(adv, _gae(0.5)[0])
    nv = NEXT_VALUES.clone()
    nv[2, 1] = 7.0 + 2.0  # truncated step: δ_2 grows by γ·2 = 1, Â_1 by γλ·1, Â_0 by (γλ)²·1
    adv2, _ = _gae(0.5, next_values=nv)
    diff = adv2 - _gae(0.5)[0]
    torch.testing.assert_close(diff[:, 1], torch.tensor([0.0625, 0.25, 1.0, 0.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(diff[:, 0], torch.zeros(4), rtol=0, atol=0)


def test_gae_does_not_modify_inputs() -> None:
    before = [t.clone() for t in (REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED)]
    _gae(0.95)
    for a, b in zip(before, (REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("gae_lambda", [0.0, 0.7, 1.0])
def test_gae_matches_forward_sum_definition(gae_lambda: float) -> None:
    """Â_t = Σ_k (γλ)^k δ_{t+k} up to the end of the episode (or rollout), on a random rollout."""
    g = torch.Generator().manual_seed(0)
    T, N, gamma = 40, 3, 0.9
    rewards = torch.randn(T, N, generator=g, dtype=torch.float64)
    values = torch.randn(T, N, generator=g, dtype=torch.float64)
    next_values = torch.randn(T, N, generator=g, dtype=torch.float64)
    u = torch.rand(T, N, generator=g)
    terminated, truncated = u < 0.08, (u >= 0.08) & (u < 0.15)
    adv, ret = compute_gae(
        rewards, values, next_values, terminated, truncated, gamma=gamma, gae_lambda=gae_lambda
    )
    assert terminated.any() and truncated.any()
    expected = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        for t in range(T):
            total, coef = 0.0, 1.0
            for k in range(t, T):
                boot = 0.0 if terminated[k, n] else gamma * next_values[k, n].item()
                total += coef * (rewards[k, n].item() + boot - values[k, n].item())
                if terminated[k, n] or truncated[k, n]:
                    break
                coef *= gamma * gae_lambda
            expected[t, n] = total
    torch.testing.assert_close(adv, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ret, expected + values, rtol=1e-10, atol=1e-10)

"""The tanh-squashed Gaussian (``squash_output``): change of variables, bounds, entropy, replay, and
the continuous BGAN objective trained with it."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from rlcv.cli import main
from rlcv.errors import RlcvError
from rlcv.logger import WALL_CLOCK_METRICS
from rlcv.policies import GaussianPolicy, Reparameterised, SquashedGaussianPolicy, make_policy

# Asymmetric, non-unit bounds so the rescaling's Jacobian is exercised, not just tanh's.
LOW, HIGH = np.array([-2.0, 0.0, 0.0], np.float32), np.array([1.0, 3.0, 1.0], np.float32)
BOX = gym.spaces.Box(low=LOW, high=HIGH)
OBS = gym.spaces.Box(-1.0, 1.0, (4,))


def _policy(seed: int = 0, log_std_init: float = 0.3) -> SquashedGaussianPolicy:
    torch.manual_seed(seed)
    policy = make_policy(OBS, BOX, hidden_sizes=[8], squash_output=True, log_std_init=log_std_init)
    assert isinstance(policy, SquashedGaussianPolicy) and isinstance(policy, Reparameterised)
    with torch.no_grad():  # means away from 0 so the Jacobian varies across samples
        policy.mean_net[-1].weight.normal_(0.0, 0.3)
    return policy


def _reference(policy: SquashedGaussianPolicy, obs: torch.Tensor) -> TransformedDistribution:
    """torch.distributions' own tanh + affine pushforward of N(μ, σ²), elementwise, in float64 (so
    its atanh of actions near the bounds is exact enough to compare against)."""
    centre, half = torch.from_numpy((LOW + HIGH) / 2).double(), torch.from_numpy((HIGH - LOW) / 2).double()
    base = Normal(policy.mean_net(obs).unsqueeze(1).double(), policy.log_std.exp().double())
    return TransformedDistribution(base, [TanhTransform(), AffineTransform(centre, half)])


def test_log_prob_matches_torch_transformed_distribution() -> None:
    policy, obs = _policy(), torch.randn(6, 4)
    with torch.no_grad():
        s = policy.sample(obs, 50)
        ref = _reference(policy, obs)
        u64 = ref.base_dist.loc + ref.base_dist.scale * s.noise.double()
        action64 = ref.transforms[1](ref.transforms[0](u64))
        torch.testing.assert_close(s.action.double(), action64, rtol=1e-5, atol=1e-6)
        expected = ref.log_prob(action64).sum(-1).float()
        torch.testing.assert_close(s.log_prob, expected, rtol=1e-4, atol=1e-3)
        # From the stored (float32) action alone, away from where float32 tanh saturates.
        inside = ((s.action - policy._centre).abs() < 0.99 * policy._half).all(-1)
        replayed = policy.log_prob(obs, s.action)
        torch.testing.assert_close(replayed[inside], s.log_prob[inside], rtol=1e-4, atol=1e-3)


def test_log_prob_is_a_density_on_the_box() -> None:
    """Numerical change of variables: the density integrates to 1 over a 1-D box (trapezoid rule)."""
    torch.manual_seed(0)
    policy = make_policy(OBS, gym.spaces.Box(-2.0, 3.0, (1,)), hidden_sizes=[], squash_output=True)
    grid = torch.linspace(-2.0, 3.0, 200_001)[1:-1, None]
    with torch.no_grad():
        density = policy.log_prob(torch.full((len(grid), 4), 0.3), grid).exp()
    assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=2e-3)


def test_samples_inside_the_bounds_and_replay_exactly() -> None:
    policy, obs = _policy(log_std_init=2.0), torch.randn(8, 4)  # wide: many draws near the bounds
    s = policy.sample(obs, 100)
    a = s.action.detach().numpy()
    assert np.all(a >= LOW) and np.all(a <= HIGH)
    torch.testing.assert_close(policy.action_from_noise(obs, s.noise), s.action)
    inside = (s.action - policy._centre).abs() < 0.999 * policy._half  # away from float32 saturation
    recovered = policy.noise_from_action(obs, s.action)
    torch.testing.assert_close(recovered[inside], s.noise[inside], rtol=1e-3, atol=1e-3)
    mode = policy.mode(obs).detach().numpy()
    assert np.all(mode >= LOW) and np.all(mode <= HIGH)


def test_numpy_act_matches_torch_sample() -> None:
    policy, obs = _policy(), torch.randn(5, 4)
    torch.manual_seed(3)
    action, log_prob, noise = policy.act(obs.numpy(), 7)
    torch.manual_seed(3)
    with torch.no_grad():
        s = policy.sample(obs, 7)
    np.testing.assert_array_equal(noise, s.noise.numpy())
    np.testing.assert_allclose(action, s.action.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_prob, s.log_prob.numpy(), rtol=1e-4, atol=1e-4)


def test_entropy_matches_monte_carlo() -> None:
    policy, obs = _policy(), torch.randn(3, 4)
    torch.manual_seed(1)
    with torch.no_grad():
        mc = -policy.sample(obs, 200_000).log_prob.mean(1)
        torch.testing.assert_close(policy.entropy(obs), mc, rtol=0, atol=0.02)


def test_unsquashed_policy_is_still_the_default_and_bad_uses_are_one_error() -> None:
    torch.manual_seed(0)
    assert type(make_policy(OBS, BOX, hidden_sizes=[8])) is GaussianPolicy
    with pytest.raises(RlcvError, match="finite bounds"):
        make_policy(OBS, gym.spaces.Box(-np.inf, np.inf, (2,)), hidden_sizes=[8], squash_output=True)
    with pytest.raises(RlcvError, match="Box action spaces only"):
        make_policy(OBS, gym.spaces.MultiBinary(3), hidden_sizes=[8], squash_output=True)


def _train(run: Path, squash: bool) -> list[dict[str, str]]:
    args = ["train", "--algo", "bgan", "--env", "rlcv/BGAN-DigitsCont-v0", "--steps", "48", "--seed", "0"]
    args += ["--set", "n_steps=16", "n_samples=4", "hidden_sizes=[16]"]
    args += [f"squash_output={str(squash).lower()}"]
    args += ["--env-kwargs", '{"disc_hidden_sizes": [16], "disc_batch_size": 16, "eval_samples": 60}']
    assert main([*args, "--no-progress", "--run-dir", str(run)]) == 0
    with (run / "metrics.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in csv.DictReader(f)]


def test_continuous_bgan_trains_with_it_and_is_reproducible(tmp_path: Path) -> None:
    rows = _train(tmp_path / "A", squash=True)
    assert rows and all(np.isfinite(float(r["generator_loss"])) for r in rows)
    assert float(rows[-1]["grad_norm"]) > 0 and rows[-1]["log_z_ema"] != ""
    assert _train(tmp_path / "B", squash=True) == rows
    assert _train(tmp_path / "C", squash=False) != rows  # the key does select another generator

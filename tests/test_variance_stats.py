"""Statistics of `rlcv bench variance` / `gradcheck` on synthetic data with known truth, and the
perfect-model ceiling's windowed sums against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlcv.diagnostics.ceiling import score_var_ratio, windowed_sum
from rlcv.diagnostics.gradient_stats import (
    bias_tests,
    bootstrap_weights,
    clip_factors,
    mean_sq_norm,
    ratio_cis,
    rel_trace_cov_corrected,
    trace_cov,
    trace_cov_mom,
    weighted_trace_and_norm,
)
from rlcv.rollout import compute_gae


def _gaussian(rng: np.random.Generator, mean: np.ndarray, chol: np.ndarray, m: int) -> np.ndarray:
    return mean + rng.standard_normal((m, len(mean))) @ chol.T


def test_gram_formulas_equal_the_direct_ones() -> None:
    g = np.random.default_rng(0).standard_normal((7, 5))
    gram = g @ g.T
    assert trace_cov(gram) == pytest.approx(g.var(0, ddof=1).sum(), rel=1e-12)
    assert mean_sq_norm(gram) == pytest.approx(g.mean(0) @ g.mean(0), rel=1e-12)
    # a resample expressed as counts equals the explicit resample
    idx = np.array([0, 0, 3, 4, 4, 4, 6])
    w = np.bincount(idx, minlength=7)[None, :].astype(float)
    t, n = weighted_trace_and_norm(gram, w)
    assert t[0] == pytest.approx(g[idx].var(0, ddof=1).sum(), rel=1e-12)
    assert n[0] == pytest.approx(g[idx].mean(0) @ g[idx].mean(0), rel=1e-12)
    assert np.allclose(bootstrap_weights(7, 3, 0).sum(1), 7)
    assert np.allclose(clip_factors(np.array([0.25, 4.0]), 1.0), [1.0, 0.5])


def test_bias_corrected_denominator_is_unbiased_where_the_plain_one_saturates() -> None:
    """Known g and Σ with tr Σ / M = 10 ‖g‖²: E‖ḡ‖² = ‖g‖² + tr Σ / M, E(‖ḡ‖² − t̂/M) = ‖g‖²."""
    rng = np.random.default_rng(1)
    d, m, reps = 6, 20, 4000
    g = np.full(d, 0.5)  # ‖g‖² = 1.5
    chol = np.linalg.cholesky(np.diag(np.linspace(10, 40, d)) + 5.0)
    sigma = chol @ chol.T
    tr_sigma = np.trace(sigma)
    t_hat, n_plain, n_corr = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        gram = (x := _gaussian(rng, g, chol, m)) @ x.T
        t_hat[r], n_plain[r] = trace_cov(gram), mean_sq_norm(gram)
        n_corr[r] = n_plain[r] - t_hat[r] / m
    se = n_corr.std() / np.sqrt(reps)
    assert abs(t_hat.mean() - tr_sigma) < 4 * t_hat.std() / np.sqrt(reps)
    assert abs(n_corr.mean() - g @ g) < 4 * se
    assert n_plain.mean() - g @ g == pytest.approx(tr_sigma / m, rel=0.05)  # the saturation the fix removes
    assert rel_trace_cov_corrected(np.eye(3)) == np.inf  # ‖ḡ‖² − t̂/M ≤ 0: nothing known about ‖g‖


def test_paired_bootstrap_ci_covers_the_true_ratio() -> None:
    """Estimator B = (A + W)/2 on common random numbers A: true tr Cov ratio 1/2."""
    rng = np.random.default_rng(2)
    m, d, hits, reps = 100, 4, 0, 100
    for r in range(reps):
        a = rng.standard_normal((m, d)) + 1.0
        b = 0.5 * (a + rng.standard_normal((m, d)))
        cis = ratio_cis([a @ a.T, b @ b.T], 0, bootstrap_weights(m, 400, r))
        assert cis[0]["trace_ratio"] == [1.0, 1.0]
        lo, hi = cis[1]["trace_ratio"]
        hits += lo <= 0.5 <= hi
    assert hits >= 88  # nominal 95 %


def test_median_of_means_matches_the_trace_without_outliers_and_resists_one() -> None:
    rng = np.random.default_rng(3)
    g = rng.standard_normal((200, 5))
    assert trace_cov_mom(g @ g.T) == pytest.approx(5.0, rel=0.25)
    g[7] *= 1e3
    assert trace_cov_mom(g @ g.T) < 10 < trace_cov(g @ g.T)


@pytest.mark.parametrize("with_ref", [False, True])
def test_chi2_and_projection_tests_accept_unbiased_and_reject_biased(with_ref: bool) -> None:
    rng = np.random.default_rng(4)
    d, m = 30, 300
    g = rng.standard_normal(d)
    chol = np.linalg.cholesky(0.5 * np.eye(d) + 0.5)  # strongly correlated coordinates
    ref_samples = _gaussian(rng, g, chol, 200) if with_ref else None
    reference = ref_samples.mean(0) if ref_samples is not None else g
    ok = bias_tests(_gaussian(rng, g, chol, m), reference, ref_samples)
    assert not any(ok.rejected.values()), ok
    # a bias of 0.15 per coordinate along g: each |z| ≈ 0.15 / sqrt(1/300 (+1/200)) is below Bonferroni
    biased = bias_tests(_gaussian(rng, g + 0.15 * g / np.abs(g), chol, m), reference, ref_samples)
    assert biased.rejected["chi2"] or biased.rejected["projection"], biased
    shrunk = bias_tests(_gaussian(rng, 0.8 * g, chol, m), reference, ref_samples)  # the broken-CV kind
    assert shrunk.rejected["chi2"] and shrunk.rejected["projection"], shrunk


def test_chi2_test_holds_its_level_under_correlation() -> None:
    rng = np.random.default_rng(5)
    d, m = 20, 100
    chol = np.linalg.cholesky(0.2 * np.eye(d) + 0.8)
    p = [bias_tests(_gaussian(rng, np.ones(d), chol, m), np.ones(d), alpha=0.05).chi2_p for _ in range(400)]
    assert 0.02 < np.mean(np.array(p) < 0.05) < 0.09


def test_windowed_sum_cuts_at_episode_and_batch_end() -> None:
    deltas = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0])[:, None]
    dones = torch.tensor([False, True, False, False, False])[:, None]
    got = windowed_sum(deltas, dones, 3, 0.5)[:, 0].tolist()
    # t=0: 1 + .5·2 (done at 1); t=1: 2; t=2: 4 + 4 + 4; t=3: 8 + 8 (batch end); t=4: 16
    assert got == [2.0, 2.0, 12.0, 16.0, 16.0]
    assert windowed_sum(deltas, dones, 0, 0.5).abs().sum() == 0


def test_lambda_weighted_d_over_the_whole_batch_is_the_gae_advantage() -> None:
    """k ≥ T: D^λ = Â exactly, so the perfect-model ratio with η = 1 is 0 (structure fully removed)."""
    g = torch.Generator().manual_seed(0)
    T, N, gamma, lam = 12, 3, 0.9, 0.8
    rewards, values, next_values = (torch.randn(T, N, generator=g, dtype=torch.float64) for _ in range(3))
    terminated = torch.rand(T, N, generator=g) < 0.1
    truncated = (torch.rand(T, N, generator=g) < 0.1) & ~terminated
    deltas, _ = compute_gae(rewards, values, next_values, terminated, truncated, gamma=gamma, gae_lambda=0.0)
    adv, _ = compute_gae(rewards, values, next_values, terminated, truncated, gamma=gamma, gae_lambda=lam)
    d_lam = windowed_sum(deltas, terminated | truncated, T, gamma * lam)
    assert torch.allclose(d_lam, adv)
    a, d = adv.reshape(-1).numpy(), d_lam.reshape(-1).numpy()
    assert score_var_ratio(a, d, "fixed") == pytest.approx(0.0, abs=1e-12)
    assert score_var_ratio(a, np.zeros_like(a), "fitted") == 1.0
    noisy = d + np.random.default_rng(0).standard_normal(d.shape)
    assert score_var_ratio(a, noisy, "fitted") == pytest.approx(1 - np.corrcoef(a, noisy)[0, 1] ** 2)


def test_projection_test_keeps_its_level_when_the_reference_is_noisy() -> None:
    """Signal small against the noise (tr Σ / ‖g‖² ≈ 75 per batch, as PPO's gradient late in training):
    the sample and the reference come from one distribution, so the test must reject at about its
    level. Taking the direction from the same reference batches it is compared with would not: the
    reference's noise inflates its own projection, and the test would reject nearly always."""
    rng = np.random.default_rng(11)
    d, m, r, trials = 30, 200, 100, 100
    g = np.full(d, 0.2)  # ‖g‖² = 1.2, tr Σ = 30 · 3 = 90
    rejections = 0
    for _ in range(trials):
        samples = g + math.sqrt(3.0) * rng.standard_normal((m, d))
        ref_samples = g + math.sqrt(3.0) * rng.standard_normal((r, d))
        rejections += bias_tests(samples, ref_samples.mean(0), ref_samples).rejected["projection"]
    # α = 0.01: P(≥ 5 of 100) ≈ 0.003 for a test at its level; the same-batch direction rejected
    # 72 of these 100 (the regression this guards against), so 100 trials keep the power of 300.
    assert rejections / trials < 0.05

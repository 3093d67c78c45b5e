r"""Statistics of the variance harness and the gradient check: pure numpy / scipy.stats, no torch.

Notation: M independent gradient estimates ĝ_1..ĝ_M ∈ R^d (rows of G, [M, d]) of a true gradient g with
covariance Σ; ḡ = mean_m ĝ_m.

* Trace of the covariance, unbiased: t̂ = Σ_m ‖ĝ_m − ḡ‖² / (M − 1),  E t̂ = tr Σ.
* ‖g‖², unbiased: E‖ḡ‖² = ‖g‖² + tr Σ / M, so  n̂ = ‖ḡ‖² − t̂ / M.
* Bias-corrected relative trace: R̂ = t̂ / n̂ (plain t̂ / ‖ḡ‖² saturates at ≈ M when tr Σ / M ≫ ‖g‖²;
  n̂ ≤ 0 means the data cannot tell ‖g‖ from 0 and R̂ is reported as inf).

Everything is computed from the Gram matrix K = G Gᵀ ([M, M]) — t̂ = (tr K − 1ᵀK1 / M) / (M − 1),
‖ḡ‖² = 1ᵀK1 / M² — so a paired bootstrap over batches is a reweighting w (counts, Σw = M) of one
[M, M] matrix per estimator, however large d is: t̂_w = (Σ_m w_m K_mm − wᵀKw / M) / (M − 1).
Global-norm clipping rescales each row by c_m, i.e. K → diag(c) K diag(c).

Bias tests of a mean against a reference r (exact, or an independent average of R estimates):

* per coordinate z_j = (ḡ_j − r_j) / s_j, s_j² = var_j / M + var_ref_j / R, Bonferroni threshold;
* aggregate Q = Σ_j z_j². The z_j are correlated (P = their correlation matrix, tr P = d), so under
  H0 Q ≈ c·χ²_ν with c = tr P² / d, ν = d² / tr P² (Satterthwaite: matches mean d and variance
  2 tr P²). tr P² is estimated from Gram matrices of the standardised centred samples, with the
  Bai–Saranadasa correction of the (d ≫ M) upward bias of tr Ŝ²;
* projection onto u = r / ‖r‖: z = (mean_m ĝ_m·u − r·u) / se, a 1-d test that keeps its power when d
  is large and the bias has a component along the gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def trace_cov(gram: np.ndarray) -> float:
    """Unbiased tr Σ from the Gram matrix K = G Gᵀ of M estimates ([M, M])."""
    m = gram.shape[0]
    return float((np.trace(gram) - gram.sum() / m) / (m - 1))


def mean_sq_norm(gram: np.ndarray) -> float:
    """‖ḡ‖² from the Gram matrix."""
    return float(gram.sum() / gram.shape[0] ** 2)


def rel_trace_cov_corrected(gram: np.ndarray) -> float:
    """t̂ / (‖ḡ‖² − t̂ / M): numerator and denominator unbiased for tr Σ and ‖g‖² (inf when n̂ ≤ 0)."""
    t = trace_cov(gram)
    n = mean_sq_norm(gram) - t / gram.shape[0]
    return t / n if n > 0 else math.inf


def clip_factors(sq_norms: np.ndarray, max_norm: float) -> np.ndarray:
    """Global-norm clipping factors min(1, max_norm / ‖·‖) for squared norms [M]."""
    norms = np.sqrt(sq_norms)
    return np.minimum(1.0, max_norm / np.maximum(norms, 1e-30))


def trace_cov_mom(gram: np.ndarray, groups: int = 10) -> float:
    """Median-of-means tr Σ: the M estimates split into ``groups`` consecutive groups, the unbiased t̂ of
    each group about its own mean, and the median over groups — a few huge gradients spoil one group,
    not the estimate (nor, through ḡ, every deviation)."""
    parts = np.array_split(np.arange(gram.shape[0]), max(1, min(groups, gram.shape[0] // 2)))
    return float(np.median([trace_cov(gram[np.ix_(p, p)]) for p in parts]))


def bootstrap_weights(m: int, n: int, seed: int) -> np.ndarray:
    """[n, m] resampling counts (each row sums to m). One draw serves every estimator: the batches are
    common random numbers, so the ratios are paired."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(n, m))
    w = np.zeros((n, m))
    np.add.at(w, (np.arange(n)[:, None], idx), 1.0)
    return w


def weighted_trace_and_norm(gram: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t̂, ‖ḡ‖²) of each bootstrap resample (rows of w, [n, M]) → two [n] arrays."""
    m = gram.shape[0]
    quad = ((w @ gram) * w).sum(1)
    return (w @ np.diag(gram) - quad / m) / (m - 1), quad / m**2


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> list[float]:
    """Percentile interval of bootstrap replicates (non-finite replicates count as +inf)."""
    s = np.where(np.isfinite(samples), samples, np.inf)
    # inverted_cdf: an order statistic, no interpolation (which would subtract inf from inf)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return [float(lo), float(hi)]


def ratio_cis(
    grams: list[np.ndarray], base: int, weights: np.ndarray, level: float = 0.95
) -> list[dict[str, list[float]]]:
    """Paired bootstrap CIs of t̂_k / t̂_base, of the bias-corrected R̂_k and of R̂_k / R̂_base (one
    resampling for all, so the last is a paired CI), for every Gram in ``grams``."""
    m = grams[0].shape[0]
    pieces = [weighted_trace_and_norm(g, weights) for g in grams]
    t0 = pieces[base][0]

    def rel_of(t: np.ndarray, n: np.ndarray) -> np.ndarray:
        corrected_n = n - t / m
        return np.where(corrected_n > 0, t / np.where(corrected_n > 0, corrected_n, 1.0), np.inf)

    rel0 = rel_of(*pieces[base])
    out = []
    for t, n in pieces:
        rel = rel_of(t, n)
        with np.errstate(divide="ignore", invalid="ignore"):  # a resample of one repeated batch: t0 = 0
            ratio = np.where(t0 > 0, t / np.where(t0 > 0, t0, 1.0), np.inf)
            rel_ratio = np.where(np.isfinite(rel0) & (rel0 > 0), rel / np.where(rel0 > 0, rel0, 1.0), np.nan)
        out.append(
            {
                "trace_ratio": percentile_ci(ratio, level),
                "rel_trace_cov": percentile_ci(rel, level),
                # replicates whose R_0 is unresolved (∞) have no ratio and are left out
                "rel_ratio": percentile_ci(rel_ratio[~np.isnan(rel_ratio)], level)
                if (~np.isnan(rel_ratio)).any()
                else [math.nan, math.nan],
            }
        )
    return out


def _trace_sq_unbiased(gram_c: np.ndarray) -> tuple[float, float]:
    """(tr S, tr S² corrected) for S = Xᵀ X / (n) with centred rows X ([M, d]) given K = X Xᵀ.
    Bai & Saranadasa (1996): tr Σ² ≈ n² / ((n + 2)(n − 1)) · (tr S² − (tr S)² / n), n = M − 1."""
    n = gram_c.shape[0] - 1
    tr_s = float(np.trace(gram_c)) / n
    tr_s2 = float((gram_c**2).sum()) / n**2
    if n < 3:
        return tr_s, tr_s2
    return tr_s, n**2 / ((n + 2) * (n - 1)) * (tr_s2 - tr_s**2 / n)


@dataclass
class BiasTests:
    max_abs_z: float
    z_threshold: float  # Bonferroni, two-sided, family-wise level alpha
    chi2_stat: float  # Q = Σ z_j²
    chi2_df: float  # Satterthwaite ν
    chi2_scale: float  # c
    chi2_p: float
    proj_z: float
    proj_p: float
    alpha: float

    @property
    def rejected(self) -> dict[str, bool]:
        return {
            "per_coordinate": self.max_abs_z > self.z_threshold,
            "chi2": self.chi2_p < self.alpha,
            "projection": self.proj_p < self.alpha,
        }

    def as_dict(self) -> dict[str, float | dict[str, bool]]:
        return {
            "max_abs_bias_z": self.max_abs_z,
            "bias_z_threshold": self.z_threshold,
            "bias_chi2": self.chi2_stat,
            "bias_chi2_df": self.chi2_df,
            "bias_chi2_scale": self.chi2_scale,
            "bias_chi2_p": self.chi2_p,
            "bias_proj_z": self.proj_z,
            "bias_proj_p": self.proj_p,
            "bias_rejected": self.rejected,
        }


def bias_tests(
    samples: np.ndarray,
    reference: np.ndarray,
    ref_samples: np.ndarray | None = None,
    alpha: float = 0.01,
    direction: np.ndarray | None = None,
) -> BiasTests:
    """Is E[samples] = E[reference]? ``samples`` [M, d]; ``reference`` [d] (exact when ``ref_samples`` is
    None, else the mean of ``ref_samples`` [R, d], independent of ``samples``). See the module docstring.
    ``direction`` [d]: a fixed projection direction, independent of the data (for a reference of 0, e.g.
    paired differences, whose own direction is undefined)."""
    m, d = samples.shape
    mean = samples.mean(0)
    var = samples.var(0, ddof=1)
    ref_var = np.zeros(d) if ref_samples is None else ref_samples.var(0, ddof=1) / len(ref_samples)
    s2 = var / m + ref_var
    keep = s2 > 0  # coordinates with no spread in either (e.g. unused parameters) carry no test
    s = np.sqrt(s2[keep])
    z = (mean[keep] - reference[keep]) / s
    d_eff = int(keep.sum())
    # Satterthwaite's χ² for Q = Σ z², P = D^{-1/2}(Σ/M + Σ_ref/R)D^{-1/2} = A + B.
    x = (samples[:, keep] - mean[keep]) / (s * math.sqrt(m))  # X with XᵀX/(M − 1) = A
    tr_a, tr_a2 = _trace_sq_unbiased(x @ x.T)
    tr_p2 = tr_a2
    if ref_samples is not None:
        r = len(ref_samples)
        y = (ref_samples[:, keep] - ref_samples[:, keep].mean(0)) / (s * math.sqrt(r))
        _, tr_b2 = _trace_sq_unbiased(y @ y.T)
        cross = float(((x @ y.T) ** 2).sum()) / ((m - 1) * (r - 1))
        tr_p2 = tr_a2 + tr_b2 + 2 * cross
    tr_p2 = max(tr_p2, float(d_eff))  # tr P² ≥ (tr P)² / d = d
    q = float((z**2).sum())
    scale, df = tr_p2 / d_eff, d_eff**2 / tr_p2
    # Projection onto the reference direction. With a sampled reference, the direction must not come
    # from the batches it is compared with: ḡ_ref·(ḡ_ref/‖ḡ_ref‖) = ‖ḡ_ref‖ carries the reference's own
    # noise (E‖ḡ_ref‖² = ‖g‖² + tr Σ_ref/R), so when the signal is small against the noise the test
    # would reject even an unbiased estimator. So: direction from one half, comparison with the other.
    if direction is not None:
        u = direction / (np.linalg.norm(direction) + 1e-300)
        ref_value, ref_se2 = float(reference @ u), 0.0
    elif ref_samples is not None and len(ref_samples) >= 4:
        half = len(ref_samples) // 2
        direction, compared = ref_samples[:half].mean(0), ref_samples[half:]
        u = direction / (np.linalg.norm(direction) + 1e-300)
        ref_proj = compared @ u
        ref_value, ref_se2 = float(ref_proj.mean()), float(ref_proj.var(ddof=1)) / len(compared)
    else:
        u = reference / (np.linalg.norm(reference) + 1e-300)
        ref_value, ref_se2 = float(reference @ u), 0.0
    proj = samples @ u
    proj_se2 = proj.var(ddof=1) / m + ref_se2
    proj_z = float((proj.mean() - ref_value) / math.sqrt(proj_se2 + 1e-300))
    return BiasTests(
        max_abs_z=float(np.abs(z).max()),
        z_threshold=float(stats.norm.isf(alpha / (2 * d_eff))),
        chi2_stat=q,
        chi2_df=float(df),
        chi2_scale=float(scale),
        chi2_p=float(stats.chi2.sf(q / scale, df)),
        proj_z=proj_z,
        proj_p=float(2 * stats.norm.sf(abs(proj_z))),
        alpha=alpha,
    )

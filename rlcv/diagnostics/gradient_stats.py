r"""Statistics of gradient estimates (the variance harness, the gradient check): pure numpy / scipy.stats,
no torch.

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

Power of the per-coordinate test (:func:`power_check`), so that "not rejected" is a verdict only where a
rejection was possible. Coordinate j, two-sided at the Bonferroni threshold z_c, detects a bias b_j with
probability Φ(|b_j|/s_j − z_c) + Φ(−|b_j|/s_j − z_c) ≥ Φ(|b_j|/s_j − z_c), so with probability ≥ 80 % once

    |b_j| ≥ MDB_j = (z_c + z_0.8) · s_j,     z_0.8 = Φ⁻¹(0.8) ≈ 0.8416

(the minimal detectable bias), and the family-wise test at least as often. The target bias b is the
broken variant's (pathwise term dropped): E[ĝ_broken − ĝ] = −E[pathwise term], estimated on the same
batches as the mean P̄ of the per-batch pathwise gradients with standard error s_P; to claim power from
an estimate we use its lower confidence bound L_j = max(0, |P̄_j| − z_c s_P,j). Where the estimator has
no pathwise term (k = 0, plain GAE: the broken variant is the estimator itself) or a size is stated, the
target is ε·r, a bias of relative size ε along the reference (default ε = 0.1); it is exact, L = |ε r|.
The test *has power* when some coordinate detects the target, max_j L_j / MDB_j ≥ 1. The verdict:

* rejected (max |z| above the threshold) → ``passed`` false, "biased" (a rejection needs no power);
* not rejected and the test has power → ``passed`` true, "unbiased (test has power)";
* not rejected without power → ``passed`` null, "inconclusive".

Reported with it (``_rel``: divided by ‖r‖): ``min_detectable_bias`` per coordinate; along the target,
``min_detectable_bias_abs`` = ‖L‖ / max_j (L_j / MDB_j), the smallest multiple of the target the test
detects, to compare with ``target_bias_abs`` = ‖L‖ (power ⇔ target ≥ min detectable); in any direction,
min_j MDB_j (all of the bias on the best-measured coordinate); the point estimate ‖b̂‖.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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
    se: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [d] s_j (0: coordinate not tested)

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


def _projection_reference(
    reference: np.ndarray, ref_samples: np.ndarray | None, direction: np.ndarray | None
) -> tuple[np.ndarray, float, float]:
    """The projection test's unit direction u, the reference's value along it and that value's squared
    standard error. With a sampled reference, the direction must not come from the batches it is
    compared with: ḡ_ref·(ḡ_ref/‖ḡ_ref‖) = ‖ḡ_ref‖ carries the reference's own noise (E‖ḡ_ref‖² = ‖g‖² +
    tr Σ_ref/R), so when the signal is small against the noise the test would reject even an unbiased
    estimator. So: direction from one half, comparison with the other."""
    if direction is not None:
        u = direction / (np.linalg.norm(direction) + 1e-300)
        return u, float(reference @ u), 0.0
    if ref_samples is not None and len(ref_samples) >= 4:
        half = len(ref_samples) // 2
        first, compared = ref_samples[:half].mean(0), ref_samples[half:]
        u = first / (np.linalg.norm(first) + 1e-300)
        ref_proj = compared @ u
        return u, float(ref_proj.mean()), float(ref_proj.var(ddof=1)) / len(compared)
    u = reference / (np.linalg.norm(reference) + 1e-300)
    return u, float(reference @ u), 0.0


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
    u, ref_value, ref_se2 = _projection_reference(reference, ref_samples, direction)
    proj = samples @ u
    proj_se2 = proj.var(ddof=1) / m + ref_se2
    se = np.zeros(d)
    se[keep] = s
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
        se=se,
    )


POWER = 0.8  # power at which the minimal detectable bias is quoted
DEFAULT_DETECT_BIAS = 0.1  # relative bias along the reference when there is no broken variant to detect

VERDICTS = {True: "unbiased (test has power)", False: "biased", None: "inconclusive"}


def min_detectable_bias(se: np.ndarray, z_threshold: float, power: float = POWER) -> np.ndarray:
    """(z_c + Φ⁻¹(power)) · s_j per coordinate: the bias the two-sided test at threshold z_c detects with
    probability ≥ ``power`` (inf where s_j = 0: such coordinates are not tested)."""
    se = np.asarray(se, dtype=float)
    return np.where(se > 0, (z_threshold + float(stats.norm.ppf(power))) * se, np.inf)


def power_target(
    path: np.ndarray, reference: np.ndarray, detect_bias: float | None = None
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The bias the test must be able to detect: (b [d], its standard error [d] or None when exact, label).

    ``path`` [M, d]: the pathwise term's gradient on each batch (what ``--variant broken`` drops, so
    b = −mean). ``detect_bias`` ε (stated), or no pathwise term at all: b = ε·``reference``."""
    if detect_bias is None and np.any(path != 0):
        m = path.shape[0]
        return -path.mean(0), path.std(0, ddof=1) / math.sqrt(m), "broken variant (pathwise term dropped)"
    eps = DEFAULT_DETECT_BIAS if detect_bias is None else detect_bias
    why = "stated" if detect_bias is not None else "default: no pathwise term to drop"
    label = f"relative bias {eps:g} along the reference ({why})"
    return eps * np.asarray(reference, dtype=float), None, label


def power_check(
    *,
    rejected: bool,
    se: np.ndarray,
    z_threshold: float,
    target_bias: np.ndarray,
    reference: np.ndarray,
    target_se: np.ndarray | None = None,
    target: str = "",
    power: float = POWER,
) -> dict[str, Any]:
    """Verdict of the per-coordinate test with its power (see the module docstring): ``passed`` true /
    false / None, ``verdict``, the minimal detectable bias and the target's size."""
    mdb = min_detectable_bias(se, z_threshold, power)
    estimate = np.abs(np.asarray(target_bias, dtype=float))
    lower = estimate if target_se is None else np.maximum(0.0, estimate - z_threshold * np.asarray(target_se))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.isfinite(mdb), lower / mdb, 0.0)
    power_ratio = float(ratios.max()) if ratios.size else 0.0
    has_power = power_ratio >= 1.0
    passed: bool | None = False if rejected else (True if has_power else None)
    ref_norm = float(np.linalg.norm(reference))
    target_norm = float(np.linalg.norm(lower))
    # the target scaled until its best coordinate reaches its MDB: ‖L‖ / max_j (L_j / MDB_j)
    along = target_norm / power_ratio if power_ratio > 0 else math.inf
    anywhere = float(mdb.min()) if mdb.size else math.inf

    def rel(x: float) -> float:
        return x / ref_norm if ref_norm > 0 else math.inf

    return {
        "passed": passed,
        "verdict": VERDICTS[passed],
        "power": power,
        "power_target": target,
        "has_power": has_power,
        "power_ratio": power_ratio,
        "min_detectable_bias": mdb.tolist(),
        "min_detectable_bias_abs": along,
        "min_detectable_bias_rel": rel(along),
        "min_detectable_bias_any_direction_abs": anywhere,
        "min_detectable_bias_any_direction_rel": rel(anywhere),
        "target_bias_abs": target_norm,
        "target_bias_rel": rel(target_norm),
        "target_bias_estimate_abs": float(np.linalg.norm(estimate)),
        "target_bias_estimate_rel": rel(float(np.linalg.norm(estimate))),
    }

r"""Density baselines of 8×8 digits (simple mixtures): the reference rows a generator has to beat.

A mixture of K product distributions over the 64 pixels,

    p(x) = Σ_k π_k Π_d p_k(x_d),

with per-pixel Bernoulli / categorical factors for quantised images (``levels`` ≥ 2, fitted by EM
here: scikit-learn has no categorical mixture) and per-pixel Gaussians for grey-scale images
(``levels`` = 0, scikit-learn's diagonal :class:`~sklearn.mixture.GaussianMixture`; samples are
clipped to [0, 1] like the continuous generator's). K = 1 is the independent-pixel baseline.

K is chosen on the *training* images only (:func:`select_components`): fit on a seeded 80 % of
them, keep the K with the highest mean log-likelihood on the other 20 %, refit on all of them. The
held-out images behind the metrics are never seen.

Sampling from a latent (:meth:`ProductMixture.sample_from_latents`): the first coordinate of
z ~ U(−1, 1)^latent_dim picks the component by inverse CDF of π, so a mixture is a generator
g(x|z) like the trained ones and is scored by the same code, within-latent collapse check included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from rlcv.errors import RlcvError

CANDIDATE_K = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 60)
VALIDATION_SHARE = 0.2
PSEUDOCOUNT = 0.05  # Dirichlet smoothing of the per-pixel categoricals: no probability is exactly 0
EM_ITERATIONS = 200
EM_TOL = 1e-6  # stop when the mean log-likelihood improves less than this
MIN_VAR = 1e-3  # variance floor of the grey-scale Gaussians (reg_covar)


def to_codes(images: np.ndarray, levels: int) -> np.ndarray:
    """Intensities in [0, 1] of ``levels``-level images → integer codes 0..levels−1."""
    return np.rint(np.asarray(images, np.float64) * (levels - 1)).astype(np.int64)


@dataclass
class ProductMixture:
    """A fitted mixture: ``weights`` [K]; for ``levels`` ≥ 2 ``probs`` [K, 64, levels], for
    ``levels`` = 0 ``means`` / ``variances`` [K, 64]."""

    levels: int
    weights: np.ndarray
    probs: np.ndarray | None = None
    means: np.ndarray | None = None
    variances: np.ndarray | None = None

    @property
    def n_components(self) -> int:
        return len(self.weights)

    def component_log_likelihood(self, images: np.ndarray) -> np.ndarray:
        """log p_k(x) [n, K] of images [n, 64] (intensities)."""
        if self.levels == 0:
            assert self.means is not None and self.variances is not None
            x = np.asarray(images, np.float64)[:, None, :]
            return -0.5 * (((x - self.means) ** 2 / self.variances) + np.log(2 * np.pi * self.variances)).sum(
                -1
            )
        assert self.probs is not None
        onehot = np.eye(self.levels)[to_codes(images, self.levels)].reshape(len(images), -1)
        return onehot @ np.log(self.probs).reshape(self.n_components, -1).T

    def log_likelihood(self, images: np.ndarray) -> np.ndarray:
        """log p(x) [n]."""
        return logsumexp(self.component_log_likelihood(images) + np.log(self.weights), axis=1)

    def components_of(self, u: np.ndarray) -> np.ndarray:
        """Component index of each u in [0, 1) by inverse CDF of the weights."""
        cdf = np.cumsum(self.weights)
        return np.minimum(np.searchsorted(cdf, u, side="right"), self.n_components - 1)

    def sample_components(self, components: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One image [len(components), 64] (intensities) from each given component."""
        if self.levels == 0:
            assert self.means is not None and self.variances is not None
            mean, sd = self.means[components], np.sqrt(self.variances[components])
            return np.clip(mean + sd * rng.standard_normal(mean.shape), 0.0, 1.0).astype(np.float32)
        assert self.probs is not None
        cdf = np.cumsum(self.probs[components], -1)  # [n, 64, L]
        u = rng.random(cdf.shape[:-1])[..., None]
        codes = np.minimum((u >= cdf).sum(-1), self.levels - 1)
        return (codes / (self.levels - 1)).astype(np.float32)

    def sample_from_latents(self, z: np.ndarray, rng: np.random.Generator, per_latent: int = 1) -> np.ndarray:
        """Images [n, 64] (or [n, per_latent, 64]) for latents z [n, latent_dim] in [−1, 1]: z[:, 0]
        picks the component, ``rng`` draws the pixels."""
        comp = self.components_of((np.asarray(z, np.float64)[:, 0] + 1.0) / 2.0)
        images = self.sample_components(np.repeat(comp, per_latent), rng)
        return images if per_latent == 1 else images.reshape(len(z), per_latent, -1)


def _fit_categorical(codes: np.ndarray, levels: int, k: int, seed: int) -> ProductMixture:
    """EM for a mixture of products of categoricals; responsibilities start at random."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    onehot = np.eye(levels)[codes].reshape(n, -1)  # [n, 64·L]
    resp = rng.dirichlet(np.ones(k), n)  # [n, K]
    previous = -np.inf
    mixture = ProductMixture(levels=levels, weights=np.full(k, 1.0 / k))
    for _ in range(EM_ITERATIONS):
        counts = resp.T @ onehot + PSEUDOCOUNT  # M-step: [K, 64·L]
        probs = counts.reshape(k, -1, levels)
        probs = probs / probs.sum(-1, keepdims=True)
        weights = (resp.sum(0) + 1e-12) / (n + k * 1e-12)
        mixture = ProductMixture(levels=levels, weights=weights, probs=probs)
        joint = onehot @ np.log(probs).reshape(k, -1).T + np.log(weights)
        norm = logsumexp(joint, axis=1, keepdims=True)
        resp = np.exp(joint - norm)  # E-step
        mean_ll = float(norm.mean())
        if mean_ll - previous < EM_TOL:
            break
        previous = mean_ll
    return mixture


def _fit_gaussian(images: np.ndarray, k: int, seed: int) -> ProductMixture:
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        n_components=k, covariance_type="diag", reg_covar=MIN_VAR, max_iter=EM_ITERATIONS, random_state=seed
    ).fit(images)
    return ProductMixture(levels=0, weights=gm.weights_, means=gm.means_, variances=gm.covariances_)


def fit_mixture(images: np.ndarray, *, levels: int, k: int, seed: int = 0) -> ProductMixture:
    """Fit a K-component product mixture to images [n, 64] (intensities) of a ``levels``-level
    representation (0 = grey-scale)."""
    if k < 1 or k > len(images):
        raise RlcvError(f"a mixture needs 1 <= K <= the number of images ({len(images)}), got K = {k}.")
    if levels == 0:
        return _fit_gaussian(np.asarray(images, np.float64), k, seed)
    if levels < 2:
        raise RlcvError(f"levels must be 0 (grey-scale) or >= 2, got {levels}.")
    return _fit_categorical(to_codes(images, levels), levels, k, seed)


def select_components(
    train_images: np.ndarray, *, levels: int, candidates: tuple[int, ...] = CANDIDATE_K, seed: int = 0
) -> tuple[int, dict[int, float]]:
    """K with the best mean validation log-likelihood on a seeded 80/20 split of the *training*
    images, and that score for every candidate."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_images))
    n_val = int(round(VALIDATION_SHARE * len(train_images)))
    val, fit = train_images[order[:n_val]], train_images[order[n_val:]]
    scores = {
        k: float(fit_mixture(fit, levels=levels, k=k, seed=seed).log_likelihood(val).mean())
        for k in candidates
        if k <= len(fit)
    }
    return max(scores, key=lambda k: scores[k]), scores

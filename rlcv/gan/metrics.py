"""Sample-quality metrics for generators, computed on held-out real data (scikit-learn).

- :func:`two_sample_accuracy` — classifier two-sample test (C2ST; Lopez-Paz & Oquab, 2017): a
  *fresh* random forest learns real-vs-generated, and its k-fold cross-validated accuracy on
  balanced sets is reported. 0.5 means the classifier cannot tell them apart (perfect), 1.0 means
  every sample is recognised.
- :func:`nn1_accuracy` — the leave-one-out 1-nearest-neighbour two-sample accuracy (Xu et al.,
  2018): same reading as the C2ST, and sensitive to mode collapse and to memorising training data.
- :func:`mmd_test` — kernel two-sample test (Gretton et al., 2012): the unbiased MMD² with a
  Gaussian kernel exp(−‖x − y‖² / h) (for binary images ‖x − y‖² is the Hamming distance) and its
  permutation p-value. A smooth statistic: it keeps moving when classifier accuracies saturate.
- :func:`label_statistics` — class coverage and label entropy of the labels a classifier trained on
  real data assigns to generated samples.
- :func:`confident_coverage` — coverage counted only over samples the labeller is *sure* of
  (probability ≥ 0.9): noise and smudges get labels too, but rarely confident ones.
- :func:`collapse_statistics` — unique fraction and mean pairwise L1 distances (Hamming for binary
  images) within a latent and across latents: a generator that ignores its latent or repeats one
  glyph shows it here whatever the classifiers say.
- :func:`platform_record` — python / torch / numpy / BLAS versions, recorded next to results.
- :func:`save_grid` — a PNG grid of small grey-scale images.

All functions take flat float arrays [n, d] (images as pixel intensities in [0, 1]) and are
deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rlcv.files import save_figure

COVERAGE_MIN_SHARE = 0.02  # a class counts as covered with ≥ 2 % of the samples (uniform is 10 %)
CONFIDENT_PROB = 0.9  # a label counts for confident coverage when the labeller gives it ≥ 0.9
MMD_PERMUTATIONS = 200


def _balanced(real: np.ndarray, fake: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(real), len(fake))
    real = real[rng.permutation(len(real))[:n]]
    fake = fake[rng.permutation(len(fake))[:n]]
    x = np.concatenate([real, fake]).astype(np.float32)
    y = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])
    return x, y


def two_sample_accuracy(
    real: np.ndarray, fake: np.ndarray, *, seed: int = 0, folds: int = 5, n_estimators: int = 100
) -> float:
    """Cross-validated accuracy of a random forest separating ``real`` [n, d] from ``fake`` [m, d]
    (the larger set is subsampled to the smaller one, so chance level is exactly 0.5)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, y = _balanced(real, fake, np.random.default_rng(seed))
    clf = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv).mean())


def nn1_accuracy(real: np.ndarray, fake: np.ndarray, *, seed: int = 0) -> float:
    """Leave-one-out 1-NN accuracy (Euclidean) on balanced real/fake sets; ties broken at random."""
    rng = np.random.default_rng(seed)
    x, y = _balanced(real, fake, rng)
    sq = (x * x).sum(1)
    dist = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    dist += rng.uniform(0.0, 1e-6, dist.shape)  # exact duplicates are common in binary images
    np.fill_diagonal(dist, np.inf)
    return float((y[dist.argmin(1)] == y).mean())


def label_statistics(
    labels: np.ndarray, n_classes: int = 10, min_share: float = COVERAGE_MIN_SHARE
) -> dict[str, float | list[float]]:
    """Class coverage (classes with ≥ ``min_share`` of the samples), label entropy in nats
    (max log n_classes) and the label histogram."""
    hist = np.bincount(np.asarray(labels, np.int64), minlength=n_classes)[:n_classes] / max(len(labels), 1)
    nz = hist[hist > 0]
    return {
        "class_coverage": float((hist >= min_share).sum()),
        "label_entropy": float(-(nz * np.log(nz)).sum()),
        "label_entropy_max": math.log(n_classes),
        "label_hist": [float(h) for h in hist],
    }


def confident_coverage(
    proba: np.ndarray, *, min_prob: float = CONFIDENT_PROB, min_share: float = COVERAGE_MIN_SHARE
) -> dict[str, float | list[float]]:
    """Coverage from class probabilities [n, C]: a class is covered when samples labelled with it at
    probability ≥ ``min_prob`` make up ≥ ``min_share`` of *all* n samples. ``confident_share`` is the
    fraction of samples labelled that surely (compare it with real digits')."""
    proba = np.asarray(proba, np.float64)
    n, n_classes = proba.shape
    sure = proba.max(1) >= min_prob
    hist = np.bincount(proba.argmax(1)[sure], minlength=n_classes) / max(n, 1)
    return {
        "confident_share": float(sure.mean()) if n else 0.0,
        "confident_coverage": float((hist >= min_share).sum()),
        "confident_hist": [float(h) for h in hist],
    }


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean L1 distance (summed absolute pixel differences; the Hamming distance for 0/1 images)
    over distinct pairs of rows of ``x`` [n, d], n ≥ 2. One row at a time: [n, n, d] would not fit."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 2:
        raise ValueError("mean_pairwise_distance needs at least 2 rows")
    total = sum(float(np.abs(x[i + 1 :] - x[i]).sum()) for i in range(n - 1))
    return total / (n * (n - 1) / 2)


def collapse_statistics(sample: np.ndarray, groups: np.ndarray | None = None) -> dict[str, float]:
    """Collapse checks of a generator:

    - ``unique_fraction`` — distinct images in ``sample`` [n, d] (one image per latent), values
      rounded to 4 decimals so float noise in continuous images does not count as variety;
    - ``across_latent_distance`` — mean pairwise L1 distance within ``sample`` (images of different
      latents; for real digits, the spread of the data): near 0 means mode collapse;
    - ``within_latent_distance`` — for ``groups`` [L, S, d] (S images of each of L latents), the mean
      pairwise L1 distance between images of the same latent, averaged over latents (0 when the
      generator is deterministic given z; equal to the across distance when it ignores z).
    """
    out = {
        "unique_fraction": unique_fraction(sample),
        "across_latent_distance": mean_pairwise_distance(sample),
    }
    if groups is not None:
        groups = np.asarray(groups, np.float64)
        if groups.ndim != 3 or groups.shape[1] < 2:
            raise ValueError(f"collapse_statistics needs groups [L, S >= 2, d], got {groups.shape}")
        out["within_latent_distance"] = float(np.mean([mean_pairwise_distance(g) for g in groups]))
    return out


def unique_fraction(x: np.ndarray, *, decimals: int = 4) -> float:
    """Fraction of distinct rows of ``x`` [n, d] (values rounded to ``decimals``)."""
    return float(len(np.unique(np.round(np.asarray(x, np.float64), decimals), axis=0)) / len(x))


def median_sq_distance(x: np.ndarray) -> float:
    """Median squared Euclidean distance over distinct pairs of rows of ``x`` (the kernel width)."""
    x = np.asarray(x, np.float64)
    sq = (x * x).sum(1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return float(np.median(d[np.triu_indices(len(x), 1)]))


def mmd_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    bandwidth: float | None = None,
    permutations: int = MMD_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, float]:
    """Unbiased MMD² between ``x`` [n, d] and ``y`` [m, d] with the kernel exp(−‖a − b‖² / h) and its
    permutation p-value ((1 + #{perm ≥ observed}) / (1 + permutations)).

    h = ``bandwidth``, by default the median squared distance within ``x`` — pass the same h (e.g.
    computed on the real data) to compare several generators against one reference on one scale.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("mmd_test needs at least 2 samples on each side")
    h = median_sq_distance(x) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"the MMD kernel bandwidth must be > 0, got {h}")
    z = np.concatenate([x, y])
    sq = (z * z).sum(1)
    k = np.exp(-np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0) / h)
    np.fill_diagonal(k, 0.0)  # the unbiased estimator leaves out i == j

    def stat(a: np.ndarray) -> np.ndarray:
        """MMD²_u for membership indicators a [P, n + m] (1 = first sample)."""
        b = 1.0 - a
        ka = a @ k
        xx = (ka * a).sum(1) / (n * (n - 1))
        xy = (ka * b).sum(1) / (n * m)
        yy = ((b @ k) * b).sum(1) / (m * (m - 1))
        return xx + yy - 2.0 * xy

    observed = float(stat(np.r_[np.ones(n), np.zeros(m)][None])[0])
    rng = np.random.default_rng(seed)
    base = np.r_[np.ones(n), np.zeros(m)]
    perms = np.stack([rng.permutation(base) for _ in range(permutations)]) if permutations else None
    p_value = (
        float((1 + (stat(perms) >= observed).sum()) / (1 + permutations)) if perms is not None else math.nan
    )
    return {"mmd2": observed, "mmd_p_value": p_value, "mmd_bandwidth": h}


def platform_record() -> dict[str, str]:
    """Versions that change floating-point results (GAN training amplifies float drift)."""
    import platform

    import torch
    from threadpoolctl import threadpool_info

    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('threading_layer', '?')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return {
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "blas": "; ".join(blas) or "unknown",
        "torch_mkl": str(torch.backends.mkl.is_available()),
    }


def save_grid(
    images: np.ndarray, path: str | Path, *, ncols: int = 10, scale: int = 4, title: str | None = None
) -> Path:
    """Tile ``images`` [n, h, w] (intensities in [0, 1], 1 = ink) into a PNG, ink dark on white."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w = images.shape
    nrows = math.ceil(n / ncols)
    pad = 1
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), 0.5, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
        ] = img
    canvas = np.kron(canvas, np.ones((scale, scale), np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(
        figsize=(canvas.shape[1] / 50, canvas.shape[0] / 50 + (0.3 if title else 0)), dpi=100
    )
    try:  # closed also when saving fails (an unwritable path): pyplot keeps open figures alive
        ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.axis("off")
        if title:
            ax.set_title(title, fontsize=8)
        save_figure(fig, path, bbox_inches="tight", pad_inches=0.05)
    finally:
        plt.close(fig)
    return path

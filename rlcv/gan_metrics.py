"""Sample-quality metrics for generators, computed on held-out real data (scikit-learn).

- :func:`two_sample_accuracy` — classifier two-sample test (C2ST; Lopez-Paz & Oquab, 2017): a
  *fresh* random forest learns real-vs-generated, and its k-fold cross-validated accuracy on
  balanced sets is reported. 0.5 means the classifier cannot tell them apart (perfect), 1.0 means
  every sample is recognised.
- :func:`nn1_accuracy` — the leave-one-out 1-nearest-neighbour two-sample accuracy (Xu et al.,
  2018): same reading as the C2ST, and sensitive to mode collapse and to memorising training data.
- :func:`label_statistics` — class coverage and label entropy of the labels a classifier trained on
  real data assigns to generated samples.
- :func:`save_grid` — a PNG grid of small grey-scale images.

All functions take flat float arrays [n, d] (images as pixel intensities in [0, 1]) and are
deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

COVERAGE_MIN_SHARE = 0.02  # a class counts as covered with ≥ 2 % of the samples (uniform is 10 %)


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
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.savefig(path, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return path

r"""A mode-collapse detector for image generators, with thresholds read off the real data.

Three symptoms, each a statistic of a generated set and a threshold computed from real images
alone (so the thresholds are fixed before any generator is trained):

- **few distinct glyphs** — :func:`glyph_count`: the images of ``sample`` [n, d] are grouped by
  greedy leader clustering at radius r, r = the median L1 distance from a real image to its nearest
  other real image (n real images). A generator repeating one glyph with small variations needs few
  leaders. Threshold: the real images' own count × (1 − s₂), s₂ the share of the two rarest real
  classes — the glyph count of real digits that have lost two classes' worth of variety.
- **class histogram far from real** — :func:`label_tv`: total variation between the label
  histogram a classifier gives the sample and the one it gives real images. Threshold: s₂, the
  distance of a histogram that lacks the two rarest real classes entirely.
- **low within-latent diversity** — the mean L1 distance between images of one latent (the
  ``within_latent_distance`` of :func:`rlcv.gan.metrics.collapse_statistics`). Threshold: r itself:
  images drawn for one latent differ less than a real digit from its nearest real neighbour, so
  the latent picks one glyph and the policy has stopped exploring (its importance weights see
  near-copies).

A set is *collapsed* when any statistic crosses its threshold; :func:`collapse_verdict` says which.
All functions are deterministic (leader order is the sample's order).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TWO_RAREST = 2  # classes whose share sets the histogram and glyph thresholds


def l1_distances(a: np.ndarray, b: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Pairwise L1 distances [len(a), len(b)] (summed absolute differences), ``chunk`` rows at a time."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return np.concatenate([np.abs(a[i : i + chunk, None] - b[None]).sum(-1) for i in range(0, len(a), chunk)])


def median_nn_distance(x: np.ndarray) -> float:
    """Median over rows of ``x`` [n, d] of the L1 distance to the nearest *other* row."""
    d = l1_distances(x, x)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


def glyph_count(x: np.ndarray, radius: float) -> int:
    """Leaders of a greedy clustering of ``x`` [n, d]: a row joins the first leader within L1
    ``radius``, else it becomes a leader."""
    x = np.asarray(x, np.float32)
    leaders = np.empty((0, x.shape[1]), np.float32)
    for row in x:
        if len(leaders) and np.abs(leaders - row).sum(1).min() <= radius:
            continue
        leaders = np.vstack([leaders, row[None]])
    return len(leaders)


def label_tv(labels: np.ndarray, reference_hist: np.ndarray) -> float:
    """Total variation ½ Σ_c |p_c − q_c| between the histogram of ``labels`` and ``reference_hist``."""
    ref = np.asarray(reference_hist, np.float64)
    hist = np.bincount(np.asarray(labels, np.int64), minlength=len(ref))[: len(ref)] / max(len(labels), 1)
    return float(0.5 * np.abs(hist - ref).sum())


@dataclass(frozen=True)
class CollapseThresholds:
    """What real images give, and the thresholds derived from it (module docstring)."""

    radius: float  # median nearest-neighbour L1 distance of n real images: the glyph radius
    real_glyphs: float  # glyph_count of n real images at that radius (mean over subsets)
    two_rarest_share: float  # s₂: share of the two rarest classes among real labels
    n: int  # images per set (statistics depend on it)
    min_glyphs: float  # real_glyphs × (1 − s₂)
    max_label_tv: float  # s₂
    min_within_latent: float  # the radius

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def real_thresholds(
    real_pool: np.ndarray, real_labels: np.ndarray, *, n: int, subsets: int = 5
) -> CollapseThresholds:
    """Thresholds from ``subsets`` random subsets (numpy seeds 0..subsets−1) of ``n`` images of
    ``real_pool`` and the labels ``real_labels`` that the classifier gives real images."""
    if len(real_pool) < n:
        raise ValueError(f"real_thresholds needs >= {n} real images, got {len(real_pool)}")
    subs = [real_pool[np.random.default_rng(s).permutation(len(real_pool))[:n]] for s in range(subsets)]
    radius = float(np.mean([median_nn_distance(x) for x in subs]))
    glyphs = float(np.mean([glyph_count(x, radius) for x in subs]))
    hist = np.bincount(np.asarray(real_labels, np.int64)) / len(real_labels)
    s2 = float(np.sort(hist)[:TWO_RAREST].sum())
    return CollapseThresholds(
        radius=radius,
        real_glyphs=glyphs,
        two_rarest_share=s2,
        n=n,
        min_glyphs=glyphs * (1.0 - s2),
        max_label_tv=s2,
        min_within_latent=radius,
    )


def collapse_verdict(stats: dict[str, float], thresholds: CollapseThresholds) -> dict[str, Any]:
    """Which symptoms a set shows: ``stats`` holds ``glyphs``, ``label_tv`` and (optionally)
    ``within_latent_distance``. Returns the flags, the list of fired symptoms and ``collapsed``."""
    flags = {
        "few_glyphs": stats["glyphs"] < thresholds.min_glyphs,
        "labels_far": stats["label_tv"] > thresholds.max_label_tv,
    }
    within = stats.get("within_latent_distance")
    if within is not None and np.isfinite(within):
        flags["low_within_latent"] = within < thresholds.min_within_latent
    fired = [k for k, v in flags.items() if v]
    return {"flags": flags, "fired": fired, "collapsed": bool(fired)}

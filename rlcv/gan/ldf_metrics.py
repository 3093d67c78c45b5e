r"""Metrics of decoded 8×8 binary digits for the locally disentangled (two-level) generators.

:func:`held_out_metrics` is the **one adapter** to the BGAN issue's held-out metrics: it calls
:func:`rlcv.envs.bgan_digits.score_digits` — the code path behind ``rlcv eval`` of a flat generator
and every row of ``rlcv bench bgan`` — on the binary representation, so flat and hierarchical
generators are scored by the very same code (C2ST and 1-NN two-sample accuracy and MMD² against the
450 held-out digits; plain and *confident* class coverage and the confident share, i.e. labels the
env's SVM gives with probability ≥ 0.9; unique fraction and L1 spread across latents).

The other metrics are the targets of the locally-disentangled-factors issue:

- :func:`seam_discontinuity` — mean |x_a − x_b| over the 16 pixel pairs that straddle a patch seam
  (columns 3|4 on every row, rows 3|4 on every column). Incoherent patches (a mixture of patches from
  different digits) have strokes that end at the seams, which raises it above real digits';
- :func:`locality_ratio` — resample one patch code of each sample with the others and the pixel
  uniforms held fixed, decode, and divide the pixels changed outside that patch by those changed
  inside (0 means strictly local).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rlcv.gan.patches import IMAGE_SIDE, N_PATCHES, PATCH_SIDE, patch_mask

if TYPE_CHECKING:
    from rlcv.gan.patches import LowerStage

BINARY_LEVELS = 2  # the flat env's binarised representation (rlcv/BGAN-Digits-v0)


def held_out_metrics(images: np.ndarray, *, seed: int, against: str = "held-out") -> dict[str, Any]:
    """The BGAN issue's metrics of ``images`` [n, 64] (binary intensities), by
    :func:`rlcv.envs.bgan_digits.score_digits` (``against``: which real images they are compared with)."""
    from rlcv.envs.bgan_digits import score_digits

    return score_digits(np.asarray(images, np.float32), levels=BINARY_LEVELS, seed=seed, against=against)


def _seam_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices (a, b) of the neighbours on either side of every patch seam."""
    a, b = [], []
    for s in range(PATCH_SIDE, IMAGE_SIDE, PATCH_SIDE):
        for i in range(IMAGE_SIDE):
            a += [i * IMAGE_SIDE + s - 1, (s - 1) * IMAGE_SIDE + i]  # across a vertical / horizontal seam
            b += [i * IMAGE_SIDE + s, s * IMAGE_SIDE + i]
    return np.array(a), np.array(b)


def seam_discontinuity(images: np.ndarray) -> float:
    """Mean |x_a − x_b| over the pixel pairs across patch seams, over ``images`` [n, 64]."""
    a, b = _seam_pairs()
    x = np.asarray(images, np.float32)
    return float(np.abs(x[:, a] - x[:, b]).mean())


def image_metrics(images: np.ndarray, *, seed: int) -> dict[str, Any]:
    """Everything :mod:`rlcv.bench.ldf` reports of a set of generated images [n, 64]."""
    return {**held_out_metrics(images, seed=seed), "seam_discontinuity": seam_discontinuity(images)}


def real_reference(*, n: int, seed: int) -> dict[str, Any]:
    """The same metrics of real digits. Top level: ``n`` training digits against the held-out ones
    (the flat bench's ``real`` row: a floor for the two-sample metrics; its label metrics read high
    because the SVM was fitted on those digits). ``held_out``: the 450 held-out digits themselves
    (compared with training digits), whose seam discontinuity and confident share are the targets'
    yardstick (as the BGAN issue's "compared real images"). ``independent``: ``n`` images of
    independent pixels (one Bernoulli per pixel fitted to the training digits, drawn from ``seed``),
    the trivial generator every method must beat."""
    from rlcv.envs.bgan_digits import digits
    from rlcv.gan.density_baselines import fit_mixture

    data = digits(BINARY_LEVELS)
    rng = np.random.default_rng(seed)
    sample = data["x_train"][rng.permutation(len(data["x_train"]))[:n]]
    held_out = data["x_held_out"]
    independent = fit_mixture(data["x_train"], levels=BINARY_LEVELS, k=1, seed=seed).sample_from_latents(
        np.zeros((n, 1)), np.random.default_rng(seed)
    )
    return {
        **image_metrics(sample, seed=seed),
        "held_out": {
            **held_out_metrics(held_out, seed=seed, against="train"),
            "seam_discontinuity": seam_discontinuity(held_out),
        },
        "independent": image_metrics(independent, seed=seed),
    }


def resample_one_patch(codes: torch.Tensor, code_dim: int) -> tuple[torch.Tensor, np.ndarray]:
    """For sample i, replace the code of patch k = i mod 4 by sample (i + 1)'s code of that patch.
    Returns the new codes [n, 4·d] and k per sample [n]."""
    n = codes.shape[0]
    k = np.arange(n) % N_PATCHES
    per_patch = codes.reshape(n, N_PATCHES, code_dim).clone()
    donor = torch.roll(codes.reshape(n, N_PATCHES, code_dim), -1, dims=0)
    rows = torch.arange(n)
    per_patch[rows, torch.from_numpy(k)] = donor[rows, torch.from_numpy(k)]
    return per_patch.reshape(n, -1), k


def locality_ratio(lower: LowerStage, codes: torch.Tensor, *, seed: int) -> dict[str, float]:
    """Pixels changed outside / inside the resampled patch, summed over samples (module docstring).
    ``codes`` [n, 4·d]: e.g. the higher generator's samples; the uniforms are drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    uniforms = torch.rand(codes.shape[0], IMAGE_SIDE * IMAGE_SIDE, generator=gen)
    new_codes, k = resample_one_patch(codes, lower.code_dim)
    with torch.no_grad():
        before, after = lower.decode(codes, uniforms), lower.decode(new_codes, uniforms)
    changed = (before != after).numpy()
    inside_mask = np.stack([patch_mask(int(j)) for j in k])
    inside, outside = int(changed[inside_mask].sum()), int(changed[~inside_mask].sum())
    return {
        "locality_ratio": outside / inside if inside else float("nan"),
        "locality_changed_inside": inside / len(k),
        "locality_changed_outside": outside / len(k),
    }


def lower_stage_diagnostics(lower: LowerStage) -> dict[str, float]:
    """How well the lower stage inverts: encode the held-out digits' patches, decode with the mode of
    each pixel (p > ½), and count wrong pixels (``reconstruction_error``; BiGAN never trains on this
    error, so it measures how far E has learned to invert g). ``code_std``: mean per-dimension std of
    those real codes, against ``prior_code_std`` = 1/√3 of the U(−1, 1) codes g was trained on."""
    from rlcv.envs.bgan_digits import digits

    x = torch.from_numpy(digits(BINARY_LEVELS)["x_held_out"])
    with torch.no_grad():
        codes = lower.encode_images(x)
        decoded = lower.decode(codes, torch.full_like(x, 0.5))
    return {
        "reconstruction_error": float((decoded != x).float().mean()),
        "code_std": float(codes.std(0).mean()),
        "prior_code_std": 1.0 / 3**0.5,
    }


def lower_stage_ceiling(lower: LowerStage, *, n: int, seed: int) -> dict[str, float]:
    """What a *perfect* higher stage would score through this lower stage: ``n`` training digits (the
    real reference's sample) encoded patch by patch and decoded as generated samples are (pixels drawn
    with uniforms from ``seed``), scored like them. Whatever the higher stage learns, its samples are
    decoded by the same lower stage, so these numbers bound what the two-level generator can reach
    (``ceiling_*``: C2ST, 1-NN, confident classes and share, seam)."""
    from rlcv.envs.bgan_digits import digits

    x = digits(BINARY_LEVELS)["x_train"]
    sample = torch.from_numpy(x[np.random.default_rng(seed).permutation(len(x))[:n]])
    uniforms = torch.rand(n, IMAGE_SIDE * IMAGE_SIDE, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = lower.decode(lower.encode_images(sample), uniforms).numpy()
    m = image_metrics(images, seed=seed)
    keys = ("c2st_accuracy", "nn1_accuracy", "confident_coverage", "confident_share", "seam_discontinuity")
    return {f"ceiling_{k}": float(m[k]) for k in keys}

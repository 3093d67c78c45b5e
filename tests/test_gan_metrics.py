"""The generator metrics and reference density models have power: they tell real from noise and from
collapse, and do not flag real against real."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rlcv.envs.bgan_digits import comparison_split, digits, score_digits
from rlcv.gan.density_baselines import fit_mixture, select_components
from rlcv.gan.metrics import (
    collapse_statistics,
    confident_coverage,
    mean_pairwise_distance,
    mmd_test,
    platform_record,
    two_sample_accuracy,
)


def _real(n: int, seed: int = 0) -> np.ndarray:
    """A random subset of the training digits (a prefix would be biased: load_digits is ordered by
    writer, and the held-out images are spread over all of them)."""
    _, train = comparison_split(2)
    return train[np.random.default_rng(seed).permutation(len(train))[:n]]


def _noise(levels: int, n: int, seed: int) -> np.ndarray:
    """Independent pixels with the training pixel frequencies (binary)."""
    p = digits(levels)["x_train"].mean(0)
    return (np.random.default_rng(seed).random((n, 64)) < p).astype(np.float32)


def test_mmd_rejects_noise_but_not_real_digits() -> None:
    held_out, _ = comparison_split(2)
    noise = mmd_test(held_out, _noise(2, 450, 0), seed=0)
    assert noise["mmd_p_value"] < 0.01 and noise["mmd2"] > 0
    real = mmd_test(held_out, _real(450), seed=0)
    assert real["mmd_p_value"] > 0.05 and abs(real["mmd2"]) < noise["mmd2"] / 5


def test_mmd_is_calibrated_under_the_null() -> None:
    """Two samples of one distribution: p-values spread over [0, 1], few below 0.05."""
    rng = np.random.default_rng(1)
    pvals = [
        mmd_test(rng.random((40, 5)), rng.random((40, 5)), permutations=99, seed=s)["mmd_p_value"]
        for s in range(40)
    ]
    assert np.mean(np.array(pvals) < 0.05) <= 0.15 and 0.3 < np.mean(pvals) < 0.7


def test_collapsed_generator_is_flagged_where_old_coverage_was_not() -> None:
    d = digits(2)
    glyph = d["x_train"][3]
    collapsed = np.repeat(glyph[None], 1000, 0)
    groups = np.repeat(glyph[None, None], 10, 0).repeat(10, 1)
    stats = collapse_statistics(collapsed, groups)
    assert stats["unique_fraction"] == pytest.approx(1 / 1000)
    assert stats["across_latent_distance"] == 0 and stats["within_latent_distance"] == 0
    real = collapse_statistics(d["x_train"][:300])
    assert real["unique_fraction"] > 0.95 and real["across_latent_distance"] > 10


def test_confident_coverage_ignores_unsure_labels() -> None:
    sure = np.eye(10)[np.arange(100) % 10] * 0.95 + 0.005
    unsure = np.full((100, 10), 0.1)
    assert confident_coverage(sure) == {
        "confident_share": 1.0,
        "confident_coverage": 10.0,
        "confident_hist": [0.1] * 10,
    }
    assert confident_coverage(unsure)["confident_coverage"] == 0 and confident_coverage(unsure)[
        "confident_share"
    ] == pytest.approx(0.0)
    half = np.concatenate([sure[:50], unsure[:50]])
    assert confident_coverage(half)["confident_share"] == pytest.approx(0.5)


def test_mean_pairwise_distance_is_hamming_for_binary_rows() -> None:
    x = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1]], np.float32)
    assert mean_pairwise_distance(x) == pytest.approx((2 + 2 + 2) / 3)


def test_score_digits_separates_real_from_noise() -> None:
    real = score_digits(_real(600), None, levels=2)
    noise = score_digits(_noise(2, 600, 0), None, levels=2)
    assert abs(real["c2st_accuracy"] - 0.5) < 0.06 and abs(real["nn1_accuracy"] - 0.5) < 0.06
    assert real["confident_share"] > 0.6 and real["confident_coverage"] == 10
    assert noise["c2st_accuracy"] > 0.85 and noise["mmd_p_value"] < 0.01
    assert noise["confident_share"] < real["confident_share"] / 2
    assert "within_latent_distance" not in real  # no groups given


def test_comparison_split_never_mixes_held_out_into_train_scoring() -> None:
    ref, rest = comparison_split(2, "train")
    d = digits(2)
    assert len(ref) == len(d["x_held_out"]) and len(ref) + len(rest) == len(d["x_train"])
    held = {r.tobytes() for r in d["x_held_out"]}
    train_rows = {r.tobytes() for r in d["x_train"]}
    assert {r.tobytes() for r in ref} <= train_rows and {r.tobytes() for r in rest} <= train_rows
    assert len(held) > 0


@pytest.mark.parametrize("levels", [2, 3])
def test_product_mixture_is_a_normalised_density(levels: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, levels, (200, 3)) / (levels - 1)
    model = fit_mixture(x, levels=levels, k=3, seed=0)
    grid = np.array(list(itertools.product(range(levels), repeat=3))) / (levels - 1)
    assert np.exp(model.log_likelihood(grid)).sum() == pytest.approx(1.0)


def test_em_recovers_a_two_component_mixture_and_k_selection_prefers_it() -> None:
    rng = np.random.default_rng(0)
    protos = np.array([[0.9] * 8 + [0.1] * 8, [0.1] * 8 + [0.9] * 8])
    comp = rng.integers(0, 2, 2000)
    x = (rng.random((2000, 16)) < protos[comp]).astype(np.float64)
    model = fit_mixture(x, levels=2, k=2, seed=0)
    assert model.probs is not None
    learned = np.sort(model.probs[:, :, 1].mean(1)[:, None] * 0 + model.probs[:, :8, 1].mean(1)[:, None], 0)
    assert learned.ravel() == pytest.approx([0.1, 0.9], abs=0.03)
    assert model.weights == pytest.approx([0.5, 0.5], abs=0.05)
    k, scores = select_components(x, levels=2, candidates=(1, 2, 5), seed=0)
    assert k in (2, 5) and scores[2] > scores[1] + 1.0  # two prototypes beat independent pixels
    indep = (rng.random((2000, 16)) < 0.3).astype(np.float64)
    k_indep, _ = select_components(indep, levels=2, candidates=(1, 2, 5), seed=0)
    assert k_indep == 1


def test_mixture_latents_pick_components_by_inverse_cdf() -> None:
    x = digits(2)["x_train"]
    model = fit_mixture(x, levels=2, k=5, seed=0)
    z = np.random.default_rng(0).uniform(-1, 1, (4000, 4))
    comp = model.components_of((z[:, 0] + 1) / 2)
    assert np.bincount(comp, minlength=5) / 4000 == pytest.approx(model.weights, abs=0.03)
    groups = model.sample_from_latents(z[:3], np.random.default_rng(1), per_latent=4)
    assert groups.shape == (3, 4, 64) and set(np.unique(groups)) <= {0.0, 1.0}


def test_gaussian_mixture_samples_lie_in_the_unit_box() -> None:
    x = digits(0)["x_train"]
    model = fit_mixture(x, levels=0, k=3, seed=0)
    s = model.sample_from_latents(np.zeros((50, 2)), np.random.default_rng(0))
    assert s.shape == (50, 64) and s.min() >= 0.0 and s.max() <= 1.0
    assert np.isfinite(model.log_likelihood(x[:10])).all()


def test_platform_record_names_versions() -> None:
    rec = platform_record()
    assert rec["python"].count(".") == 2 and rec["numpy"] == np.__version__ and rec["torch"]


# ---------------------------------------------------------------------------- collapse detector


def test_glyph_count_groups_within_the_radius() -> None:
    from rlcv.gan.collapse import glyph_count

    one = np.zeros((50, 64), np.float32)
    assert glyph_count(one, 0.0) == 1
    eye = np.eye(64, dtype=np.float32)  # any two rows at L1 distance 2
    assert glyph_count(eye, 1.9) == 64
    assert glyph_count(eye, 2.0) == 1


def test_label_tv_is_half_the_l1_between_histograms() -> None:
    from rlcv.gan.collapse import label_tv

    ref = np.full(10, 0.1)
    assert label_tv(np.arange(10).repeat(3), ref) == pytest.approx(0.0)
    assert label_tv(np.zeros(20, np.int64), ref) == pytest.approx(0.9)


def test_real_thresholds_follow_the_rule_and_the_verdict_names_the_symptom() -> None:
    from rlcv.gan.collapse import collapse_verdict, real_thresholds

    rng = np.random.default_rng(0)
    pool = (rng.random((60, 16)) < 0.5).astype(np.float32)
    labels = np.repeat(np.arange(4), [30, 20, 6, 4])
    th = real_thresholds(pool, labels, n=40, subsets=2)
    assert th.max_label_tv == pytest.approx(10 / 60)  # the two rarest classes: (6 + 4) / 60
    assert th.min_glyphs == pytest.approx(th.real_glyphs * (1 - 10 / 60))
    assert th.min_within_latent == th.radius > 0
    ok = {"glyphs": th.real_glyphs, "label_tv": 0.0, "within_latent_distance": 2 * th.radius}
    assert collapse_verdict(ok, th)["collapsed"] is False
    bad = collapse_verdict({**ok, "within_latent_distance": 0.0}, th)
    assert bad["collapsed"] is True and bad["fired"] == ["low_within_latent"]
    assert collapse_verdict({"glyphs": 1, "label_tv": 0.5}, th)["fired"] == ["few_glyphs", "labels_far"]
    with pytest.raises(ValueError, match="needs >= 40"):
        real_thresholds(pool[:10], labels, n=40)


@pytest.mark.expensive
def test_collapse_detector_passes_real_digits_and_fires_on_one_repeated_glyph() -> None:
    from rlcv.envs.bgan_digits import collapse_report

    real = _real(1000)
    labels = np.zeros(1000, np.int64)  # labels only move label_tv; real ones come from score_digits
    ok = score_digits(real, None, levels=2)
    assert ok["collapse"]["collapsed"] is False
    glyph = np.repeat(real[:3], 334, axis=0)[:1000]
    flipped = glyph.copy()
    flipped[np.arange(1000), np.random.default_rng(0).integers(0, 64, 1000)] = 1.0  # one-pixel variants
    bad = collapse_report(flipped, labels, flipped[:100].reshape(10, 10, 64), levels=2, against="held-out")
    assert bad["collapse"]["flags"] == {"few_glyphs": True, "labels_far": True, "low_within_latent": True}


def test_grid_c2st_ignores_the_grid_cue_that_saturates_the_plain_c2st() -> None:
    """Real grey-scale digits plus a jitter below half a grid step (the same images, off the 1/16 grid)
    are told apart from real digits by the plain C2ST; rounded to the grid (what ``c2st_grid_accuracy``
    compares) they are those real images again."""
    from rlcv.envs.bgan_digits import to_grid

    x = digits(0)["x_train"]
    assert np.array_equal(to_grid(x), x)  # the data are on the grid: rounding is the identity there
    real, same = x[:100], x[100:200]
    jittered = np.clip(same + np.random.default_rng(0).uniform(-0.03, 0.03, same.shape), 0, 1)
    assert two_sample_accuracy(real, jittered, n_estimators=10) > 0.9
    assert np.array_equal(to_grid(jittered), same)


@pytest.mark.expensive
def test_score_digits_gives_the_grid_c2st_for_grey_scale_digits_only() -> None:
    x = digits(0)["x_train"][:300]
    assert 0.0 <= score_digits(x, levels=0, seed=0, against="train")["c2st_grid_accuracy"] <= 1.0
    assert "c2st_grid_accuracy" not in score_digits(digits(2)["x_train"][:300], levels=2, seed=0)

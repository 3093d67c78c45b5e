"""rlcv.stats against known values: scipy's t interval, a hand computation, constructed ratios."""

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from rlcv import stats
from rlcv.plotting import bootstrap_ci
from rlcv.stats import Interval


def test_paired_t_is_scipys_one_sample_interval_and_the_hand_computation() -> None:
    a, b = [3.0, 5.0, 4.0, 9.0, 7.0], [1.0, 2.0, 2.5, 4.0, 6.0]
    d = np.subtract(a, b)
    ci = stats.paired_t(a, b)
    ref = sps.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (ci.n, ci.method) == (5, "paired t")
    assert ci.point == pytest.approx(d.mean())
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high))
    # by hand: d = 2, 3, 1.5, 5, 1 -> mean 2.5, s = 1.5811, t(0.975, 4) = 2.7764
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert (ci.low, ci.high) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-5)
    assert stats.mean_t(d.tolist()) == Interval(ci.point, ci.low, ci.high, 5, "t")


def test_zero_and_one_pair_are_nan_intervals_not_infinite() -> None:
    for ci in (stats.paired_t([], []), stats.paired_bootstrap([], []), stats.mean_t([])):
        assert ci.n == 0 and all(math.isnan(x) for x in ci.as_tuple())
    for ci in (stats.paired_t([3.0], [1.0]), stats.paired_bootstrap([3.0], [1.0]), stats.mean_t([2.0])):
        assert ci.n == 1 and ci.point == 2.0 and math.isnan(ci.low) and math.isnan(ci.high)
    assert not stats.paired_t([3.0], [1.0]).excludes(0.0)
    one = stats.jsonable(stats.paired_t([3.0], [1.0]))  # as the benches store it: null bounds, strict JSON
    assert one == {"point": 2.0, "low": None, "high": None, "n": 1, "method": "paired t", "never": []}


def test_missing_and_non_finite_pairs_are_dropped_and_counted() -> None:
    ci = stats.paired_t([1.0, None, 3.0, math.nan, 5.0], [0.0, 1.0, 1.0, 1.0, math.inf])
    assert ci.n == 2 and ci.point == 1.5
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_t([1.0, 2.0], [1.0])


def test_paired_bootstrap_is_seeded_and_is_plottings_mean_bootstrap() -> None:
    a = [5.0, 7.0, 6.5, 9.0, 4.0, 8.0]
    b = [4.0, 5.0, 6.0, 6.0, 4.5, 5.0]
    ci = stats.paired_bootstrap(a, b, seed=3)
    assert ci == stats.paired_bootstrap(a, b, seed=3)
    # with 10 000 replicates the bounds barely depend on the seed; with 50 they do
    assert stats.paired_bootstrap(a, b, n_boot=50, seed=3) != stats.paired_bootstrap(a, b, n_boot=50, seed=4)
    d = np.subtract(a, b)
    assert (ci.low, ci.high) == bootstrap_ci(d, rng=np.random.default_rng(3))
    assert ci.point == pytest.approx(d.mean()) and ci.low < ci.point < ci.high
    assert ci.n == 6 and ci.method == "paired bootstrap"


def test_median_bootstrap() -> None:
    ci = stats.median_bootstrap([4.0, 1.0, 3.0, 2.0, 5.0], seed=1)
    assert ci.point == 3.0 and 1.0 <= ci.low <= 3.0 <= ci.high <= 5.0 and ci.never == (0,)
    assert ci == stats.median_bootstrap([4.0, 1.0, 3.0, 2.0, 5.0], seed=1)
    assert stats.median_bootstrap([7.0, 7.0, 7.0]).as_tuple() == (7.0, 7.0, 7.0)
    never = stats.median_bootstrap([1.0, 2.0, 3.0, None, None])  # None: never reached, +inf
    assert never.point == 3.0 and never.never == (2,) and never.high == math.inf and never.n == 5


def test_ratio_of_medians_on_constructed_examples() -> None:
    b = [100.0, 250.0, 80.0, 400.0, 120.0]
    paired = stats.median_ratio_bootstrap([2 * x for x in b], b, paired=True)
    # every pair-resample keeps a = 2 b, so every replicate's ratio is exactly 2
    assert paired.as_tuple() == (2.0, 2.0, 2.0) and paired.n == 5 and paired.never == (0, 0)
    unpaired = stats.median_ratio_bootstrap([300.0] * 4, [100.0] * 6, paired=False)
    assert unpaired.as_tuple() == (3.0, 3.0, 3.0) and unpaired.n == 4
    spread = stats.median_ratio_bootstrap([150, 90, 200, 120], [100, 100, 100, 100], paired=True, seed=2)
    assert spread.point == 1.35 and 0.9 <= spread.low < 1.35 < spread.high <= 2.0
    assert spread == stats.median_ratio_bootstrap([150, 90, 200, 120], [100] * 4, paired=True, seed=2)
    with pytest.raises(ValueError, match="equal lengths"):
        stats.median_ratio_bootstrap([1.0], [1.0, 2.0], paired=True)


def test_ratio_with_a_seed_that_never_reaches() -> None:
    # A: 100, 200, 300, never (+inf) -> median (200 + 300) / 2 = 250; B: 100 -> ratio 2.5. A resample
    # holding the never seed twice has median +inf (p = 0.26 > 2.5 %): the upper bound is unbounded.
    ci = stats.median_ratio_bootstrap([100, 200, 300, None], [100] * 4, paired=True)
    assert ci.point == 2.5 and ci.never == (1, 0) and ci.n == 4
    assert 1.0 <= ci.low <= 2.5 and ci.high == math.inf
    # B never reaches: ratio 0; both arms never: undefined
    assert stats.median_ratio_bootstrap([100, 200], [None, None], paired=True).as_tuple() == (0.0, 0.0, 0.0)
    both = stats.median_ratio_bootstrap([None, None, 5], [None, None, 5], paired=True)
    assert both.never == (2, 2) and all(math.isnan(x) for x in both.as_tuple())


def test_ratio_degenerate_sizes() -> None:
    one = stats.median_ratio_bootstrap([300.0], [100.0], paired=True)
    assert one.point == 3.0 and one.n == 1 and math.isnan(one.low) and math.isnan(one.high)
    empty = stats.median_ratio_bootstrap([], [], paired=False)
    assert empty.n == 0 and all(math.isnan(x) for x in empty.as_tuple())


def test_steps_to_target() -> None:
    steps, returns = [0, 10_000, 20_000, 30_000], [5.0, 40.0, 30.0, 80.0]
    assert stats.steps_to_target(steps, returns, 40.0) == 10_000  # first step at or above, not monotone
    assert stats.steps_to_target(steps, returns, 60.0) == 30_000
    assert stats.steps_to_target(steps, returns, 81.0) is None


def test_fmt_and_excludes() -> None:
    ci = Interval(396.4, -104.2, 896.1, 8, "paired t")
    assert ci.fmt("+.0f") == "+396 [-104, +896]" and not ci.excludes(0.0) and ci.excludes(-200.0)
    assert Interval(0.5, math.nan, math.nan, 1, "t").fmt(".3f") == "0.500"
    assert Interval(math.nan, math.nan, math.nan, 0, "t").fmt() == "—"


def test_jsonable_writes_intervals_as_strict_json() -> None:
    iv = stats.Interval(1.5, math.nan, math.inf, 1, "median bootstrap", (0,))
    out = stats.jsonable({1: [iv, (2.0, -math.inf)]})
    assert out == {
        "1": [
            {"point": 1.5, "low": None, "high": "inf", "n": 1, "method": "median bootstrap", "never": [0]},
            [2.0, "-inf"],
        ]
    }
    json.dumps(out, allow_nan=False)  # strict: no NaN / Infinity tokens
    back = stats.from_jsonable(json.loads(json.dumps(out))["1"][0])  # as a report reads its JSON back
    assert back.point == 1.5 and math.isnan(back.low) and back.high == math.inf
    assert (back.n, back.method, back.never) == (1, "median bootstrap", (0,))


def test_scaled_multiplies_point_and_bounds_and_refuses_a_non_positive_factor() -> None:
    iv = stats.paired_t([0.51, 0.52, 0.56], [0.5, 0.5, 0.5])
    assert iv.scaled(100.0).as_tuple() == (100.0 * iv.point, 100.0 * iv.low, 100.0 * iv.high)
    assert (iv.scaled(100.0).n, iv.scaled(100.0).method) == (3, "paired t")
    assert math.isnan(stats.paired_t([1.0], [0.0]).scaled(2.0).low)
    with pytest.raises(ValueError, match="positive factor"):
        iv.scaled(-1.0)

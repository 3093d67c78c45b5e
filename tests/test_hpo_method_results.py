"""rlcv.hpo.method_results / setting_choice on synthetic per-run summaries: reading paired seeds, the
paired comparisons and their verdicts, the regulariser arms, the tuning-seed choice, the anytime reading."""

from __future__ import annotations

import json
import math

import pytest

from rlcv.hpo import method_results as mr
from rlcv.hpo.setting_choice import chosen, model_table
from rlcv.stats import paired_t


def _write(folder, name, **summary):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(summary))


def test_read_methods_keeps_the_paired_seeds_in_the_order_the_sweep_wrote_them(tmp_path):
    for s in (0, 1, 2):
        _write(tmp_path, f"b_s{s}", test_accuracy=0.5 + s, val_loss=1.0)
    for s in (1, 2):  # method a misses seed 0: seed 0 is not paired, and a comes after b
        _write(tmp_path, f"a_s{s}", test_accuracy=0.1 * s, val_loss=2.0)
    results, seeds = mr.read_methods(tmp_path, ["a", "b", "c"], [0, 1, 2], trials=20)
    assert seeds == [] and list(results) == ["b", "a"]  # c never ran: no seed is paired
    results, seeds = mr.read_methods(tmp_path, ["a", "b"], [0, 1, 2], trials=20)
    assert seeds == [1, 2] and list(results) == ["b", "a"]
    assert mr.acc(results, "b", seeds) == [1.5, 2.5]


def test_compare_and_outcome_read_the_side_of_zero():
    up = mr.compare([1.0, 2.0, 3.1], [0.0, 1.1, 2.0], higher_is_better=True)
    assert up["outcome"] == "better" and up["claims_tuned_ge_fixed"]
    assert up["ci"] == paired_t([1.0, 2.0, 3.1], [0.0, 1.1, 2.0])
    assert mr.compare([1.0, 2.0, 3.1], [0.0, 1.1, 2.0], higher_is_better=False)["outcome"] == "worse"
    assert mr.compare([1.0, 2.0], [1.5, 1.5], higher_is_better=True)["outcome"] == "unresolved"
    assert mr.finite(math.inf) == mr.WORST_VAL == mr.finite(math.nan)


def test_best_grid_point_and_unit_run():
    cost = {u: 10.0 for u in ("sgd_steps", "examples", "example_grads", "compute_s")}
    results = {
        "fixed-lr0.1": {0: {"val_loss": 0.5, "cost": cost}},
        "fixed-lr1": {0: {"val_loss": math.nan, "cost": {u: 20.0 for u in cost}}},  # diverged: worst
    }
    assert (
        mr.best_grid_point(results, "fixed") == "fixed-lr0.1" and mr.best_grid_point(results, "cos") is None
    )
    assert mr.unit_run(results, [0]) == {0: cost}  # one run: the grid's lowest lr


def test_error_pairs_and_the_papers_order():
    acc = {"none": [0.80, 0.81, 0.79], "cutout": [0.85, 0.84, 0.86], "dualcutout": [0.90, 0.91, 0.89]}
    cost = {"example_grads": 2.0, "compute_s": 1.0}
    results = {
        a: {
            s: {"test_accuracy": x, "test_loss": 1.0, "val_loss": 1.0, "cost": cost} for s, x in enumerate(xs)
        }
        for a, xs in acc.items()
    }
    pairs, order = mr.error_pairs(results, list(acc), [0, 1, 2])
    assert list(pairs) == ["dualcutout − cutout", "cutout − none", "dualcutout − none"]
    assert pairs["dualcutout − cutout"]["outcome"] == "better"  # lower error is better
    assert pairs["cutout − none"]["paired_t"].point == pytest.approx(-5.0)
    assert order["reproduced"] and order["none"] == pytest.approx(20.0)
    rows = mr.arm_rows(results, list(acc), [0, 1, 2])
    assert [r["arm"] for r in rows] == list(acc) and rows[0]["grads"] == rows[0]["wall"] == 1.0
    assert mr.error_pairs(results, ["none", "cutout"], [0, 1, 2])[1] is None


def test_the_tuned_setting_is_the_lowest_mean_ratio_over_every_model(tmp_path):
    runs = {  # model → setting → method → val loss (seeds 0, 1)
        "m1": {"a": {"cosine-lr0.1": 1.0, "hpo-range": 0.9}, "b": {"hpo-range": 0.8}},
        "m2": {"a": {"cosine-lr0.1": 2.0, "hpo-range": 1.0}, "b": {"hpo-range": 1.9}},
    }
    for model, settings in runs.items():
        for setting, methods in settings.items():
            for method, v in methods.items():
                for s in (0, 1):
                    _write(
                        tmp_path / model / setting / "per_run",
                        f"{method}_s{s}",
                        val_loss=v,
                        test_accuracy=0.5,
                    )
    tables = [model_table(tmp_path / m) for m in runs]
    assert tables[0]["best_cosine"] == "cosine-lr0.1" and tables[0]["settings"] == ["a", "b"]
    assert tables[1]["ratios"]["hpo-range"] == {"a": 0.5, "b": 0.95}
    (choice,) = chosen(tables)  # a: (0.9 + 0.5) / 2 = 0.7; b: (0.8 + 0.95) / 2 = 0.875
    assert choice["method"] == "hpo-range" and choice["chosen"] == "a"
    assert choice["ratios"] == [("a", pytest.approx(0.7)), ("b", pytest.approx(0.875))]


def test_anytime_reads_the_median_best_loss_on_a_grid_of_runs():
    # columns: sgd_steps, examples, example_grads, compute_s, best_val_loss, test_accuracy
    curve = [[5, 5, 5, 5, 2.0, math.nan], [10, 10, 10, 10, 1.0, 0.7]]
    r = mr.anytime([curve, curve], [10.0, 10.0], "sgd_steps")
    assert math.isnan(r["best_val"][0]) and r["best_val"][-1] == 1.0
    assert list(r["xs"]) == [1.0] and list(r["accuracy"]) == [0.7]  # known at the run's end only

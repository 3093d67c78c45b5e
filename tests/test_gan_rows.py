"""rlcv.gan.rows: seed rows of a generator comparison and the intervals read off them, on hand-made
records (the benches' pages built from them are tested with their benches)."""

from __future__ import annotations

import math

import pytest

from rlcv.gan.rows import bracket, mean, paired, rows_by_name, seeded, value, vs_fixed


def _run(algo: str, seed: int, c2st: float, ess: float | None = 5.0) -> dict:
    return {"algo": algo, "seed": seed, "final": {"c2st_accuracy": c2st}, "train": {"ess": ess}}


def test_rows_group_runs_then_references_by_seed() -> None:
    payload = {
        "runs": [_run("bgan", 1, 0.7), _run("bgan-gumbel", 1, 0.8), _run("bgan", 0, 0.6)],
        "references": {"rows": {"mixture": [{"seed": 0, "final": {"c2st_accuracy": 0.65}}]}},
    }
    rows = rows_by_name(payload)
    assert list(rows) == ["bgan", "bgan-gumbel", "mixture"] and list(rows["bgan"]) == [1, 0]
    assert seeded(rows["bgan"]) == rows["bgan"]  # a row stays a row
    assert value(rows["bgan"][0], "ess") == 5.0 and math.isnan(value(_run("x", 0, 0.5, None), "ess"))
    assert value({"c2st_accuracy": 0.4}, "c2st_accuracy") == 0.4  # a bare dict of scores


def test_paired_uses_the_seeds_both_rows_hold_and_drops_a_nan_pair() -> None:
    a = {s: {"final": {"k": v}} for s, v in {0: 1.0, 1: 2.0, 2: 3.0, 3: math.nan}.items()}
    b = [{"seed": s, "k": 0.5} for s in (3, 2, 1, 0, 9)]  # records carrying their seed, any order
    iv = paired(a, b, "k")
    # differences 0.5, 1.5, 2.5: mean 1.5, sd 1, t(2, 0.975) = 4.303 → half-width 2.4841
    assert (iv.n, iv.point) == (3, pytest.approx(1.5)) and iv.high - iv.point == pytest.approx(
        2.4841, abs=1e-4
    )
    assert mean(a, "k").n == 3 and mean(a, "k").point == pytest.approx(2.0)
    fixed = vs_fixed(b[:4], "k", 0.25)  # one fixed reference value: a one-sample interval
    assert (fixed.point, fixed.n) == (pytest.approx(0.25), 4) and fixed.high - fixed.low < 1e-12


def test_bracket_brackets_a_budget_by_scored_checkpoints() -> None:
    assert bracket([400, 800, 1000], 900.0) == [800, 1000] and bracket([400, 800], 2000.0) == [800]

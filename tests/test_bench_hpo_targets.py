"""Issue 30's target lines of `rlcv bench hpo-budget`, on synthetic per-seed results."""

from __future__ import annotations

from rlcv.bench.report import render
from rlcv.hpo.budget_targets import issue30_targets

SEEDS = list(range(6))


def _method(acc: list[float]) -> dict[int, dict]:
    return {s: {"test_accuracy": a, "val_loss": 1.0 - a} for s, a in zip(SEEDS, acc, strict=True)}


def _row(method: str, val: float, examples: float, online: bool = True) -> dict:
    return {"method": method, "val_loss": val, "runs": {"examples": examples}, "online": online}


def test_targets_pick_the_best_online_method_by_validation_within_each_examples_budget():
    base = [0.50, 0.52, 0.48, 0.51, 0.49, 0.50]
    results = {
        "cosine-lr1": _method(base),
        "cosine-best": _method(base),
        "tpe-20": _method([a + 0.005 for a in base]),
        "sh-2-b32": _method([a - 0.05 + 0.001 * i for i, a in enumerate(base)]),
        "hpo-range": _method([a + 0.02 + 0.001 * i for i, a in enumerate(base)]),
        "ppo-x": _method([a + 0.015 - 0.002 * i for i, a in enumerate(base)]),
        "hpo-ucb1": _method([a + 0.2 for a in base]),  # best accuracy, but 6 runs of examples
    }
    rows = [
        _row("hpo-range", 1.0, 1.0),
        _row("ppo-x", 1.1, 1.0),
        _row("hpo-ucb1", 0.5, 6.0),
        _row("cosine-best", 1.2, 1.0, online=False),
    ]
    t = issue30_targets(results, rows, SEEDS, 1.0)
    assert t["vs_cosine_tuned"]["a"] == "hpo-range" and t["vs_cosine_tuned"]["met"]
    assert t["vs_tpe20"]["met"] and t["vs_sh-2-b32"]["met"]
    assert t["vs_pbt-2-b32"] is None  # not run: reported as not measured, never as met
    learned = t["learned_vs_hand"]
    assert (learned["a"], learned["b"]) == ("ppo-x", "hpo-range")
    assert learned["met"] == (learned["ci"].low >= -0.01)
    each = t["each_vs_cosine"]  # every online method within 1 run of examples, by mean val loss
    assert each["refs"] == ["cosine-lr1", "tpe-20", "sh-2-b32"]  # the tuned cosine run, then what was run
    assert [r["method"] for r in each["rows"]] == ["hpo-range", "ppo-x"]
    assert each["rows"][0]["val"][0].point < 0 < each["rows"][0]["acc"][0].point
    text = render("hpo_targets.md.j2", targets=t)
    assert "not measured" in text and "**met**" in text
    assert "| method | cosine-lr1 | tpe-20 | sh-2-b32 |" in text and "| ppo-x | +1." in text
    worse = {**results, "hpo-range": _method([a - 0.03 + 0.001 * i for i, a in enumerate(base)])}
    assert not issue30_targets(worse, rows, SEEDS, 1.0)["vs_cosine_tuned"]["met"]


def test_the_residual_controller_gets_its_own_fourth_target_only_where_it_ran():
    base = [0.50, 0.52, 0.48, 0.51, 0.49, 0.50]
    results = {
        "cosine-lr1": _method(base),
        "hpo-sweep-fit": _method(base),
        "ppo-res": _method([a + 0.001 * (-1) ** i for i, a in enumerate(base)]),  # within ±0.1 point
    }
    rows = [_row("hpo-sweep-fit", 1.0, 1.0), _row("ppo-res", 0.99, 1.0)]
    without = {k: v for k, v in results.items() if k != "ppo-res"}
    assert "residual_vs_hand" not in issue30_targets(without, rows[:1], SEEDS, 1.0)
    t = issue30_targets(results, rows, SEEDS, 1.0)
    res = t["residual_vs_hand"]  # the hand-designed best leaves learned controllers out, even when lower
    assert (res["a"], res["b"], res["met"]) == ("ppo-res", "hpo-sweep-fit", True)
    assert t["vs_cosine_tuned"]["a"] == "ppo-res"  # targets 1-3 take it like any online method
    text = render("hpo_targets.md.j2", targets=t)
    assert "4. `ppo-res` (residual on `hpo-sweep-fit`)" in text
    assert "4. `ppo-res`" not in render(
        "hpo_targets.md.j2", targets=issue30_targets(without, rows[:1], SEEDS, 1.0)
    )

"""Issue 30's targets of `rlcv bench hpo-budget` (its page: ``templates/hpo_targets.md.j2``), read off
paired intervals of test accuracy.

1. The best online controller at ≤ 1 run of examples (chosen by mean validation loss, never by test
   accuracy) is ahead of one cosine run: interval of (controller − cosine) above 0. Two cosine rows:
   the learning rate chosen on *tuning* seeds (``--cosine-lr``) and ``cosine-best``, the grid point with
   the lowest mean validation loss over the *evaluation* seeds (an oracle, labelled so).
2. The best online controller at ≤ 2 runs of examples is within 1 point of TPE-20 or ahead: the
   interval's lower end ≥ −1 point.
3. That controller is ahead of successive halving and PBT at equal examples (``sh-2-b32``,
   ``pbt-2-b32``: the batch pinned, 2 runs of examples): interval above 0 against each.
4. ``ppo-x`` (meta-trained on other tasks) is no worse than the best hand-designed controller on this
   task, read as non-inferiority with the same 1-point margin: lower end ≥ −1 point; the same for
   ``ppo-res`` (the residual controller on ``hpo-sweep-fit``'s schedule) where it ran.

Target 1 is read for the controller the rule selects, against the first ``--cosine-lr``;
``each_vs_cosine`` compares every online method within 1 run of examples with each given cosine run,
TPE-20 and the equal-examples baselines as well (test accuracy and validation loss), so a controller
the rule did not select is still compared, with its intervals.
"""

from __future__ import annotations

from typing import Any

from rlcv.hpo.method_results import Results, acc, val
from rlcv.stats import paired_t

MARGIN = 0.01  # 1 point of test accuracy
LEARNED = ("ppo", "ppo-x", "ppo-res")


def _best_within(rows: list[dict[str, Any]], examples: float, hand_only: bool = False) -> str | None:
    ok = [
        r
        for r in rows
        if r["online"]
        and r["runs"]["examples"] <= examples + 1e-9
        and not (hand_only and r["method"] in LEARNED)
    ]
    return min(ok, key=lambda r: r["val_loss"])["method"] if ok else None


def _check(results: Results, seeds: list[int], a: str, b: str, low_at_least: float) -> dict[str, Any]:
    ci = paired_t(acc(results, a, seeds), acc(results, b, seeds))
    return {"a": a, "b": b, "ci": ci, "met": bool(ci.n > 1 and ci.low >= low_at_least), "bar": low_at_least}


def issue30_targets(
    results: Results,
    rows: list[dict[str, Any]],
    seeds: list[int],
    cosine_lr: float | list[float] | None,
) -> dict[str, Any]:
    """The four targets (module docstring) as {name: check or None where a method is missing}."""
    out: dict[str, Any] = {}
    one = _best_within(rows, 1.0)
    two = _best_within(rows, 2.0)
    lrs = [cosine_lr] if isinstance(cosine_lr, float | int) else list(cosine_lr or [])
    refs = [f"cosine-lr{lr:g}" for lr in lrs]
    tuned = refs[0] if refs else None
    for name, ref in (("vs_cosine_tuned", tuned), ("vs_cosine_oracle", "cosine-best")):
        out[name] = _check(results, seeds, one, ref, 1e-12) if one and ref in results else None
    out["vs_tpe20"] = _check(results, seeds, two, "tpe-20", -MARGIN) if two and "tpe-20" in results else None
    for b in ("sh-2-b32", "pbt-2-b32", "sh-2"):
        out[f"vs_{b}"] = _check(results, seeds, two, b, 1e-12) if two and b in results else None
    if any(ref in results for ref in refs):  # absent without a tuned cosine run: older pages unchanged
        others: list[str] = [b for b in ("tpe-20", "sh-2-b32", "pbt-2-b32", "pb2-2-b32") if b in results]
        out["each_vs_cosine"] = _each_vs(results, rows, seeds, [r for r in refs if r in results] + others)
    hand = _best_within(rows, 1.0, hand_only=True)
    out["learned_vs_hand"] = (
        _check(results, seeds, "ppo-x", hand, -MARGIN) if hand and "ppo-x" in results else None
    )
    if "ppo-res" in results:  # absent key without it: the pages of benches without ppo-res unchanged
        out["residual_vs_hand"] = _check(results, seeds, "ppo-res", hand, -MARGIN) if hand else None
    return out


def _each_vs(
    results: Results, rows: list[dict[str, Any]], seeds: list[int], refs: list[str]
) -> dict[str, Any]:
    """Every online method within 1 run of examples (by mean validation loss) − each of ``refs``:
    {"refs", "rows": [{"method", "acc": [interval per ref], "val": [interval per ref]}]}."""
    out = []
    for r in sorted(rows, key=lambda r: r["val_loss"]):
        if r["online"] and r["runs"]["examples"] <= 1.0 + 1e-9:
            m = r["method"]
            out.append(
                {
                    "method": m,
                    "acc": [paired_t(acc(results, m, seeds), acc(results, ref, seeds)) for ref in refs],
                    "val": [paired_t(val(results, m, seeds), val(results, ref, seeds)) for ref in refs],
                }
            )
    return {"refs": refs, "rows": out}

"""The rows of a generator comparison and the numbers read off them.

A *row* (a generator, a variant, a reference model) maps each seed to that seed's record: a scored
run's summary (scores under ``final``, training diagnostics under ``train``) or a bare dict of scores.
Seeds are the pairs: every difference between two rows is taken seed by seed over the seeds both
hold, and every interval is :mod:`rlcv.stats`' (one-sample or paired t).

- :func:`rows_by_name`, :func:`seeded`: records grouped into rows;
- :func:`value`, :func:`mean`, :func:`paired`, :func:`vs_fixed`: a row's mean, two rows' paired
  difference, a row against one fixed reference value;
- :func:`comparisons`, :func:`bgan_targets`: `rlcv bench bgan`'s paired tables (equal updates, equal
  wall-clock) and its targets;
- :func:`cost_ratios`, :func:`bracket`, :func:`equal_compute`: what BGAN's compute per update buys
  the other generators (`rlcv bench bgan-update-cost`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rlcv.stats import Interval, jsonable, mean_t, paired_t

Seeds = dict[int, dict[str, Any]]  # seed → a row's record
Rows = dict[str, Seeds]  # row name → its records
# The metrics `rlcv bench bgan` compares, in its tables' column order
BGAN_METRICS = (
    "c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "class_coverage",
    "label_entropy", "unique_fraction", "across_latent_distance", "within_latent_distance",
)  # fmt: skip


def seeded(records: Iterable[dict[str, Any]] | Seeds) -> Seeds:
    """Seed → record of records that carry their ``seed`` (a :data:`Seeds` dict is returned as is)."""
    return dict(records) if isinstance(records, Mapping) else {r["seed"]: r for r in records}


def rows_by_name(payload: Mapping[str, Any], key: str = "algo") -> Rows:
    """A bench's runs grouped by their ``key`` (first-seen order), then its reference rows."""
    rows: Rows = {}
    for r in payload["runs"]:
        rows.setdefault(r[key], {})[r["seed"]] = r
    for name, refs in (payload.get("references") or {}).get("rows", {}).items():
        rows[name] = seeded(refs)
    return rows


def value(record: Mapping[str, Any], key: str) -> float:
    """A record's final ``key`` (``ess``: its training's), NaN where it has none."""
    v = (record.get("train") or {}).get("ess") if key == "ess" else record.get("final", record).get(key)
    return math.nan if v is None else float(v)


def mean(row: Seeds | Sequence[dict[str, Any]], key: str) -> Interval:
    """Mean of ``key`` over the row's seeds, with its t interval."""
    return mean_t([value(r, key) for r in seeded(row).values()])


def paired(a: Seeds | Sequence[dict[str, Any]], b: Seeds | Sequence[dict[str, Any]], key: str) -> Interval:
    """Paired t interval of ``key``, a − b, over the seeds both rows hold (a NaN side drops the pair)."""
    a, b = seeded(a), seeded(b)
    seeds = [s for s in a if s in b]
    return paired_t([value(a[s], key) for s in seeds], [value(b[s], key) for s in seeds])


def vs_fixed(row: Seeds | Sequence[dict[str, Any]], key: str, reference: float) -> Interval:
    """A row against one fixed reference value (one sample of a reference model): the one-sample t
    interval of the per-seed differences."""
    return mean_t([value(r, key) - reference for r in seeded(row).values()])


def _at_wall(run: Mapping[str, Any], budget: float) -> dict[str, Any]:
    """The run's last curve point trained within ``budget`` seconds (its first if none is)."""
    within = [p for p in run["curve"] if p["wall_seconds"] <= budget + 1e-9]
    return dict(within[-1] if within else run["curve"][0])


def comparisons(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Paired differences ``bgan − other`` of every :data:`BGAN_METRICS`, as strict JSON
    (:func:`rlcv.stats.jsonable`): at equal generator updates (final checkpoints) against every other
    row, and at equal wall-clock against the other generators — per seed each generator at its last
    checkpoint within the shortest generator's training time."""
    rows = rows_by_name(payload)
    if "bgan" not in rows:
        return {}
    bgan = rows["bgan"]

    def diffs(a: Seeds, b: Seeds) -> dict[str, Any]:
        return {k: jsonable(paired(a, b, k)) for k in BGAN_METRICS}

    out: dict[str, Any] = {"equal_updates": {o: diffs(bgan, r) for o, r in rows.items() if o != "bgan"}}
    out["equal_wall_clock"] = {}
    generators = [a for a in rows if a in {r["algo"] for r in payload["runs"]}]
    for other in (g for g in generators if g != "bgan"):
        budgets = {  # per seed, the shortest generator's training time
            s: min(rows[g][s]["curve"][-1]["wall_seconds"] for g in generators if s in rows[g])
            for s in sorted(set(bgan) & set(rows[other]))
        }
        a = {s: {"final": _at_wall(bgan[s], t)} for s, t in budgets.items()}
        b = {s: {"final": _at_wall(rows[other][s], t)} for s, t in budgets.items()}
        out["equal_wall_clock"][other] = {
            "budget_seconds": list(budgets.values()),
            "bgan_updates": [a[s]["final"]["updates"] for s in budgets],
            "other_updates": [b[s]["final"]["updates"] for s in budgets],
            **diffs(a, b),
        }
    return out


def bgan_targets(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The numbers of `rlcv bench bgan`'s targets (None without BGAN or mixture rows): BGAN's final
    records (``bgan``); the compared real digits' confident share and the real row's unique fraction;
    whether every BGAN seed covers the 10 classes with a share within 15 points of real's
    (``share_ok``) and keeps ≥ 0.9 × real's unique fraction (``unique_ok``); per other generator,
    whether BGAN's C2ST interval lies wholly below its (``others``)."""
    rows = rows_by_name(payload)
    if "bgan" not in rows or "mixture" not in rows:
        return None
    bgan = [r["final"] for r in rows["bgan"].values()]
    on_ref = payload["references"].get("labeller_on_reference")
    real = [r["final"] for r in rows["real"].values()]
    share = on_ref["confident_share"] if on_ref else float(np.mean([f["confident_share"] for f in real]))
    unique = float(np.mean([f["unique_fraction"] for f in real]))
    high = mean(rows["bgan"], "c2st_accuracy").high
    return {
        "bgan": bgan,
        "real_share": share,
        "share_ok": all(
            f["confident_coverage"] == 10 and abs(f["confident_share"] - share) <= 0.15 for f in bgan
        ),
        "real_unique": unique,
        "unique_ok": all(f["unique_fraction"] >= 0.9 * unique for f in bgan),
        "others": {o: high < mean(rows[o], "c2st_accuracy").low for o in rows if o.startswith("bgan-")},
    }


def cost_ratios(cost: Mapping[str, Sequence[float]], algo: str) -> list[float]:
    """``algo``'s seconds per update over BGAN's, within each timing repeat."""
    return [c / b for c, b in zip(cost[algo], cost["bgan"], strict=True)]


def bracket(grid: Sequence[int], budget: float) -> list[int]:
    """The scored checkpoints on either side of ``budget`` (one if it falls on one or off the grid)."""
    below = max([u for u in grid if u <= budget], default=grid[0])
    above = min([u for u in grid if u >= budget], default=grid[-1])
    return list(dict.fromkeys((below, above)))


def equal_compute(cost: Mapping[str, Sequence[float]], bench: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per other generator of `rlcv bench bgan`'s JSON ``bench`` and per checkpoint bracketing the
    updates BGAN's compute buys it (``cost``: seconds per update, per repeat): the cost ratio (median
    over repeats), that budget, and BGAN's final C2ST / 1-NN minus the generator's at the checkpoint
    (paired over the bench's seeds)."""
    rows = rows_by_name({"runs": bench["runs"]})
    first = next(iter(rows["bgan"].values()))
    updates = first["final"]["updates"]
    out = []
    for algo in (a for a in rows if a != "bgan"):
        ratio = float(np.median(cost_ratios(cost, algo)))
        for at in bracket([p["updates"] for p in next(iter(rows[algo].values()))["curve"]], updates / ratio):
            other = {s: next(p for p in r["curve"] if p["updates"] == at) for s, r in rows[algo].items()}
            diffs = [paired(rows["bgan"], other, k) for k in ("c2st_accuracy", "nn1_accuracy")]
            out.append({"algo": algo, "ratio": ratio, "budget": updates / ratio, "at": at, "diffs": diffs})
    return out

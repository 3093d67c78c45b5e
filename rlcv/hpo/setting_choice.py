"""The settings of the tuned HPO methods (``hpo-range``, ``hpo-sweep``) tried on tuning seeds, and the
one kept (`rlcv bench hpo-tuning`). Sweeps of ``rlcv bench hpo-budget --first-seed 100`` lie in
``DIR/<model>/<setting>/per_run/<method>_s<seed>.json``. The choice reads validation loss only: per
model, the cosine grid point with the lowest mean; across models, for each tuned method the setting with
the lowest mean over models of (its validation loss / that model's chosen cosine run's), so one setting
serves every model.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rlcv.hpo.method_results import WORST_VAL, Results

TUNED = ("hpo-range", "hpo-sweep")


def setting_runs(model_dir: Path) -> dict[str, Results]:
    """{setting folder: {method: {seed: summary}}} of one model's sweeps."""
    out: dict[str, Results] = {}
    for d in sorted(p for p in model_dir.iterdir() if (p / "per_run").is_dir()):
        for f in sorted((d / "per_run").glob("*_s*.json")):
            method, seed = f.stem.rsplit("_s", 1)
            out.setdefault(d.name, {}).setdefault(method, {})[int(seed)] = json.loads(f.read_text())
    return out


def _mean(runs: dict[int, dict[str, Any]], key: str) -> float:
    return statistics.fmean(min(r[key], WORST_VAL) for r in runs.values())


def model_table(model_dir: Path) -> dict[str, Any]:
    """One model's rows (setting, method, seeds, mean val loss, mean test accuracy %), its chosen cosine
    run, and each tuned method's settings' val loss / the chosen cosine's (``ratios``)."""
    settings = setting_runs(model_dir)
    cosine = {m: r for s in settings.values() for m, r in s.items() if m.startswith("cosine-lr")}
    best = min(cosine, key=lambda m: _mean(cosine[m], "val_loss")) if cosine else None
    rows: list[dict[str, Any]] = []
    ratios: dict[str, dict[str, float]] = {}
    for name, methods in settings.items():
        for m, runs in sorted(methods.items()):
            val, acc = _mean(runs, "val_loss"), 100 * _mean(runs, "test_accuracy")
            rows.append({"setting": name, "method": m, "seeds": len(runs), "val": val, "acc": acc})
            if m in TUNED and best:
                ratios.setdefault(m, {})[name] = val / _mean(cosine[best], "val_loss")
    return {
        "name": model_dir.name,
        "rows": rows,
        "best_cosine": best,
        "settings": list(settings),
        "ratios": ratios,
    }


def chosen(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per tuned method (by name): the mean ratio over models of each setting every model ran, and the
    setting with the lowest."""
    out = []
    for method in sorted({m for t in tables for m in t["ratios"]}):
        per_model = [t["ratios"].get(method, {}) for t in tables]
        names = sorted(set().union(*per_model))
        full = {n: statistics.fmean(r[n] for r in per_model) for n in names if all(n in r for r in per_model)}
        if full:
            out.append(
                {"method": method, "ratios": list(full.items()), "chosen": min(full, key=full.__getitem__)}
            )
    return out

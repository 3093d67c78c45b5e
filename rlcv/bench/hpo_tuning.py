"""`rlcv bench hpo-tuning`: the table of every setting tried on the tuning seeds, and which one was chosen.

Reads sweeps of ``rlcv bench hpo-budget --first-seed 100`` laid out as ``DIR/<model>/<setting>/`` and
writes one page (``templates/hpo_tuning.md.j2``, which says how the choice is made: validation loss
only, per model the best cosine grid point, across models for each tuned method (``hpo-range``,
``hpo-sweep``) the setting with the lowest mean ratio to it).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_file

    p = sub.add_parser("hpo-tuning", help="settings tried on the HPO tuning seeds and the ones chosen")
    p.add_argument("--dir", default="results/hpo_tuning", help="DIR/<model>/<setting>/per_run/*.json")
    p.add_argument("--out", type=out_file, default="results/hpo_tuning.md", help="the markdown page to write")
    p.set_defaults(bench_run=run)


def _settings(model_dir: Path) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """{setting dir: {method: {seed: summary}}}."""
    out: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for d in sorted(p for p in model_dir.iterdir() if (p / "per_run").is_dir()):
        for f in sorted((d / "per_run").glob("*_s*.json")):
            method, seed = f.stem.rsplit("_s", 1)
            out.setdefault(d.name, {}).setdefault(method, {})[int(seed)] = json.loads(f.read_text())
    return out


def _mean(runs: dict[int, dict[str, Any]], key: str) -> float:
    return statistics.fmean(min(r[key], 1e3) for r in runs.values())


def _command(setting_dir: Path) -> str:
    path = setting_dir / "summary.json"
    return json.loads(path.read_text())["command"] if path.is_file() else "(no summary.json)"


TUNED = ("hpo-range", "hpo-sweep")  # methods whose settings are chosen across models on these seeds


def _model(model: Path, ratios: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """One model's table; each tuned method's setting's val loss / the chosen cosine's is added to
    ``ratios[method][setting]``."""
    settings = _settings(model)
    cosine = {m: r for s in settings.values() for m, r in s.items() if m.startswith("cosine-lr")}
    best = min(cosine, key=lambda m: _mean(cosine[m], "val_loss")) if cosine else None
    rows = []
    for name, methods in settings.items():
        for m, runs in sorted(methods.items()):
            val, acc = _mean(runs, "val_loss"), 100 * _mean(runs, "test_accuracy")
            rows.append({"setting": name, "method": m, "seeds": len(runs), "val": val, "acc": acc})
            if m in TUNED and best:
                ratios.setdefault(m, {}).setdefault(name, []).append(val / _mean(cosine[best], "val_loss"))
    commands = [(n, _command(model / n)) for n in settings]
    return {"name": model.name, "rows": rows, "best_cosine": best, "commands": commands}


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.report import render
    from rlcv.errors import RlcvError

    root = Path(args.dir)
    models = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not models:
        raise RlcvError(
            f"no tuning sweeps under '{root}': run `rlcv bench hpo-budget --first-seed 100` first."
        )
    ratios: dict[str, dict[str, list[float]]] = {}
    tables = [_model(model, ratios) for model in models]
    tuned = []
    for method, settings in sorted(ratios.items()):
        full = {n: statistics.fmean(r) for n, r in sorted(settings.items()) if len(r) == len(models)}
        if full:
            chosen = min(full, key=full.__getitem__)
            tuned.append({"method": method, "ratios": list(full.items()), "chosen": chosen})
    page = render("hpo_tuning.md.j2", root=root, models=tables, tuned=tuned)
    Path(args.out).write_text(page)
    print(f"wrote {args.out}")
    return 0

"""`rlcv bench hpo-tuning`: the table of every setting tried on the tuning seeds, and which one was chosen.

Reads sweeps of ``rlcv bench hpo-budget --first-seed 100`` laid out as ``DIR/<model>/<setting>/`` (each
with ``per_run/`` and the ``summary.json`` that holds its command) and writes one markdown page:
per model and setting the mean final validation loss and test accuracy over the tuning seeds. The
choice reads validation loss only: per model, the cosine grid point with the lowest mean; across
models, the ``hpo-range`` setting with the lowest mean over models of (its validation loss / that
model's chosen cosine run's), so one setting serves both models.
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


def run(args: argparse.Namespace) -> int:
    from rlcv.errors import RlcvError

    root = Path(args.dir)
    models = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not models:
        raise RlcvError(
            f"no tuning sweeps under '{root}': run `rlcv bench hpo-budget --first-seed 100` first."
        )
    lines = ["# HPO settings tried on tuning seeds", "", f"Regenerate: `rlcv bench hpo-tuning --dir {root}`."]
    lines += ["", __doc__.split("\n\n", 1)[1].strip(), ""]
    ratios: dict[str, list[float]] = {}
    for model in models:
        settings = _settings(model)
        cosine = {m: r for s in settings.values() for m, r in s.items() if m.startswith("cosine-lr")}
        best_cos = min(cosine, key=lambda m: _mean(cosine[m], "val_loss")) if cosine else None
        lines += [
            f"## {model.name}",
            "",
            "| setting | method | seeds | val loss | test acc % |",
            "|---|---|---|---|---|",
        ]
        for name, methods in settings.items():
            for m, runs in sorted(methods.items()):
                val = _mean(runs, "val_loss")
                tag = " (chosen cosine)" if m == best_cos else ""
                acc = 100 * _mean(runs, "test_accuracy")
                lines.append(f"| {name} | {m}{tag} | {len(runs)} | {val:.4f} | {acc:.2f} |")
                if m == "hpo-range" and best_cos:
                    ratios.setdefault(name, []).append(val / _mean(cosine[best_cos], "val_loss"))
        lines += ["", *(f"- `{n}`: `{_command(model / n)}`" for n in settings), ""]
    full = {n: r for n, r in ratios.items() if len(r) == len(models)}
    if full:
        chosen = min(full, key=lambda n: statistics.fmean(full[n]))
        lines.append("`hpo-range` settings, mean over models of val loss / chosen cosine val loss:")
        lines += ["", *(f"- `{n}`: {statistics.fmean(r):.4f}" for n, r in sorted(full.items()))]
        lines += ["", f"Chosen: `{chosen}`.", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0

"""`rlcv bench hpo-tuning`: the table of every setting tried on the tuning seeds, and which one was chosen
(:mod:`rlcv.hpo.setting_choice`; the page: ``templates/hpo_tuning.md.j2``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_file

    p = sub.add_parser("hpo-tuning", help="settings tried on the HPO tuning seeds and the ones chosen")
    p.add_argument("--dir", default="results/hpo_tuning", help="DIR/<model>/<setting>/per_run/*.json")
    p.add_argument("--out", type=out_file, default="results/hpo_tuning.md", help="the markdown page to write")
    p.set_defaults(bench_run=run)


def _command(setting_dir: Path) -> str:
    path = setting_dir / "summary.json"
    return json.loads(path.read_text())["command"] if path.is_file() else "(no summary.json)"


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.report import render
    from rlcv.errors import RlcvError
    from rlcv.hpo.setting_choice import chosen, model_table

    root = Path(args.dir)
    models = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not models:
        raise RlcvError(
            f"no tuning sweeps under '{root}': run `rlcv bench hpo-budget --first-seed 100` first."
        )
    tables = [model_table(model) for model in models]
    for model, table in zip(models, tables, strict=True):
        table["commands"] = [(n, _command(model / n)) for n in table["settings"]]
    Path(args.out).write_text(render("hpo_tuning.md.j2", root=root, models=tables, tuned=chosen(tables)))
    print(f"wrote {args.out}")
    return 0

"""`rlcv bench ldf-cycle`: the paired effect of `rlcv bench ldf`'s cycle term per two-level method.

Reads two committed `rlcv bench ldf` outputs on the same seeds — one run with the cycle term
(``--hier-set recon_weight=1.0``, default ``OUT/ldf.json``) and one without (default
``OUT/ldf_nocycle.json``) — and writes ``OUT/ldf_cycle.md`` (template ``ldf_cycle.md.j2``): per method,
for each final metric, the mean of the paired differences (with − without, seeds are the pairs) and its
two-sided 95 % t interval. It trains nothing: ``--report-only`` is accepted for symmetry.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.stats import Interval, paired_t

METHODS = ("decoupled", "joint", "reuse")
METRICS = {  # key in the bench's ``final`` dict → column label
    "c2st_accuracy": "C2ST",
    "nn1_accuracy": "1-NN",
    "confident_share": "confident share",
    "seam_discontinuity": "seam",
    "reconstruction_error": "reconstruction error",
}

Runs = Mapping[str, Sequence[Mapping[str, Any]]]  # method → [{"seed": s, "final": {metric: value}}]


def _named(spec: Any) -> bool:
    return (spec.with_name, spec.without_name) != ("ldf", "ldf_nocycle")


@dataclass(kw_only=True)
class CycleSpec:
    out: str = flag(
        "results",
        type=out_dir,
        show=lambda s: s.out != "results",
        help="folder of both JSONs and of the page",
    )
    with_name: str = flag("ldf", name="--with", show=_named, help="name of the run with the cycle term")
    without_name: str = flag("ldf_nocycle", name="--without", show=_named, help="name of the run without")
    report_only: bool = flag(False, command=False, help="accepted; this bench only reports")


def paired_effects(with_cycle: Runs, without: Runs, method: str) -> dict[str, Interval]:
    """Per metric, the mean of (with − without) over the seeds both runs hold, and its t interval."""
    base = {r["seed"]: r["final"] for r in without[method]}
    pairs = [(r["final"], base[r["seed"]]) for r in with_cycle[method] if r["seed"] in base]
    return {key: paired_t([a[key] for a, _ in pairs], [b[key] for _, b in pairs]) for key in METRICS}


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def cell(effect: Interval) -> str:
    if _signed(effect.low) == _signed(effect.high):  # all pairs differ alike (to the shown precision)
        return f"{_signed(effect.point)} (all pairs equal)"
    return f"{_signed(effect.point)} [{_signed(effect.low)}, {_signed(effect.high)}]"


def render(with_cycle: Runs, without: Runs, with_name: str, without_name: str, command: str) -> str:
    from rlcv.bench.report import render as page

    effects = {m: paired_effects(with_cycle, without, m) for m in METHODS}
    return page(
        "ldf_cycle.md.j2", effects=effects, metrics=METRICS, cell=cell, with_name=with_name,
        without_name=without_name, command=command,
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ldf-cycle", help="paired effect of the ldf cycle term (two `bench ldf` outputs)")
    add_flags(p, CycleSpec)
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.checks import require_report_input

    spec = spec_of(CycleSpec, args)
    out, loaded = Path(spec.out), []
    for name in (spec.with_name, spec.without_name):
        require_report_input(out / f"{name}.json", "ldf")
        loaded.append(json.loads((out / f"{name}.json").read_text())["results"])
    command = command_line("rlcv bench ldf-cycle --report-only", spec)
    page = out / "ldf_cycle.md"
    page.write_text(render(loaded[0], loaded[1], spec.with_name, spec.without_name, command))
    print(f"wrote {page}")
    return 0

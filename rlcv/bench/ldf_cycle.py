"""`rlcv bench ldf-cycle`: the paired effect of `rlcv bench ldf`'s cycle term per two-level method.

Reads two committed `rlcv bench ldf` outputs on the same seeds — one run with the cycle term
(``--hier-set recon_weight=1.0``, default ``OUT/ldf.json``) and one without (default
``OUT/ldf_nocycle.json``) — and writes ``OUT/ldf_cycle.md``: per method, for each final metric, the
mean of the paired differences (with − without, seeds are the pairs) and its two-sided 95 % t
interval. It trains nothing: ``--report-only`` is accepted for symmetry with the other benches.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlcv.bench.stats import Interval, mean_t

METHODS = ("decoupled", "joint", "reuse")
METRICS = {  # key in the bench's ``final`` dict → column label
    "c2st_accuracy": "C2ST",
    "nn1_accuracy": "1-NN",
    "confident_share": "confident share",
    "seam_discontinuity": "seam",
    "reconstruction_error": "reconstruction error",
}

Runs = Mapping[str, Sequence[Mapping[str, Any]]]  # method → [{"seed": s, "final": {metric: value}}]


def paired_effects(with_cycle: Runs, without: Runs, method: str) -> dict[str, Interval]:
    """Per metric, the mean of (with − without) over the seeds both runs hold, and its t interval."""
    base = {r["seed"]: r["final"] for r in without[method]}
    pairs = [(r["final"], base[r["seed"]]) for r in with_cycle[method] if r["seed"] in base]
    return {key: mean_t([a[key] - b[key] for a, b in pairs]) for key in METRICS}


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def cell(effect: Interval) -> str:
    if _signed(effect.low) == _signed(effect.high):  # all pairs differ alike (to the shown precision)
        return f"{_signed(effect.point)} (all pairs equal)"
    return f"{_signed(effect.point)} [{_signed(effect.low)}, {_signed(effect.high)}]"


def render(with_cycle: Runs, without: Runs, with_name: str, without_name: str, command: str) -> str:
    lines = [
        "# The cycle term: paired effect per two-level method",
        "",
        f"With − without the cycle term: `{with_name}.json` minus `{without_name}.json` (written by `rlcv "
        "bench ldf`), paired by seed; mean and two-sided 95 % t interval over the pairs. Reading: "
        f"`ldf/reading.md`. Regenerate: `{command}`.",
        "",
        "| method | " + " | ".join(f"Δ {label}" for label in METRICS.values()) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    counts = []
    for method in METHODS:
        effects = paired_effects(with_cycle, without, method)
        lines.append(f"| {method} | " + " | ".join(cell(effects[key]) for key in METRICS) + " |")
        counts.append(f"{method} {next(iter(effects.values())).n}")
    lines += ["", "Pairs (seeds in both runs): " + ", ".join(counts) + "."]
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_dir

    p = sub.add_parser("ldf-cycle", help="paired effect of the ldf cycle term (two `bench ldf` outputs)")
    p.add_argument("--out", type=out_dir, default="results", help="folder of both JSONs and of the page")
    p.add_argument("--with", dest="with_name", default="ldf", help="name of the run with the cycle term")
    p.add_argument("--without", dest="without_name", default="ldf_nocycle", help="name of the run without")
    p.add_argument("--report-only", action="store_true", help="accepted; this bench only reports")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    loaded = []
    for name in (args.with_name, args.without_name):
        path = out / f"{name}.json"
        if not path.is_file():
            print(f"rlcv bench ldf-cycle: {path} is missing (written by `rlcv bench ldf`)", file=sys.stderr)
            return 2
        loaded.append(json.loads(path.read_text())["results"])
    command = "rlcv bench ldf-cycle --report-only"
    if args.out != "results":
        command += f" --out {args.out}"
    if (args.with_name, args.without_name) != ("ldf", "ldf_nocycle"):
        command += f" --with {args.with_name} --without {args.without_name}"
    page = out / "ldf_cycle.md"
    page.write_text(render(loaded[0], loaded[1], args.with_name, args.without_name, command))
    print(f"wrote {page}")
    return 0

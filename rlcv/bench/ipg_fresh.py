"""`rlcv bench ipg --fresh N --sizes 2x20 2x40 3x20 --seed S`: m-SGM on games the paper never saw.

Ten fixed instances per size measure the mean of the easy ones; what a user's own games cost shows in
the tail. N new knapsack games per size are drawn with the paper's generator and solved with m-SGM under
a CPU cap per game, each graded by its exact NashConv (:func:`rlcv.games.sweep.solve_fresh`: seeds,
per-game records ``OUT/ipg_fresh/MxN/game_III.json``, resume, issue 28's heavy-tail game). The page
``OUT/ipg_fresh.md`` (template ``ipg_fresh.md.j2``; + ``.json`` and the figure ``ipg_fresh_cpu.png``,
CPU seconds per game by size) is rebuilt from the records; ``--report-only`` does only that. Per size:
the solved fraction, the median CPU seconds with its seed-bootstrap interval over games, p90, max, the
worst NashConv, and issue 28's targets read off them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.report import fmt_interval, render
from rlcv.games.sweep import parse_size, solve_fresh
from rlcv.stats import jsonable, median_bootstrap

# Targets of issue 28 (CPU seconds per game): size → (p90 bound, max bound, every game solved).
TARGETS = {"2x40": (5.0, 30.0, True), "3x20": (5.0, 30.0, True), "2x20": (None, 5.0, False)}
FIGURE = "ipg_fresh_cpu.png"


def quantile(values: list[float], q: float) -> float:
    """The q-quantile as an order statistic (numpy's inverted_cdf: a value that occurred)."""
    if not values:
        return math.nan
    return float(np.quantile(np.asarray(values), q, method="inverted_cdf"))


def _records(out: Path, key: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "ipg_fresh" / key).glob("game_*.json"))]


def size_summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's numbers. Unsolved games (over the cap) count in every CPU statistic with the CPU
    seconds they used: a quantile over solved games only would hide the tail."""
    cpu = [float(r["cpu_seconds"]) for r in recs]
    ncs = [r["nash_conv"] for r in recs if r.get("solved") and r.get("nash_conv") is not None]
    return {
        "games": len(recs),
        "solved": sum(1 for r in recs if r.get("solved")),
        "median_cpu_s": median_bootstrap(cpu),
        "p90_cpu_s": quantile(cpu, 0.9),
        "max_cpu_s": max(cpu) if cpu else math.nan,
        "worst_nash_conv": max(ncs) if ncs else None,
        "milp_games": sum(1 for r in recs if r.get("milp_solves", 0) > 0),
        "backtracking_games": sum(1 for r in recs if r.get("backtracks", 0) > 0),
        "cpu_limit_s": sorted({r["cpu_limit"] for r in recs}),
    }


def _nc(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _row(key: str, s: dict[str, Any]) -> list[str]:
    cpu = [fmt_interval(s["median_cpu_s"], ".2f"), f"{s['p90_cpu_s']:.2f}", f"{s['max_cpu_s']:.2f}"]
    counts = [str(s["milp_games"]), str(s["backtracking_games"])]
    return [key, f"{s['solved']}/{s['games']}", *cpu, _nc(s["worst_nash_conv"]), *counts]


def _shown(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "nc": _nc(rec["nash_conv"])}


def write_report(out: Path, sizes: list[str], count: int) -> dict[str, Any]:
    """``OUT/ipg_fresh.md``, ``.json`` and the figure, from the per-game records; the paper instances
    the solver could not finish before (``rlcv bench ipg --instance ... --json
    OUT/ipg_fresh/paper/NAME.json``) listed apart."""
    summaries = {key: size_summary(_records(out, key)) for key in sizes}
    summaries = {k: s for k, s in summaries.items() if s["games"]}
    seeds = sorted({r["seed"] for key in summaries for r in _records(out, key)})
    limits = sorted({v for s in summaries.values() for v in s["cpu_limit_s"]})
    command = (
        f"rlcv bench ipg --fresh {count} --sizes {' '.join(sizes)} --seed {' '.join(map(str, seeds)) or 'S'} "
        f"--cpu-limit {' '.join(f'{v:g}' for v in limits) or '60'} --out {out}"
    )
    tail = _records(out, "tail")
    paper = sorted((out / "ipg_fresh" / "paper").glob("Game_*.json"))
    page = render(
        "ipg_fresh.md.j2",
        command=command,
        rows=[_row(k, s) for k, s in summaries.items()],
        targets=[(k, summaries[k], *t) for k, t in TARGETS.items() if k in summaries],
        tail=_shown(tail[0]) if tail else None,
        paper=[(Path(r["instance"]).name, p, _shown(r)) for p in paper for r in [json.loads(p.read_text())]],
        figure=FIGURE,
    )
    if summaries:
        plot(out, list(summaries))
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipg_fresh.md").write_text(page)
    report = {"command": command, "sizes": summaries}
    (out / "ipg_fresh.json").write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print(f"wrote {out / 'ipg_fresh.md'}")
    return report


def run_fresh(
    sizes: list[str], count: int, seed: int, cpu_limit: float, out: Path, report_only: bool
) -> None:
    """Solve what is missing (games interleaved across sizes), then write the page."""
    for size in sizes:
        parse_size(size)
    if report_only:
        from rlcv.bench.checks import require_summaries

        require_summaries(out / "ipg_fresh", "game_*.json", "per-game summaries")
    else:
        solve_fresh(sizes, count, seed, cpu_limit, out)
    write_report(out, sizes, count)


def plot(out: Path, keys: list[str]) -> None:
    from rlcv.bench.figures import ipg_fresh_figure

    ipg_fresh_figure(out / FIGURE, {key: _records(out, key) for key in keys})

"""`rlcv bench gate`: how often the MBMF control variate was on during training, and how much of the
score-term variance it removed, from runs' ``metrics.csv`` (one row per update).

Two tables:

- ``--from-runs DIR`` (a sweep's ``OUT/runs/ALGO``, holding ``ENV/sSEED/metrics.csv``): one row per run — the
  trust gate's mean over updates and over each quarter of them, the median held-out k-step model error,
  the mean and median in-training score-term variance ratio Var(Â − η_a D_a − η_τ D_τ) / Var(Â), and the
  median held-out ratio the variance gate reads (v3 runs). The run folders are not committed, so only
  the machine that ran a sweep can regenerate these pages (``gate.md`` beside the sweep).
- ``--metrics LABEL=CSV ... --windows LO:HI ...``: one row per (labelled metrics file, window of steps
  LO < step ≤ HI) — score-term ratio mean / median, gate mean, median 1-step model error. For metrics files
  committed under results/ (the v3 pilot, ``results/learn_mujoco_v3/pilot_50k/gate_pilot.md``), which the
  drift test regenerates.

Empty and 'nan' cells (an update that logged no value) are left out of every statistic. The page's
first lines give the command that regenerates it; ``--write-to`` writes it elsewhere (the drift test)
without changing that command.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlcv.bench import report
from rlcv.bench.checks import out_file
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.errors import RlcvError
from rlcv.stats import Interval, median_bootstrap


def _values(rows: list[dict[str, str]], key: str) -> list[float]:
    """The column's logged values (empty, missing and 'nan' cells left out)."""
    return [float(r[key]) for r in rows if r.get(key) not in (None, "", "nan")]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def quarter_means(gate: list[float]) -> list[float]:
    """Mean of each quarter of the updates (quarters of len // 4 updates; the remainder is left out, and a
    run of under 4 updates has quarters of one update, the missing ones 0)."""
    q = max(1, len(gate) // 4)
    return [statistics.mean(gate[i * q : (i + 1) * q] or [0.0]) for i in range(4)]


def run_row(env: str, seed: int, rows: list[dict[str, str]]) -> list[str] | None:
    """One run's row of the ``--from-runs`` table; None for a run that logged no gate (not an MBMF run)."""
    gate = _values(rows, "cv_gate")
    if not gate:
        return None
    err, svr = _values(rows, "model_error_kstep"), _values(rows, "cv_score_var_ratio")
    held = _values(rows, "cv_heldout_ratio")
    return [
        env,
        str(seed),
        f"{statistics.mean(gate):.2f}",
        ", ".join(f"{m:.2f}" for m in quarter_means(gate)),
        f"{statistics.median(err):.2f}" if err else "nan",
        f"{statistics.mean(svr):.2f} / {statistics.median(svr):.2f}" if svr else "– / –",
        f"{statistics.median(held):.2f}" if held else "–",
    ]


def runs_table(runs_dir: Path) -> list[list[str]]:
    """Rows of every ``runs_dir/ENV/sSEED/metrics.csv``, by env and seed."""
    found = [
        (p.parent.parent.name, int(p.parent.name[1:]), p)
        for p in runs_dir.glob("*/s*/metrics.csv")
        if p.parent.name[1:].isdigit()
    ]
    rows = [run_row(env, seed, _read(p)) for env, seed, p in sorted(found)]
    return [r for r in rows if r is not None]


def pooled(runs_dir: Path) -> dict[str, Interval]:
    """Per env, the median over runs of each run's median score-term variance ratio, with a seed-bootstrap
    interval: the issue's "median in training" read over seeds, so that one run's luck is not the verdict."""
    per_env: dict[str, list[float]] = {}
    for p in sorted(runs_dir.glob("*/s*/metrics.csv")):
        svr = _values(_read(p), "cv_score_var_ratio") if p.parent.name[1:].isdigit() else []
        if svr:
            per_env.setdefault(p.parent.parent.name, []).append(statistics.median(svr))
    return {env: median_bootstrap(v) for env, v in per_env.items()}


def _column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) else np.nan for r in rows])


def window_rows(label: str, rows: list[dict[str, str]], windows: list[tuple[int, int]]) -> list[list[str]]:
    """Rows of the ``--windows`` table for one metrics file: per window LO < step ≤ HI."""
    step, ratio = _column(rows, "step"), _column(rows, "cv_score_var_ratio")
    gate, e1 = _column(rows, "cv_gate"), _column(rows, "model_error_1step")
    out = []
    for lo, hi in windows:
        m = (step > lo) & (step <= hi)
        if not m.any():
            raise RlcvError(f"--windows {lo}:{hi}: the metrics of '{label}' have no update in it.")
        out.append(
            [
                label,
                f"{lo // 1000}k–{hi // 1000}k",
                f"{np.nanmean(ratio[m]):.2f} / {np.nanmedian(ratio[m]):.2f}",
                f"{np.nanmean(gate[m]):.2f}",
                f"{np.nanmedian(e1[m]):.3f}",
            ]
        )
    return out


def _labelled(text: str) -> str:
    """A ``--metrics`` word, LABEL=CSV (kept as written: the page's command repeats it)."""
    label, sep, path = text.rpartition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"LABEL=CSV, got '{text}'")
    return text


def _window(text: str) -> str:
    """A ``--windows`` word, LO:HI with integers 0 <= LO < HI."""
    lo, sep, hi = text.partition(":")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) >= int(hi):
        raise argparse.ArgumentTypeError(f"LO:HI with integers 0 <= LO < HI, got '{text}'")
    return text


@dataclass(kw_only=True)
class GateSpec:
    """`rlcv bench gate`'s flags (:mod:`rlcv.bench.flags`); the field order is the page's command's."""

    from_runs: str | None = flag(
        None,
        metavar="DIR",
        help="a sweep's OUT/runs/ALGO (ENV/sSEED/metrics.csv): a row per run",
    )
    metrics: list[str] | None = flag(
        None, nargs="+", type=_labelled, metavar="LABEL=CSV", help="labelled metrics files (--windows)"
    )
    windows: list[str] | None = flag(
        None, nargs="+", type=_window, metavar="LO:HI", help="step windows LO < step <= HI"
    )
    page: str | None = flag(None, type=out_file, help="the markdown page to write (required)")
    write_to: str | None = flag(
        None, type=out_file, command=False, help="write the page here instead (its command still says --page)"
    )
    report_only: bool = flag(False, command=False, help="accepted for uniformity: gate only reads files")

    def labelled(self) -> list[tuple[str, str]]:
        return [(label, path) for label, _, path in (w.rpartition("=") for w in self.metrics or [])]

    def spans(self) -> list[tuple[int, int]]:
        return [(int(lo), int(hi)) for lo, _, hi in (w.partition(":") for w in self.windows or [])]

    def command(self) -> str:
        return command_line("rlcv bench gate", self)


def build(spec: GateSpec) -> str:
    """The page's text (template gate.md.j2)."""
    if spec.from_runs:
        runs_dir = Path(spec.from_runs)
        rows = runs_table(runs_dir) if runs_dir.is_dir() else []
        overall = pooled(runs_dir) if rows else {}
        if not rows:
            raise RlcvError(
                f"--from-runs: no ENV/sSEED/metrics.csv with a logged cv_gate under '{runs_dir}'."
            )
    else:
        rows, overall = [], {}
        for label, path in spec.labelled():
            if not Path(path).is_file():
                raise RlcvError(f"--metrics {label}={path}: no such file.")
            rows += window_rows(label, _read(Path(path)), spec.spans())
    return report.render(
        "gate.md.j2", command=spec.command(), runs=spec.from_runs, rows=rows, overall=overall
    )


# -- the command ---------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    about = "the MBMF trust gate and in-training variance ratio, from metrics.csv"
    add_bench(sub, "gate", GateSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    spec = spec_of(GateSpec, args)
    if spec.from_runs and spec.metrics:
        raise RlcvError("--from-runs and --metrics are two tables: give one of them.")
    if not spec.from_runs and not spec.metrics:
        raise RlcvError(
            "rlcv bench gate needs --from-runs DIR or --metrics LABEL=CSV ... --windows LO:HI ..."
        )
    if not spec.page:
        raise RlcvError("rlcv bench gate needs --page FILE.md (the page to write).")
    if bool(spec.metrics) != bool(spec.windows):
        raise RlcvError("--windows goes with --metrics (and --metrics needs --windows).")
    target = Path(spec.write_to or spec.page)
    text = build(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target}")
    return 0

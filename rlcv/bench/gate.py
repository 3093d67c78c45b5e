"""`rlcv bench gate`: how often the MBMF control variate was on during training, and how much of the
score-term variance it removed, from runs' ``metrics.csv`` (one row per update).

Two tables (the statistics: :mod:`rlcv.diagnostics.training_metrics`):

- ``--from-runs DIR`` (a sweep's ``OUT/runs/ALGO``, or its committed ``OUT/metrics/ALGO``, holding
  ``ENV/sSEED/metrics.csv``): one row per run, and per env the seed-pooled median score-term ratio;
- ``--metrics LABEL=CSV ... --windows LO:HI ...``: one row per (labelled metrics file, window of steps
  LO < step ≤ HI).

The page's first lines give the command that regenerates it; ``--write-to`` writes it elsewhere (the
drift test) without changing that command.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rlcv.bench import report
from rlcv.bench.checks import out_file
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.diagnostics import training_metrics as tm
from rlcv.errors import RlcvError


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
    """The page's text (template gate.md.j2), from :mod:`rlcv.diagnostics.training_metrics`."""
    if spec.from_runs:
        runs_dir = Path(spec.from_runs)
        runs = tm.runs_stats(runs_dir) if runs_dir.is_dir() else []
        if not runs:
            raise RlcvError(
                f"--from-runs: no ENV/sSEED/metrics.csv with a logged cv_gate under '{runs_dir}'."
            )
        return report.render(
            "gate.md.j2", command=spec.command(), runs=spec.from_runs, rows=runs, overall=tm.pooled(runs_dir)
        )
    rows = []
    for label, path in spec.labelled():
        if not Path(path).is_file():
            raise RlcvError(f"--metrics {label}={path}: no such file.")
        metrics = tm.read_metrics(Path(path))
        for lo, hi in spec.spans():
            if (w := tm.window_stats(metrics, lo, hi)) is None:
                raise RlcvError(f"--windows {lo}:{hi}: the metrics of '{label}' have no update in it.")
            rows.append((label, lo, hi, w))
    return report.render("gate.md.j2", command=spec.command(), runs=None, rows=rows, overall={})


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

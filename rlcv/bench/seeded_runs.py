"""`rlcv bench seeded-runs`: short seeded runs whose metrics.csv must not change across refactors
(issues 9, 26; results/refactor/).

``--out DIR`` trains :data:`RUNS` (seed 3, one torch thread) into ``DIR/NAME`` with the code of
``--code`` (a checkout or worktree of the commit to record, default the current folder: its folder is
the working directory and ``PYTHONPATH`` of each run, this interpreter runs them); stderr goes to
``DIR/err.log``. ``--compare A B`` checks that every metrics.csv column but the wall-clock ones is
equal row by row between two such folders (the runs of A), printing one line per run; exit code 1
on any difference.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import shutil
from pathlib import Path

from rlcv.bench import runs
from rlcv.bench.checks import out_dir
from rlcv.errors import RlcvError

WALL = {"time_elapsed", "fps"}

PENDULUM, DIGITS, HPO = (
    "InvertedPendulum-v5",
    "rlcv/BGAN-Digits-v0",
    "rlcv/OnlineHPO-v0 --env-kwargs '{budget: 200}'",
)
SMALL_BGAN = "--set n_steps=32 n_samples=4"
RUNS: dict[str, str] = {  # name → `rlcv train` arguments (besides the seed, threads and run folder)
    "ppo": f"--algo ppo --env {PENDULUM} --steps 3072 --eval-freq 2048 --eval-episodes 2",
    "trpo": f"--algo trpo --env {PENDULUM} --steps 3072",
    "mbmf-ppo": f"--algo mbmf-ppo --env {PENDULUM} --steps 3072 --set n_epochs=2",
    "mbmf-trpo": f"--algo mbmf-trpo --env {PENDULUM} --steps 2048 --set eta_mode=fitted",
    "mbmf-ppo-hc": "--algo mbmf-ppo --env HalfCheetah-v5 --steps 2048 --set n_epochs=2",
    "bgan": f"--algo bgan --env {DIGITS} --steps 192 {SMALL_BGAN}",
    "bgan-gumbel": f"--algo bgan-gumbel --env {DIGITS} --steps 128 {SMALL_BGAN}",
    "bgan-cont": f"--algo bgan --env rlcv/BGAN-DigitsCont-v0 --steps 128 {SMALL_BGAN}",
    "hpo-ucb1": f"--algo hpo-ucb1 --env {HPO} --steps 8",
    "hpo-forward": f"--algo hpo-forward --env {HPO} --steps 6",
    "hpo-pbt": f"--algo hpo-pbt --env {HPO} --steps 40",
    "sb3-ppo": f"--algo sb3-ppo --env {PENDULUM} --steps 2048",
}


def record(code: Path, out: Path) -> None:
    """Train every run of :data:`RUNS` with the code of ``code`` into ``out/NAME``, one after the other
    through the bench runner (:func:`rlcv.bench.runs.run_one`); a run's stderr tail goes to err.log."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = ["train", "--seed", "3", "--no-progress", "--num-threads", "1"]
    with (out / "err.log").open("a") as err:
        for name, args in RUNS.items():
            shutil.rmtree(out / name, ignore_errors=True)
            argv = [*base, *shlex.split(args)]
            steps = int(argv[argv.index("--steps") + 1])
            outcome = runs.run_one(runs.RunJob(name, out / name, argv, steps, code=code))
            if outcome.stderr_tail:
                err.write(f"{name}:\n{outcome.stderr_tail}\n")
            ok = outcome.returncode == 0 and (out / name / "metrics.csv").is_file()
            print(name, "recorded" if ok else "FAILED (see err.log)", flush=True)


def rows(path: Path) -> list[dict[str, str]]:
    """A metrics.csv without its wall-clock columns."""
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in WALL} for r in csv.DictReader(f)]


def compare(a: Path, b: Path) -> list[str]:
    """One line per run of ``a`` (``NAME ROWS rows: identical`` or ``DIFFERENT`` with the first
    difference on the next line); a run missing from ``b`` is different."""
    lines = []
    for run in sorted(p.name for p in a.iterdir() if (p / "metrics.csv").is_file()):
        ra = rows(a / run / "metrics.csv")
        rb = rows(b / run / "metrics.csv") if (b / run / "metrics.csv").is_file() else []
        same = ra == rb
        lines.append(f"{run:12s} {len(ra)} rows: {'identical' if same else 'DIFFERENT'}")
        if not same:
            for x, y in zip(ra, rb, strict=False):  # unequal lengths are reported above
                diff = {k: (x.get(k), y.get(k)) for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)}
                if diff:
                    lines.append(f"   first difference: {diff}")
                    break
    return lines


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "seeded-runs", help="short seeded runs to compare across refactors (results/refactor/)"
    )
    p.add_argument("--out", type=out_dir, help="record the runs into this folder")
    p.add_argument(
        "--code", default=".", help="the checkout whose code runs them (default: the current folder)"
    )
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two recorded folders instead")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.out) == bool(args.compare):
        raise RlcvError(
            "rlcv bench seeded-runs needs either --out DIR (record) or --compare A B (compare), not both."
        )
    if args.compare:
        a, b = (Path(p) for p in args.compare)
        if not a.is_dir() or not b.is_dir():
            raise RlcvError(
                f"--compare: {a if not a.is_dir() else b} is not a folder (give two --out folders)."
            )
        lines = compare(a, b)
        print("\n".join(lines))
        return 1 if any("DIFFERENT" in line for line in lines) else 0
    record(Path(args.code), Path(args.out))
    return 0

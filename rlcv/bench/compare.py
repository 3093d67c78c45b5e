"""`rlcv bench compare`: a paired reading of two algorithms of one `rlcv bench learn` sweep (e.g. PPO and
MBMF-PPO), computed from the sweep's committed summaries alone.

It reads ``OUT/summaries/ALGO/ENV/sSEED.json`` (see :mod:`rlcv.bench.learn`) and never a run folder, so
its pages, ``OUT/compare.md`` and ``OUT/compare.json``, regenerate from the repository alone. Per env, on
the seeds both arms have finished: final returns and their paired difference, each arm's steps to the
base's return at each ``--targets`` step and at its final return with the speed-up's seed-bootstrap
interval, and the last metrics row (:func:`rlcv.diagnostics.learning_runs.paired_reading`; the page
says how to read each). In compare.json an interval is ``{point, low, high, n, method, never}``; NaN is
null and ±inf the string "inf" / "-inf" (:func:`rlcv.stats.jsonable`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench import report
from rlcv.bench.checks import out_dir, positive_int
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.summaries import Finished, finished_by_seed
from rlcv.diagnostics.learning_runs import paired_reading
from rlcv.errors import RlcvError
from rlcv.stats import jsonable

DEFAULT_TARGETS = (100_000, 200_000)
Runs = dict[int, Finished]  # one arm's finished runs on one env, by seed
LAST_UPDATE_KEYS = (
    "approx_kl",
    "clip_fraction",
    "kl",
    "cv_gate",
    "cv_score_var_ratio",
    "cv_heldout_ratio",
    "model_error_kstep",
)


def _page_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text) or text.startswith("."):
        raise argparse.ArgumentTypeError(
            f"a file name without folders (letters, digits, _ . -), got '{text}'"
        )
    return text


@dataclass(kw_only=True)
class CompareSpec:
    """What `rlcv bench compare` was asked for, each setting with its flag."""

    out: str = flag(
        "results/learn",
        type=out_dir,
        help="the sweep's folder (rlcv bench learn --out): reads OUT/summaries, writes the pages there",
    )
    base: str = flag("ppo", help="the reference algo")
    arm: str = flag("mbmf-ppo", help="the algo compared with it")
    envs: list[str] | None = flag(None, nargs="+", help="default: every env both algos have summaries for")
    targets: list[int] = flag(
        list(DEFAULT_TARGETS),
        type=positive_int,
        help="steps T: steps of each arm to the base's return at T (the final return is always added)",
    )
    name: str = flag(
        "compare", type=_page_name, help="pages NAME.md and NAME.json", show=lambda s: s.name != "compare"
    )
    page_dir: str | None = flag(
        None, command=False, type=out_dir, help="write the pages here instead of --out"
    )
    report_only: bool = flag(
        False,
        command=False,
        help="accepted for uniformity with the other benches: compare only ever reads summaries",
    )

    def command(self) -> str:
        """The command that regenerates this page (without --page-dir: the committed location)."""
        return command_line("rlcv bench compare", self) + " --report-only"


# -- reading the summaries -------------------------------------------------------------------------
def load_runs(out: Path, algo: str, env: str) -> Runs:
    """Every summary ``out/summaries/algo/env/sSEED.json`` with an evaluation, by seed."""
    folder = out / "summaries" / algo / env
    paths = {int(p.stem[1:]): p for p in folder.glob("s*.json") if p.stem[1:].isdigit()}
    found = finished_by_seed(dict(sorted(paths.items())))
    return {seed: run for seed, run in found.items() if len(run.curve.steps)}


def envs_of(out: Path, algo: str) -> set[str]:
    return {p.name for p in (out / "summaries" / algo).glob("*") if p.is_dir() and any(p.glob("s*.json"))}


def compare(spec: CompareSpec) -> dict[str, Any]:
    """The whole comparison (intervals as :class:`Interval`); refuses envs without a paired seed."""
    out = Path(spec.out)
    for algo in (spec.base, spec.arm):
        if not envs_of(out, algo):
            raise RlcvError(f"no summaries of '{algo}' under '{out / 'summaries' / algo}'.")
    envs = spec.envs or sorted(envs_of(out, spec.base) & envs_of(out, spec.arm))
    results: dict[str, Any] = {}
    for env in envs:
        base_runs, arm_runs = load_runs(out, spec.base, env), load_runs(out, spec.arm, env)
        if not set(base_runs) & set(arm_runs):
            raise RlcvError(
                f"{env}: no seed has a summary of both '{spec.base}' ({sorted(base_runs)}) and "
                f"'{spec.arm}' ({sorted(arm_runs)}) under '{out / 'summaries'}'."
            )
        results[env] = paired_reading(base_runs, arm_runs, spec.targets, LAST_UPDATE_KEYS)
    if not results:
        raise RlcvError(f"'{spec.base}' and '{spec.arm}' have no env in common under '{out / 'summaries'}'.")
    return {"command": spec.command(), "base": spec.base, "arm": spec.arm, "results": results}


# -- writing -----------------------------------------------------------------------------------------
def write_outputs(spec: CompareSpec, result: dict[str, Any]) -> Path:
    folder = Path(spec.page_dir or spec.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{spec.name}.json").write_text(json.dumps(jsonable(result), indent=2) + "\n")
    page = folder / f"{spec.name}.md"
    page.write_text(render_markdown(result))
    return page


# -- the page (template compare.md.j2) ----------------------------------------------------------------
def _g(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.3g}"


def _last_row(key: str, v: dict[str, list[float | None]]) -> list[str]:
    """A last-update row: each arm's values per seed, and the range of the per-seed ratios arm / base."""
    r = [
        a / b
        for a, b in zip(v["arm"], v["base"], strict=True)
        if a is not None and b and not math.isnan(a / b)
    ]
    spread = f"{min(r):.2f}–{max(r):.2f}" if r else "—"
    return [key, ", ".join(map(_g, v["base"])), ", ".join(map(_g, v["arm"])), spread]


def render_markdown(result: dict[str, Any]) -> str:
    base, arm = result["base"], result["arm"]
    envs = [
        {
            **env,
            "name": name,
            "last_rows": [_last_row(key, v) for key, v in env["last_update"].items()],
            "left": [
                f"{algo} {', '.join(f's{s}' for s in env[key])}"
                for algo, key in ((base, "unpaired_base"), (arm, "unpaired_arm"))
                if env[key]
            ],
        }
        for name, env in result["results"].items()
    ]
    page = report.render("compare.md.j2", base=base, arm=arm, command=result["command"], envs=envs)
    return page.rstrip("\n") + "\n"


# -- the command ---------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    about = "paired comparison of two algos of a learn sweep, from its summaries"
    add_bench(sub, "compare", CompareSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    spec = spec_of(CompareSpec, args)
    if spec.base == spec.arm:
        raise RlcvError(f"--base and --arm are both '{spec.base}'; compare two different algos.")
    print(f"wrote {write_outputs(spec, compare(spec))}")
    return 0

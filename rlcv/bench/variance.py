"""`rlcv bench variance`: how much does an estimator reduce gradient variance, at what bias, and how much
of what is left is model error rather than structure?

The measurement and its protocol are :mod:`rlcv.diagnostics.variance`'s; this module holds its flags,
the argument checks and the page.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench import flags
from rlcv.bench.checks import (
    check_estimator,
    int_range,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    prob,
    seed_value,
)
from rlcv.bench.figures import ceiling_figure, variance_figure
from rlcv.bench.flags import flag
from rlcv.bench.report import add_result_benches, render, results_in, write_json
from rlcv.diagnostics.variance import VarianceSettings
from rlcv.errors import RlcvError, did_you_mean
from rlcv.run_dir import RunDir

_D = VarianceSettings()  # the measurement's defaults, which the flags share


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench variance`` and ``rlcv bench variance-report``."""
    add_result_benches(
        sub, "variance", VarianceSpec, _run, write_report,
        help="gradient variance of an estimator (default MBMF) vs k at a checkpoint",
        json_help="JSON output (a PNG is written beside it)", json_required=True,
        report_help="rebuild DIR/table.md from variance result JSONs", default_dir="results/variance",
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class VarianceSpec(VarianceSettings):
    """The measurement's settings (:class:`rlcv.diagnostics.variance.VarianceSettings`, whose defaults
    these are), each with its flag of `rlcv bench variance` (module docstring)."""

    run_dir: str = flag(
        _D.run_dir, name="--run", required=True, help="run directory whose checkpoint is analysed"
    )
    checkpoint_name: str = flag(
        _D.checkpoint_name, name="--checkpoint", help="file in RUN/checkpoints (e.g. step_000100352.pt)"
    )
    estimator: str = flag(_D.estimator, help="a registered estimator (rlcv.estimators.ESTIMATORS)")
    ks: list[int] = flag(_D.ks, name="--k", type=nonneg_int)
    batches: int = flag(
        _D.batches, type=int_range(3), help="independent evaluation batches (common to all k)"
    )
    batch_size: int | None = flag(
        _D.batch_size, type=positive_int, help="env steps per batch (default: the run's n_steps × n_envs)"
    )
    minibatch_size: int | None = flag(
        _D.minibatch_size, type=positive_int, help="PPO minibatch size (default: the run's batch_size)"
    )
    ref_batches: int = flag(_D.ref_batches, type=int_range(2), help="batches for the reference gradient")
    # step 1: the model's data and fit
    fit_steps: int = flag(_D.fit_steps, type=positive_int, help="fresh env steps to fit the model on")
    model_steps: int = flag(_D.model_steps, type=nonneg_int, help="model gradient steps")
    model_horizon: int = flag(_D.model_horizon, type=positive_int, help="unroll length of the model loss")
    model_lr: float | None = flag(
        _D.model_lr,
        type=positive_float,
        help="Adam learning rate of the model fit (default: the run's model_lr, else MBMF's default 1e-3)",
    )
    model_td_weight: float = flag(
        _D.model_td_weight,
        type=nonneg_float,
        help="weight of the imagined-TD-error term in the model loss (MBMF's model_td_weight; 0: off)",
    )
    # the estimators compared and their bias tests
    eta_modes: list[str] = flag(
        _D.eta_modes,
        help="fixed | fitted (same batch) | split (η_a, η_τ fitted on the previous batch)",
    )
    cv_form: str = flag(
        _D.cv_form,
        choices=["kstep", "lambda"],
        help="kstep: D = C − V (γ^i); lambda: D = Σ (γλ)^i δ̂ (the v2 default of the estimator)",
    )
    trust_gate: bool = flag(
        _D.trust_gate, name="--no-trust-gate", help="v2 rows without the model-error gate (gate = 1)"
    )
    variant: str = flag(
        _D.variant,
        choices=["correct", "broken"],
        help="broken = pathwise term dropped (biased for k > 0; the bias tests must reject it)",
    )
    bootstrap: int = flag(_D.bootstrap, type=positive_int, help="paired-bootstrap resamples for the CIs")
    alpha: float = flag(_D.alpha, type=prob, help="level of the bias tests")
    detect_bias: float | None = flag(
        _D.detect_bias,
        type=positive_float,
        metavar="EPS",
        help="power target of the bias tests: a bias EPS × the reference gradient (default: the broken "
        "variant's bias; 0.1 for rows without a pathwise term)",
    )
    seed: int = flag(_D.seed, type=seed_value)


def check_args(spec: VarianceSpec) -> None:
    """Bad arguments end in one ``RlcvError`` line before any work (never in a verdict). Each number's
    range is its flag's type (:mod:`rlcv.bench.checks`), refused while parsing, as is an unwritable
    ``--json``; here: known η modes and estimator, an existing run and checkpoint."""
    from rlcv.estimators.mbmf import ETA_MODES

    for mode in spec.eta_modes:
        if mode not in ETA_MODES:
            raise RlcvError(f"--eta-modes: unknown mode '{mode}'.{did_you_mean(mode, ETA_MODES)}")
    check_estimator(spec.estimator)
    run, checkpoint = RunDir(Path(spec.run_dir)), spec.checkpoint_name
    run.read_meta()  # a run directory, or one error line
    if not run.checkpoint(checkpoint).is_file():
        raise RlcvError(
            f"--checkpoint '{checkpoint}' not found in '{run.checkpoints}'; pass a file of that folder."
        )


def _run(args: argparse.Namespace) -> int:
    check_args(spec_of(args))  # bad arguments: one error line before any work
    args.command_line = shlex.join(["rlcv", *sys.argv[1:]])
    main(args)
    return 0  # a measurement: the bias verdicts are in the JSON and the printed lines


def render_markdown(results: list[dict[str, Any]], directory: str = "") -> str:
    """The page of ``results`` (templates/variance_table.md.j2; the rows alone, without ``directory``:
    what `bench variance` prints)."""
    return render("variance_table.md.j2", directory=directory, results=results)


def _g(x: float) -> str:
    """Two significant digits (as the table's): the CIs of a few hundred batches allow no more."""
    return "inf" if not math.isfinite(x) else f"{x:.2g}"


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """One line per row: its bias verdict, the target and the smallest bias the test could detect."""
    return [
        f"bias k={r['k']} η {r['eta_mode']} ({result.get('variant', 'correct')}): {r['bias_verdict']} "
        f"(max |z| {r['max_abs_bias_z']:.2f} vs {r['bias_z_threshold']:.2f}); target: {r['power_target']}, "
        f"{_g(r['target_bias_rel'])} × ‖ref‖; min detectable bias along it "
        f"{_g(r['min_detectable_bias_rel'])} × ‖ref‖ "
        f"(any direction {_g(r['min_detectable_bias_any_direction_rel'])})"
        for r in result["rows"]
    ]


def spec_of(args: argparse.Namespace) -> VarianceSpec:
    """The measurement the parsed flags ask for."""
    return flags.spec_of(VarianceSpec, args)


def main(args: Any) -> dict[str, Any]:
    from rlcv.diagnostics.variance import measure_variance

    result = measure_variance(spec_of(args))
    result["command"] = getattr(args, "command_line", "")
    write_json(args.json, result)
    variance_figure(result, Path(args.json).with_suffix(".png"))
    print(render_markdown([result]))
    print("\n".join(verdict_lines(result)))
    return result


def write_report(directory: str | Path) -> Path:
    """Rebuild ``DIR/table.md`` (and ``DIR/ceiling.png``) from every result JSON in ``DIR``."""
    directory = Path(directory)
    results = results_in(
        directory,
        key=lambda r: (r["env"], r["step"], r.get("variant", "correct")),
        keep=lambda r: isinstance(r, dict) and "rows" in r,  # beside them: e.g. mbmf-speed's JSONs
    )
    if not results:
        raise RlcvError(
            f"no variance results (*.json) in '{directory}'; run `rlcv bench variance ... --json` first."
        )
    old = [r for r in results if "trace_ratio" not in r["rows"][0]]
    if old:
        raise RlcvError(
            f"'{old[0]['run']}' in '{directory}' is a result of the old harness (no trace_ratio); "
            f"rerun `rlcv bench variance` or move the file."
        )
    out = directory / "table.md"
    out.write_text(render_markdown(results, directory.as_posix()))
    ceiling_figure(results, directory / "ceiling.png")
    return out

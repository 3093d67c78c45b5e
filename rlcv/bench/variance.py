"""`rlcv bench variance`: how much does an estimator reduce gradient variance, at what bias, and how much
of what is left is model error rather than structure?

For one checkpoint of a training run (policy, critic and normaliser statistics frozen):

1. fit a dynamics ensemble on ``--fit-steps`` fresh transitions of the frozen policy — data
   disjoint from every batch below (the critic is the checkpoint's, trained on earlier data);
2. draw ``--batches`` M (default 200) independent evaluation batches of ``--batch-size`` B steps
   (default: the run's training batch n_steps × n_envs); *every* estimator (each k, each η mode) is
   applied to the *same* batches (common random numbers);
3. draw ``--ref-batches`` R more batches for a reference gradient from the k = 0 estimator without
   advantage normalisation — an unbiased estimate of the true gradient.

Per estimator, over the M batches (:mod:`rlcv.diagnostics.gradients`, whose docstring defines each
statistic): the consumed gradient on the full batch and on one PPO minibatch (``--minibatch-size``,
default the run's ``batch_size``; the same indices for every estimator), unclipped and clipped as PPO
clips; ``trace_ratio`` tr Cov(ĝ_k) / tr Cov(ĝ_0), ``rel_trace_cov``, ``trace_ratio_mom`` with
paired-bootstrap 95 % CIs (``--bootstrap`` resamples); ``cos_to_reference``; three bias tests of the
unnormalised gradient at level ``--alpha`` (``--variant broken`` drops the pathwise term: the tests
must reject it for k > 0). Beside them:

- the per-coordinate test's verdict with its power (``bias_passed`` true / false / null, "inconclusive";
  the rule: docs/methods/mbmf.md, "Verdicts that know their power"); the target is the broken variant's
  bias −E[pathwise term], measured on the same batches, or ε × the reference (``--detect-bias``; 0.1
  without a pathwise term). The exit status stays 0: the verdicts are in the JSON, the table and one
  printed line per row;
- the perfect-model ceiling (:mod:`rlcv.diagnostics.ceiling`): Var(Â − η(G^(k) − V)) / Var(Â) from the
  real batches, for D = Σ γ^i δ (the current CV) and D^λ = Σ (γλ)^i δ, beside the model-based
  ``cv_score_var_ratio`` (the same ratio with the learned model's C): ``model`` − ``ceiling`` is model
  error, 1 − ``ceiling`` is what the structure allows at all.

*Version 2 of the estimator* (``--cv-form lambda``, ``--eta-modes split``): the split (η_a, η_τ) of
evaluation batch i are the least-squares fit on batch i − 1 (cyclically; batches are independent, so
as in training η never sees the batch it is applied to), and the trust gate reads the model's k-step
error on the reference batches (independent of the evaluation batches). The ceiling of a split row is
the fitted-η ceiling of its D kind.

``--estimator`` (default ``mbmf``) names a registered estimator; the k / η sweep applies to the
settings it has (an estimator without ``k`` gives one row), and a model-based estimator (one with
``use_model``) gets the model of step 1.

The measurement is :func:`rlcv.diagnostics.variance.measure_variance`; this module holds its flags,
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
from rlcv.errors import RlcvError

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
    from rlcv.errors import did_you_mean
    from rlcv.estimators import ESTIMATORS
    from rlcv.estimators.mbmf import ETA_MODES
    from rlcv.run_dir import RunDir

    for mode in spec.eta_modes:
        if mode not in ETA_MODES:
            raise RlcvError(f"--eta-modes: unknown mode '{mode}'.{did_you_mean(mode, ETA_MODES)}")
    name = spec.estimator
    if name not in ESTIMATORS:
        raise RlcvError(f"--estimator: unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
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


# -- the page: cells computed here, prose and headers in templates/variance_table.md.j2 --------------
def _g(x: float) -> str:
    """Two significant digits: the CIs of a few hundred batches allow no more."""
    return "inf" if not math.isfinite(x) else f"{x:.2g}"


def _ci(row: dict[str, Any], key: str) -> str:
    if key not in row:
        return "–"
    lo, hi = row["ci"].get(key, [math.nan, math.nan])
    return f"{_g(row[key])} [{_g(lo)}, {_g(hi)}]"


def _eta_label(row: dict[str, Any]) -> str:
    """η mode, with the CV form, the mean (η_a, η_τ) and the gate of v2 rows."""
    if row["eta_mode"] != "split":
        return str(row["eta_mode"])
    return (
        f"split {row.get('cv_form', '')} (η_a {row['eta_a_mean']:.2f}, η_τ {row['eta_tau_mean']:.2f}, "
        f"gate {row['gate']:.2f})"
    )


def _verdict_cell(row: dict[str, Any]) -> str:
    """The bias verdict with the smallest bias (along the target) the test could detect and the target's
    size, both relative to the reference (– for results written before the power check)."""
    if "bias_verdict" not in row:
        return "–"
    return f"{row['bias_verdict']} ({_g(row['min_detectable_bias_rel'])} / {_g(row['target_bias_rel'])})"


def _row_cells(res: dict[str, Any], r: dict[str, Any]) -> list[str]:
    bias = f"{r['max_abs_bias_z']:.1f} ({r['bias_z_threshold']:.1f}) / {r['bias_chi2_p']:.2g} / "
    bias += f"{r['bias_proj_p']:.2g}"
    return [
        res["env"], str(res["step"]), str(r["k"]), _eta_label(r), res.get("variant", "correct"),
        _ci(r, "trace_ratio"), _ci(r, "trace_ratio_minibatch_clipped"), _g(r["trace_ratio_mom"]),
        _ci(r, "rel_trace_cov"), f"{r['cos_to_reference']:.2f}", bias, _verdict_cell(r),
        f"{r['score_trace_share']:.2f} / {r['pathwise_trace_share']:.2f}", _ci(r, "cv_score_var_ratio"),
        _ci(r, "ceiling_gamma"), _ci(r, "ceiling_lambda"),
    ]  # fmt: skip


def _checkpoint_cells(r: dict[str, Any]) -> list[str]:
    """Model error (normalised MSE, held out) after 1 and k_max steps, batches, time."""
    kerr = next(v for key, v in r.items() if key.startswith("model_error_") and key != "model_error_1step")
    return [
        r["env"], str(r["step"]), r.get("variant", "correct"), f"{r['model_error_1step']:.3f}", f"{kerr:.3f}",
        f"{r['batches']} × {r['batch_size']} ({r['minibatch_size']})", str(r["ref_batches"]),
        str(r["n_params"]), f"{r['seconds']:.0f}",
    ]  # fmt: skip


def render_markdown(results: list[dict[str, Any]], directory: str = "") -> str:
    """The page of ``results`` (the rows alone, without ``directory``: what `bench variance` prints)."""

    correct = [r for r in results if r.get("variant", "correct") == "correct"]
    ceiling = [
        [r["env"], str(r["step"]), str(c["k"]), c["d"], c["eta_mode"], f"{_g(c['ratio'])} [{_g(c['ci'][0])}, "
         f"{_g(c['ci'][1])}]"]
        for r in correct
        for c in r["ceiling"]
    ]  # fmt: skip
    return render(
        "variance_table.md.j2",
        directory=directory,
        rows=[_row_cells(res, r) for res in results for r in res["rows"]],
        ceiling=ceiling,
        checkpoints=[_checkpoint_cells(r) for r in results],
        commands=[r.get("command", "") for r in results],
    )


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

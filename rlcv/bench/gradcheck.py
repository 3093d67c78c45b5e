"""`rlcv bench gradcheck`: is a policy-gradient estimator unbiased? Checked against the exact gradient.

The check, its tests and their power are :mod:`rlcv.diagnostics.gradcheck`'s; this module holds its
flags, the argument checks, the exit status (0 passed, 1 biased, 3 inconclusive, 2 bad arguments) and
the page.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench import flags
from rlcv.bench.checks import (
    check_estimator,
    float_range,
    int_range,
    nonneg_float,
    nonneg_int,
    positive_float,
    prob,
    seed_value,
)
from rlcv.bench.flags import flag
from rlcv.bench.report import add_result_benches, render, results_in, write_json
from rlcv.cli_args import parse_env_kwargs
from rlcv.diagnostics.gradcheck import GradcheckSettings
from rlcv.errors import RlcvError

_D = GradcheckSettings()  # the check's defaults, which the flags share


EXIT_CODES = {True: 0, False: 1, None: 3}  # passed / biased / inconclusive (2: bad arguments)


def check_args(args: argparse.Namespace) -> None:
    """Bad arguments end in one ``RlcvError`` line before any work (never in a verdict). Each number's
    range is its flag's type (:mod:`rlcv.bench.checks`), refused while parsing; here: a finite ``--eta``, a
    known estimator, and an LQR env that its kwargs can build (the exact gradient exists only there)."""
    if not math.isfinite(args.eta):
        raise RlcvError(f"--eta must be a finite number, got {args.eta}.")
    check_estimator(args.estimator)
    import gymnasium as gym

    from rlcv.env_factory import check_env_id, make_env
    from rlcv.envs.lqr import LQREnv

    check_env_id(args.env_id)
    if gym.spec(args.env_id).entry_point not in ("rlcv.envs.lqr:LQREnv", LQREnv):
        raise RlcvError(
            f"--env {args.env_id}: gradcheck needs the exact policy gradient, which only rlcv/LQR-v0 has."
        )
    make_env(args.env_id, args.env_kwargs).close()  # bad kwargs: one line now, not a traceback later


def _run(args: argparse.Namespace) -> int:
    check_args(args)  # bad arguments: one error line before any work
    return EXIT_CODES[main(args)["passed"]]


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench gradcheck`` and ``rlcv bench gradcheck-report``."""
    add_result_benches(
        sub, "gradcheck", GradcheckSpec, _run, write_report,
        help="unbiasedness of a gradient estimator vs the exact LQR gradient",
        json_help="write the full result as JSON", json_required=False,
        report_help="rebuild DIR/table.md from gradcheck JSONs", default_dir="results/gradcheck",
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class GradcheckSpec(GradcheckSettings):
    """The check's settings (:class:`rlcv.diagnostics.gradcheck.GradcheckSettings`, whose defaults these
    are), each with its flag of `rlcv bench gradcheck` (module docstring); the CLI's default env is a
    4 × 2 LQR, horizon 30."""

    env_id: str = flag(_D.env_id, name="--env")
    env_kwargs: dict[str, Any] | None = flag(
        _D.env_kwargs, type=parse_env_kwargs, cli_default={"state_dim": 4, "action_dim": 2, "horizon": 30}
    )
    estimator: str = flag(_D.estimator, help="a registered estimator (rlcv.estimators.ESTIMATORS), e.g. gae")
    k: int = flag(_D.k, type=nonneg_int, help="control-variate horizon (0 = state-value baseline)")
    estimates: int = flag(_D.estimates, type=int_range(2), help="independent gradient estimates")
    episodes: int = flag(_D.episodes, type=int_range(2), help="episodes per estimate")
    model: str = flag(_D.model, choices=["exact", "learned"])
    variant: str = flag(
        _D.variant,
        choices=["correct", "broken"],
        help="broken = pathwise term dropped (biased; the test must reject it)",
    )
    eta: float = flag(_D.eta, type=float)  # any finite η (a declared range may not be unbounded below)
    gamma: float = flag(
        _D.gamma, type=float_range(0.0, 1.0, low_open=True), help="discount (< 1: paired k = 0 reference)"
    )
    gae_lambda: float = flag(
        _D.gae_lambda, type=float_range(0.0, 1.0), help="GAE λ (< 1: paired k = 0 reference)"
    )
    cv_form: str = flag(_D.cv_form, choices=["lambda", "kstep"])
    eta_mode: str = flag(
        _D.eta_mode,
        choices=["fixed", "split", "tau"],
        help="split: (η_a, η_τ) least-squares fitted on an independent batch, then frozen; tau: D_τ only",
    )
    clip_range: float = flag(
        _D.clip_range,
        type=nonneg_float,
        help="> 0: PPO's clipped surrogate with the ratio-weighted, clip-masked pathwise term (θ = θ_old)",
    )
    alpha: float = flag(_D.alpha, type=prob, help="family-wise level of the Bonferroni z-test")
    detect_bias: float | None = flag(
        _D.detect_bias,
        type=positive_float,
        metavar="EPS",
        help="power target: a bias EPS × ∇J (default: the broken variant's; 0.1 without a pathwise term)",
    )
    cut_at_terminations: bool = flag(
        _D.cut_at_terminations,
        name="--no-cut-at-terminations",
        help="imagine through real episode ends (the setting for envs whose ends depend on actions)",
    )
    seed: int = flag(_D.seed, type=seed_value)


# The summary line's keys (printed last, as JSON, after the verdict line).
SUMMARY_KEYS = (
    "k", "model", "variant", "max_abs_z", "z_threshold", "rel_error", "rel_trace_cov", "passed", "verdict",
    "min_detectable_bias_abs", "min_detectable_bias_rel", "power_target", "target_bias_abs",
    "target_bias_rel", "chi2_p", "passed_chi2", "proj_z", "passed_projection",
)  # fmt: skip


def spec_of(args: argparse.Namespace) -> GradcheckSpec:
    """The check the parsed flags ask for."""
    return flags.spec_of(GradcheckSpec, args)


def main(args: Any) -> dict[str, Any]:
    from rlcv.diagnostics.gradcheck import run_gradcheck

    result = run_gradcheck(**vars(spec_of(args)))
    if args.json:
        write_json(args.json, result)
    print(verdict_line(result))  # the last line stays the JSON summary
    print(json.dumps({k: result[k] for k in SUMMARY_KEYS}))
    return result


def verdict_line(result: dict[str, Any]) -> str:
    """One human line: the verdict, the smallest detectable bias and the target's size (relative)."""
    return (
        f"verdict: {result['verdict']} (max |z| {result['max_abs_z']:.2f} vs {result['z_threshold']:.2f}); "
        f"target: {result['power_target']}, {result['target_bias_rel']:.3g} × ‖reference‖; "
        f"min detectable bias along it {result['min_detectable_bias_rel']:.3g} × ‖reference‖ "
        f"(any direction {result['min_detectable_bias_any_direction_rel']:.3g})"
    )


def _sort_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """Unpaired checks first, then by variant, model, k and the settings that change the estimator."""
    paired = r.get("gamma", 1.0) < 1 or r.get("gae_lambda", 1.0) < 1
    settings = (r.get("cut_at_terminations", True), r.get("eta_mode", "fixed"), r.get("clip_range", 0.0))
    return (paired, r["variant"], r["model"], r["k"], *settings)


def write_report(directory: str | Path) -> Path:
    """Rebuild ``DIR/table.md`` from every gradcheck JSON in ``DIR``."""
    results, out = results_in(Path(directory), _sort_key), Path(directory) / "table.md"
    out.write_text(render("gradcheck_table.md.j2", directory=Path(directory).as_posix(), results=results))
    return out

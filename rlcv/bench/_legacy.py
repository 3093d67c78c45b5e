"""Temporary shim: the ``rlcv bench`` parsers of :mod:`rlcv.bench.gradcheck` and
:mod:`rlcv.bench.variance`, moved here unchanged from ``rlcv.cli`` until those two modules define
``register(sub)`` themselves (then this file is deleted and ``BENCH_MODULES`` names them)."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.cli import _env_kwargs

    grad = sub.add_parser("gradcheck", help="unbiasedness of the MBMF estimator vs the exact LQR gradient")
    grad.add_argument("--env", default="rlcv/LQR-v0")
    grad.add_argument(
        "--env-kwargs", type=_env_kwargs, default={"state_dim": 4, "action_dim": 2, "horizon": 30}
    )
    grad.add_argument("--k", type=int, default=3, help="control-variate horizon (0 = state-value baseline)")
    grad.add_argument("--estimates", type=int, default=2000, help="independent gradient estimates")
    grad.add_argument("--episodes", type=int, default=10, help="episodes per estimate")
    grad.add_argument("--model", choices=["exact", "learned"], default="exact")
    grad.add_argument(
        "--variant",
        choices=["correct", "broken"],
        default="correct",
        help="broken = pathwise term dropped (biased; the test must reject it)",
    )
    grad.add_argument("--eta", type=float, default=1.0)
    grad.add_argument("--alpha", type=float, default=0.01, help="family-wise level of the Bonferroni z-test")
    grad.add_argument(
        "--no-cut-at-terminations",
        action="store_true",
        help="imagine through real episode ends (the setting for envs whose ends depend on actions)",
    )
    grad.add_argument("--seed", type=int, default=0)
    grad.add_argument("--json", metavar="OUT", help="write the full result as JSON")
    grad.set_defaults(bench_run=_gradcheck)

    var = sub.add_parser("variance", help="gradient variance of the MBMF estimator vs k at a checkpoint")
    var.add_argument("--run", required=True, help="run directory whose checkpoint is analysed")
    var.add_argument(
        "--checkpoint", default="last.pt", help="file in RUN/checkpoints (e.g. step_000100352.pt)"
    )
    var.add_argument("--k", type=int, nargs="+", default=[0, 1, 3, 5, 10])
    var.add_argument(
        "--batches", type=int, default=100, help="independent evaluation batches (common to all k)"
    )
    var.add_argument("--batch-size", type=int, default=2048, help="env steps per batch")
    var.add_argument("--ref-batches", type=int, default=100, help="batches for the reference gradient")
    var.add_argument("--fit-steps", type=int, default=30000, help="fresh env steps to fit the model on")
    var.add_argument("--model-steps", type=int, default=3000, help="model gradient steps")
    var.add_argument("--model-horizon", type=int, default=3, help="unroll length of the model loss")
    var.add_argument("--eta-modes", nargs="+", default=["fixed", "fitted"])
    var.add_argument("--seed", type=int, default=0)
    var.add_argument("--json", required=True, metavar="OUT", help="JSON output (a PNG is written beside it)")
    var.set_defaults(bench_run=_variance)

    gc_report = sub.add_parser("gradcheck-report", help="rebuild DIR/table.md from gradcheck JSONs")
    gc_report.add_argument("--dir", default="results/gradcheck")
    gc_report.set_defaults(bench_run=_gradcheck_report)
    report = sub.add_parser("variance-report", help="rebuild DIR/table.md from variance result JSONs")
    report.add_argument("--dir", default="results/variance")
    report.set_defaults(bench_run=_variance_report)


def _gradcheck(args: argparse.Namespace) -> int:
    from rlcv.bench import gradcheck

    return 0 if gradcheck.main(args)["passed"] else 1


def _gradcheck_report(args: argparse.Namespace) -> int:
    from rlcv.bench import gradcheck

    print(gradcheck.write_report(args.dir))
    return 0


def _variance(args: argparse.Namespace) -> int:
    from rlcv.bench import variance

    args.command_line = shlex.join(["rlcv", *sys.argv[1:]])
    variance.main(args)
    return 0


def _variance_report(args: argparse.Namespace) -> int:
    from rlcv.bench import variance

    print(variance.write_report(args.dir))
    return 0

"""The `rlcv` command: train, eval, envs, bench."""

from __future__ import annotations

import argparse
import json
import sys

from rlcv.errors import RlcvError


def _env_kwargs(text: str) -> dict:
    import yaml

    try:
        value = yaml.safe_load(text)  # JSON is YAML, and `{state_dim: 4}` is friendlier to type
    except yaml.YAMLError as exc:
        raise RlcvError(f"--env-kwargs must be a JSON/YAML mapping, got {text!r}.") from exc
    if not isinstance(value, dict):
        raise RlcvError(f"--env-kwargs must be a JSON/YAML mapping like '{{\"horizon\": 30}}', got {text!r}.")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlcv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an agent; writes a run directory")
    train.add_argument("--algo", help="ppo, trpo, sb3-ppo, sb3-trpo")
    train.add_argument("--env", help="Gymnasium env id, e.g. HalfCheetah-v5 or rlcv/LQR-v0")
    train.add_argument("--steps", "-n", type=int, help="total env steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--config", dest="config_file", help="YAML file of config overrides")
    train.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, e.g. --set learning_rate=1e-4 n_steps=1024",
    )
    train.add_argument("--run-dir", help="output folder (default runs/ALGO_ENV_sSEED)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    train.add_argument("--n-envs", type=int, help="parallel envs (config key n_envs)")
    train.add_argument("--eval-freq", type=int, help="env steps between evaluations (config key eval_freq)")
    train.add_argument("--eval-episodes", type=int, help="episodes per evaluation")
    train.add_argument("--num-threads", type=int, help="torch threads")
    train.add_argument("--env-kwargs", type=_env_kwargs, help="JSON/YAML mapping passed to gym.make")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    ev = sub.add_parser("eval", help="evaluate a run's policy deterministically")
    ev.add_argument("run_dir")
    ev.add_argument("--episodes", type=int, default=10)
    ev.add_argument("--seed", type=int, default=0, help="episode i is reset with seed + i")
    ev.add_argument("--video", metavar="DIR", help="record mp4 videos into DIR (headless)")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument(
        "--grid", metavar="FILE.png", help="generator envs (rlcv/BGAN-*): write a grid of samples"
    )

    sub.add_parser("envs", help="list the registered rlcv/ environments")

    bench = sub.add_parser("bench", help="benchmarks that write to results/")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    speed = bench_sub.add_parser("speed", help="env-steps/s of rlcv PPO/TRPO vs SB3 on the same machine")
    speed.add_argument("--env", default="HalfCheetah-v5")
    speed.add_argument("--steps", type=int, default=20480)
    speed.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported")
    speed.add_argument("--algos", nargs="+", default=["ppo", "sb3-ppo", "mbmf-ppo", "trpo", "sb3-trpo"])
    speed.add_argument("--out", default="results")
    learn = bench_sub.add_parser(
        "learn", help="learning curves of every (algo, env, seed), one eval protocol"
    )
    learn.add_argument("--algos", nargs="+", default=["ppo", "sb3-ppo", "trpo", "sb3-trpo"])
    learn.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"])
    learn.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    learn.add_argument("--steps", type=int, default=1_000_000, help="env steps per run")
    learn.add_argument("--steps-per-env", nargs="+", default=[], metavar="ENV=N", help="per-env --steps")
    learn.add_argument("--eval-freq", type=int, help="env steps between evaluations (default: steps/20)")
    learn.add_argument("--eval-episodes", type=int, default=10)
    learn.add_argument("--workers", type=int, help="concurrent runs (default: one per core)")
    learn.add_argument("--backend", choices=["local", "ray"], default="local")
    learn.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    learn.add_argument("--reference", default="sb3-ppo", help="algo whose final return the others must reach")
    learn.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="[ALGO:]KEY=VALUE",
        help="config overrides for every run, or for one algo",
    )
    learn.add_argument("--out", default="results/learn")

    grad = bench_sub.add_parser(
        "gradcheck", help="unbiasedness of the MBMF estimator vs the exact LQR gradient"
    )
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

    var = bench_sub.add_parser(
        "variance", help="gradient variance of the MBMF estimator vs k at a checkpoint"
    )
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

    bgan = bench_sub.add_parser("bgan", help="BGAN vs REINFORCE vs Gumbel-softmax generators on BGAN-Digits")
    bgan.add_argument("--env", default="rlcv/BGAN-Digits-v0")
    bgan.add_argument("--algos", nargs="+", default=["bgan", "bgan-reinforce", "bgan-gumbel"])
    bgan.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    bgan.add_argument("--steps", type=int, default=64_000, help="latents per run (64 per generator update)")
    bgan.add_argument("--workers", type=int, help="concurrent runs (default: one per core)")
    bgan.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides applied to every algorithm alike",
    )
    bgan.add_argument("--env-kwargs", type=_env_kwargs, default={}, help="env kwargs, for every run")
    bgan.add_argument("--out", default="results", help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*.png")
    bgan.add_argument(
        "--name", default="bgan", help="file stem of the outputs (e.g. bgan-digits4 for --env ...4)"
    )
    bgan.add_argument("--runs", default="runs/bench-bgan", help="where the run directories go")
    bgan.add_argument("--report-only", action="store_true", help="rebuild OUT/NAME.md from OUT/NAME.json")

    hpo = bench_sub.add_parser(
        "hpo", help="online HPO controllers vs Optuna TPE vs a fixed-lr grid (rlcv/OnlineHPO-v0)"
    )
    hpo.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (each fixes the inner run's seed)")
    hpo.add_argument("--budget", type=int, default=1500, help="inner SGD steps per full run")
    hpo.add_argument(
        "--steps-per-action", type=int, default=50, help="inner SGD steps per controller decision"
    )
    hpo.add_argument("--trials", type=int, default=20, help="Optuna TPE trials (full runs) per seed")
    hpo.add_argument(
        "--grid", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0], help="fixed learning rates"
    )
    hpo.add_argument(
        "--meta-episodes", type=int, default=100, help="inner runs of PPO meta-training per seed"
    )
    hpo.add_argument("--pbt-population", type=int, nargs="+", default=[4, 2], help="PBT population sizes")
    hpo.add_argument(
        "--methods",
        nargs="+",
        default=["grid", "optuna-tpe", "hpo-ucb1", "hpo-dts", "hpo-hd", "hpo-forward", "hpo-pbt", "ppo"],
    )
    hpo.add_argument("--env-kwargs", type=_env_kwargs, default={}, help="extra env kwargs for every method")
    hpo.add_argument("--out", default="results", help="writes OUT/hpo.md, OUT/hpo.json, OUT/hpo.png")
    hpo.add_argument(
        "--work-dir", help="new folder for run directories and episode logs (default: a temp dir)"
    )

    gc_report = bench_sub.add_parser("gradcheck-report", help="rebuild DIR/table.md from gradcheck JSONs")
    gc_report.add_argument("--dir", default="results/gradcheck")
    report = bench_sub.add_parser("variance-report", help="rebuild DIR/table.md from variance result JSONs")
    report.add_argument("--dir", default="results/variance")

    plot = sub.add_parser("plot", help="learning curves of runs; runs of the same algo+env form a CI band")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    plot.add_argument("--out", help="PNG path (default: RUN_DIR/curve.png for one run, else curves.png)")
    plot.add_argument(
        "--metric",
        default="eval_return_mean",
        help="any metrics.csv column, e.g. episode_return_mean, model_error_kstep, cv_corr",
    )
    return parser


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from rlcv.launch import TrainRequest, resume, train

    if args.resume:
        run_dir = resume(args.resume, steps=args.steps, progress=not args.no_progress, command=argv)
    else:
        missing = [
            flag
            for flag, v in (("--algo", args.algo), ("--env", args.env), ("--steps", args.steps))
            if v is None
        ]
        if missing:
            raise RlcvError(f"rlcv train needs {', '.join(missing)} (or --resume RUN_DIR).")
        from rlcv.config import parse_overrides

        overrides = parse_overrides(args.overrides)
        for key, flag in (
            ("n_envs", "n_envs"),
            ("eval_freq", "eval_freq"),
            ("eval_episodes", "eval_episodes"),
            ("num_threads", "num_threads"),
            ("env_kwargs", "env_kwargs"),
        ):
            if getattr(args, flag) is not None:
                overrides[key] = getattr(args, flag)
        run_dir = train(
            TrainRequest(
                algo=args.algo,
                env=args.env,
                steps=args.steps,
                seed=args.seed,
                config_file=args.config_file,
                overrides=overrides,
                run_dir=args.run_dir,
                progress=not args.no_progress,
                command=argv,
            )
        )
    print(f"run directory: {run_dir}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rlcv.launch import evaluate_run

    result = evaluate_run(
        args.run_dir, episodes=args.episodes, seed=args.seed, video_dir=args.video, grid_path=args.grid
    )
    metrics = result.get("metrics")  # envs with their own evaluation (generator envs) add metrics
    if args.json:
        out = {
            "mean_return": result["mean_return"],
            "std_return": result["std_return"],
            "episodes": result["episodes"],
        }
        print(json.dumps({**out, "metrics": metrics} if metrics else out))
    else:
        print(
            f"{args.episodes} episodes: mean return {result['mean_return']:.2f} ± {result['std_return']:.2f}"
        )
        for key, value in (metrics or {}).items():
            if isinstance(value, list):
                value = "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
            print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def _envs(_: argparse.Namespace) -> int:
    from rlcv.envs import PROJECT_ENVS

    for env_id, entry_point in PROJECT_ENVS.items():
        print(f"{env_id}\t{entry_point}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.bench == "speed":
        from rlcv.bench.speed import run_speed_bench

        run_speed_bench(
            env_id=args.env, steps=args.steps, repeats=args.repeats, algos=args.algos, out=args.out
        )
    elif args.bench == "learn":
        from rlcv.bench.learn import LearnSpec, parse_steps_per_env, run_sweep

        result = run_sweep(
            LearnSpec(
                algos=args.algos,
                envs=args.envs,
                seeds=args.seeds,
                steps=args.steps,
                steps_per_env=parse_steps_per_env(args.steps_per_env),
                eval_freq=args.eval_freq,
                eval_episodes=args.eval_episodes,
                workers=args.workers,
                backend=args.backend,
                address=args.address,
                out=args.out,
                overrides=args.overrides,
                reference=args.reference,
            )
        )
        return 1 if result["failures"] else 0
    elif args.bench == "variance":
        import shlex

        from rlcv.bench import variance

        args.command_line = shlex.join(["rlcv", *sys.argv[1:]])
        variance.main(args)
    elif args.bench == "gradcheck-report":
        from rlcv.bench import gradcheck

        print(gradcheck.write_report(args.dir))
    elif args.bench == "variance-report":
        from rlcv.bench import variance

        print(variance.write_report(args.dir))
    elif args.bench == "bgan":
        from pathlib import Path

        from rlcv.bench import bgan

        if args.report_only:
            print(bgan.report_only(Path(args.out), args.name))
        else:
            bgan.main(args)
    elif args.bench == "hpo":
        from rlcv.bench.hpo import HPOBenchSpec, run_bench

        run_bench(
            HPOBenchSpec(
                seeds=args.seeds,
                budget=args.budget,
                steps_per_action=args.steps_per_action,
                trials=args.trials,
                grid=args.grid,
                meta_episodes=args.meta_episodes,
                pbt_population=args.pbt_population,
                methods=args.methods,
                env_kwargs=args.env_kwargs,
                out=args.out,
                work_dir=args.work_dir,
            )
        )
    elif args.bench == "gradcheck":
        from rlcv.bench import gradcheck

        return 0 if gradcheck.main(args)["passed"] else 1
    return 0


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlcv.plotting import plot_runs

    out = (
        Path(args.out)
        if args.out
        else Path(args.run_dirs[0]) / "curve.png"
        if len(args.run_dirs) == 1
        else Path("curves.png")
    )
    print(f"wrote {plot_runs(args.run_dirs, out, metric=args.metric)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    handlers = {
        "train": lambda a: _train(a, argv),
        "eval": _eval,
        "envs": _envs,
        "bench": _bench,
        "plot": _plot,
    }
    try:
        return handlers[args.command](args)
    except RlcvError as exc:
        print(f"rlcv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlcv: interrupted; resume with `rlcv train --resume RUN_DIR`.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

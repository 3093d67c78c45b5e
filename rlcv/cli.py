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

    _add_bench_parsers(sub)

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


def _add_bench_parsers(sub: argparse._SubParsersAction) -> None:
    """`rlcv bench NAME`: every module of rlcv.bench.BENCH_MODULES adds its own parsers."""
    import importlib

    from rlcv.bench import BENCH_MODULES

    bench = sub.add_parser("bench", help="benchmarks that write to results/")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for module in BENCH_MODULES:
        importlib.import_module(module).register(bench_sub)


def _bench(args: argparse.Namespace) -> int:
    return args.bench_run(args)


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

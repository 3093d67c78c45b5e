"""The `rlcv` command: train, eval, config, envs, plot, bench.

Every input error ends the same way: one stderr line ``rlcv: error: ...`` and exit status 2, with
nothing written (argparse's own errors included, see :class:`_Parser`). Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from rlcv.cli_args import add_overrides_argument, add_train_arguments, parse_env_kwargs, train_overrides
from rlcv.errors import RlcvError, TrainingInterrupted


class _Parser(argparse.ArgumentParser):
    """argparse prints its usage and the error on several lines; rlcv promises one line."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("rlcv").strip()
        hint = f" (see `rlcv {command} --help`)" if command else " (see `rlcv --help`)"
        print(f"rlcv: error: {command + ': ' if command else ''}{message}{hint}", file=sys.stderr)
        sys.exit(2)


def _writable_file(path_text: str, flag: str) -> Path:
    """An output file path whose folder exists (or can be made) and is writable; nothing is created."""
    path = Path(path_text)
    if path.is_dir():
        raise RlcvError(f"{flag} '{path}' is a folder; give a file path.")
    _writable_dir(path.parent, flag, shown=path)
    return path


def _image_file(path_text: str, flag: str) -> Path:
    """A writable figure path in a format matplotlib writes; without a suffix, ``.png`` is added (so
    the path printed is the file written)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path_text)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    formats = FigureCanvasAgg.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise RlcvError(
            f"{flag} '{path_text}': matplotlib cannot write '{path.suffix}' files; use one of "
            f"{', '.join('.' + f for f in sorted(formats))} (e.g. {path.with_suffix('.png').name})."
        )
    return _writable_file(str(path), flag)


def _writable_dir(path: Path, flag: str, *, shown: Path | None = None) -> None:
    """``path`` is a writable folder, or the nearest existing folder above it is writable
    (``shown``: the path the user gave, for the message)."""
    shown = shown or path
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise RlcvError(f"{flag} '{shown}' lies below '{existing}', which is a file; choose another path.")
    if not os.access(existing, os.W_OK | os.X_OK) or str(existing.resolve()).startswith(("/proc", "/sys")):
        raise RlcvError(f"{flag} '{shown}' cannot be written ('{existing}' is read-only); choose another.")


DESCRIPTION = """Policy-gradient agents around the multi-step model-based control variate (MBMF).
Start with `rlcv train --help`; `rlcv config --algo A --env E` lists every config key."""

TRAIN_EPILOG = """examples:
  rlcv train --algo ppo --env HalfCheetah-v5 --steps 300000 --seed 1
  rlcv train --algo mbmf-ppo --env InvertedPendulum-v5 --steps 30000 --eval-freq 10000
  rlcv train --algo ppo --env rlcv/LQR-v0 --steps 20000 --set learning_rate=1e-3 n_steps=512
  rlcv train --algo ppo --env rlcv/LQR-v0 --steps 20000 --env-kwargs '{"state_dim": 6}'
  rlcv train --resume runs/ppo_HalfCheetah-v5_1 --steps 600000
  rlcv eval runs/ppo_HalfCheetah-v5_1 --episodes 10

Without --run-dir a new run goes to runs/ALGO_ENV_N, N one more than the highest taken (as in
rl-baselines3-zoo). Resume may change only the keys that steer the optimisation from the next update
on (learning_rate, clip_range, ent_coef, ...; see "Resume rules" in docs/run-directory.md)."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"rlcv {version('rlcv')}"
    except PackageNotFoundError:  # run from a source tree without installing
        return "rlcv (not installed)"


def _algo_help() -> str:
    from rlcv.agents import AGENTS, SB3_ALGOS

    return "one of: " + ", ".join([*AGENTS, *SB3_ALGOS])


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train an agent; writes a run directory",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(train, algo_help=_algo_help())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlcv", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    _add_train_parser(sub)

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

    cfg = sub.add_parser(
        "config", help="the resolved config of --algo on --env: every key, its type, default and meaning"
    )
    cfg.add_argument("--algo", required=True)
    cfg.add_argument("--env", required=True)
    cfg.add_argument("--config", dest="config_file", help="YAML file of config overrides")
    add_overrides_argument(cfg, help="override config keys, as for `rlcv train`")

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


def _resume(args: argparse.Namespace, overrides: dict[str, Any], argv: list[str]) -> Path:
    from rlcv.launch import ResumeRequest, resume

    extra = [
        flag
        for flag, given in (
            ("--config", args.config_file),
            ("--run-dir", args.run_dir),
            ("--env-kwargs", args.env_kwargs),
            ("--n-envs", args.n_envs),
        )
        if given is not None
    ]
    if extra:
        raise RlcvError(
            f"{', '.join(extra)} cannot be used with --resume (they shape the saved state); resume "
            "accepts --steps, --from and --set of the keys `rlcv train --help` names."
        )
    return resume(
        ResumeRequest(
            run_dir=args.resume,
            steps=args.steps,
            overrides=overrides,
            checkpoint=args.from_checkpoint,
            algo=args.algo,
            env=args.env,
            seed=args.seed,
            progress=not args.no_progress,
            command=argv,
        )
    )


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    from rlcv.launch import TrainRequest, check_seed, train

    overrides = train_overrides(args)
    if args.seed is not None:
        check_seed(args.seed)
    if args.resume:
        run_dir = _resume(args, overrides, argv)
    else:
        if args.from_checkpoint is not None:
            raise RlcvError("--from needs --resume RUN_DIR (it names a checkpoint of that run).")
        missing = [
            flag
            for flag, v in (("--algo", args.algo), ("--env", args.env), ("--steps", args.steps))
            if v is None
        ]
        if missing:
            raise RlcvError(f"rlcv train needs {', '.join(missing)} (or --resume RUN_DIR).")
        if args.env_kwargs is not None:
            overrides["env_kwargs"] = parse_env_kwargs(args.env_kwargs)
        run_dir = train(
            TrainRequest(
                algo=args.algo,
                env=args.env,
                steps=args.steps,
                seed=0 if args.seed is None else args.seed,
                config_file=args.config_file,
                overrides=overrides,
                run_dir=args.run_dir,
                progress=not args.no_progress,
                command=argv,
            )
        )
    print(f"run directory: {run_dir}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from rlcv.config import describe, format_config, parse_overrides
    from rlcv.env_factory import check_env_id
    from rlcv.launch import check_algo, resolve

    check_algo(args.algo)
    check_env_id(args.env)
    algo, config = resolve(args.algo, args.env, args.config_file, parse_overrides(args.overrides))
    print(f"# rlcv config --algo {algo} --env {args.env}  (value  # type, default: meaning)")
    print(format_config(describe(config)))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rlcv.launch import check_seed, eval_summary, evaluate_run

    check_seed(args.seed)
    if args.video is not None:
        if Path(args.video).exists() and not Path(args.video).is_dir():
            raise RlcvError(f"--video '{args.video}' is a file; give a folder for the videos.")
        _writable_dir(Path(args.video), "--video")
    grid = None if args.grid is None else str(_image_file(args.grid, "--grid"))
    try:
        result = evaluate_run(
            args.run_dir, episodes=args.episodes, seed=args.seed, video_dir=args.video, grid_path=grid
        )
    except OSError as exc:  # e.g. a full disk while writing videos or the grid
        raise RlcvError(
            f"cannot write the evaluation's output ({exc.strerror or exc}: {exc.filename or ''}); free "
            "space or choose another --video/--grid path."
        ) from exc
    metrics = result.get("metrics")  # envs with their own evaluation (generator envs) add metrics
    if args.json:
        print(json.dumps(eval_summary(result)))
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
    from rlcv.plotting import plot_runs

    out = (
        Path(args.out)
        if args.out
        else Path(args.run_dirs[0]) / "curve.png"
        if len(args.run_dirs) == 1
        else Path("curves.png")
    )
    out = _image_file(str(out), "--out")
    try:
        written = plot_runs(args.run_dirs, out, metric=args.metric)
    except OSError as exc:  # e.g. a full disk
        raise RlcvError(f"cannot write '{out}' ({exc.strerror or exc}); choose another --out.") from exc
    print(f"wrote {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    handlers = {
        "train": lambda a: _train(a, argv),
        "eval": _eval,
        "config": _config,
        "envs": _envs,
        "bench": _bench,
        "plot": _plot,
    }
    previous = _handle_sigterm()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2, already printed by _Parser.error)
            return exc.code if isinstance(exc.code, int) else 2
        return handlers[args.command](args)
    except TrainingInterrupted as exc:
        print(f"rlcv: {exc}", file=sys.stderr)
        return _interrupted_code()
    except RlcvError as exc:
        # One line even where the message quotes a library's multi-line text (e.g. torch's
        # state-dict mismatch report).
        print(f"rlcv: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlcv: interrupted.", file=sys.stderr)
        return _interrupted_code()
    except Exception as exc:  # a bug, not an input error: still one line, the traceback on request
        if os.environ.get("RLCV_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(
            f"rlcv: internal error: {type(exc).__name__}: {first}"
            " (a bug; rerun with RLCV_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop) takes Ctrl-C's path: staging removed, lock released,
    the run directory to resume printed."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def _handle_sigterm() -> Any:
    """Install the SIGTERM handler for this call (signals can only be handled on the main thread);
    returns the previous handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def _interrupted_code() -> int:
    """130 for Ctrl-C, 143 for SIGTERM (128 + the signal's number, as shells report them)."""
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, _Terminated):
            return 128 + signal.SIGTERM
        exc = exc.__context__ or exc.__cause__
    return 130


if __name__ == "__main__":
    sys.exit(main())

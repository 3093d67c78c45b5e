"""`rlcv train`, `rlcv train --resume` and `rlcv eval`: the layer above the two training backends.

It validates the request, resolves the config, owns the order of effects on the run directory
(nothing is written until everything that can fail on bad input has run), and dispatches to the
native loop (:mod:`rlcv.loop`) or the Stable-Baselines3 backend (:mod:`rlcv.sb3_backend`). The
backends import neither this module nor each other, so there is no import cycle; each offers
``config_class(algo)``, ``new_trainer(...)`` and ``resume_trainer(run, meta)``, and its trainer
``.step`` and ``.train(run, total_steps=..., progress=..., resume_step=...)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from rlcv.agents import AGENTS, SB3_ALGOS
from rlcv.config import CommonConfig, build_config, load_yaml, preset
from rlcv.env_factory import check_env_id
from rlcv.errors import RlcvError, TrainingInterrupted, did_you_mean
from rlcv.legacy import upgrade_request
from rlcv.run_dir import RunDir, default_run_dir, new_meta
from rlcv.run_lock import RunLock


@dataclass(kw_only=True)
class TrainRequest:
    """Everything `rlcv train` was asked for; CLI flags like --n-envs arrive inside ``overrides``."""

    algo: str
    env: str
    steps: int
    seed: int = 0
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    progress: bool = True
    command: list[str] | None = None  # the CLI arguments, recorded in command.txt


def _backend(algo: str) -> ModuleType:
    """The backend module of ``algo``, imported on first use (SB3 is slow to import)."""
    if algo in SB3_ALGOS:
        from rlcv import sb3_backend

        return sb3_backend
    from rlcv import loop

    return loop


def check_algo(algo: str) -> None:
    known = [*AGENTS, *SB3_ALGOS]
    if algo not in known:
        raise RlcvError(f"unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}.")


def resolve(
    algo: str, env: str, config_file: str | None, overrides: dict[str, Any]
) -> tuple[str, CommonConfig]:
    """The algorithm and its config: defaults < preset `default` < preset env block < --config FILE <
    --set (SB3 algorithms read the preset of the rlcv agent they mirror: the `base:` of their preset
    file). An old spelling of the algorithm or a key is rewritten first (one deprecation line,
    :mod:`rlcv.legacy`), so the algorithm returned may differ from ``algo``."""
    user = load_yaml(config_file) if config_file else {}
    user.update(overrides)
    algo, user = upgrade_request(algo, user)
    values = preset(algo, env)
    values.update(user)
    return algo, _build(algo, env, values)


def resolve_config(algo: str, env: str, config_file: str | None, overrides: dict[str, Any]) -> CommonConfig:
    """The config of :func:`resolve` (which also says the algorithm an old spelling stands for)."""
    return resolve(algo, env, config_file, overrides)[1]


def _build(algo: str, env: str, values: dict[str, Any]) -> CommonConfig:
    backend = _backend(algo)
    try:
        config = build_config(backend.config_class(algo), values)
        if hasattr(backend, "check_config"):  # keys this backend would ignore are an error
            backend.check_config(algo, config)
        return config
    except RlcvError as exc:  # name this algo and env in the `rlcv config` hint
        text = str(exc).replace("--algo ALGO --env ENV", f"--algo {algo} --env {env}")
        raise RlcvError(text) from exc


SEED_LIMIT = 2**32  # numpy and Gymnasium seeds live in [0, 2**32)


def run_resumable_keys(meta: dict[str, Any]) -> tuple[str, ...]:
    """The keys a resume of this run may change, as its config class and its estimator's settings
    class declare them (``setting(..., resumable=True)``, see :mod:`rlcv.settings`): they steer the
    optimisation from the next update on and are read from the config at use time. Everything else
    (network shapes, n_steps/n_envs, normalisation, the estimator and its dynamics model) shapes the state in
    the checkpoint, so changing it mid-run is an error."""
    from rlcv.estimators import ESTIMATORS, settings_class
    from rlcv.settings import resumable_keys

    estimator = meta["config"].get("estimator")
    settings = settings_class(estimator) if estimator in ESTIMATORS else None
    return resumable_keys(_backend(meta["algo"]).config_class(meta["algo"]), settings)


def check_seed(seed: int) -> None:
    if not 0 <= seed < SEED_LIMIT:
        raise RlcvError(f"--seed must be in [0, 2**32), got {seed}.")


def _created_parents(path: Path) -> list[Path]:
    """Create the missing folders above a run (deepest last); returns them so a failed start can
    remove them again ("no run directory touched")."""
    missing = []
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except OSError as exc:
            _remove_empty(missing)
            raise RlcvError(
                f"cannot create '{folder}' for the run directory ({exc.strerror}); choose a --run-dir in "
                "a writable folder."
            ) from exc
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            pass


def _check_run_path(path: Path) -> None:
    """A run path must be a folder (or nothing yet) below folders, not below a file; a name the OS
    accepts; and, for a symlink, one that ends somewhere a folder can be made."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet / below a file: checked below
        pass
    except OSError as exc:  # ENAMETOOLONG, ELOOP (a symlink loop), EACCES, ...
        raise RlcvError(
            f"--run-dir '{_short(path)}' cannot be used ({exc.strerror}); choose another path."
        ) from None
    if path.is_symlink() and not path.exists():
        target = Path(os.path.realpath(path))
        if not target.parent.is_dir():
            raise RlcvError(
                f"--run-dir '{path}' is a symlink to '{target}', whose folder '{target.parent}' does not "
                "exist; create it or choose another --run-dir."
            )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RlcvError(f"--run-dir '{path}' lies below '{parent}', which is a file; choose another.")
            break
    if path.exists() and not path.is_dir():
        raise RlcvError(f"--run-dir '{path}' is a file; choose a folder path.")


def _short(path: Path, limit: int = 80) -> str:
    text = str(path)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_error(exc: OSError, run: RunDir) -> RlcvError:
    return RlcvError(
        f"cannot write to the run directory '{run}' ({exc.strerror or exc}); free space or fix the "
        f"permissions, then rerun (or `rlcv train --resume {run}` if it holds a checkpoint)."
    )


def train(request: TrainRequest) -> Path:
    """Start a new run; returns its directory.

    Order of effects: every check that needs no env; the run lock (rlcv.run_lock); the trainer
    (creates and resets the envs); then the run is staged and published at its first checkpoint
    (rlcv.run_dir). Any failure before the first checkpoint removes everything this process
    created, so a rerun or another --run-dir is never blocked.
    """
    check_algo(request.algo)
    if request.steps < 1:
        raise RlcvError(f"--steps must be >= 1, got {request.steps}.")
    check_seed(request.seed)
    check_env_id(request.env)
    algo, config = resolve(request.algo, request.env, request.config_file, request.overrides)
    run = RunDir(request.run_dir or default_run_dir(algo, request.env))
    _check_run_path(run.path)
    run.check_new()
    created = _created_parents(run.path)
    lock = RunLock(run.path)
    try:
        lock.acquire()
        run.check_new()  # again under the lock: a trainer that held it may have published meanwhile
        trainer = _start(algo, request.env, config, request.seed)
        meta = new_meta(
            algo=algo,
            env=request.env,
            steps=request.steps,
            seed=request.seed,
            config=dataclasses.asdict(config),
        )
        run.stage(meta, request.command)
        try:
            trainer.train(run, total_steps=request.steps, progress=request.progress)
        except OSError as exc:
            raise _os_error(exc, run) from exc
        except KeyboardInterrupt:
            raise _interrupted(run) from None
    except BaseException as exc:
        published = not run.is_staged and run.is_run()
        stopped = _interrupted(run) if isinstance(exc, KeyboardInterrupt) else None
        run.discard()
        lock.release()  # its file sits in the parent folder, which may be ours to remove
        if not published:
            _remove_empty(created)
        if stopped is not None:  # Ctrl-C / SIGTERM at any point: say what was kept
            raise stopped from None
        raise
    finally:
        lock.release()
    return run.path


def _interrupted(run: RunDir) -> TrainingInterrupted:
    if run.is_staged:
        return TrainingInterrupted(
            f"interrupted before the first checkpoint; nothing was kept (rerun the command to start "
            f"again at '{run._final}')."
        )
    return TrainingInterrupted(f"interrupted; resume with `rlcv train --resume {run.path}`.")


def _start(algo: str, env: str, config: CommonConfig, seed: int) -> Any:
    """The backend's new trainer; an env that fails to build or reset is a user error (its kwargs)."""
    try:
        return _backend(algo).new_trainer(algo=algo, env_id=env, config=config, seed=seed)
    except (RlcvError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise RlcvError(
            f"{env} failed to start ({type(exc).__name__}: {_first_line(exc)}); check --env-kwargs "
            f"{config.env_kwargs} against the env's constructor."
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


@dataclass(kw_only=True)
class ResumeRequest:
    """`rlcv train --resume RUN_DIR`: what may change is :func:`run_resumable_keys`."""

    run_dir: str | Path
    steps: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # --from: a file in checkpoints/ (default last.pt)
    algo: str | None = None  # given only to be checked against the run's
    env: str | None = None
    seed: int | None = None
    progress: bool = True
    command: list[str] | None = None


def _checkpoint_name(run: RunDir, name: str | None) -> str:
    if name is None:
        return "last.pt"
    base = Path(name).name
    match = re.fullmatch(r"step_(\d+)\.pt", base)
    if match and not run.checkpoint(base).is_file():  # step_600.pt names step_000000600.pt
        base = run.step_checkpoint(int(match.group(1))).name
    if not run.checkpoint(base).is_file():
        available = sorted(p.name for p in run.checkpoints.glob("*.pt")) if run.checkpoints.is_dir() else []
        raise RlcvError(
            f"--from '{name}': no such checkpoint in '{run.checkpoints}'. "
            f"Available: {', '.join(available) or 'none'}."
        )
    return base


def _resume_changes(meta: dict[str, Any], overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's config with ``overrides`` applied, and the changed keys; keys outside
    :func:`run_resumable_keys` are an error."""
    resumable = run_resumable_keys(meta)
    config = dict(meta["config"])
    settings = dict(config.get("estimator_settings") or {})
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in resumable:
            raise RlcvError(
                f"--set {key}=... cannot change on --resume (it shapes the saved state); resume accepts "
                f"--steps, --from and --set of {', '.join(resumable)}. Start a new run to change {key}."
            )
        if key in config:
            config[key] = value
        elif key in settings:
            settings[key] = value
        else:
            raise RlcvError(
                f"--set {key}=... does not apply to this run ({meta['algo']}); see `rlcv config --algo "
                f"{meta['algo']} --env {meta['env']}` for its keys."
            )
        changes[key] = value
    if "estimator_settings" in config and settings:
        config["estimator_settings"] = settings
    # Validate (types, ranges) with the same code as a new run.
    built = build_config(_backend(meta["algo"]).config_class(meta["algo"]), config)
    resolved = dataclasses.asdict(built)
    flat = {**resolved, **(resolved.get("estimator_settings") or {})}
    return resolved, {k: flat[k] for k in changes}


def resume(request: ResumeRequest) -> Path:
    """Continue a run from ``checkpoints/last.pt`` (or ``--from`` an earlier one), optionally to a new
    ``steps`` target and with changed :func:`run_resumable_keys` (recorded in config.yaml's ``changes``
    with the step they apply from, and in command.txt)."""
    run = RunDir(request.run_dir)
    meta = run.read_meta()
    check_algo(meta["algo"])
    _check_same_run(request, meta)
    if request.steps is not None and request.steps < 1:
        raise RlcvError(f"--steps must be >= 1, got {request.steps}.")
    name = _checkpoint_name(run, request.checkpoint)
    run.metrics_rows()  # a damaged metrics.csv is reported before anything is written
    run.check_writable()
    new_config, changes = _resume_changes(meta, request.overrides)
    if request.steps is None and request.checkpoint is None and run.is_finished():
        # Nothing to train: say so and leave every file as it is (policy.pt, config.yaml, command.txt).
        print(
            f"rlcv: run '{run}' is already finished ({meta['steps']} steps); nothing was written. Pass "
            f"--steps N with N > {meta['steps']} to train it further.",
            file=sys.stderr,
        )
        return run.path
    lock = RunLock(run.path)
    lock.acquire()
    try:
        old_lr = meta["config"].get("learning_rate")
        meta_new = {**meta, "config": new_config}
        trainer = _backend(meta["algo"]).resume_trainer(run, meta_new, checkpoint_name=name)
        if request.steps is not None and request.steps <= trainer.step:
            _close(trainer)
            raise RlcvError(
                f"--steps {request.steps} does not exceed the {trainer.step} steps of checkpoint '{name}'; "
                f"pass a larger --steps."
            )
        if "learning_rate" in changes:
            _set_learning_rate(trainer, old_lr, changes["learning_rate"])
        if changes:
            meta_new["changes"] = [*meta.get("changes", []), {"step": trainer.step, "set": changes}]
        if request.steps is not None:
            meta_new["steps"] = request.steps
        try:
            if meta_new != meta:
                run.write_meta(meta_new)
            try:
                run.log_command(request.command)
            except OSError:
                if meta_new != meta:  # a resume that fails before training leaves config.yaml as it was
                    run.write_meta(meta)
                raise
            run.set_aside_checkpoints_after(trainer.step)  # --from: later ones are another history
            trainer.train(
                run, total_steps=int(meta_new["steps"]), progress=request.progress, resume_step=trainer.step
            )
        except OSError as exc:
            raise _os_error(exc, run) from exc
        except KeyboardInterrupt:
            raise _interrupted(run) from None
    finally:
        lock.release()
    return run.path


def _check_same_run(request: ResumeRequest, meta: dict[str, Any]) -> None:
    """--algo / --env / --seed may be repeated on a resume, but only with the run's own values."""
    for flag, given, recorded in (
        ("--algo", request.algo, meta["algo"]),
        ("--env", request.env, meta["env"]),
        ("--seed", request.seed, meta["seed"]),
    ):
        if given is not None and given != recorded:
            raise RlcvError(
                f"{flag} {given} differs from the run's {recorded}; a resume continues the same run "
                f"(it accepts --steps, --from and --set of {', '.join(run_resumable_keys(meta))}). Start a "
                "new run with another --run-dir instead."
            )


def _close(trainer: Any) -> None:
    """Close the envs of a trainer that will not train (``train`` closes them otherwise)."""
    envs = getattr(trainer, "envs", None) or getattr(trainer, "venv", None)
    if envs is not None:
        envs.close()


def _set_learning_rate(trainer: Any, old: Any, new: float) -> None:
    """A native trainer's optimiser state (restored from the checkpoint) carries the old learning
    rate: move the groups that use it to the new one. SB3 sets it from its schedule every update."""
    agent = getattr(trainer, "agent", None)
    if agent is None:
        return
    for optimizer in agent.optimizers().values():
        for group in optimizer.param_groups:
            if group["lr"] == old:
                group["lr"] = new


def evaluate_run(
    run_dir: str | Path,
    *,
    episodes: int,
    seed: int = 0,
    video_dir: str | None = None,
    grid_path: str | None = None,
) -> dict[str, Any]:
    """`rlcv eval`: deterministic evaluation of a run's final policy (else its last checkpoint)."""
    run = RunDir(run_dir)
    meta = run.read_meta()
    check_algo(meta["algo"])
    check_env_id(meta["env"])
    if episodes < 1:
        raise RlcvError(f"--episodes must be >= 1, got {episodes}.")
    if meta["algo"] in SB3_ALGOS:
        from rlcv import sb3_backend

        return sb3_backend.evaluate_run(run, meta, episodes=episodes, seed=seed, video_dir=video_dir)
    from rlcv import evaluation

    return evaluation.evaluate_run(
        run, episodes=episodes, seed=seed, video_dir=video_dir, grid_path=grid_path
    )


def eval_summary(result: dict[str, Any]) -> dict[str, Any]:
    """What `rlcv eval --json` prints of :func:`evaluate_run`'s result (and ``rlcv.Agent.evaluate``
    returns): mean and std of the returns, the episode count, and the env's own metrics if any."""
    out = {key: result[key] for key in ("mean_return", "std_return", "episodes")}
    metrics = result.get("metrics")
    return {**out, "metrics": metrics} if metrics else out


def load_policy(run_dir: str | Path) -> tuple[dict[str, Any], Any, Any]:
    """A run's config.yaml, its policy (the final one, else the last checkpoint's) and its frozen
    observation normaliser, native or SB3: what `rlcv eval` evaluates and ``rlcv.Agent.predict`` calls.
    The policy has the :class:`rlcv.evaluation.EvalPolicy` methods (``mode``, ``env_action``)."""
    run = RunDir(run_dir)
    meta = run.read_meta()
    check_algo(meta["algo"])
    check_env_id(meta["env"])
    if meta["algo"] in SB3_ALGOS:
        from rlcv import sb3_backend

        policy, normalizer = sb3_backend.load_policy(run, meta)
        return meta, policy, normalizer
    from rlcv import evaluation

    return evaluation.load_policy(run)

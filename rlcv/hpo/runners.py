"""The HPO methods as callable runners: one method on one inner seed of ``rlcv/OnlineHPO-v0``, with its
compute in explicit units (fixed and cosine-schedule runs, random search and Optuna TPE, synchronous
successive halving, a controller or PBT population through the agent loop, PPO meta-training and its
policy's run). `rlcv bench hpo`, `hpo-budget` and `dualcutout` launch them.

Every runner returns a *summary*: the reported configuration's final numbers (``val_loss``,
``test_accuracy``, ``test_loss``, selected by validation loss only), the compute charged (``cost``:
``sgd_steps``, ``examples``, ``example_grads``, ``compute_s`` from the env — see
``rlcv.envs.online_hpo.CURVE_COLUMNS`` — and the bench's own ``wall_s``, which adds Optuna's and the
loop's overhead) and an anytime ``curve``: rows of :data:`ANYTIME_COLUMNS` — cumulative compute,
best validation loss so far, and the test accuracy of that incumbent where it is known (a finished
trial for search methods; the end of the run for online controllers; NaN elsewhere).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

UNITS: tuple[str, ...] = ("sgd_steps", "examples", "example_grads", "compute_s")
ANYTIME_COLUMNS: tuple[str, ...] = (*UNITS, "best_val_loss", "test_accuracy")
ENV_ID = "rlcv/OnlineHPO-v0"


def _env(env_kwargs: dict[str, Any], **extra: Any) -> Any:
    from rlcv.envs.online_hpo import OnlineHPOEnv

    return OnlineHPOEnv(**{**env_kwargs, **extra})


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of an episode log (JSON lines); none when it was never written."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def timed_train(
    algo: str,
    seed: int,
    steps: int,
    run_dir: Path,
    overrides: dict[str, Any],
    command: list[str],
    env_id: str = ENV_ID,
) -> float:
    """Trains ``algo`` on the HPO env (or ``env_id``) in-process; the wall-clock seconds it took."""
    from rlcv.launch import TrainRequest, train

    start = time.perf_counter()
    train(
        TrainRequest(
            algo=algo,
            env=env_id,
            steps=steps,
            seed=seed,
            overrides=overrides,
            run_dir=str(run_dir),
            progress=False,
            command=command,
        )
    )
    return time.perf_counter() - start


def _cost(records: list[dict[str, Any]]) -> dict[str, float]:
    return {u: float(sum(r[u] for r in records)) for u in UNITS}


def _summary(
    best: dict[str, Any], spent: list[dict[str, Any]], curve: list[list[float]], wall: float, **extra: Any
):
    return {
        **{k: best[k] for k in ("val_loss", "test_accuracy", "test_loss", "diverged")},
        "hparams": {k: best[k] for k in ("lr", "batch_size", "weight_decay", "dual_alpha") if k in best},
        "cost": {**_cost(spent), "wall_s": wall},
        "curve": curve,
        # the hyper-parameters along the run (env steps), where the env recorded them
        **({"trace": best["trace"]} if "trace" in best else {}),
        **extra,
    }


def fixed_run(
    env_kwargs: dict[str, Any], seed: int, hparams: dict[str, float], schedule=None
) -> dict[str, Any]:
    """One full run at constant hyper-parameters, or with ``schedule(k, n) -> lr multiplier`` applied at
    env step k of n (a cosine schedule is piecewise constant per env step)."""
    env = _env(env_kwargs, max_factor=2.0**30) if schedule else _env(env_kwargs)
    env.reset(options={"inner_seed": seed, "hparams": hparams})
    n = math.ceil(env.budget / env.steps_per_action)
    zero = np.zeros(env.action_space.shape, np.float32)
    lr0 = hparams["lr"]
    for k in range(n):
        action = zero.copy()
        if schedule is not None:  # from the lr in use, so a value clipped at the env's lr_range stays clipped
            action[0] = math.log2(lr0 * schedule(k, n) / env.hparams()["lr"])
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info["episode"]
    raise AssertionError("the budget ends the episode")


def cosine(k: int, n: int) -> float:
    """The cosine schedule ½(1 + cos(π t)) at the middle t = (k + ½)/n of env step k: never exactly 0."""
    return 0.5 * (1.0 + math.cos(math.pi * (k + 0.5) / n))


def _search_curve(records: list[dict[str, Any]]) -> list[list[float]]:
    """Anytime rows after each trial: cumulative cost, best val so far and that trial's test accuracy."""
    rows, best, acc, spent = [], math.inf, math.nan, {u: 0.0 for u in UNITS}
    for r in records:
        for u in UNITS:
            spent[u] += r[u]
        if r.get("finished", True) and r["val_loss"] < best:
            best, acc = r["val_loss"], r["test_accuracy"]
        rows.append([*(spent[u] for u in UNITS), best, acc])
    return rows


def run_fixed(env_kwargs: dict[str, Any], seed: int, lr: float, *, cos: bool = False) -> dict[str, Any]:
    start = time.perf_counter()
    r = fixed_run(env_kwargs, seed, {"lr": lr}, cosine if cos else None)
    return _summary(r, [r], _search_curve([r]), time.perf_counter() - start)


def _space(env_kwargs: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return _env(env_kwargs).ranges


def _suggest(trial: Any, ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    return {
        "lr": trial.suggest_float("lr", *ranges["lr"], log=True),
        "batch_size": trial.suggest_int("batch_size", *(int(v) for v in ranges["batch_size"]), log=True),
        "weight_decay": trial.suggest_float("weight_decay", *ranges["weight_decay"], log=True),
    }


def run_search(env_kwargs: dict[str, Any], seed: int, sampler: str, trials: int) -> dict[str, Any]:
    """Random search or Optuna TPE over (lr, batch size, L2), ``trials`` full runs; every trial kept so the
    report can read the first k (random-2 / TPE-2 are the first 2 trials of the same study)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ranges = _space(env_kwargs)
    records: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        r = fixed_run(env_kwargs, seed, _suggest(trial, ranges))
        records.append(r)
        return r["val_loss"] if math.isfinite(r["val_loss"]) else 1e3  # a diverged run, as a finite worst

    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    start = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=samplers[sampler](seed=seed))
    study.optimize(objective, n_trials=trials)
    keys = ("lr", "batch_size", "weight_decay", "val_loss", "test_accuracy", "test_loss", "diverged", *UNITS)
    return {
        "trials": [{k: r[k] for k in keys} for r in records],
        "wall_s": time.perf_counter() - start,
    }


def first_k(search: dict[str, Any], k: int) -> dict[str, Any]:
    """The summary of a search cut after its first k trials (wall-clock pro rata)."""
    trials = search["trials"][:k]
    best = min(trials, key=lambda r: r["val_loss"])
    summary = _summary(best, trials, _search_curve(trials), search["wall_s"] * k / len(search["trials"]))
    summary["hparams"] = {h: best[h] for h in ("lr", "batch_size", "weight_decay")}
    return summary


def _rungs(n_steps: int, min_resource: int, rf: int) -> list[int]:
    """The env steps at which successive halving cuts: min_resource·rf^r below ``n_steps``."""
    rungs, r = [], min_resource
    while r < n_steps:
        rungs.append(r)
        r *= rf
    return rungs


def sh_cost(n_configs: int, n_steps: int, min_resource: int, rf: int) -> int:
    """Env steps synchronous successive halving spends: rung r at min_resource·rf^r env steps keeps the
    best max(1, ⌊m / rf⌋) of its m trials (Optuna's promotion rule), the last survivor runs to the end."""
    total, alive, done = 0, n_configs, 0
    for r in _rungs(n_steps, min_resource, rf):
        total += alive * (r - done)
        done, alive = r, max(1, alive // rf)
    return total + alive * (n_steps - done)


def run_successive_halving(
    env_kwargs: dict[str, Any], seed: int, budget_runs: float, min_resource: int = 3, rf: int = 3
) -> dict[str, Any]:
    """Synchronous successive halving (Jamieson & Talwalkar, 2016) over random configurations.

    All configurations (Optuna's ``RandomSampler``, seeded by s) start together and advance in
    lockstep; at each rung (``min_resource``·``rf``^r env steps) the best max(1, ⌊m / rf⌋) of the m live
    ones by validation loss go on, the last survivor runs to the end of the budget. The number of
    configurations is the largest whose cost (:func:`sh_cost`) fits ``budget_runs`` full runs.
    Optuna's own ``SuccessiveHalvingPruner`` / ``HyperbandPruner`` are asynchronous: asked trial by
    trial, they promote whichever trial reaches a rung first (the first trial always runs to the end,
    and in lockstep 5 of 8 passed the first rung where ⌊8/3⌋ = 2 should), so the halving is done here
    and Optuna only samples."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = _env(env_kwargs)
    n_steps = math.ceil(probe.budget / probe.steps_per_action)
    n = 1
    while sh_cost(n + 1, n_steps, min_resource, rf) <= budget_runs * n_steps:
        n += 1
    start = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed))
    envs = []
    for _ in range(n):
        env = _env(env_kwargs)
        env.reset(options={"inner_seed": seed, "hparams": _suggest(study.ask(), probe.ranges)})
        envs.append(env)
    records = _lockstep(envs, n_steps, set(_rungs(n_steps, min_resource, rf)), rf)
    done = [r for r in records if r["finished"] and math.isfinite(r["val_loss"])] or [
        r for r in records if r["finished"]
    ]
    best = min(done, key=lambda r: r["val_loss"])
    # The anytime curve orders the records by when they stopped: a stopped trial's compute is charged
    # when it stops, which is when it is known to have been spent for nothing.
    return _summary(
        best, records, _search_curve(records), time.perf_counter() - start, trials=n, completed=len(done)
    )


def _lockstep(envs: list[Any], n_steps: int, rungs: set[int], rf: int) -> list[dict[str, Any]]:
    """Step every live env together; at each rung keep the best max(1, ⌊m / rf⌋) by validation loss.
    One record per trial, in the order they stopped (finished, diverged, or cut at a rung)."""
    zero = np.zeros(envs[0].action_space.shape, np.float32)
    alive = list(range(len(envs)))
    records: list[dict[str, Any]] = []
    for k in range(1, n_steps + 1):
        for i in alive:
            _, _, terminated, _, info = envs[i].step(zero)
            if terminated:  # the budget or a divergence ends the run
                records.append(dict(info["episode"], finished=True))
        alive = [
            i
            for i in alive
            if envs[i].run.steps_done < envs[i].budget and envs[i].run.val_loss < envs[i].max_loss
        ]
        if k in rungs and alive:
            ranked = sorted(alive, key=lambda i: envs[i].run.val_loss)
            keep = max(1, len(ranked) // rf)
            for i in ranked[keep:]:
                run = envs[i].run
                stopped = {"val_loss": run.val_loss, "test_accuracy": math.nan, "finished": False}
                records.append({**stopped, **{u: getattr(run, u) for u in UNITS}})
            alive = ranked[:keep]
        if not alive:
            break
    return records


def run_controller(
    env_kwargs: dict[str, Any],
    seed: int,
    algo: str,
    *,
    n_envs: int = 1,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One episode per env through the agent loop (``rlcv train``); the best member by validation loss."""
    work = Path(tempfile.mkdtemp(prefix="rlcv-hpo-budget-"))
    try:
        log = work / "episodes.jsonl"
        env = _env(env_kwargs)
        steps = math.ceil(env.budget / env.steps_per_action) * n_envs
        run_dir = work / "run"
        config = {
            "env_kwargs": {**env_kwargs, "episode_log": str(log)},
            "n_envs": n_envs,
            **(overrides or {}),
        }
        wall = timed_train(algo, seed, steps, run_dir, config, ["bench", "hpo-budget", algo])
        records = read_log(log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finished = [r for r in records if r["steps_done"] >= r["budget"]] or records
    best = min(finished, key=lambda r: r["val_loss"])
    return _summary(best, records, _population_curve(records, best), wall, population=n_envs)


def _population_curve(records: list[dict[str, Any]], best: dict[str, Any]) -> list[list[float]]:
    """Anytime rows of runs that went side by side: at env step k the population has spent the sum of its
    members' rows k; the reported member's test accuracy is known at the end only."""
    length = max(len(r["curve"]) for r in records)
    curve = []
    for k in range(length):
        rows = [r["curve"][min(k, len(r["curve"]) - 1)] for r in records]
        cost = [float(sum(row[i] for row in rows)) for i in range(len(UNITS))]
        best_val = min(row[len(UNITS)] for row in rows)
        curve.append([*cost, best_val, best["test_accuracy"] if k == length - 1 else math.nan])
    for i in range(1, len(curve)):  # best so far
        curve[i][len(UNITS)] = min(curve[i][len(UNITS)], curve[i - 1][len(UNITS)])
    return curve


# Inner seeds PPO is meta-trained on: the env draws them from this range only, and the bench evaluates on
# seeds 0..N-1 with N below it, so no evaluation seed is ever seen in meta-training.
META_SEED_RANGE: tuple[int, int] = (1_000_000, 2_000_000)


def ppo_meta_train(
    env_kwargs: dict[str, Any],
    run_dir: Path,
    episodes: int,
    seed: int,
    n_steps: int | None = None,
    env_id: str = ENV_ID,
    steps_per_episode: int | None = None,
) -> dict[str, Any]:
    """Meta-train PPO through the loop (``rlcv train``) for ``episodes`` inner runs whose inner seeds the
    env draws from :data:`META_SEED_RANGE`; the policy stays in ``run_dir``. Returns the meta-training
    summary: the inner seeds seen, its compute in the env's units (amortised over every evaluation
    seed, so reported apart from the per-run charges) and a learning curve (final validation loss of
    each meta-training episode). ``n_steps``: PPO's rollout length (default: the preset's). ``env_id``:
    another env with the same episode log (``rlcv/ResidualHPO-v0``), whose env steps per episode
    ``steps_per_episode`` gives (PPO trains for ``episodes`` × that many env steps).

    Resumable: a run in ``run_dir`` that stopped after a checkpoint (``checkpoints/last.pt``, written
    after every PPO update) but before its final policy is continued with ``rlcv train --resume``, and
    the episode log is cut back to the episodes that checkpoint had seen (the interrupted rollout's
    episodes are collected again, from fresh inner seeds), up to ``episodes`` inner runs — so a finished
    meta-training whose policy file was removed can also be extended. ``wall_s`` is then the resumed
    part's."""
    from rlcv.config import preset

    if steps_per_episode is None:
        probe = _env(env_kwargs)
        steps_per_episode = math.ceil(probe.budget / probe.steps_per_action)
    steps = episodes * steps_per_episode
    # The preset's rollout spans several inner runs; never collect more than the meta-training budget.
    n_steps = min(n_steps or int(preset("ppo", env_id).get("n_steps", steps)), steps)
    log = run_dir.parent / f"{run_dir.name}.jsonl"
    resume_step = resume_point(run_dir)
    command = ["bench", "hpo-budget", "ppo-meta"]
    if resume_step is None:
        shutil.rmtree(run_dir, ignore_errors=True)  # a run that never reached a checkpoint
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        env = {**env_kwargs, "episode_log": str(log), "inner_seed_range": list(META_SEED_RANGE)}
        config = {"env_kwargs": env, "n_steps": n_steps}
        wall = timed_train("ppo", seed, steps, run_dir, config, command, env_id)
    else:
        trim_log(log, resume_step)
        wall = timed_resume(run_dir, command, steps if steps > resume_step else None)
    records = read_log(log)
    return {
        "episodes": len(records),
        "env_steps": steps,
        "train_seed": seed,
        "inner_seed_range": list(META_SEED_RANGE),
        "inner_seeds": [int(r["inner_seed"]) for r in records],
        "cost": {**_cost(records), "wall_s": wall},
        "val_loss": [float(r["val_loss"]) for r in records],
        **({"resumed_from_step": resume_step} if resume_step is not None else {}),
    }


def resume_point(run_dir: Path) -> int | None:
    """The env step of ``run_dir``'s last checkpoint when the run stopped before its final policy;
    ``None`` when there is nothing to resume (no run, no checkpoint, or a finished run)."""
    from rlcv import checkpoint
    from rlcv.run_dir import RunDir

    run = RunDir(run_dir)
    if run.final_policy is not None or not run.checkpoint().is_file() or not run.config.is_file():
        return None
    return int(checkpoint.load(run.checkpoint())["step"])


def trim_log(log: Path, step: int) -> None:
    """Keep the episode records a checkpoint at env step ``step`` had seen: each record's curve has one
    row per env step, so the episodes whose cumulative length stays within ``step`` (one env)."""
    kept, used = [], 0
    for record in read_log(log):
        used += len(record["curve"])
        if used > step:
            break
        kept.append(json.dumps(record))
    log.write_text("".join(line + "\n" for line in kept))


def timed_resume(run_dir: Path, command: list[str], steps: int | None) -> float:
    """``rlcv train --resume run_dir`` in-process, to ``steps`` (``None``: the run's own target); the
    seconds it took."""
    from rlcv.launch import ResumeRequest, resume

    start = time.perf_counter()
    resume(ResumeRequest(run_dir=str(run_dir), steps=steps, progress=False, command=command))
    return time.perf_counter() - start


def run_ppo(env_kwargs: dict[str, Any], seed: int, run_dir: Path, env: Any = None) -> dict[str, Any]:
    """The meta-trained PPO policy's deterministic (mode) actions on one run of inner seed ``seed``:
    charged like every other method (this episode's compute; wall-clock includes the policy).
    ``env``: the env the policy acts in (default ``rlcv/OnlineHPO-v0`` with ``env_kwargs``)."""
    import torch

    from rlcv.evaluation import load_policy

    _, policy, normalizer = load_policy(run_dir)
    start = time.perf_counter()
    env = _env(env_kwargs) if env is None else env
    raw, _ = env.reset(options={"inner_seed": seed})
    while True:
        with torch.no_grad():
            action = policy.mode(torch.from_numpy(normalizer(np.asarray(raw)[None])))[0].numpy()
        raw, _, terminated, truncated, info = env.step(policy.env_action(action))
        if terminated or truncated:
            break
    record = info["episode"]
    return _summary(record, [record], _population_curve([record], record), time.perf_counter() - start)


def dualcutout_step_cost(env_kwargs: dict[str, Any], steps: int = 100, repeats: int = 7) -> dict[str, Any]:
    """Wall-clock of a DualCutout SGD step over a single-cutout step on the same model and minibatches
    (batch 32): the median over ``repeats`` of the ratio of ``steps`` steps each, interleaved so machine
    load hits both alike. Both branches go through the model as one 2B batch, so it should stay near 2."""
    from functools import partial

    import torch

    from rlcv.envs.online_hpo import sgd_step

    envs = {r: _env(env_kwargs, regularizer=r) for r in ("cutout", "dualcutout")}
    X, y = envs["cutout"].data["train"]
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(y), (32,), generator=gen) for _ in range(steps)]
    ratios = []
    for rep in range(repeats):
        times = {}
        for r, env in envs.items():
            env.reset(options={"inner_seed": rep})
            run = env.run
            theta = run.theta
            t0 = time.perf_counter()
            for idx in batches:
                loss = partial(env._train_loss, X=X[idx], y=y[idx], gen=run.mask_gen)
                theta = sgd_step(
                    theta, loss, lr=0.1, weight_decay=1e-4, weight_mask=env.task.weight_mask
                ).theta
            times[r] = time.perf_counter() - t0
        ratios.append(times["dualcutout"] / times["cutout"])
    return {"ratio_median": float(np.median(ratios)), "ratios": ratios, "steps": steps, "batch_size": 32}

"""Issue 30's `rlcv bench hpo-budget` methods: those acting on a cosine schedule, and the
equal-examples baselines.

The controllers of ``results/hpo.md`` started at η = 0.01 and moved it by at most ×2 per decision, so on
the MNIST-1D CNN they never reached the useful range. The methods here run ``rlcv/OnlineHPO-v0`` with
``lr_schedule="cosine"`` (the controlled η scales a cosine schedule, so doing nothing is a plain cosine
run) and the batch size pinned at the env default (``batch_size_range`` = [32, 32]): one run of SGD
steps is one run of examples, so none of them buys accuracy with a bigger batch.

- ``hpo-range``: the range-test controller (:mod:`rlcv.agents.hpo.range_test`), η from 0.05 with a
  one-step reach over the whole ``lr_range`` (``max_factor`` 2¹⁰). Its settings
  (:data:`RANGE_CONFIG`) were chosen on tuning seeds (``results/hpo_tuning.md``).
- ``ppo-x``: PPO meta-trained *across tasks* — digits MLP and MNIST-1D MLP, drawn per episode
  (``meta_tasks``), inner seeds from :data:`~rlcv.hpo.runners.META_SEED_RANGE` — never on the
  MNIST-1D CNN, its held-out task. It acts on the cosine scale (×4 per decision at most, from
  η = 0.1) and on L2. The policy is trained once per ``--ppo-x-dir`` and shared by every bench.
- ``hpo-sweep``: a fine learning-rate sweep as the run's own warm-up, then a cosine schedule from the η
  it found (:mod:`rlcv.hpo.sweep_cosine`), batch pinned, sweep and run together one run of examples;
  its settings (:data:`SWEEP_CONFIG`) chosen on tuning seeds (``results/hpo_tuning.md``);
  ``hpo-sweep-r1``: the earlier choice of the same rule (:data:`SWEEP_R1_CONFIG`), kept as a row;
  ``hpo-sweep-fit``: round 3's choice (:data:`SWEEP_FIT_CONFIG`, tuning seeds 100–109): a longer sweep
  whose rate is read from trimmed local quadratics over the whole curve, not from its lowest read;
  ``hpo-sweep-fit-c1``: round 4's, the same with the vertex kept next to the valley's centre read.
- ``ppo-res``: a *residual* controller meta-trained by PPO across the same tasks as ``ppo-x``
  (:mod:`rlcv.envs.residual_hpo`): ``hpo-sweep-fit``'s run, whose cosine scale the policy may move
  by ×2 either way (an absolute log2 offset from η*, so a zero action is ``hpo-sweep-fit`` exactly).
  Policy trained once per ``--ppo-res-dir``.
- ``sh-2-b32``, ``pbt-2-b32``, ``pb2-2-b32``: successive halving within 2 runs, PBT and PB2 (our own,
  :mod:`rlcv.agents.hpo.pb2`: Ray Tune's needs ``ray[tune]``, not installed) with 2 members, all with
  the batch pinned, i.e. at 2 runs of examples (``sh-2`` / ``pbt-8`` pick batch sizes up to 512 and spend
  8–40 runs of examples).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# defined beside the sweep, whose residual env (rlcv/ResidualHPO-v0) reads them without this module
from rlcv.hpo.sweep_cosine import PINNED_BATCH, SWEEP_FIT_CONFIG

# Start and settings chosen on tuning seeds 100..104 of both MNIST-1D models (results/hpo_tuning.md lists
# every setting tried: starts 0.01 / 0.05, growth 2 / 4, backoff 1 / 2 / 3, a guard).
RANGE_ENV: dict[str, Any] = {**PINNED_BATCH, "lr_schedule": "cosine", "max_factor": 1024.0, "lr_init": 0.05}
RANGE_CONFIG: dict[str, Any] = {"growth": 2.0, "backoff": 1.0}
PPO_X_ENV: dict[str, Any] = {**PINNED_BATCH, "lr_schedule": "cosine", "max_factor": 4.0, "lr_init": 0.1}
PPO_X_TASKS: list[dict[str, str]] = [
    {"task": "digits", "network": "mlp"},
    {"task": "mnist1d", "network": "mlp"},
]
PBT2: dict[str, Any] = {"n_steps": 3, "perturb": [0.5, 2.0], "truncation": 0.5}
PB2_2: dict[str, Any] = {"n_steps": 3, "truncation": 0.5, "kappa": 1.0}
# Chosen on tuning seeds 100..104 of both MNIST-1D models (results/hpo_tuning.md lists every setting tried:
# factor 1 / 1.5 / 2, the refined pick or not, warm or cold start, a shorter sweep from 0.01, and on that
# a 3-read moving average or a guard 0.1, neither chosen).
SWEEP_CONFIG: dict[str, Any] = {"factor": 1.5, "refine": True, "lr_low": 0.01, "sweep_steps": 60, "every": 4}
# ``hpo-sweep-r1``: the setting the same rule chose before the short sweep was tried (sweep from 1e-3 over
# 100 SGD steps); it was evaluated first and stays on the pages as its own row.
SWEEP_R1_CONFIG: dict[str, Any] = {"factor": 1.5, "refine": True}
# ``hpo-sweep-fit`` (round 3): SWEEP_FIT_CONFIG, defined in rlcv.hpo.sweep_cosine.
# ``hpo-sweep-fit-c1`` (round 4): the same with the fitted vertex kept within one read of the valley's
# centre (``clip``), kept by the same rule on tuning seeds 100..139 (results/hpo_tuning.md, round 4).
SWEEP_FIT_C1_CONFIG: dict[str, Any] = {**SWEEP_FIT_CONFIG, "clip": 1}
# ``ppo-res``: the residual env's settings beside its inner kwargs (the sweep is hpo-sweep-fit's, its
# default); the tasks of its meta-training are ppo-x's (the MNIST-1D CNN held out). Set once, not tuned.
PPO_RES_ENV: dict[str, Any] = {"max_multiplier": 2.0}
PPO_RES_ID = "rlcv/ResidualHPO-v0"
# The online ones tune within one run (rlcv.hpo.method_results.ONLINE lists them after the controllers);
# the last three are the equal-examples baselines.
ONLINE_COSINE = (
    "hpo-range",
    "hpo-sweep",
    "hpo-sweep-r1",
    "hpo-sweep-fit",
    "hpo-sweep-fit-c1",
    "ppo-x",
    "ppo-res",
)
COSINE_METHODS = (*ONLINE_COSINE, "sh-2-b32", "pbt-2-b32", "pb2-2-b32")


def _inner(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The bench's env kwargs without the inner problem (task / model), which ppo-x's meta-training draws."""
    drop = ("task", "network", "model", "hidden_size", "channels")  # "model": the old key of "network"
    return {k: v for k, v in env_kwargs.items() if k not in drop}


def run_method(
    method: str,
    env_kwargs: dict[str, Any],
    seed: int,
    ppo_x_dir: Path,
    range_config: dict[str, Any],
    sweep_config: dict[str, Any] | None = None,
    ppo_res_dir: Path | None = None,
) -> dict[str, Any]:
    """One of :data:`COSINE_METHODS` on inner seed ``seed``: a per-run summary (:mod:`rlcv.hpo.runners`)."""
    from rlcv.hpo import runners as R
    from rlcv.hpo.sweep_cosine import run_sweep_cosine

    if method == "hpo-sweep":
        config = SWEEP_CONFIG if sweep_config is None else sweep_config
        return run_sweep_cosine({**env_kwargs, **PINNED_BATCH}, seed, config)
    if method == "hpo-sweep-r1":
        return run_sweep_cosine({**env_kwargs, **PINNED_BATCH}, seed, SWEEP_R1_CONFIG)
    if method == "hpo-sweep-fit":
        return run_sweep_cosine({**env_kwargs, **PINNED_BATCH}, seed, SWEEP_FIT_CONFIG)
    if method == "hpo-sweep-fit-c1":
        return run_sweep_cosine({**env_kwargs, **PINNED_BATCH}, seed, SWEEP_FIT_C1_CONFIG)

    if method == "hpo-range":
        # the bench's env kwargs may override the start (tuning passes lr_init; the evaluation does not)
        return R.run_controller({**RANGE_ENV, **env_kwargs}, seed, "hpo-range", overrides=range_config)
    if method == "ppo-x":
        return R.run_ppo({**env_kwargs, **PPO_X_ENV}, seed, ppo_x_dir / "runs" / "policy")
    if method == "ppo-res":
        from rlcv.envs.residual_hpo import ResidualHPOEnv

        if ppo_res_dir is None:
            raise ValueError("ppo-res needs the folder of its meta-training (ppo_res_dir)")
        env = ResidualHPOEnv(**PPO_RES_ENV, **env_kwargs)
        return R.run_ppo(env_kwargs, seed, ppo_res_dir / "runs" / "policy", env=env)
    if method == "sh-2-b32":
        return R.run_successive_halving({**env_kwargs, **PINNED_BATCH}, seed, 2.0)
    if method == "pbt-2-b32":
        return R.run_controller({**env_kwargs, **PINNED_BATCH}, seed, "hpo-pbt", n_envs=2, overrides=PBT2)
    if method == "pb2-2-b32":
        return R.run_controller({**env_kwargs, **PINNED_BATCH}, seed, "hpo-pb2", n_envs=2, overrides=PB2_2)
    raise ValueError(f"unknown method {method!r}; known: {', '.join(COSINE_METHODS)}")


def meta_train_ppo_x(
    env_kwargs: dict[str, Any], run_dir: Path, episodes: int, train_seed: int
) -> dict[str, Any]:
    """Meta-train ``ppo-x`` (policy in ``run_dir``) across :data:`PPO_X_TASKS`; only budget / steps per
    action (and other non-task kwargs) come from the bench's ``env_kwargs``. The meta-training summary
    of :func:`rlcv.hpo.runners.ppo_meta_train` plus the task of each meta-training episode."""
    from rlcv.hpo import runners as R

    kw = {**_inner(env_kwargs), **PPO_X_ENV, "meta_tasks": PPO_X_TASKS}
    meta = R.ppo_meta_train(kw, run_dir, episodes, train_seed)
    return {**meta, "meta_tasks": PPO_X_TASKS, "task_per_episode": _task_per_episode(run_dir)}


def meta_train_ppo_res(
    env_kwargs: dict[str, Any], run_dir: Path, episodes: int, train_seed: int
) -> dict[str, Any]:
    """Meta-train ``ppo-res`` (policy in ``run_dir``) on ``rlcv/ResidualHPO-v0`` across
    :data:`PPO_X_TASKS`, inner seeds from :data:`~rlcv.hpo.runners.META_SEED_RANGE`; as
    :func:`meta_train_ppo_x`. PPO runs for ``episodes`` × the env steps of a full-length sweep's run
    (a sweep that stops early leaves more steps, so a few episodes fewer may finish)."""
    import math

    from rlcv.hpo import runners as R
    from rlcv.hpo.sweep_cosine import make_config

    kw = {**_inner(env_kwargs), **PPO_RES_ENV, "meta_tasks": PPO_X_TASKS}
    sweep = make_config(SWEEP_FIT_CONFIG).sweep_steps
    per_episode = math.ceil((kw.get("budget", 1500) - sweep) / kw.get("steps_per_action", 50))
    meta = R.ppo_meta_train(
        kw, run_dir, episodes, train_seed, env_id=PPO_RES_ID, steps_per_episode=per_episode
    )
    return {**meta, "meta_tasks": PPO_X_TASKS, "task_per_episode": _task_per_episode(run_dir)}


def _task_per_episode(run_dir: Path) -> list[int]:
    from rlcv.hpo.runners import read_log

    return [int(r["meta_task"]) for r in read_log(run_dir.parent / f"{run_dir.name}.jsonl")]

r"""A residual learning-rate controller on a hand-designed schedule: ``rlcv/ResidualHPO-v0``.

Issue 30's fourth target asks for a meta-trained controller that is no worse than the best
hand-designed one on a task it never saw. ``ppo-x`` (:mod:`rlcv.hpo.cosine_methods`) had to find
the learning rate itself, from η = 0.1 by ×4 per decision, and on its held-out task (the MNIST-1D
CNN) it walked η down to ~0.01 (``results/hpo.md``). Here the controller only *modulates* the
hand-designed schedule, so doing nothing is that schedule, and what it learns is a correction:

One episode is one inner run of ``hpo-sweep`` (:mod:`rlcv.hpo.sweep_cosine`; default setting
``hpo-sweep-fit``'s). ``reset()`` runs the sweep from θ_0 and its pick η* (its SGD steps are charged to
the run), then every env step runs ``steps_per_action`` inner SGD steps of the cosine schedule over
the steps the sweep left, at scale η* · 2^{a_t}::

    η_k = η* · 2^{a_t} · ½(1 + cos(π (k + ½) / n)),   a_t ∈ [−A, A],  A = log2(max_multiplier)

(k: env step of the cosine run, n of them). The action is an *absolute* log2 offset from η*, not a
change of the previous rate: a = 0 at every step is exactly ``hpo-sweep``'s run (bit for bit, tested),
and an offset does not accumulate beyond ±A.

Observation (``float32 [7]``, :data:`RESIDUAL_OBS`), scale-free so that one policy reads MLPs and CNNs
with validation losses from 0.1 to 2.3 alike: progress of the cosine run ∈ [0, 1]; the previous
offset a_{t−1}; log(L_val / L_val at the start of the cosine run); log(L_val / L_val one env step
ago); log(train loss / L_val); train − validation accuracy; the mean cosine between consecutive
minibatch gradients (``OnlineHPO-v0``'s ``grad_cosine``).

Reward: log L_val(before) − log L_val(after) for the env step, so the return is
log L_val(start of the cosine run) − log L_val(final): with γ = 1 the controller maximises the
relative decrease of the final validation loss, comparable across tasks (a reward in raw loss would
weigh the MNIST-1D MLP, at loss ~1.2, 10× more than digits at ~0.1). A divergence ends the episode
with reward −``divergence_penalty``.

``meta_tasks`` (dicts of task / network, as ``OnlineHPO-v0``'s) draws one inner problem per episode;
inner seeds come from ``inner_seed_range``. ``episode_log`` receives one JSON line per finished
episode: ``OnlineHPO-v0``'s record with the sweep's compute added to every unit (sweep + run = one
run), ``meta_task``, ``lr_star`` and the offsets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

RESIDUAL_OBS: tuple[str, ...] = (
    "budget_used",
    "offset",
    "log_val_vs_start",
    "log_val_vs_last",
    "log_train_vs_val",
    "accuracy_gap",
    "grad_cosine",
)
_BOUND = 20.0  # log-ratio features are clipped here (a blow-up reads as large, never as inf / NaN)


class ResidualHPOEnv(gym.Env):
    """``hpo-sweep``'s run with a log2 offset of its cosine scale as the action (module docstring).

    Args:
        sweep_config: :class:`rlcv.hpo.sweep_cosine.SweepConfig` settings (JSON dict; default
            ``hpo-sweep-fit``'s, :data:`rlcv.hpo.sweep_cosine.SWEEP_FIT_CONFIG`); ``guard`` must be 0.
        max_multiplier: 2^A, the largest factor by which the scale may leave η* either way.
        meta_tasks: inner problems drawn per episode (task / network dicts); none: the inner kwargs' own.
        inner_seed_range: ``[lo, hi)`` of unpinned episodes' inner seeds.
        divergence_penalty: the reward of the step on which the run diverged is −divergence_penalty.
        episode_log: optional JSON-lines file, one record per finished episode.
        **inner: ``rlcv/OnlineHPO-v0`` kwargs of the inner run (budget, steps_per_action, task, …);
            the batch is pinned (``batch_size_range`` [32, 32]) unless given.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        sweep_config: dict[str, Any] | None = None,
        max_multiplier: float = 2.0,
        meta_tasks: Sequence[dict[str, Any]] | None = None,
        inner_seed_range: Sequence[int] = (0, 2**31 - 1),
        divergence_penalty: float = 2.0,
        episode_log: str | None = None,
        **inner: Any,
    ) -> None:
        from rlcv.hpo.sweep_cosine import PINNED_BATCH, SWEEP_FIT_CONFIG, make_config

        self.config = make_config(SWEEP_FIT_CONFIG if sweep_config is None else sweep_config)
        if self.config.guard:
            raise ValueError("sweep_config: guard must be 0 (the controller sets the scale itself)")
        if max_multiplier <= 1.0 or divergence_penalty < 0:
            raise ValueError(f"need max_multiplier > 1 and divergence_penalty >= 0, got {max_multiplier}")
        lo, hi = (int(v) for v in inner_seed_range)
        if not 0 <= lo < hi <= 2**31 - 1:
            raise ValueError(
                f"inner_seed_range must be [lo, hi) with 0 <= lo < hi < 2**31, got {inner_seed_range}"
            )
        self.inner_seed_range = (lo, hi)
        self.inner = {**PINNED_BATCH, **inner}
        self.tasks = [dict(t) for t in meta_tasks] if meta_tasks else [{}]
        self.bound = math.log2(float(max_multiplier))
        self.divergence_penalty = float(divergence_penalty)
        self.episode_log = Path(episode_log) if episode_log else None
        self.action_space = spaces.Box(-self.bound, self.bound, (1,), np.float32)
        low = np.array([0, -self.bound, -_BOUND, -_BOUND, -_BOUND, -1, -1], np.float32)
        high = np.array([1, self.bound, _BOUND, _BOUND, _BOUND, 1, 1], np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._low, self._high = low, high
        self.start: Any = None  # the SweepStart of the current episode

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """A new inner run: ``options`` may pin ``inner_seed`` and ``meta_task`` (an index of the tasks)."""
        from rlcv.hpo.sweep_cosine import start_after_sweep

        super().reset(seed=seed)
        options = options or {}
        task = options.get("meta_task")
        self.task_index = int(self.np_random.integers(len(self.tasks))) if task is None else int(task)
        if "inner_seed" in options:
            self.inner_seed = int(options["inner_seed"])
        else:
            self.inner_seed = int(self.np_random.integers(*self.inner_seed_range))
        kwargs = {**self.inner, **self.tasks[self.task_index]}
        self.start = start_after_sweep(kwargs, self.inner_seed, self.config)
        run = self.start.env.run
        self.val_start = self.val_last = float(run.val_loss)
        self.offsets: list[float] = []
        return self._obs({}), {"inner_seed": self.inner_seed, "meta_task": self.task_index}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        from rlcv.envs.online_hpo import OBS
        from rlcv.hpo.sweep_cosine import charge_sweep

        if self.start is None:
            raise RuntimeError("call reset() before step()")
        env = self.start.env
        a = float(
            np.clip(np.nan_to_num(np.asarray(action, np.float64).reshape(-1)[0]), -self.bound, self.bound)
        )
        self.offsets.append(a)
        step = np.zeros(env.action_space.shape, np.float32)
        # the env's action is a log2 change of its current scale: from there to η* · 2^a (0 when a
        # repeats, so a = 0 throughout is hpo-sweep's run exactly)
        step[0] = math.log2(self.start.lr_star * 2.0**a / env.hparams()["lr"])
        raw, _, terminated, truncated, info = env.step(step)
        val = float(env.run.val_loss)
        diverged = bool(info.get("diverged")) or not math.isfinite(val)
        reward = -self.divergence_penalty if diverged else math.log(self.val_last) - math.log(val)
        obs = self._obs(
            {
                "log_val_vs_start": _log_ratio(val, self.val_start),
                "log_val_vs_last": _log_ratio(val, self.val_last),
                "log_train_vs_val": _log_ratio(float(raw[OBS["train_loss"]]), val),
                "accuracy_gap": float(raw[OBS["train_accuracy"]] - raw[OBS["val_accuracy"]]),
                "grad_cosine": float(raw[OBS["grad_cosine"]]),
            }
        )
        if not diverged:
            self.val_last = val
        out: dict[str, Any] = {"diverged": diverged}
        if terminated or truncated:
            record = charge_sweep(info["episode"], self.start.probe["spent"])
            record = {
                **record,
                "meta_task": self.task_index,
                "lr_star": self.start.lr_star,
                "offsets": self.offsets,
            }
            out["episode"] = record
            if self.episode_log is not None:
                self.episode_log.parent.mkdir(parents=True, exist_ok=True)
                with self.episode_log.open("a") as f:
                    f.write(json.dumps(record, default=float) + "\n")
        return obs, float(reward), bool(terminated), bool(truncated), out

    def _obs(self, stats: dict[str, float]) -> np.ndarray:
        env = self.start.env
        values = {
            "budget_used": env.run.steps_done / env.budget,
            "offset": self.offsets[-1] if self.offsets else 0.0,
        }
        values.update(stats)
        obs = np.nan_to_num(np.asarray([values.get(k, 0.0) for k in RESIDUAL_OBS], np.float64), nan=0.0)
        return np.clip(obs, self._low, self._high).astype(np.float32)


def _log_ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0 or b <= 0:
        return _BOUND
    return float(np.clip(math.log(a / b), -_BOUND, _BOUND))

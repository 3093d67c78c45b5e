r"""``hpo-pb2``: population-based bandits (Parker-Holder et al., 2020), our own implementation.

Ray Tune's PB2 cannot run here (the environment has Ray core without ``ray[tune]``, and a Ray cluster
on two shared cores is out of proportion with runs of seconds), so this is PB2's rule on the loop's
synchronous PBT (:mod:`.pbt`): exploit as PBT (the bottom ``truncation`` copies a top member), but
*explore* by a bandit instead of random perturbation. Every round records, per member,
x = (budget used, log η, log λ_wd) of the round just finished and y = its validation-loss decrease
over the round; a Gaussian process on (x, y) (scikit-learn, RBF + white noise on standardised y)
scores ``candidates`` random configurations at the current budget used by UCB, μ + ``kappa``·σ, and
each copied member takes the best one not already taken this round. The data is the run's own
(restarted every episode): PB2's time-varying GP in its simplest form (time as an input, no
forgetting kernel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlcv.agents.hpo.pbt import PBTAgent, PBTConfig
from rlcv.config import check
from rlcv.errors import RlcvError
from rlcv.rollout import RolloutBatch

_SEARCHED = ("lr", "weight_decay")


@dataclass(kw_only=True)
class PB2Config(PBTConfig):
    kappa: float = 1.0  # UCB exploration weight
    candidates: int = 256  # random configurations scored per copied member

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.kappa >= 0.0 and self.candidates >= 1, "need kappa >= 0 and candidates >= 1")


class PB2Agent(PBTAgent):
    config_cls = PB2Config
    config: PB2Config
    algo = "hpo-pb2"
    metric_names = (*PBTAgent.metric_names, "pb2_points")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_x: list[list[float]] = []
        self.data_y: list[float] = []
        self.last: list[dict[str, Any]] | None = None
        self.queue: list[tuple[float, float]] = []
        space = kwargs["observation_space"]
        from rlcv.envs.online_hpo import OBS

        # log10 bounds of η and λ_wd from the observation space, as natural logs
        self.bounds = {
            h: (float(space.low[OBS[f]]) * math.log(10), float(space.high[OBS[f]]) * math.log(10))
            for h, f in (("lr", "log10_lr"), ("weight_decay", "log10_weight_decay"))
        }

    def _record(self, states: list[dict[str, Any]]) -> None:
        """(x, y) of the round that just ended, for members that kept their run (same progress line)."""
        if self.last is None or any(s["steps_done"] == 0 for s in states):
            self.data_x, self.data_y = [], []  # a new episode: a new inner run
        elif len(self.last) == len(states):
            for before, now in zip(self.last, states, strict=True):
                if math.isfinite(now["val_loss"]) and now["steps_done"] > before["steps_done"]:
                    self.data_x.append(self._x(before))
                    self.data_y.append(before["val_loss"] - now["val_loss"])
        self.last = [dict(s) for s in states]

    def _x(self, state: dict[str, Any]) -> list[float]:
        return [float(state["steps_done"]), *(math.log(state[h]) for h in _SEARCHED)]

    def _suggest(self, t: float, n: int) -> list[tuple[float, float]]:
        """n configurations (η, λ_wd) by UCB of the GP at budget position t (random without data)."""
        lo = np.array([self.bounds[h][0] for h in _SEARCHED])
        hi = np.array([self.bounds[h][1] for h in _SEARCHED])
        u = torch.rand(self.config.candidates, len(_SEARCHED), dtype=torch.float64).numpy()
        cand = lo + u * (hi - lo)
        if len(self.data_y) < 3:
            picks = list(range(n))
        else:
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, WhiteKernel

            x = np.asarray(self.data_x, float)
            scale = np.array([max(x[:, 0].max(), 1.0), *(hi - lo)])
            y = np.asarray(self.data_y, float)
            y = (y - y.mean()) / (y.std() + 1e-12)
            gp = GaussianProcessRegressor(
                RBF(np.ones(3)) + WhiteKernel(0.1), normalize_y=False, random_state=0
            )
            gp.fit(x / scale, y)
            query = np.column_stack([np.full(len(cand), t), cand]) / scale
            mu, sd = gp.predict(query, return_std=True)
            picks = list(np.argsort(-(mu + self.config.kappa * sd))[:n])
        return [(math.exp(cand[i, 0]), math.exp(cand[i, 1])) for i in picks]

    def explore(self, state: dict[str, Any], factors: torch.Tensor) -> dict[str, Any]:
        """PB2's explore: the next configuration the bandit proposed for this round."""
        lr, wd = self.queue.pop(0)
        return {**state, "lr": lr, "weight_decay": wd}

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        if self.hooks is None:
            raise RlcvError("hpo-pb2 needs the loop's env hooks; run it with `rlcv train`.")
        states = self.hooks.member_states()
        self._record(states)
        top = max(1, math.ceil(self.config.truncation * len(states)))
        self.queue = self._suggest(float(max(s["steps_done"] for s in states)), top)
        metrics = super().adapt(batch)  # PBT's round; its explore step is the one above
        self.last = [dict(s) for s in self.hooks.member_states()]  # after the copies
        return {**metrics, "pb2_points": float(len(self.data_y))}

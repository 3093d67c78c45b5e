"""``ppo-oracle``: PPO whose policy gradient averages over r× the samples (`rlcv bench oracle`).

It measures what an unbiased r× variance reduction of the *policy* gradient can buy. Per update the
agent collects, besides the loop's counted rollout, a rollout of the same length from
(r − 1)·n_envs further envs (``BindContext.uncounted_collector``: run by the same, pre-update
policy with the same, frozen, normaliser statistics; the loop never counts their steps or episodes).
The extra batch gets its advantages from the same estimator (``estimator.prepare`` on it alone, so
the counted samples' advantages are bit-for-bit those of plain PPO, and each batch is normalised
over its own samples, as plain PPO's is). Minibatch j of an epoch is then its usual ``batch_size``
counted samples (indices ``idx``) plus (r − 1)·|idx| extra samples (indices ``xidx``, a separate
permutation of the extra batch, drawn right after the counted one):

    L = −mean_{idx ∪ xidx} min(ρ Â, clip(ρ, 1 ± ε) Â) − c_ent · mean_{idx ∪ xidx} H[π]
        + c_v · mean_{idx} (V(s) − R)²,

so the critic trains on the counted samples only, and the number of minibatches per epoch, the
learning rate and the clipping are unchanged: only the policy gradient's variance changes.
``approx_kl`` and ``clip_fraction`` are over all policy samples. ``oracle_ratio = 1`` is plain PPO,
draw for draw.

Before this agent existed the same runs were ``--algo ppo --set oracle_ratio=r``; that spelling
still works (one deprecation line, :mod:`rlcv.legacy`) and trains this agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import torch

from rlcv.agents.ppo import PPO, PolicySamples, PPOConfig, flat_samples
from rlcv.config import check
from rlcv.env_hooks import BindContext, UncountedRollouts
from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorTerms
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class PPOOracleConfig(PPOConfig):
    oracle_ratio: int = setting(
        4, "r: the policy gradient averages over r× the counted samples (the extra ones uncounted; 1 = PPO)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            isinstance(self.oracle_ratio, int) and self.oracle_ratio >= 1,
            f"oracle_ratio must be an integer >= 1 (1: plain PPO), got {self.oracle_ratio!r}",
        )
        check(
            self.oracle_ratio == 1 or self.estimator == "gae",
            f"oracle_ratio > 1 needs estimator 'gae' (extra samples carry no pathwise term), "
            f"got estimator '{self.estimator}'",
        )


class PPOOracle(PPO):
    config_cls = PPOOracleConfig
    config: PPOOracleConfig
    algo = "ppo-oracle"

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: PPOOracleConfig
    ) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        self.extra: UncountedRollouts | None = None  # the (r − 1)·n_envs uncounted envs, from bind
        self._extra_batch: PolicySamples | None = None  # this update's extra samples, during learn

    def bind(self, context: BindContext) -> None:
        ratio = self.config.oracle_ratio
        if ratio > 1:
            if context.uncounted_collector is None:
                raise RlcvError(
                    f"ppo-oracle with oracle_ratio={ratio} needs uncounted envs, which only the native "
                    "training loop (`rlcv train`) offers; drive it through that loop, or use --algo ppo."
                )
            self.extra = context.uncounted_collector((ratio - 1) * self.config.n_envs)
        super().bind(context)

    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        # Collected before the epochs' permutations are drawn (its actions draw from torch's RNG).
        self._extra_batch = self._extra_samples(batch) if self.extra is not None else None
        try:
            return super().learn(batch, terms)
        finally:
            self._extra_batch = None

    def minibatches(self, counted: PolicySamples) -> Iterator[tuple[torch.Tensor, PolicySamples]]:
        """PPO's minibatches, each followed by (r − 1)× as many extra samples (module docstring)."""
        extra = self._extra_batch
        if extra is None:
            yield from super().minibatches(counted)
            return
        perm = torch.randperm(len(counted.obs))
        extra_perm = torch.randperm(len(extra.obs))
        r1, size = self.config.oracle_ratio - 1, self.config.batch_size
        for start in range(0, len(perm), size):
            idx = perm[start : start + size]
            xidx = extra_perm[start * r1 : (start + len(idx)) * r1]
            yield idx, counted.take(idx).cat(extra.take(xidx))

    def _extra_samples(self, batch: RolloutBatch) -> PolicySamples:
        """The (r − 1)·T·N extra policy samples of this update, flat, with their advantages."""
        assert self.extra is not None
        rollout = self.extra.collect(batch.n_steps)
        # The same estimator on the extra batch alone (critic values at collection time, no grad):
        # the counted batch's advantages stay exactly plain PPO's. Its stats are not logged.
        terms = self.estimator.prepare(rollout, policy=self.policy, value_fn=self.critic)
        return PolicySamples(*flat_samples(rollout), terms.advantages)

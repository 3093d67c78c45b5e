"""Rollout storage and advantage estimation.

A :class:`RolloutBatch` holds T steps of N parallel envs, everything estimators need:

========================  ===================  ==============================================
field                     shape                meaning
========================  ===================  ==============================================
obs                       [T, N, obs_dim]      normalised observation the policy saw
next_obs                  [T, N, obs_dim]      normalised *true* next observation (also the
                                               final observation at termination/truncation)
raw_obs, raw_next_obs     [T, N, obs_dim]      the same before normalisation (dynamics models)
actions                   [T, N, G, *a]        G actions drawn for the same observation;
                                               member 0 is the one the env executed
log_probs                 [T, N, G]            log π_old(a|s) at collection time
noise                     [T, N, G, *ξ]        the policy noise that produced each action
rewards                   [T, N]               (scaled) reward used for learning
raw_rewards               [T, N]               reward as the env returned it
group_rewards             [T, N, G]            reward of every group member (G > 1 only)
terminated, truncated     [T, N] bool          kept apart: truncation still bootstraps
episode_step              [T, N] int           steps already taken in the episode before t
time_limit                int or None          the env's max_episode_steps (TimeLimit)
========================  ===================  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class RolloutBatch:
    obs: torch.Tensor
    next_obs: torch.Tensor
    raw_obs: torch.Tensor
    raw_next_obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    noise: torch.Tensor
    rewards: torch.Tensor
    raw_rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    group_rewards: torch.Tensor | None = None
    episode_step: torch.Tensor | None = None
    time_limit: int | None = None

    @property
    def n_steps(self) -> int:
        return self.obs.shape[0]

    @property
    def n_envs(self) -> int:
        return self.obs.shape[1]

    @property
    def group_size(self) -> int:
        return self.actions.shape[2]

    @property
    def dones(self) -> torch.Tensor:
        return self.terminated | self.truncated

    def to(self, dtype: torch.dtype) -> RolloutBatch:
        """Cast floating fields (e.g. to float64 for exact-gradient tests)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            is_float = isinstance(value, torch.Tensor) and value.is_floating_point()
            out[f.name] = value.to(dtype) if is_float else value
        return RolloutBatch(**out)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    *,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over [T, N] tensors.

    δ_t = r_t + γ (1 − terminated_t) V(s'_t) − V(s_t), where s'_t is the true next observation, so
    a time-limit truncation bootstraps from the final observation and a termination does not.
    Â_t = δ_t + γ λ (1 − done_t) Â_{t+1}; the recursion is cut at every episode end.

    Returns (advantages, returns) with returns = Â + V (the value-function target).
    """
    not_term = (~terminated).to(values.dtype)
    not_done = (~(terminated | truncated)).to(values.dtype)
    deltas = rewards + gamma * not_term * next_values - values
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[0])
    for t in range(values.shape[0] - 1, -1, -1):  # O(T) recursion; T ≤ a few thousand
        last = deltas[t] + gamma * gae_lambda * not_done[t] * last
        advantages[t] = last
    return advantages, advantages + values

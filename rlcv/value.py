"""Learned functions other than the policy: the state-value function V(s)."""

from __future__ import annotations

import torch
from torch import nn

from rlcv.policies import mlp


class ValueFunction(nn.Module):
    """V(s): an MLP from a normalised observation [B, obs_dim] to a value [B]."""

    def __init__(
        self, obs_dim: int, *, hidden_sizes: list[int], activation: str = "tanh", ortho_init: bool = True
    ) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, 1], activation, ortho_init, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)

"""Policies: a distribution over actions given a (normalised) observation.

Every policy samples from explicit noise and returns it, so an action can be replayed exactly:

- :class:`GaussianPolicy` — a = μ_θ(s) + σ_θ ⊙ ξ, ξ ~ N(0, I), state-independent log σ. The
  action is a differentiable function of θ for fixed ξ (reparameterisation), and ξ is recovered
  from (s, a) by ξ = (a − μ_θ(s)) / σ_θ — what model-based control variates replay.
- :class:`SquashedGaussianPolicy` — the same Gaussian pushed through tanh and rescaled to the Box
  bounds (SB3's ``squash_output``): actions never leave the box, log-probs carry the Jacobian.
- :class:`CategoricalPolicy` — Gumbel-max: a = argmax(logits + g), g ~ Gumbel(0, 1).
- :class:`BernoulliPolicy` — MultiBinary: a_i = 1[u_i < sigmoid(logit_i)], u ~ U(0, 1).
- :class:`MultiCategoricalPolicy` — MultiDiscrete: one Gumbel-max categorical per dimension.

Shapes: ``obs`` is [B, obs_dim]; a group of G actions per observation is [B, G, *action_shape].

What estimators may ask of a policy beyond the score function is typed here, not reached into:
:class:`Reparameterised` (``action_from_noise``: the Gaussians) and :class:`Relaxable`
(``relaxed_action``: the binary-concrete / Gumbel-softmax relaxation of a discrete sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, runtime_checkable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlcv.errors import RlcvError

LOG_2PI = math.log(2.0 * math.pi)


def mlp(sizes: list[int], activation: str, ortho_init: bool, out_gain: float) -> nn.Sequential:
    """An MLP with orthogonal init (gain √2 hidden, ``out_gain`` output) as in SB3 / CleanRL."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if ortho_init:
            last = i == len(sizes) - 2
            nn.init.orthogonal_(linear.weight, gain=out_gain if last else math.sqrt(2.0))
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@dataclass
class PolicySample:
    """Actions drawn for a batch of observations, with the noise that produced them."""

    action: torch.Tensor  # [B, G, *action_shape]
    log_prob: torch.Tensor  # [B, G]
    noise: torch.Tensor  # [B, G, *noise_shape]


class Policy(nn.Module):
    """Interface shared by all policies (see module docstring)."""

    action_shape: tuple[int, ...]
    noise_shape: tuple[int, ...]
    action_dtype: torch.dtype = torch.float32

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        raise NotImplementedError

    def act(self, obs: np.ndarray, group_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``sample`` for the collector: numpy in, (action, log_prob, noise) numpy out, no autograd."""
        with torch.no_grad():
            s = self.sample(torch.from_numpy(obs), group_size)
        return s.action.numpy(), s.log_prob.numpy(), s.noise.numpy()

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log π(a|s); ``action`` is [B, *action_shape] → [B] or [B, G, *action_shape] → [B, G]."""
        raise NotImplementedError

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action used for evaluation, [B, *action_shape]."""
        raise NotImplementedError

    def env_action(self, action: np.ndarray) -> np.ndarray:
        """Map a stored action to what the env accepts (e.g. clip to the Box bounds)."""
        return action

    # TRPO needs the exact Hessian of KL(π_old ‖ π_θ), so each policy exposes the parameters of
    # π(·|s) and the closed-form mean KL between two such parameter tuples.
    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Mean over the batch of KL(old ‖ new)."""
        raise NotImplementedError


@runtime_checkable
class Reparameterised(Protocol):
    """A policy whose action is a differentiable function a_θ(s, ξ) of the stored noise ξ."""

    def action_from_noise(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Relaxable(Protocol):
    """A discrete policy with a continuous relaxation of the sample its stored noise produced."""

    def relaxed_action(
        self, obs: torch.Tensor, noise: torch.Tensor, *, temperature: float, straight_through: bool
    ) -> torch.Tensor: ...


def _straight_through(y: torch.Tensor, hard: torch.Tensor, straight_through: bool) -> torch.Tensor:
    """Forward the hard sample, backward the relaxed gradient (x = hard + y − sg(y)), or y itself."""
    return hard + y - y.detach() if straight_through else y


class _LogitsPolicy(Policy):
    """Discrete policies whose ``dist_params`` are normalised log-probabilities [B, ..., n]."""

    action_dtype = torch.long
    start: np.ndarray | int = 0  # Discrete / MultiDiscrete spaces may start at a value other than 0

    def env_action(self, action: np.ndarray) -> np.ndarray:
        # Policies index categories from 0; the env's first action is ``start``.
        return action + self.start

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        logp0, logp1 = old[0], new[0]
        finite = torch.isfinite(logp0)  # padded MultiDiscrete categories have probability 0
        kl = torch.where(finite, logp0.exp() * (logp0 - logp1), torch.zeros_like(logp0))
        return kl.reshape(kl.shape[0], -1).sum(-1).mean()


class GaussianPolicy(Policy):
    """Diagonal Gaussian with an MLP mean and a state-independent log-std parameter."""

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Box,
        *,
        hidden_sizes: list[int],
        activation: str = "tanh",
        ortho_init: bool = True,
        log_std_init: float = 0.0,
    ) -> None:
        super().__init__()
        act_dim = int(np.prod(action_space.shape))
        self.action_shape = (act_dim,)
        self.noise_shape = (act_dim,)
        self.mean_net = mlp([obs_dim, *hidden_sizes, act_dim], activation, ortho_init, out_gain=0.01)
        self._activation = activation
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
        self._clip = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        self._low, self._high = low.astype(np.float32), high.astype(np.float32)

    def mean(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean_net(obs)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        mu = self.mean_net(obs).unsqueeze(1)  # [B, 1, A]
        noise = torch.randn(mu.shape[0], group_size, mu.shape[-1], dtype=mu.dtype)
        action = mu + self.log_std.exp() * noise
        log_prob = -0.5 * (noise.pow(2) + LOG_2PI).sum(-1) - self.log_std.sum()
        return PolicySample(action=action, log_prob=log_prob, noise=noise)

    def act(self, obs: np.ndarray, group_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Acting is one tiny forward per env step; torch's per-op dispatch costs more than the
        # matmuls, so the mean MLP runs in numpy on views of the same weights (no copies, always
        # current). The noise still comes from torch's RNG, so seeding and checkpoints are unchanged.
        *layers, log_std = self._numpy_views()
        x = obs.astype(np.float32, copy=False)
        for i in range(0, len(layers), 2):
            x = x @ layers[i].T + layers[i + 1]
            if i < len(layers) - 2:
                x = np.tanh(x) if self._activation == "tanh" else np.maximum(x, 0.0)
        mu = x[:, None, :]
        noise = torch.randn(mu.shape[0], group_size, mu.shape[-1]).numpy()
        action = mu + np.exp(log_std) * noise
        log_prob = -0.5 * (noise * noise + LOG_2PI).sum(-1) - log_std.sum()
        return action.astype(np.float32), log_prob.astype(np.float32), noise

    def _numpy_views(self) -> list[np.ndarray]:
        """Numpy views of [W1, b1, ..., Wn, bn, log_std], rebuilt only when a parameter's storage moved."""
        params = self.__dict__.get("_param_list")
        if params is None:  # Parameter objects keep their identity; only their storage can change
            params = self.__dict__["_param_list"] = [*self.mean_net.parameters(), self.log_std]
        key = tuple(p.data_ptr() for p in params)
        if self.__dict__.get("_views_key") != key:  # e.g. load_state_dict, vector_to_parameters
            self.__dict__["_views"] = [p.detach().numpy() for p in params]
            self.__dict__["_views_key"] = key
        return self.__dict__["_views"]

    def _mean_like(self, obs: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """μ_θ(s) [B, A], or [B, 1, A] when ``other`` holds a group of G per observation [B, G, A]."""
        mu = self.mean_net(obs)
        return mu.unsqueeze(1) if other.dim() == mu.dim() + 1 else mu

    def action_from_noise(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """a_θ(s, ξ) = μ_θ(s) + σ_θ ⊙ ξ — differentiable in θ (the reparameterised action)."""
        return self._mean_like(obs, noise) + self.log_std.exp() * noise

    def noise_from_action(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """ξ = (a − μ_θ(s)) / σ_θ: the noise that makes this policy produce ``action`` at ``obs``."""
        return (action - self._mean_like(obs, action)) / self.log_std.exp()

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        z = (action - self._mean_like(obs, action)) / self.log_std.exp()
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1) - self.log_std.sum()

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        ent = (0.5 * (1.0 + LOG_2PI) + self.log_std).sum()
        return ent.expand(obs.shape[0])

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean_net(obs)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.mean_net(obs), self.log_std.expand(obs.shape[0], -1)

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        (mu0, ls0), (mu1, ls1) = old, new
        kl = ls1 - ls0 + (torch.exp(2 * ls0) + (mu0 - mu1).pow(2)) / (2 * torch.exp(2 * ls1)) - 0.5
        return kl.sum(-1).mean()

    def env_action(self, action: np.ndarray) -> np.ndarray:
        # The stored action stays unclipped so log-probs and replayed noise remain exact; only
        # what the simulator sees is clipped (as SB3 does).
        return np.clip(action, self._low, self._high) if self._clip else action


# Gauss-Hermite rule for E[f(u)], u ~ N(μ, σ²): Σ_k w_k/√π f(μ + σ√2 x_k); 32 nodes are exact for
# polynomials of degree 63 and ample for the smooth log-Jacobian of tanh.
_GH_NODES, _GH_WEIGHTS = (torch.from_numpy(v.astype(np.float32)) for v in np.polynomial.hermite.hermgauss(32))


class SquashedGaussianPolicy(GaussianPolicy):
    """A tanh-squashed diagonal Gaussian rescaled to a bounded Box (SB3's ``squash_output``).

    u = μ_θ(s) + σ_θ ⊙ ξ and a = c + h ⊙ tanh(u), with c, h the centre and half-width of the box, so
    log π(a|s) = log N(u; μ, σ²) − Σ_i log(h_i (1 − tanh² u_i)) (change of variables). The stored
    noise is still ξ, so ``action_from_noise`` is exact and differentiable. Why: a clipped Gaussian
    whose mean leaves the box maps every draw to the same corner, and the clip's gradient cannot pull
    it back; here every action lies strictly inside (in exact arithmetic) and moves with θ.
    """

    def __init__(self, obs_dim: int, action_space: gym.spaces.Box, **kwargs: Any) -> None:
        """``kwargs``: those of :class:`GaussianPolicy` (network sizes, activation, init)."""
        super().__init__(obs_dim, action_space, **kwargs)
        if not self._clip:
            raise RlcvError(
                f"squash_output needs a Box with finite bounds, got {action_space}; "
                f"set squash_output=false for unbounded actions."
            )
        self._centre_np = (self._low + self._high) / 2
        self._half_np = (self._high - self._low) / 2
        self._centre, self._half = torch.from_numpy(self._centre_np), torch.from_numpy(self._half_np)

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        return self._centre + self._half * torch.tanh(u)

    def _unsquash(self, action: torch.Tensor) -> torch.Tensor:
        # Stored actions at a float32-saturated bound (tanh(u) == ±1) are clamped inside, as SB3's
        # TanhBijector does, so their log-prob is finite.
        eps = torch.finfo(action.dtype).eps
        return torch.atanh(((action - self._centre) / self._half).clamp(-1 + eps, 1 - eps))

    def _log_det(self, u: torch.Tensor) -> torch.Tensor:
        """Σ_i log |da_i/du_i| = Σ_i log h_i + 2 (log 2 − u_i − softplus(−2 u_i)), stable for large |u|."""
        log_dtanh = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return (torch.log(self._half) + log_dtanh).sum(-1)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        s = super().sample(obs, group_size)  # s.action is the pre-squash u
        return PolicySample(
            action=self._squash(s.action), log_prob=s.log_prob - self._log_det(s.action), noise=s.noise
        )

    def act(self, obs: np.ndarray, group_size: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u, log_prob, noise = super().act(obs, group_size)
        log_dtanh = 2.0 * (math.log(2.0) - u - np.logaddexp(0.0, -2.0 * u))
        log_prob = log_prob - (np.log(self._half_np) + log_dtanh).sum(-1)
        action = self._centre_np + self._half_np * np.tanh(u)
        return action.astype(np.float32), log_prob.astype(np.float32), noise

    def action_from_noise(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """a_θ(s, ξ) = c + h ⊙ tanh(μ_θ(s) + σ_θ ⊙ ξ)."""
        return self._squash(super().action_from_noise(obs, noise))

    def noise_from_action(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return super().noise_from_action(obs, self._unsquash(action))

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        u = self._unsquash(action)
        return super().log_prob(obs, u) - self._log_det(u)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        """H(a) = H(u) + E[Σ_i log |da_i/du_i|], the expectation by Gauss-Hermite quadrature
        (deterministic, so logging it draws nothing from the RNG)."""
        mu = self.mean_net(obs).unsqueeze(-1)  # [B, A, 1]
        u = mu + (self.log_std.exp() * math.sqrt(2.0)).unsqueeze(-1) * _GH_NODES  # [B, A, K]
        log_dtanh = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        expected = (log_dtanh * _GH_WEIGHTS).sum(-1) / math.sqrt(math.pi)  # [B, A]
        return super().entropy(obs) + (torch.log(self._half) + expected).sum(-1)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self._squash(self.mean_net(obs))

    # dist_params / kl: those of the Gaussian on u. KL is invariant under the bijection u ↦ a.


def _gumbel_like(shape: tuple[int, ...]) -> torch.Tensor:
    u = torch.rand(shape).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


class CategoricalPolicy(_LogitsPolicy):
    """Categorical over ``n`` actions sampled by Gumbel-max (the Gumbel draw is the noise)."""

    def __init__(
        self,
        obs_dim: int,
        n: int,
        *,
        hidden_sizes: list[int],
        activation: str = "tanh",
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        self.n = n
        self.action_shape = ()
        self.noise_shape = (n,)
        self.logits_net = mlp([obs_dim, *hidden_sizes, n], activation, ortho_init, out_gain=0.01)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        logits = torch.log_softmax(self.logits_net(obs), -1).unsqueeze(1)  # [B, 1, n]
        noise = _gumbel_like((logits.shape[0], group_size, self.n))
        action = (logits + noise).argmax(-1)
        log_prob = logits.expand(-1, group_size, -1).gather(-1, action.unsqueeze(-1)).squeeze(-1)
        return PolicySample(action=action, log_prob=log_prob, noise=noise)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        logits = torch.log_softmax(self.logits_net(obs), -1)
        if action.dim() == 2:
            logits = logits.unsqueeze(1).expand(-1, action.shape[1], -1)
        return logits.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(self.logits_net(obs), -1)
        return -(logp.exp() * logp).sum(-1)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.logits_net(obs).argmax(-1)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.log_softmax(self.logits_net(obs), -1),)


class MultiCategoricalPolicy(_LogitsPolicy):
    """Independent categoricals for a MultiDiscrete space (padding logits of short dims masked)."""

    pad_mask: torch.Tensor  # registered buffer [d, n_max], True past each dimension's category count

    def __init__(
        self,
        obs_dim: int,
        nvec: np.ndarray,
        *,
        hidden_sizes: list[int],
        activation: str = "tanh",
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        nvec = np.asarray(nvec).reshape(-1)
        self.d, self.n_max = len(nvec), int(nvec.max())
        self.action_shape = (self.d,)
        self.noise_shape = (self.d, self.n_max)
        mask = torch.arange(self.n_max)[None, :] >= torch.as_tensor(nvec)[:, None]
        self.register_buffer("pad_mask", mask, persistent=False)
        self.logits_net = mlp([obs_dim, *hidden_sizes, self.d * self.n_max], activation, ortho_init, 0.01)

    def _log_probs(self, obs: torch.Tensor) -> torch.Tensor:
        logits = self.logits_net(obs).view(-1, self.d, self.n_max).masked_fill(self.pad_mask, -torch.inf)
        return torch.log_softmax(logits, -1)  # [B, d, n_max]

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        logp = self._log_probs(obs).unsqueeze(1)  # [B, 1, d, n]
        noise = _gumbel_like((logp.shape[0], group_size, self.d, self.n_max))
        action = (logp + noise).argmax(-1)  # [B, G, d]
        chosen = logp.expand(-1, group_size, -1, -1).gather(-1, action.unsqueeze(-1)).squeeze(-1)
        return PolicySample(action=action, log_prob=chosen.sum(-1), noise=noise)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        logp = self._log_probs(obs)
        if action.dim() == 3:
            logp = logp.unsqueeze(1).expand(-1, action.shape[1], -1, -1)
        return logp.gather(-1, action.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        logp = self._log_probs(obs)
        p = logp.exp()
        return -(p * logp.masked_fill(self.pad_mask, 0.0)).sum((-1, -2))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self._log_probs(obs).argmax(-1)

    def relaxed_action(
        self, obs: torch.Tensor, noise: torch.Tensor, *, temperature: float, straight_through: bool
    ) -> torch.Tensor:
        """Gumbel-softmax y = softmax((log π + γ) / τ) [B, G, d, n] from the collected Gumbel noise γ,
        so that argmax y is exactly the collected action."""
        logp = self._log_probs(obs).unsqueeze(1)  # [B, 1, d, n]
        y = torch.softmax((logp + noise) / temperature, dim=-1)
        hard = nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
        return _straight_through(y, hard, straight_through)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self._log_probs(obs),)


class BernoulliPolicy(_LogitsPolicy):
    """Independent Bernoullis for a MultiBinary space: a_i = 1[u_i < sigmoid(logit_i)]."""

    def __init__(
        self,
        obs_dim: int,
        n: int,
        *,
        hidden_sizes: list[int],
        activation: str = "tanh",
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        self.action_shape = (n,)
        self.noise_shape = (n,)
        self.logits_net = mlp([obs_dim, *hidden_sizes, n], activation, ortho_init, out_gain=0.01)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        logits = self.logits_net(obs).unsqueeze(1)  # [B, 1, n]
        noise = torch.rand(logits.shape[0], group_size, logits.shape[-1])
        action = (noise < torch.sigmoid(logits)).long()
        return PolicySample(action=action, log_prob=self._log_prob(logits, action), noise=noise)

    @staticmethod
    def _log_prob(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # log σ(x) for a=1 and log σ(−x) for a=0, written stably as −softplus(∓x).
        signed = torch.where(action.bool(), logits, -logits)
        return -nn.functional.softplus(-signed).sum(-1)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        logits = self.logits_net(obs)
        if action.dim() == 3:
            logits = logits.unsqueeze(1)
        return self._log_prob(logits, action)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        logits = self.logits_net(obs)
        p = torch.sigmoid(logits)
        return (nn.functional.softplus(logits) - p * logits).sum(-1)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return (self.logits_net(obs) > 0).long()

    def relaxed_action(
        self, obs: torch.Tensor, noise: torch.Tensor, *, temperature: float, straight_through: bool
    ) -> torch.Tensor:
        """Binary concrete y = σ((l − logit u) / τ) [B, G, n] from the collected uniforms u, so that
        y > ½ exactly where the collected action is 1."""
        logits = self.logits_net(obs).unsqueeze(1)  # [B, 1, n]
        u = noise.clamp(1e-7, 1.0 - 1e-7)
        y = torch.sigmoid((logits - (torch.log(u) - torch.log1p(-u))) / temperature)
        return _straight_through(y, (y > 0.5).to(y.dtype), straight_through)

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.logits_net(obs)  # each bit as a two-way categorical: (log(1-p), log p)
        return (torch.stack([-nn.functional.softplus(logits), -nn.functional.softplus(-logits)], -1),)


class _NetKwargs(TypedDict):
    """The network settings every policy class takes."""

    hidden_sizes: list[int]
    activation: str
    ortho_init: bool


def make_policy(
    observation_space: gym.Space,
    action_space: gym.Space,
    *,
    hidden_sizes: list[int],
    activation: str = "tanh",
    ortho_init: bool = True,
    log_std_init: float = 0.0,
    squash_output: bool = False,
    algo: str = "this agent",
) -> Policy:
    """Build the policy that fits ``action_space``; unsupported spaces raise a clear RlcvError.
    ``squash_output`` picks the tanh-squashed Gaussian for a (bounded) Box."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise RlcvError(
            f"{algo} needs a Box observation space, got {observation_space}; wrap the env with "
            f"gymnasium.wrappers.FlattenObservation (or a one-hot wrapper for Discrete observations)."
        )
    obs_dim = int(np.prod(observation_space.shape))
    common: _NetKwargs = {
        "hidden_sizes": list(hidden_sizes),
        "activation": activation,
        "ortho_init": ortho_init,
    }
    if isinstance(action_space, gym.spaces.Box):
        gaussian = SquashedGaussianPolicy if squash_output else GaussianPolicy
        return gaussian(obs_dim, action_space, log_std_init=log_std_init, **common)
    if squash_output:
        raise RlcvError(
            f"squash_output applies to Box action spaces only, got {action_space}; set squash_output=false."
        )
    if isinstance(action_space, gym.spaces.Discrete):
        categorical = CategoricalPolicy(obs_dim, int(action_space.n), **common)
        categorical.start = int(action_space.start)
        return categorical
    if isinstance(action_space, gym.spaces.MultiBinary):
        return BernoulliPolicy(obs_dim, int(np.prod(action_space.shape)), **common)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        multi = MultiCategoricalPolicy(obs_dim, action_space.nvec, **common)
        multi.start = np.asarray(action_space.start).reshape(-1)
        return multi
    raise RlcvError(
        f"{algo} cannot handle the action space {action_space}; supported: Box, Discrete, MultiBinary, "
        f"MultiDiscrete (flatten Dict/Tuple spaces with a wrapper)."
    )

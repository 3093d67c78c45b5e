"""Dynamics models for model-based control variates.

A model maps a raw state and action to the next raw state, the raw reward and the probability
that the episode continues:  f(s, a) -> (s', r, p_continue).  All models are differentiable in
``a`` and ``s`` (the control variate back-propagates through imagined rollouts).

- :class:`EnsembleDynamics` — an ensemble of MLPs predicting Δs = s' − s, r and a termination
  logit from normalised (s, a); outputs are de-normalised; the ensemble mean is the prediction.
  ``structure="affine"``: the MLP reads s alone and outputs, per output, coefficients of
  φ(a) = [1, a, a²] (per action dimension, normalised a): a control-affine model with a quadratic
  action cost, the shape of MuJoCo's one-step response to torques (accelerations affine in the
  torque, a quadratic control cost in the reward). The action response — all the control variate
  uses of the model beyond its baseline — is then a per-state matrix, not whatever an MLP in (s, a)
  extrapolates from the policy's small noise.
  Trained online on recent real transitions with a k-step unrolled loss along real action
  sequences (:class:`TransitionReplay` supplies the windows).
- :class:`ExactDynamics` — wraps an env's own ``model_step`` (``rlcv/LQR-v0``): the exact mean
  model, used to test the estimator with model error removed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from rlcv.rollout import RolloutBatch


STRUCTURES = ("mlp", "affine")


class DynamicsModel(nn.Module):
    def predict(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(next_state [B, S], reward [B], p_continue [B]) for raw s [B, S] and a [B, A]."""
        raise NotImplementedError


@runtime_checkable
class SupportsModelStep(Protocol):
    """An env with a differentiable exact mean model (``rlcv/LQR-v0``)."""

    def model_step(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(next_state [B, S], reward [B]) for raw s [B, S] and a [B, A]."""
        ...


class ExactDynamics(DynamicsModel):
    def __init__(self, env: gym.Env) -> None:
        super().__init__()
        unwrapped = env.unwrapped
        # isinstance on a runtime-checkable Protocol is a hasattr check on ``model_step``.
        if not isinstance(unwrapped, SupportsModelStep):
            raise ValueError(f"{env} has no exact model_step(s, a); use the learned model.")
        self.env: SupportsModelStep = unwrapped

    def predict(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_s, reward = self.env.model_step(s, a)
        return next_s.to(s.dtype), reward.to(s.dtype), torch.ones_like(reward, dtype=s.dtype)


class _RunningStats(nn.Module):
    """Mean/std buffers refitted from the training data (saved in the state dict)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))


class _EnsembleLinear(nn.Module):
    """E independent linear layers applied in one batched matmul: [E, B, in] -> [E, B, out]."""

    def __init__(self, ensemble: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(ensemble, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(ensemble, 1, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleDynamics(DynamicsModel):
    # Registered buffers (nn.Module.__getattr__ is typed ``Tensor | Module``).
    action_low: torch.Tensor
    action_high: torch.Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        ensemble_size: int = 5,
        hidden_sizes: list[int] | None = None,
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
        predict_termination: bool = True,
        structure: str = "mlp",
        action_smooth: float = 0.0,
    ) -> None:
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        hidden_sizes = hidden_sizes or [200, 200]
        self.obs_dim, self.act_dim, self.ensemble_size = obs_dim, act_dim, ensemble_size
        self.predict_termination = predict_termination
        self.structure = structure
        self.action_smooth = action_smooth
        outputs = obs_dim + 2  # Δs, reward, termination logit
        if structure == "affine":  # s -> coefficients of φ(a) = [1, a, a²] for every output
            sizes = [obs_dim, *hidden_sizes, outputs * (1 + 2 * act_dim)]
        else:
            sizes = [obs_dim + act_dim, *hidden_sizes, outputs]
        self.layers = nn.ModuleList(
            _EnsembleLinear(ensemble_size, i, o) for i, o in itertools.pairwise(sizes)
        )
        self.in_stats = _RunningStats(obs_dim + act_dim)
        self.out_stats = _RunningStats(obs_dim + 1)
        low = torch.as_tensor(
            action_low if action_low is not None else np.full(act_dim, -np.inf), dtype=torch.float32
        )
        high = torch.as_tensor(
            action_high if action_high is not None else np.full(act_dim, np.inf), dtype=torch.float32
        )
        self.register_buffer("action_low", low)
        self.register_buffer("action_high", high)

    def _members(
        self, s: torch.Tensor, a: torch.Tensor, *, split: bool = False, a_normalised: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw predictions of every member: next state [E, B', S], reward [E, B'], termination logit.

        With ``split=False`` every member sees the whole batch (B' = B); with ``split=True`` the batch
        holds E stacked blocks and member e sees block e only (B' = B / E) — used in training, where
        each member is unrolled on its own predictions. ``a_normalised``: ``a`` is already
        :meth:`normalised_actions` (training normalises a window's actions once for all its steps).
        """
        dim = self.obs_dim
        if not a_normalised:
            a = self.normalised_actions(a)
        # Normalised per part, then joined: elementwise, so the same values (and gradients), bit for
        # bit, as normalising the joined (s, a).
        x = torch.cat([(s - self.in_stats.mean[:dim]) / self.in_stats.std[:dim], a], -1)
        e = self.ensemble_size
        h = x.view(e, -1, x.shape[-1]) if split else x.unsqueeze(0).expand(e, -1, -1)
        if self.structure == "affine":
            h = self._affine(h)
        else:
            h = self._mlp(h)
        delta_r = h[..., :-1] * self.out_stats.std + self.out_stats.mean
        base = s.view(e, -1, s.shape[-1]) if split else s.unsqueeze(0)
        return base + delta_r[..., :-1], delta_r[..., -1], h[..., -1]

    def normalised_actions(self, a: torch.Tensor) -> torch.Tensor:
        """Actions [..., A] as the MLP reads them: clipped to the env's bounds, then normalised."""
        # The env clips actions to its bounds, so the model sees what the env sees; the gradient
        # through the clamp is zero outside the bounds, as it is for the real system.
        a = torch.maximum(torch.minimum(a, self.action_high), self.action_low)
        return (a - self.in_stats.mean[self.obs_dim :]) / self.in_stats.std[self.obs_dim :]

    def _mlp(self, h: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = nn.functional.silu(h)
        return h

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        """[E, B, S + A] normalised (s, a) -> [E, B, S + 2]: Σ_j c_j(s) φ_j(a), φ = [1, a, a²]."""
        s, a = x[..., : self.obs_dim], x[..., self.obs_dim :]
        phi = torch.cat([torch.ones_like(a[..., :1]), a, a * a], -1)  # [E, B, 1 + 2A]
        coef = self._mlp(s).view(*s.shape[:-1], self.obs_dim + 2, phi.shape[-1])
        return (coef * phi.unsqueeze(-2)).sum(-1)

    def action_roughness(self, s: torch.Tensor, a: torch.Tensor, scale: float = 0.1) -> torch.Tensor:
        """‖∂f/∂a‖²_F per output in normalised units, estimated by a random finite difference.

        On-policy data shows the model the action response only through the policy's small noise, so
        an MLP of (s, a) is free to bend along a between samples; that spurious response is what the
        control variate reads (results/mbmf_v4.md §2). E‖f(s, a + δ) − f(s, a)‖² = scale² ‖J‖²_F for
        δ ~ N(0, scale²) in normalised action units, without a double backward pass.
        """
        delta = torch.randn_like(a) * scale * self.in_stats.std[self.obs_dim :]
        n0, r0, _ = self._members(s, a)
        n1, r1, _ = self._members(s, a + delta)
        std = self.out_stats.std
        sq = ((n1 - n0) / std[:-1]).pow(2).sum(-1) + ((r1 - r0) / std[-1]).pow(2)
        return sq.mean() / ((self.obs_dim + 1) * scale**2)

    def predict(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_s, reward, term_logit = self._members(s, a)
        p_cont = 1 - torch.sigmoid(term_logit) if self.predict_termination else torch.ones_like(reward)
        return next_s.mean(0), reward.mean(0), p_cont.mean(0)

    def unrolled_loss(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        next_obs: torch.Tensor,
        rewards: torch.Tensor,
        terminated: torch.Tensor,
        valid: torch.Tensor,
        td: TDLoss | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """k-step loss along real action sequences, every member unrolled on its own predictions.

        Windows are [B, h, ...]; ``valid[b, i]`` is false once the window has left its episode.
        Errors are measured in normalised output units (per-dimension std of Δs and r), so state
        dimensions and reward weigh alike. With ``td`` the loss adds the error of the imagined TD
        error (:class:`TDLoss`). Returns (loss, per-step normalised MSE [h] of states and reward).

        Only the unroll itself is a loop over steps; the actions, targets, masks and errors of all h
        steps are computed in one go (elementwise and per-row sums, so every value and gradient is the
        one a step-by-step computation gives, bit for bit: tests/test_dynamics_fast.py).
        """
        h, e = obs.shape[1], self.ensemble_size
        act = self.normalised_actions(actions).repeat(e, 1, 1)  # [E·B, h, A], member e's block e
        state = obs[:, 0].unsqueeze(0).expand(e, -1, -1)
        states, rewards_hat, bces, tds = [], [], [], []
        for i in range(h):
            flat = state.reshape(-1, self.obs_dim)
            next_s, reward, term_logit = self._members(flat, act[:, i], split=True, a_normalised=True)
            states.append(next_s)
            rewards_hat.append(reward)
            if self.predict_termination:  # per step: its backward's kernel follows the target's layout
                target = terminated[:, i].to(term_logit.dtype).expand_as(term_logit)
                bces.append(
                    nn.functional.binary_cross_entropy_with_logits(term_logit, target, reduction="none")
                )
            if td is not None:
                real = (obs[:, i], next_obs[:, i], rewards[:, i], terminated[:, i])
                tds.append(_td_term(td, state, next_s, reward, term_logit, real, valid[:, i]))
            state = next_s
        # [h, E, B, ...]: the step first, the batch last (the masked sums run over contiguous rows)
        std = self.out_stats.std
        err_s = (torch.stack(states) - next_obs.transpose(0, 1).unsqueeze(1)) / std[:-1]
        err_r = (torch.stack(rewards_hat) - rewards.transpose(0, 1).unsqueeze(1)) / std[-1]
        mse = (err_s.pow(2).sum(-1) + err_r.pow(2)) / (self.obs_dim + 1)  # [h, E, B]
        mask = valid.transpose(0, 1).unsqueeze(1).to(mse.dtype)  # [h, 1, B]
        count = mask.sum(-1).clamp_min(1)  # [h, 1]
        state_loss = (mse * mask).sum(-1) / count  # [h, E]
        step_loss = state_loss
        if bces:
            step_loss = step_loss + (torch.stack(bces) * mask).sum(-1) / count
        if tds:
            step_loss = step_loss + torch.stack(tds)
        return step_loss.sum(-1).mean(), state_loss.mean(-1).detach()


def _td_term(
    td: TDLoss,
    state: torch.Tensor,
    next_s: torch.Tensor,
    reward: torch.Tensor,
    term_logit: torch.Tensor,
    real: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    valid: torch.Tensor,
) -> torch.Tensor:
    """One unrolled step's weighted TD-error term per member, averaged over the windows still valid
    (``real``: the step's real state, next state, reward and termination), [E]."""
    m = valid.to(next_s.dtype)
    td_err = td.error(state, next_s, reward, term_logit, *real, m)
    return td.weight * (td_err * m).sum(-1) / m.sum().clamp_min(1)


@dataclass
class TDLoss:
    r"""The error of the model's imagined TD error, the quantity the λ-matched control variate sums.

    A model can predict states well in normalised MSE and still get δ̂ = r̂ + γ V(ŝ') − V(ŝ) wrong:
    δ is a small difference of large values, and V may be steep along directions the state loss
    weighs little. Per unrolled step i the loss adds

        weight · ([r̂_i + γ p̂_i V(ŝ_{i+1}) − V(ŝ_i)] − [r_i + γ (1 − term_i) V(s_{i+1}) − V(s_i)])² / Var(δ)

    with r in the critic's units (``reward_scale``), V the critic on raw states (frozen: the model is
    fitted to the critic as it is, gradients reach the model only) and Var(δ) over the valid real steps
    of the windows, so ``weight`` 1 weighs δ like the whole state-and-reward term.
    """

    value: Callable[[torch.Tensor], torch.Tensor]  # raw states [B, S] -> V [B]
    gamma: float
    reward_scale: float
    weight: float

    def error(
        self,
        state: torch.Tensor,
        next_s: torch.Tensor,
        reward: torch.Tensor,
        term_logit: torch.Tensor,
        real_s: torch.Tensor,
        real_next: torch.Tensor,
        real_r: torch.Tensor,
        real_term: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Squared, Var(δ)-normalised TD-error mismatch per member and window, [E, B]."""
        e = next_s.shape[0]
        v = self.value(torch.cat([state.reshape(-1, state.shape[-1]), next_s.reshape(-1, next_s.shape[-1])]))
        v_s, v_next = v.view(2, e, -1)
        p_cont = 1 - torch.sigmoid(term_logit)
        imagined = self.reward_scale * reward + self.gamma * p_cont * v_next - v_s
        with torch.no_grad():
            rv = self.value(torch.cat([real_s, real_next]))
            real = self.reward_scale * real_r + self.gamma * (1 - real_term.to(rv.dtype)) * rv[len(real_s) :]
            real = real - rv[: len(real_s)]
            m = mask.bool()
            var = real[m].var() if int(m.sum()) > 1 else torch.ones(())
        return (imagined - real.unsqueeze(0)).pow(2) / var.clamp_min(1e-8)


@dataclass
class Windows:
    obs: torch.Tensor  # [B, h, S]
    actions: torch.Tensor  # [B, h, A]
    next_obs: torch.Tensor  # [B, h, S]
    rewards: torch.Tensor  # [B, h]
    terminated: torch.Tensor  # [B, h]
    valid: torch.Tensor  # [B, h] bool


class TransitionReplay:
    """The most recent real transitions, kept as per-env sequences so k-step windows can be cut."""

    def __init__(self, capacity_steps: int) -> None:
        self.capacity = capacity_steps
        self.chunks: list[dict[str, torch.Tensor]] = []

    def add(self, raw_obs, actions, raw_next_obs, raw_rewards, terminated, truncated) -> None:
        """Tensors [T, N, ...] of one rollout (actions of the executed group member)."""
        self.chunks.append(
            {
                "obs": raw_obs,
                "actions": actions,
                "next_obs": raw_next_obs,
                "rewards": raw_rewards,
                "terminated": terminated,
                "done": terminated | truncated,
            }
        )
        while (
            sum(c["obs"].shape[0] * c["obs"].shape[1] for c in self.chunks) > self.capacity
            and len(self.chunks) > 1
        ):
            self.chunks.pop(0)

    def add_batch(self, batch: RolloutBatch) -> None:
        """The real transitions of a collected rollout (raw, unnormalised; the executed actions)."""
        self.add(
            batch.raw_obs,
            batch.actions[:, :, 0],
            batch.raw_next_obs,
            batch.raw_rewards,
            batch.terminated,
            batch.truncated,
        )

    def __len__(self) -> int:
        return sum(c["obs"].shape[0] * c["obs"].shape[1] for c in self.chunks)

    def _concat(self) -> dict[str, torch.Tensor]:
        # Chunks are consecutive rollouts of the same envs, so they concatenate along time.
        return {k: torch.cat([c[k] for c in self.chunks]) for k in self.chunks[0]}

    def sample_windows(
        self, batch_size: int, horizon: int, generator: torch.Generator | None = None
    ) -> Windows:
        data = self._concat()
        return cut_windows(data, batch_size, horizon, generator)

    def all_windows(self, horizon: int) -> Windows:
        return cut_windows(self._concat(), None, horizon, None)


def cut_windows(
    data: dict[str, torch.Tensor], batch_size: int | None, horizon: int, generator: torch.Generator | None
) -> Windows:
    """Windows of ``horizon`` consecutive steps (random starts, or every start when batch_size is None)."""
    T, N = data["obs"].shape[:2]
    h = min(horizon, T)
    n_starts = (T - h + 1) * N
    if batch_size is None:
        flat = torch.arange(n_starts)
    else:
        flat = torch.randint(0, n_starts, (batch_size,), generator=generator)
    t0, env = flat // N, flat % N
    t = t0[:, None] + torch.arange(h)[None, :]  # [B, h]
    e = env[:, None].expand_as(t)
    done = data["done"][t, e]
    # Step i is valid while no earlier step of the window ended its episode.
    valid = torch.ones_like(done)
    valid[:, 1:] = torch.cumsum(done[:, :-1].int(), 1) == 0
    return Windows(
        obs=data["obs"][t, e],
        actions=data["actions"][t, e],
        next_obs=data["next_obs"][t, e],
        rewards=data["rewards"][t, e],
        terminated=data["terminated"][t, e],
        valid=valid,
    )


def held_out_errors(model: EnsembleDynamics, batch: RolloutBatch, horizon: int) -> torch.Tensor:
    """Per-step normalised MSE [h] of ``model`` unrolled up to ``horizon`` steps along every window of
    ``batch``'s real transitions (raw values, the executed actions), without gradients: the held-out
    error of a model not trained on ``batch``."""
    data = {
        "obs": batch.raw_obs,
        "actions": batch.actions[:, :, 0],
        "next_obs": batch.raw_next_obs,
        "rewards": batch.raw_rewards,
        "terminated": batch.terminated,
        "done": batch.dones,
    }
    w = cut_windows(data, None, horizon, None)
    with torch.no_grad():
        return model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)[1]


def fit_normalizers(model: EnsembleDynamics, replay: TransitionReplay | dict[str, torch.Tensor]) -> None:
    """The model's input and output statistics from the replay (or its concatenated data)."""
    data = replay._concat() if isinstance(replay, TransitionReplay) else replay
    obs = data["obs"].reshape(-1, model.obs_dim)
    act = data["actions"].reshape(-1, model.act_dim)
    act = torch.maximum(torch.minimum(act, model.action_high), model.action_low)
    model.in_stats.fit(torch.cat([obs, act], -1))
    delta = data["next_obs"].reshape(-1, model.obs_dim) - obs
    model.out_stats.fit(torch.cat([delta, data["rewards"].reshape(-1, 1)], -1))


def _adam_step(
    model: EnsembleDynamics, optimizer: torch.optim.Optimizer, w: Windows, td: TDLoss | None = None
) -> float:
    """One optimiser step on the unrolled loss of windows ``w`` (plus the action-roughness penalty
    of the model's ``action_smooth`` weight, at the windows' first, real states); the loss before it."""
    loss, _ = model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid, td)
    if model.action_smooth > 0:
        loss = loss + model.action_smooth * model.action_roughness(w.obs[:, 0], w.actions[:, 0])
    if not torch.isfinite(loss):
        raise FloatingPointError(f"dynamics model loss became {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


class _CosineLR:
    """Each parameter group's step size along a cosine from its base to ``final`` × base over ``steps``
    steps of one fit, restored afterwards (the optimiser persists across fits). A constant step size
    leaves the fit at Adam's noise floor, and the model is compute-bound (results/mbmf_v4.md §2)."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int, final: float) -> None:
        self.optimizer, self.steps, self.final = optimizer, max(steps, 1), final
        self.base = [g["lr"] for g in optimizer.param_groups]

    def at(self, step: int) -> None:
        if self.final == 1.0:
            return
        cos = 0.5 * (1 + math.cos(math.pi * min(step, self.steps) / self.steps))
        frac = self.final + (1 - self.final) * cos
        for g, base in zip(self.optimizer.param_groups, self.base, strict=True):
            g["lr"] = base * frac

    def restore(self) -> None:
        for g, base in zip(self.optimizer.param_groups, self.base, strict=True):
            g["lr"] = base


def train_dynamics(
    model: EnsembleDynamics,
    optimizer: torch.optim.Optimizer,
    replay: TransitionReplay,
    *,
    steps: int,
    batch_size: int,
    horizon: int,
    td: TDLoss | None = None,
    lr_final: float = 1.0,
) -> float:
    """Refit the normalisers, then ``steps`` Adam steps on random k-step windows (step size on a cosine
    to ``lr_final`` × its own, :class:`_CosineLR`); mean loss."""
    data = replay._concat()  # once: re-concatenating a full replay per step cost ~15 % of model training
    fit_normalizers(model, data)
    losses, schedule = [], _CosineLR(optimizer, steps, lr_final)
    try:
        for i in range(steps):
            schedule.at(i)
            losses.append(_adam_step(model, optimizer, cut_windows(data, batch_size, horizon, None), td))
    finally:
        schedule.restore()
    return float(np.mean(losses)) if losses else float("nan")


def _held_out_loss(model: EnsembleDynamics, w: Windows, td: TDLoss | None = None) -> float:
    with torch.no_grad():
        loss, _ = model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid, td)
    return loss.item()


def train_dynamics_early_stopping(
    model: EnsembleDynamics,
    optimizer: torch.optim.Optimizer,
    replay: TransitionReplay,
    *,
    max_steps: int,
    batch_size: int,
    horizon: int,
    holdout: float,
    patience: int,
    eval_every: int,
    max_holdout_windows: int = 512,
    td: TDLoss | None = None,
    lr_final: float = 1.0,
) -> tuple[float, int]:
    """Train on all but the most recent ``holdout`` fraction of the replay's time steps; every
    ``eval_every`` Adam steps measure the loss on windows of the held-out slice, stop after ``patience``
    checks without improvement and keep the best parameters. Returns (best held-out loss, steps run).

    The held-out slice is the most recent data — the closest to the next batch, whose error the
    control variate's gate reads. Windows never straddle the split (each side is cut on its own). At most
    ``max_holdout_windows`` held-out windows: a check should cost about two training steps, not more.
    """
    data = replay._concat()
    fit_normalizers(model, data)
    T = data["obs"].shape[0]
    n_hold = max(1, min(T - 1, round(T * holdout)))
    train = {k: v[: T - n_hold] for k, v in data.items()}
    held = {k: v[T - n_hold :] for k, v in data.items()}
    gen = torch.Generator().manual_seed(T)  # reproducible held-out subsample
    n_windows = (n_hold - min(horizon, n_hold) + 1) * held["obs"].shape[1]
    held_w = cut_windows(held, min(max_holdout_windows, n_windows), horizon, gen)
    best = _held_out_loss(model, held_w, td)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    bad, steps, schedule = 0, 0, _CosineLR(optimizer, max_steps, lr_final)
    try:
        while steps < max_steps:
            schedule.at(steps)
            _adam_step(model, optimizer, cut_windows(train, batch_size, horizon, None), td)
            steps += 1
            if steps % eval_every == 0 or steps == max_steps:
                current = _held_out_loss(model, held_w, td)
                if current < best:
                    best, bad = current, 0
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
                    if bad >= patience:
                        break
    finally:
        schedule.restore()
    model.load_state_dict(best_state)
    return best, steps

r"""Finite-horizon linear-quadratic regulator (LQR) with Gaussian noise: ``rlcv/LQR-v0``.

This environment is the exact-gradient test bed for every policy-gradient estimator in the
project: for a linear-Gaussian policy its expected return, and hence the true policy gradient,
has a closed form (computed here by exact propagation of the first two moments of the state),
so an estimator can be checked for bias and its variance measured against ground truth.

System (``n = state_dim``, ``m = action_dim``, ``H = horizon``)::

    s_0     ~ N(0, init_std^2 I_n)
    r_t     = -(s_t^T Q s_t + a_t^T R a_t)                  t = 0, ..., H-1
    s_{t+1} = A s_t + B a_t + w_t,   w_t ~ N(0, noise_std^2 I_n)

with ``A`` [n, n] a Gaussian matrix rescaled to spectral radius 0.9 (open-loop stable),
``B`` [n, m] Gaussian / sqrt(n), ``Q = I_n`` and ``R = action_cost * I_m``. The matrices depend
only on ``system_seed``; the episode randomness (``s_0``, ``w_t``) comes from the env's
``np_random``, i.e. from the ``seed`` passed to :meth:`LQREnv.reset`.

Linear-Gaussian policy used by the exact functions::

    a_t = K s_t + k0 + sigma * xi_t,   sigma = exp(log_std),   xi_t ~ N(0, I_m)

with ``K`` [m, n], ``k0`` [m] and ``log_std`` [m]. Under such a policy ``s_t`` stays Gaussian;
with ``m_t = E[s_t]`` and ``P_t = Cov[s_t]`` ([n] and [n, n])::

    E[r_t]  = -(m_t^T Q m_t + tr(Q P_t) + mu_t^T R mu_t + tr(R S_t))
    mu_t    = K m_t + k0                         (action mean, [m])
    S_t     = K P_t K^T + diag(sigma^2)          (action covariance, [m, m])
    m_{t+1} = A m_t + B mu_t
    P_{t+1} = (A + B K) P_t (A + B K)^T + B diag(sigma^2) B^T + noise_std^2 I_n

starting from ``m_0 = 0``, ``P_0 = init_std^2 I_n``. Summing ``gamma^t E[r_t]`` gives the exact
objective ``J(K, k0, log_std)`` (:func:`exact_return`); differentiating it with autograd gives the
exact policy gradient (:func:`exact_policy_gradient`).
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

__all__ = ["LQREnv", "exact_policy_gradient", "exact_return"]

# Target spectral radius of A: below 1 so the open-loop system is stable and the returns stay
# O(horizon) for any horizon, which keeps the Monte-Carlo checks of estimators well conditioned.
_SPECTRAL_RADIUS = 0.9


class LQREnv(gym.Env):
    r"""Finite-horizon stochastic LQR (see the module docstring for the full model).

    Observation: the state ``s_t`` as ``float32`` array of shape ``[state_dim]`` in an unbounded
    ``Box``. The env keeps the state internally in ``float64``; the observation is only a cast, so
    feeding ``obs`` back into :meth:`model_step` differs from the true state by float32 rounding.

    Action: ``float32`` array of shape ``[action_dim]`` in an unbounded ``Box``. Actions are
    deliberately NOT clipped: clipping would make the dynamics non-linear and break the exact
    formulas of :func:`exact_return`.

    Reward: ``r_t = -(s_t^T Q s_t + a_t^T R a_t)``, the cost of the *current* state and action.

    Episode end: after exactly ``horizon`` steps ``terminated=True`` (``truncated`` is always
    ``False``). The horizon is part of this finite-horizon MDP, not a time limit cut into an
    infinite-horizon task, so value estimates must NOT bootstrap past the last step; the
    objective is ``J = E[sum_{t=0}^{H-1} gamma^t r_t]``. (The observation does not contain
    ``t``; the problem is therefore time-inhomogeneous from the agent's point of view, which
    is fine for the exact-gradient comparisons this env is built for.)

    Args:
        state_dim: ``n``, dimension of the state.
        action_dim: ``m``, dimension of the action.
        horizon: ``H``, number of steps per episode.
        noise_std: standard deviation of each component of the process noise ``w_t``.
        init_std: standard deviation of each component of the initial state ``s_0``.
        system_seed: seed of the ``numpy.random.default_rng`` that draws ``A`` and ``B``
            (independent of the episode seed given to :meth:`reset`).
        action_cost: scale of the action cost, ``R = action_cost * I_m``.

    Attributes:
        A: ``float64`` [n, n], state transition matrix (spectral radius 0.9).
        B: ``float64`` [n, m], control matrix.
        Q: ``float64`` [n, n], state cost (identity).
        R: ``float64`` [m, m], action cost ``action_cost * I_m``.

    ``reset(options={"state": s})`` starts the episode from the given state instead of sampling
    ``s_0`` (useful for tests and for probing the dynamics at a chosen point).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # an instance variable of gym.Env

    def __init__(
        self,
        state_dim: int = 2,
        action_dim: int = 1,
        horizon: int = 20,
        noise_std: float = 0.1,
        init_std: float = 1.0,
        system_seed: int = 0,
        action_cost: float = 0.1,
    ) -> None:
        if state_dim < 1 or action_dim < 1 or horizon < 1:
            raise ValueError(
                f"state_dim, action_dim and horizon must be >= 1, got {state_dim}, {action_dim}, {horizon}"
            )
        if noise_std < 0 or init_std < 0 or action_cost < 0:
            raise ValueError("noise_std, init_std and action_cost must be non-negative")
        self.state_dim = int(state_dim)
        self.action_dim = int(action_dim)
        self.horizon = int(horizon)
        self.noise_std = float(noise_std)
        self.init_std = float(init_std)
        self.system_seed = int(system_seed)
        self.action_cost = float(action_cost)

        # The system matrices come from their own generator so that the same system_seed gives
        # the same MDP regardless of how episodes are seeded.
        rng = np.random.default_rng(self.system_seed)
        a = rng.standard_normal((self.state_dim, self.state_dim))
        a *= _SPECTRAL_RADIUS / np.max(np.abs(np.linalg.eigvals(a)))
        self.A: np.ndarray = a
        # Dividing by sqrt(n) keeps the effect of an action on the state norm O(1) in any dimension.
        self.B: np.ndarray = rng.standard_normal((self.state_dim, self.action_dim)) / np.sqrt(self.state_dim)
        self.Q: np.ndarray = np.eye(self.state_dim)
        self.R: np.ndarray = self.action_cost * np.eye(self.action_dim)

        self.observation_space = spaces.Box(-np.inf, np.inf, (self.state_dim,), np.float32)
        self.action_space = spaces.Box(-np.inf, np.inf, (self.action_dim,), np.float32)

        self._state: np.ndarray | None = None  # float64 [n]; None until the first reset
        self._t = 0
        # Torch copies of (A, B, Q, R) keyed by (dtype, device), built lazily for model_step.
        self._torch_cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: ``s_0 ~ N(0, init_std^2 I)`` or ``options["state"]`` if given."""
        super().reset(seed=seed)
        if options is not None and options.get("state") is not None:
            state = np.asarray(options["state"], dtype=np.float64).reshape(self.state_dim).copy()
        else:
            state = self.init_std * self.np_random.standard_normal(self.state_dim)
        self._state = state
        self._t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``a_t``; return ``(s_{t+1}, r_t, terminated, False, {})``.

        ``r_t`` is the cost of ``(s_t, a_t)``."""
        if self._state is None:
            raise RuntimeError("LQREnv.step called before reset")
        if self._t >= self.horizon:
            raise RuntimeError("LQREnv.step called after the episode terminated; call reset first")
        s = self._state
        # float64 so the env and the exact formulas agree to double precision.
        a = np.asarray(action, dtype=np.float64).reshape(self.action_dim)
        reward = -float(s @ self.Q @ s + a @ self.R @ a)
        noise = self.noise_std * self.np_random.standard_normal(self.state_dim)
        self._state = self.A @ s + self.B @ a + noise
        self._t += 1
        terminated = self._t >= self.horizon
        return self._obs(), reward, terminated, False, {}

    def _obs(self) -> np.ndarray:
        assert self._state is not None
        return self._state.astype(np.float32)

    # ------------------------------------------------------------------ exact model (torch)

    def _torch_matrices(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        key = (dtype, device)
        if key not in self._torch_cache:
            self._torch_cache[key] = tuple(
                torch.as_tensor(mat, dtype=dtype, device=device) for mat in (self.A, self.B, self.Q, self.R)
            )
        return self._torch_cache[key]

    def reward_fn(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Differentiable reward ``-(s^T Q s + a^T R a)``.

        Args:
            s: states, shape ``[..., state_dim]``.
            a: actions, shape ``[..., action_dim]`` (batch shape broadcastable with ``s``'s).

        Returns:
            Rewards of shape ``[...]`` (the broadcast batch shape), in the promoted dtype of
            ``s`` and ``a``.
        """
        dtype = torch.promote_types(s.dtype, a.dtype)
        s, a = s.to(dtype), a.to(dtype)
        _, _, q, r = self._torch_matrices(dtype, s.device)
        return -(((s @ q) * s).sum(-1) + ((a @ r) * a).sum(-1))

    def model_step(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact, differentiable model: mean next state and reward of ``(s, a)``.

        Args:
            s: states, shape ``[..., state_dim]``.
            a: actions, shape ``[..., action_dim]``.

        Returns:
            ``(mean_next_state, reward)``: ``A s + B a`` of shape ``[..., state_dim]`` (the next
            state is this plus ``N(0, noise_std^2 I)`` noise) and the reward of shape ``[...]``,
            the same value :meth:`step` returns for ``(s, a)``.
        """
        dtype = torch.promote_types(s.dtype, a.dtype)
        s, a = s.to(dtype), a.to(dtype)
        mat_a, mat_b, _, _ = self._torch_matrices(dtype, s.device)
        # Row-vector convention: (A s)^T = s^T A^T, which handles any leading batch shape.
        mean_next = s @ mat_a.T + a @ mat_b.T
        return mean_next, self.reward_fn(s, a)


# ---------------------------------------------------------------------- exact ground truth


def _as_f64(x: torch.Tensor | np.ndarray | float, device: torch.device | None) -> torch.Tensor:
    # .to() keeps the autograd graph when x is a tensor that requires grad.
    return torch.as_tensor(x).to(dtype=torch.float64, device=device)


def exact_return(
    env: gym.Env,
    K: torch.Tensor,
    k0: torch.Tensor,
    log_std: torch.Tensor,
    gamma: float = 1.0,
) -> torch.Tensor:
    r"""Exact expected discounted return of a linear-Gaussian policy on an :class:`LQREnv`.

    ``J = E[sum_{t=0}^{H-1} gamma^t r_t]`` for ``a = K s + k0 + exp(log_std) * xi``,
    ``xi ~ N(0, I_m)``, computed by propagating the mean ``m_t`` [n] and covariance ``P_t`` [n, n]
    of the Gaussian state ``s_t`` (formulas in the module docstring). Because
    ``E[s^T Q s] = m^T Q m + tr(Q P)`` holds for any distribution with these moments, and the
    closed-loop dynamics are linear with additive Gaussian noise, the result is exact (no
    sampling, no approximation) up to float64 round-off.

    Args:
        env: an :class:`LQREnv`, possibly wrapped (``env.unwrapped`` is used).
        K: feedback gain, shape ``[action_dim, state_dim]``.
        k0: action offset, shape ``[action_dim]``.
        log_std: log of the per-component policy standard deviation, shape ``[action_dim]``.
            ``-inf`` gives a deterministic policy.
        gamma: discount factor applied as ``gamma^t`` to the reward of step ``t``.

    Returns:
        0-d float64 tensor ``J``, differentiable w.r.t. ``K``, ``k0`` and ``log_std`` when they
        are tensors requiring grad (inputs of other dtypes are converted to float64).
    """
    lqr = cast(LQREnv, getattr(env, "unwrapped", env))
    device = K.device if isinstance(K, torch.Tensor) else None
    n, m = lqr.state_dim, lqr.action_dim
    K, k0, log_std = _as_f64(K, device), _as_f64(k0, device), _as_f64(log_std, device)
    if K.shape != (m, n) or k0.shape != (m,) or log_std.shape != (m,):
        raise ValueError(
            f"expected K [{m}, {n}], k0 [{m}], log_std [{m}]; "
            f"got {tuple(K.shape)}, {tuple(k0.shape)}, {tuple(log_std.shape)}"
        )
    A, B, Q, R = (_as_f64(x, device) for x in (lqr.A, lqr.B, lqr.Q, lqr.R))

    var_a = torch.exp(2.0 * log_std)  # sigma^2, [m]
    closed_loop = A + B @ K  # A + B K, [n, n]: the state feedback part of the dynamics
    # Covariance injected each step, independent of the state: policy noise pushed through B
    # plus process noise. B diag(sigma^2) B^T is written as (B * sigma^2) B^T.
    injected_cov = (B * var_a) @ B.T + lqr.noise_std**2 * torch.eye(n, dtype=torch.float64, device=device)

    mean = torch.zeros(n, dtype=torch.float64, device=device)  # m_0
    cov = lqr.init_std**2 * torch.eye(n, dtype=torch.float64, device=device)  # P_0
    total = torch.zeros((), dtype=torch.float64, device=device)
    for t in range(lqr.horizon):
        mean_a = K @ mean + k0  # mu_t, [m]
        # tr(R S_t) with S_t = K P_t K^T + diag(sigma^2), written without forming S_t.
        trace_r_cov_a = torch.trace(R @ K @ cov @ K.T) + (torch.diagonal(R) * var_a).sum()
        expected_cost = mean @ Q @ mean + torch.trace(Q @ cov) + mean_a @ R @ mean_a + trace_r_cov_a
        total = total - gamma**t * expected_cost
        mean = A @ mean + B @ mean_a
        cov = closed_loop @ cov @ closed_loop.T + injected_cov
    return total


def exact_policy_gradient(
    env: gym.Env,
    K: torch.Tensor,
    k0: torch.Tensor,
    log_std: torch.Tensor,
    gamma: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Exact gradient of :func:`exact_return` w.r.t. the policy parameters, by autograd.

    The inputs are detached and copied, so they need not require grad and their ``.grad`` is
    left untouched.

    Args:
        env: an :class:`LQREnv`, possibly wrapped.
        K: ``[action_dim, state_dim]``; k0: ``[action_dim]``; log_std: ``[action_dim]``.
        gamma: discount factor.

    Returns:
        ``{"K": dJ/dK [action_dim, state_dim], "k0": dJ/dk0 [action_dim],
        "log_std": dJ/dlog_std [action_dim]}``, float64 tensors.
    """
    device = K.device if isinstance(K, torch.Tensor) else None
    params = {
        name: _as_f64(value, device).detach().clone().requires_grad_(True)
        for name, value in (("K", K), ("k0", k0), ("log_std", log_std))
    }
    value = exact_return(env, params["K"], params["k0"], params["log_std"], gamma=gamma)
    grads = torch.autograd.grad(value, list(params.values()))
    return dict(zip(params.keys(), grads, strict=True))

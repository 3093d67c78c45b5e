"""The exact-gradient check's pieces on ``rlcv/LQR-v0`` (`rlcv bench gradcheck`): a linear-Gaussian
policy a = K s + k0 + σ ξ (a GaussianPolicy without hidden layers), batches of whole episodes, a critic
and a model fitted on independent data, the exact ∇J as one vector, the per-estimate gradients of the
surrogate an agent optimises, and the bias tests of those gradients with their power.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gymnasium as gym
    import numpy as np
    import torch

    from rlcv.dynamics import EnsembleDynamics
    from rlcv.policies import GaussianPolicy
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


def linear_policy(env: gym.Env, seed: int) -> GaussianPolicy:
    import gymnasium as gym
    import torch

    from rlcv.errors import RlcvError
    from rlcv.policies import GaussianPolicy

    space = getattr(env, "single_action_space", env.action_space)
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    if not isinstance(space, gym.spaces.Box) or obs_space.shape is None:
        raise RlcvError(f"gradcheck needs a Box action space and a shaped observation; got {space}.")
    policy = GaussianPolicy(obs_space.shape[0], space, hidden_sizes=[], ortho_init=False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        linear = linear_layer(policy)
        linear.weight.copy_(-0.3 * torch.randn(linear.weight.shape, generator=g))
        linear.bias.copy_(0.2 * torch.randn(linear.bias.shape, generator=g))
        policy.log_std.fill_(math.log(0.5))
    return policy


def linear_layer(policy: GaussianPolicy) -> torch.nn.Linear:
    """The one linear layer of a policy made by :func:`linear_policy` (hidden_sizes=[])."""
    import torch

    layer = policy.mean_net[0]
    assert isinstance(layer, torch.nn.Linear)
    return layer


def collect(
    env_id: str, env_kwargs: dict[str, Any], policy: GaussianPolicy, n_envs: int, seed: int
) -> RolloutBatch:
    """One batch of n_envs complete episodes (the LQR horizon is fixed, so T = H exactly)."""
    import gymnasium as gym

    from rlcv.collector import Collector
    from rlcv.normalize import ObsNormalizer, RewardScaler

    lqr: Any = gym.make(env_id, **env_kwargs).unwrapped  # an LQREnv: its horizon is fixed
    horizon = lqr.horizon
    envs = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="sync",
        **env_kwargs,
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    obs_dim = envs.single_observation_space.shape
    collector = Collector(
        envs,
        policy,
        obs_normalizer=ObsNormalizer(obs_dim, enabled=False),
        reward_scaler=RewardScaler(n_envs, enabled=False, gamma=1.0),
    )
    collector.reset(seed)
    batch = collector.collect(horizon)
    envs.close()
    return batch


def fit_value(batch: RolloutBatch, hidden: list[int], steps: int = 300, gamma: float = 1.0) -> ValueFunction:
    """A critic fitted to Monte-Carlo returns of an independent batch (any b(s) keeps the estimate
    unbiased)."""

    import torch

    from rlcv.rollout import compute_gae
    from rlcv.value import ValueFunction

    value_fn = ValueFunction(batch.obs.shape[-1], hidden_sizes=hidden)
    zeros = torch.zeros_like(batch.rewards)
    _, returns = compute_gae(
        batch.rewards, zeros, zeros, batch.terminated, batch.truncated, gamma=gamma, gae_lambda=1.0
    )
    obs, target = batch.obs.reshape(-1, batch.obs.shape[-1]), returns.reshape(-1)
    opt = torch.optim.Adam(value_fn.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = (value_fn(obs) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return value_fn


def fit_ensemble(
    batch: RolloutBatch, action_space: gym.spaces.Box, horizon: int, steps: int
) -> EnsembleDynamics:
    """A 3-member ensemble (64 × 64) fitted on ``batch`` for ``steps`` Adam steps on ``horizon``-step
    windows: the learned model of the check (the LQR's episodes end at a fixed horizon, so no
    termination head)."""
    import torch

    from rlcv.dynamics import EnsembleDynamics, TransitionReplay, train_dynamics

    model = EnsembleDynamics(
        batch.obs.shape[-1],
        action_space.shape[0],
        ensemble_size=3,
        hidden_sizes=[64, 64],
        predict_termination=False,
    )
    replay = TransitionReplay(batch.n_steps * batch.n_envs)
    replay.add_batch(batch)
    train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=3e-3),
        replay,
        steps=steps,
        batch_size=256,
        horizon=horizon,
    )
    return model


def surrogate_gradients(
    terms: Any,
    policy: GaussianPolicy,
    batch: RolloutBatch,
    estimates: int,
    episodes: int,
    clip_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per estimate m (its own ``episodes`` envs), the gradient at θ_old of the surrogate the agent
    optimises: mean ρ Â − pathwise (TRPO's), or PPO's mean min(ρ Â, clip(ρ, 1 ± ε) Â) with the
    pathwise term weighted by ρ · 1[|ρ − 1| ≤ ε] when ``clip_range`` > 0; and the pathwise term's
    part of it (zeros without one; the gradient minus it is the ``broken`` variant's).
    ([estimates, d], [estimates, d])."""
    import numpy as np
    import torch

    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    actions = batch.actions[:, :, 0].reshape(obs.shape[0], -1)
    old_log_probs = batch.log_probs[:, :, 0].reshape(-1)
    # Sample (t, n) sits at flat index t·N + n; estimate m owns envs m·E .. (m+1)·E − 1.
    env_of_sample = torch.arange(obs.shape[0]) % batch.n_envs
    linear = linear_layer(policy)
    params = [linear.weight, linear.bias, policy.log_std]
    grads = np.zeros((estimates, sum(p.numel() for p in params)))
    path = np.zeros_like(grads)
    for m in range(estimates):
        idx = torch.nonzero((env_of_sample // episodes) == m).squeeze(1)
        ratio = (policy.log_prob(obs[idx], actions[idx]) - old_log_probs[idx]).exp()
        adv = terms.advantages[idx]
        weights = None
        if clip_range > 0:
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_range, 1 + clip_range) * adv).mean()
            weights = ratio.detach() * ((ratio.detach() - 1).abs() <= clip_range)
        else:
            surrogate = (ratio * adv).mean()
        grads[m] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(surrogate, params)]).numpy()
        if terms.pathwise_loss is not None:
            pathwise = -terms.pathwise_loss(idx, policy, weights)
            parts = torch.autograd.grad(pathwise, params, allow_unused=True)
            flat = [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(parts, params, strict=True)
            ]
            path[m] = torch.cat(flat).numpy()
            grads[m] += path[m]
    return grads, path


def exact_gradient(env: gym.Env, policy: GaussianPolicy, gamma: float) -> np.ndarray:
    """∇J of the linear policy as one vector (K, k0, log σ), from the LQR's closed form."""
    import torch

    from rlcv.envs.lqr import exact_policy_gradient

    linear = linear_layer(policy)
    exact = exact_policy_gradient(
        env, linear.weight.detach(), linear.bias.detach(), policy.log_std.detach(), gamma=gamma
    )
    return torch.cat([exact["K"].reshape(-1), exact["k0"].reshape(-1), exact["log_std"].reshape(-1)]).numpy()


def bias_record(
    scaled: np.ndarray,
    base: np.ndarray | None,
    exact_vec: np.ndarray,
    path: np.ndarray,
    *,
    alpha: float = 0.01,
    detect_bias: float | None = None,
) -> dict[str, Any]:
    """The bias tests (:mod:`rlcv.diagnostics.gradient_stats`, level ``alpha``) of per-episode gradients
    ``scaled`` [M, d] against ∇J ``exact_vec``, or paired against the k = 0 gradients ``base`` [M, d] of
    the same batches; with their power against the pathwise term's bias (``path`` [M, d], the term's
    gradient per estimate) or a stated relative bias ``detect_bias`` (ε·reference)."""
    import numpy as np

    from rlcv.diagnostics.gradient_stats import bias_tests, power_check, power_target

    if base is not None:
        samples, truth, reference = scaled - base, np.zeros_like(exact_vec), base.mean(0)
        tests = bias_tests(samples, truth, alpha=alpha, direction=exact_vec)
    else:
        samples, truth, reference = scaled, exact_vec, exact_vec
        tests = bias_tests(samples, truth, alpha=alpha)
    mean, se = samples.mean(0), samples.std(0, ddof=1) / math.sqrt(len(samples))
    z = (mean - truth) / se
    threshold = statistics.NormalDist().inv_cdf(1 - alpha / (2 * len(truth)))
    max_abs_z = float(np.abs(z).max())
    target_bias, target_se, target = power_target(path, reference, detect_bias)
    power = power_check(
        rejected=max_abs_z >= threshold,
        se=se,
        z_threshold=threshold,
        target_bias=target_bias,
        reference=reference,
        target_se=target_se,
        target=target,
    )
    return {
        "z_threshold": threshold,
        "max_abs_z": max_abs_z,
        "z": z.tolist(),
        "rel_error": float(np.linalg.norm(mean - truth) / np.linalg.norm(reference)),
        **power,  # passed (true / false / null), verdict, min_detectable_bias*, target_bias*
        "chi2": tests.chi2_stat,
        "chi2_df": tests.chi2_df,
        "chi2_scale": tests.chi2_scale,
        "chi2_p": tests.chi2_p,
        "passed_chi2": not tests.rejected["chi2"],
        "proj_z": tests.proj_z,
        "proj_p": tests.proj_p,
        "passed_projection": not tests.rejected["projection"],
    }

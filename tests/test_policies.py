"""Policies against torch.distributions: log-probs, entropies, KLs, noise replay and sampling."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy import stats
from torch import distributions as D

from rlcv.errors import RlcvError
from rlcv.policies import (
    BernoulliPolicy,
    CategoricalPolicy,
    GaussianPolicy,
    MultiCategoricalPolicy,
    make_policy,
)

OBS_DIM = 3
OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
NVEC = [3, 5, 2]


def _obs(batch: int = 5, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, OBS_DIM, generator=g, dtype=dtype)


def _make(action_space: gym.Space, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return make_policy(OBS_SPACE, action_space, hidden_sizes=[16, 16], **kwargs)


def _perturbed(policy: torch.nn.Module, scale: float = 0.3, seed: int = 1) -> torch.nn.Module:
    """A copy of ``policy`` with every parameter moved by Gaussian noise (so the KL is non-trivial)."""
    other = copy.deepcopy(policy)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return other


def _set_logits(policy: torch.nn.Module, bias: torch.Tensor) -> None:
    """Make the logits network output the constant ``bias`` for every observation."""
    last = policy.logits_net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(bias)


# ---------------------------------------------------------------------------- Gaussian


def _gaussian(log_std_init: float = -0.3, low: float = -1.0, high: float = 1.0) -> GaussianPolicy:
    policy = _make(gym.spaces.Box(low, high, (2,), np.float32), log_std_init=log_std_init)
    assert isinstance(policy, GaussianPolicy)
    with torch.no_grad():  # a state-dependent, non-trivial mean and unequal stds
        policy.mean_net[-1].weight.normal_(0.0, 0.5)
        policy.log_std.copy_(torch.tensor([log_std_init, log_std_init + 0.5]))
    return policy


def _normal(policy: GaussianPolicy, obs: torch.Tensor) -> D.Normal:
    return D.Normal(policy.mean(obs), policy.log_std.exp())


def test_gaussian_sample_log_prob_matches_torch() -> None:
    policy, obs = _gaussian(), _obs()
    torch.manual_seed(0)
    s = policy.sample(obs, group_size=1)
    assert s.action.shape == (5, 1, 2) and s.log_prob.shape == (5, 1) and s.noise.shape == (5, 1, 2)
    ref = _normal(policy, obs).log_prob(s.action[:, 0]).sum(-1)
    torch.testing.assert_close(s.log_prob[:, 0], ref, rtol=1e-5, atol=1e-5)
    # log_prob() of the stored action agrees with the log-prob returned by sample(), flat and grouped.
    torch.testing.assert_close(policy.log_prob(obs, s.action[:, 0]), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(policy.log_prob(obs, s.action), s.log_prob, rtol=1e-5, atol=1e-5)


def test_gaussian_noise_replay_is_exact() -> None:
    policy, obs = _gaussian().double(), _obs(dtype=torch.float64)
    torch.manual_seed(1)
    s = policy.sample(obs, group_size=1)
    action, noise = s.action[:, 0], s.noise[:, 0]
    torch.testing.assert_close(policy.noise_from_action(obs, action), noise, rtol=0, atol=1e-12)
    torch.testing.assert_close(policy.action_from_noise(obs, noise), action, rtol=0, atol=1e-12)
    # The action is μ + σ ξ with ξ the returned noise.
    torch.testing.assert_close(action, policy.mean(obs) + policy.log_std.exp() * noise, rtol=0, atol=0)


def test_gaussian_action_from_noise_is_reparameterised() -> None:
    """d a / d log σ = σ ξ and d a / d μ = 1 for fixed noise: the pathwise gradient exists."""
    policy, obs = _gaussian().double(), _obs(dtype=torch.float64)
    noise = torch.randn(obs.shape[0], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    a = policy.action_from_noise(obs, noise)
    (grad,) = torch.autograd.grad(a.sum(), policy.log_std)
    torch.testing.assert_close(grad, (policy.log_std.exp() * noise).sum(0).detach())


def test_gaussian_noise_replay_with_group_shape() -> None:
    policy, obs = _gaussian().double(), _obs(dtype=torch.float64)
    torch.manual_seed(1)
    s = policy.sample(obs, group_size=1)  # [B, 1, A], the shape stored in a RolloutBatch
    assert policy.noise_from_action(obs, s.action).shape == s.noise.shape
    torch.testing.assert_close(policy.noise_from_action(obs, s.action), s.noise)
    torch.testing.assert_close(policy.action_from_noise(obs, s.noise), s.action)


def test_gaussian_entropy_matches_torch() -> None:
    policy, obs = _gaussian(), _obs()
    ref = _normal(policy, obs).entropy().sum(-1)
    ent = policy.entropy(obs)
    assert ent.shape == (5,)
    torch.testing.assert_close(ent, ref, rtol=1e-6, atol=1e-6)


def test_gaussian_group_sampling_shapes_and_log_probs() -> None:
    policy, obs = _gaussian(), _obs(batch=4)
    torch.manual_seed(2)
    s = policy.sample(obs, group_size=7)
    assert s.action.shape == (4, 7, 2) and s.noise.shape == (4, 7, 2) and s.log_prob.shape == (4, 7)
    # Group members are distinct draws for the same observation.
    assert not torch.allclose(s.action[:, 0], s.action[:, 1])
    ref = _normal(policy, obs.unsqueeze(1).expand(-1, 7, -1).reshape(-1, OBS_DIM))
    ref_lp = ref.log_prob(s.action.reshape(-1, 2)).sum(-1).reshape(4, 7)
    torch.testing.assert_close(s.log_prob, ref_lp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(policy.log_prob(obs, s.action), ref_lp, rtol=1e-5, atol=1e-5)


def test_gaussian_kl_matches_torch() -> None:
    policy, obs = _gaussian(), _obs(batch=8)
    new = _perturbed(policy)
    with torch.no_grad():
        kl = policy.kl(policy.dist_params(obs), new.dist_params(obs))
        ref = D.kl_divergence(_normal(policy, obs), _normal(new, obs)).sum(-1).mean()
        assert ref > 1e-3
        torch.testing.assert_close(kl, ref, rtol=1e-5, atol=1e-6)
        same = policy.kl(policy.dist_params(obs), policy.dist_params(obs))
    assert same.abs() < 1e-7


def test_gaussian_env_action_clips_but_stored_action_is_unclipped() -> None:
    policy, obs = _gaussian(log_std_init=1.5), _obs(batch=64)
    torch.manual_seed(3)
    with torch.no_grad():
        s = policy.sample(obs)
    stored = s.action[:, 0].numpy()
    assert (np.abs(stored) > 1.0).any(), "need out-of-bounds samples for this test"
    before = stored.copy()
    clipped = policy.env_action(stored)
    assert clipped.min() >= -1.0 and clipped.max() <= 1.0
    np.testing.assert_array_equal(clipped, np.clip(before, -1.0, 1.0))
    np.testing.assert_array_equal(stored, before)  # not clipped in place
    # The log-prob stored at sampling time belongs to the unclipped action.
    with torch.no_grad():
        torch.testing.assert_close(policy.log_prob(obs, torch.from_numpy(before)), s.log_prob[:, 0])


def test_gaussian_env_action_unbounded_box_is_identity() -> None:
    policy = _make(gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))
    a = np.array([[1e6, -1e6]], dtype=np.float32)
    np.testing.assert_array_equal(policy.env_action(a), a)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gaussian_numpy_act_matches_torch_sample(activation: str) -> None:
    """The collector's numpy fast path draws the same noise as sample() and agrees with log_prob()."""
    torch.manual_seed(0)
    policy = make_policy(
        OBS_SPACE,
        gym.spaces.Box(-1, 1, (2,), np.float32),
        hidden_sizes=[16, 16],
        activation=activation,
        log_std_init=-0.5,
    )
    obs = _obs(batch=6)
    for step in range(3):
        torch.manual_seed(10 + step)
        action, log_prob, noise = policy.act(obs.numpy(), 4)
        torch.manual_seed(10 + step)
        with torch.no_grad():
            ref = policy.sample(obs, 4)
            ref_lp = policy.log_prob(obs, torch.from_numpy(action))
        assert action.shape == (6, 4, 2) and log_prob.shape == (6, 4) and noise.shape == (6, 4, 2)
        assert action.dtype == np.float32 and log_prob.dtype == np.float32
        np.testing.assert_array_equal(noise, ref.noise.numpy())
        np.testing.assert_allclose(action, ref.action.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(log_prob, ref.log_prob.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_prob, ref_lp.numpy(), rtol=1e-5, atol=1e-5)
        # The numpy path must see every kind of parameter change: in place (optimiser step,
        # load_state_dict), then a storage swap (TRPO's vector_to_parameters), then in place again.
        with torch.no_grad():
            if step == 0:
                for p in policy.parameters():
                    p.add_(0.2)
            else:
                vec = torch.nn.utils.parameters_to_vector(policy.parameters())
                torch.nn.utils.vector_to_parameters(vec * 1.1, policy.parameters())


@pytest.mark.parametrize("name", ["categorical", "bernoulli", "multicategorical"])
def test_discrete_act_matches_sample(name: str) -> None:
    space = {
        "categorical": gym.spaces.Discrete(4),
        "bernoulli": gym.spaces.MultiBinary(3),
        "multicategorical": gym.spaces.MultiDiscrete(NVEC),
    }[name]
    policy, obs = _make(space), _obs(batch=4)
    torch.manual_seed(3)
    action, log_prob, noise = policy.act(obs.numpy(), 2)
    torch.manual_seed(3)
    with torch.no_grad():
        ref = policy.sample(obs, 2)
    np.testing.assert_array_equal(action, ref.action.numpy())
    np.testing.assert_array_equal(log_prob, ref.log_prob.numpy())
    np.testing.assert_array_equal(noise, ref.noise.numpy())


# ---------------------------------------------------------------------------- discrete policies

DISCRETE_CASES = {
    "categorical": gym.spaces.Discrete(4),
    "bernoulli": gym.spaces.MultiBinary(3),
    "multicategorical": gym.spaces.MultiDiscrete(NVEC),
}


def _discrete(name: str, seed: int = 0):
    policy = _make(DISCRETE_CASES[name], seed=seed)
    expected = {
        "categorical": CategoricalPolicy,
        "bernoulli": BernoulliPolicy,
        "multicategorical": MultiCategoricalPolicy,
    }[name]
    assert isinstance(policy, expected)
    with torch.no_grad():  # the 0.01 output gain makes near-uniform logits: spread them out
        policy.logits_net[-1].weight.normal_(0.0, 1.0)
        policy.logits_net[-1].bias.normal_(0.0, 1.0)
    return policy


def _torch_dist(name: str, policy, obs: torch.Tensor) -> D.Distribution:
    """The reference distribution over the full action (log_prob/entropy summed over dims)."""
    out = policy.logits_net(obs)
    if name == "categorical":
        return D.Categorical(logits=out)
    if name == "bernoulli":
        return D.Independent(D.Bernoulli(logits=out), 1)
    raise AssertionError(name)


def _multicat_parts(policy, obs: torch.Tensor) -> list[D.Categorical]:
    logits = policy.logits_net(obs).view(obs.shape[0], len(NVEC), max(NVEC))
    return [D.Categorical(logits=logits[:, i, :n]) for i, n in enumerate(NVEC)]


def _ref_log_prob(name: str, policy, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    if name == "multicategorical":
        return sum(c.log_prob(action[:, i]) for i, c in enumerate(_multicat_parts(policy, obs)))
    a = action.float() if name == "bernoulli" else action
    return _torch_dist(name, policy, obs).log_prob(a)


def _ref_entropy(name: str, policy, obs: torch.Tensor) -> torch.Tensor:
    if name == "multicategorical":
        return sum(c.entropy() for c in _multicat_parts(policy, obs))
    return _torch_dist(name, policy, obs).entropy()


def _ref_kl(name: str, p0, p1, obs: torch.Tensor) -> torch.Tensor:
    if name == "multicategorical":
        parts = zip(_multicat_parts(p0, obs), _multicat_parts(p1, obs), strict=True)
        return sum(D.kl_divergence(a, b) for a, b in parts).mean()
    return D.kl_divergence(_torch_dist(name, p0, obs), _torch_dist(name, p1, obs)).mean()


@pytest.mark.parametrize("name", list(DISCRETE_CASES))
def test_discrete_log_prob_matches_torch(name: str) -> None:
    policy, obs = _discrete(name), _obs(batch=16)
    torch.manual_seed(4)
    with torch.no_grad():
        s = policy.sample(obs, group_size=3)
        assert s.action.dtype == torch.long and s.log_prob.shape == (16, 3)
        assert s.action.shape == (16, 3, *policy.action_shape)
        for g in range(3):
            ref = _ref_log_prob(name, policy, obs, s.action[:, g])
            torch.testing.assert_close(s.log_prob[:, g], ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(policy.log_prob(obs, s.action[:, g]), ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(policy.log_prob(obs, s.action), s.log_prob, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(DISCRETE_CASES))
def test_discrete_actions_in_range(name: str) -> None:
    policy, obs = _discrete(name), _obs(batch=8)
    space = DISCRETE_CASES[name]
    torch.manual_seed(5)
    with torch.no_grad():
        s = policy.sample(obs, group_size=500)
        mode = policy.mode(obs)
    assert mode.shape == (8, *policy.action_shape)
    for a in [*s.action.reshape(-1, *policy.action_shape).numpy(), *mode.numpy()]:
        assert space.contains(np.asarray(policy.env_action(a), dtype=space.dtype)), a
    if name == "multicategorical":  # padding categories (index >= nvec_i) are never chosen
        acts = s.action.reshape(-1, len(NVEC))
        for i, n in enumerate(NVEC):
            assert acts[:, i].max().item() == n - 1 and acts[:, i].min().item() == 0


@pytest.mark.parametrize("name", list(DISCRETE_CASES))
def test_discrete_entropy_matches_torch(name: str) -> None:
    policy, obs = _discrete(name), _obs(batch=16)
    with torch.no_grad():
        ent = policy.entropy(obs)
        assert ent.shape == (16,)
        torch.testing.assert_close(ent, _ref_entropy(name, policy, obs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(DISCRETE_CASES))
def test_discrete_kl_matches_torch(name: str) -> None:
    policy, obs = _discrete(name), _obs(batch=16)
    new = _perturbed(policy)
    with torch.no_grad():
        kl = policy.kl(policy.dist_params(obs), new.dist_params(obs))
        ref = _ref_kl(name, policy, new, obs)
        assert ref > 1e-3
        torch.testing.assert_close(kl, ref, rtol=1e-5, atol=1e-6)
        assert policy.kl(policy.dist_params(obs), policy.dist_params(obs)).abs() < 1e-6


@pytest.mark.parametrize("name", list(DISCRETE_CASES))
def test_discrete_kl_hessian_is_finite(name: str) -> None:
    """TRPO double-backprops through kl(old, new); padded -inf log-probs must not leak NaNs."""
    policy, obs = _discrete(name), _obs(batch=8)
    params = list(policy.parameters())
    old = tuple(t.detach() for t in policy.dist_params(obs))
    kl = policy.kl(old, policy.dist_params(obs))
    grads = torch.autograd.grad(kl, params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    v = torch.randn(flat.shape, generator=torch.Generator().manual_seed(0))
    hv = torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat @ v, params)])
    assert torch.isfinite(flat).all() and flat.abs().max() < 1e-5  # KL is minimal at old == new
    assert torch.isfinite(hv).all() and hv.norm() > 0
    assert v @ hv > 0  # the Fisher matrix is positive semi-definite


def _chi2_pvalue(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = np.asarray(probs, np.float64)
    expected = expected / expected.sum() * counts.sum()
    return float(stats.chisquare(counts, expected).pvalue)


def test_categorical_gumbel_max_frequencies() -> None:
    policy = _discrete("categorical")
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    _set_logits(policy, probs.log())
    obs = _obs(batch=1)
    torch.manual_seed(6)
    with torch.no_grad():
        s = policy.sample(obs, group_size=40_000)
    counts = np.bincount(s.action.reshape(-1).numpy(), minlength=4)
    assert _chi2_pvalue(counts, probs.numpy()) > 1e-3
    np.testing.assert_allclose(counts / counts.sum(), probs.numpy(), atol=0.01)


def test_bernoulli_sampling_frequencies() -> None:
    policy = _discrete("bernoulli")
    p = torch.tensor([0.1, 0.5, 0.85])
    _set_logits(policy, torch.logit(p))
    torch.manual_seed(7)
    with torch.no_grad():
        s = policy.sample(_obs(batch=1), group_size=40_000)
    acts = s.action.reshape(-1, 3).numpy()
    for i in range(3):
        counts = np.array([(acts[:, i] == 0).sum(), (acts[:, i] == 1).sum()])
        assert _chi2_pvalue(counts, np.array([1 - p[i].item(), p[i].item()])) > 1e-3
    np.testing.assert_allclose(acts.mean(0), p.numpy(), atol=0.01)


def test_multicategorical_gumbel_max_frequencies() -> None:
    policy = _discrete("multicategorical")
    n_max = max(NVEC)
    target = [
        torch.tensor([0.2, 0.3, 0.5]),
        torch.tensor([0.05, 0.1, 0.15, 0.3, 0.4]),
        torch.tensor([0.7, 0.3]),
    ]
    bias = torch.full((len(NVEC), n_max), 5.0)  # large padding logits: must still never be picked
    for i, t in enumerate(target):
        bias[i, : len(t)] = t.log()
    _set_logits(policy, bias.reshape(-1))
    torch.manual_seed(8)
    with torch.no_grad():
        s = policy.sample(_obs(batch=1), group_size=40_000)
    acts = s.action.reshape(-1, len(NVEC)).numpy()
    for i, t in enumerate(target):
        counts = np.bincount(acts[:, i], minlength=n_max)
        assert counts[len(t) :].sum() == 0
        assert _chi2_pvalue(counts[: len(t)], t.numpy()) > 1e-3
        np.testing.assert_allclose(counts[: len(t)] / counts.sum(), t.numpy(), atol=0.01)


@pytest.mark.parametrize(
    "space", [gym.spaces.Discrete(3, start=1), gym.spaces.MultiDiscrete([3, 2], start=[1, 1])]
)
def test_discrete_start_offset_respected(space: gym.Space) -> None:
    policy = _make(space)
    torch.manual_seed(9)
    with torch.no_grad():
        s = policy.sample(_obs(batch=1), group_size=200)
    for a in s.action.reshape(-1, *policy.action_shape).numpy():
        assert space.contains(np.asarray(policy.env_action(a), dtype=space.dtype))


# ---------------------------------------------------------------------------- make_policy


def test_make_policy_dispatch() -> None:
    assert isinstance(_make(gym.spaces.Box(-1, 1, (2,))), GaussianPolicy)
    assert isinstance(_make(gym.spaces.Discrete(4)), CategoricalPolicy)
    assert isinstance(_make(gym.spaces.MultiBinary(3)), BernoulliPolicy)
    assert isinstance(_make(gym.spaces.MultiDiscrete(NVEC)), MultiCategoricalPolicy)


def test_make_policy_rejects_dict_action_space() -> None:
    space = gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Box(-1, 1, (1,))})
    with pytest.raises(RlcvError, match="cannot handle the action space") as info:
        make_policy(OBS_SPACE, space, hidden_sizes=[8], algo="ppo")
    assert "ppo" in str(info.value) and "\n" not in str(info.value)


def test_make_policy_rejects_discrete_observation_space() -> None:
    with pytest.raises(RlcvError, match="Box observation space") as info:
        make_policy(gym.spaces.Discrete(5), gym.spaces.Discrete(2), hidden_sizes=[8])
    assert "FlattenObservation" in str(info.value) or "one-hot" in str(info.value)

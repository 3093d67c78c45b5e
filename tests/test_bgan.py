"""BGAN: f-divergence weight forms, the self-normalised estimator against exact enumerations, the
baselines' estimators, and the BGAN-Digits env (split, hooks, checkpointed discriminator)."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlcv  # noqa: F401  (registers the envs)
from rlcv.agents.bgan import BGAN, BGANConfig, BGANReinforce, ReinforceConfig
from rlcv.env_hooks import BindContext
from rlcv.envs.bgan_digits import HELD_OUT_EVERY, digits, quantize
from rlcv.estimators.moving_average import MovingAverageBaseline
from rlcv.estimators.relaxed import relaxed_action
from rlcv.estimators.self_normalized import log_weight_stats, normalized_weights
from rlcv.gan.fdivergences import DIVERGENCES, PEARSON_FLOOR
from rlcv.policies import BernoulliPolicy, MultiCategoricalPolicy
from rlcv.rollout import RolloutBatch

F64 = torch.float64
ENV_IDS = ("rlcv/BGAN-Digits-v0", "rlcv/BGAN-Digits4-v0", "rlcv/BGAN-DigitsCont-v0")
FAST_ENV = {"disc_hidden_sizes": [32], "eval_samples": 100}


def _v_grid(name: str) -> torch.Tensor:
    # Pearson weights are clipped below V = −2; test the unclipped branch there.
    return torch.linspace(-1.9 if name == "pearson" else -3.0, 3.0, 41, dtype=F64)


# ---------------------------------------------------------------------------- weight forms


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_weight_is_derivative_of_conjugate_and_inverts_f_prime(name: str) -> None:
    """w = (f*)'(T) at T = g_f(V), and f'(w) = T: the optimal-discriminator condition T* = f'(p/q)
    is inverted by the weight, so w* = p/q."""
    div = DIVERGENCES[name]
    v = _v_grid(name)
    t = div.activation(v).requires_grad_()
    (dconj,) = torch.autograd.grad(div.conjugate(t).sum(), t)
    w = div.log_weight(v).exp()
    torch.testing.assert_close(w, dconj, rtol=1e-10, atol=1e-12)
    u = w.clone().requires_grad_()
    (df,) = torch.autograd.grad(div.f(u).sum(), u)
    torch.testing.assert_close(df, div.activation(v), rtol=1e-9, atol=1e-10)
    # f(1) = 0 makes D_f a divergence; f-GAN's "GAN" f is 2·JS − log 4, offset by f(1) = −log 4.
    assert div.f(torch.ones((), dtype=F64)).item() == pytest.approx(
        -math.log(4) if name == "gan" else 0.0, abs=1e-12
    )


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_conjugate_is_the_fenchel_conjugate_of_f(name: str) -> None:
    """f*(t) = sup_u u·t − f(u) (numerically over a fine u grid), Fenchel–Young equality at u = w,
    and the stable f*(g_f(V)) used by the discriminator loss equals the composition."""
    div = DIVERGENCES[name]
    v = torch.linspace(-1.5, 1.5, 13, dtype=F64)
    t = div.activation(v)
    u = torch.logspace(-6, 3, 400_001, dtype=F64)
    sup = (u[None, :] * t[:, None] - div.f(u)[None, :]).max(1).values
    torch.testing.assert_close(div.conjugate(t), sup, rtol=1e-5, atol=1e-5)
    w = div.log_weight(v).exp()
    torch.testing.assert_close(div.f(w) + div.conjugate(t), w * t, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(
        div.conjugate_of_activation(_v_grid(name)), div.conjugate(div.activation(_v_grid(name)))
    )


def test_pearson_clips_negative_weights() -> None:
    log_w = DIVERGENCES["pearson"].log_weight(torch.tensor([-5.0, -2.0, 0.0, 2.0], dtype=F64))
    torch.testing.assert_close(log_w[:2], torch.full((2,), math.log(PEARSON_FLOOR), dtype=F64))
    torch.testing.assert_close(log_w[2:], torch.log(torch.tensor([1.0, 2.0], dtype=F64)))


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_trained_discriminator_recovers_density_ratio(name: str) -> None:
    """Maximising E_p[g_f(V)] − E_q[f*(g_f(V))] (the env's discriminator loss) over a free V per
    outcome of a 4-point space gives w(V) = p/q for every divergence."""
    p = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=F64)
    q = torch.tensor([0.25, 0.25, 0.3, 0.2], dtype=F64)
    div = DIVERGENCES[name]
    v = torch.zeros(4, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [v], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -((p * div.activation(v)).sum() - (q * div.conjugate_of_activation(v)).sum())
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(div.log_weight(v.detach()).exp(), p / q, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- the estimator, exactly


def _two_bit_space(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All 4 outcomes x of two independent Bernoulli(σ(θ)) bits, log g(x) and ∇_θ log g(x) = x − σ(θ)."""
    x = torch.tensor(list(itertools.product([0, 1], repeat=2)), dtype=F64)
    log_g = (
        x * torch.nn.functional.logsigmoid(theta) + (1 - x) * torch.nn.functional.logsigmoid(-theta)
    ).sum(-1)
    return x, log_g, x - torch.sigmoid(theta)


def _expected_estimate(estimate, log_g: torch.Tensor, m: int) -> torch.Tensor:
    """E over all M-tuples x_1..x_M ~ g of estimate(indices [K, M]) [K, dim], enumerated exactly."""
    tuples = torch.tensor(list(itertools.product(range(len(log_g)), repeat=m)))
    prob = log_g[tuples].sum(-1).exp()
    return (prob[:, None] * estimate(tuples)).sum(0)


def test_self_normalized_estimator_converges_to_closed_form_ml_gradient() -> None:
    """On a 2-bit space with the exact weights w = p/g (the optimal discriminator), the population
    BGAN gradient Σ_x g w/Z ∇log g is the maximum-likelihood gradient ∇_θ Σ_x p log g_θ (closed form,
    by autograd), and the exact expectation of the M-sample self-normalised estimator (all 4^M
    tuples enumerated) approaches it as O(1/M)."""
    theta = torch.tensor([0.3, -0.8], dtype=F64, requires_grad=True)
    _, log_g, score = _two_bit_space(theta.detach())
    p = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=F64)
    log_w = p.log() - log_g
    (ml_grad,) = torch.autograd.grad((p * _two_bit_space(theta)[1]).sum(), theta)
    w_tilde = torch.softmax(log_w + log_g, 0)  # g·w / Σ g·w
    torch.testing.assert_close((w_tilde[:, None] * score).sum(0), ml_grad)

    def estimate(tuples: torch.Tensor) -> torch.Tensor:
        adv = normalized_weights(log_w[tuples]) - 1.0 / tuples.shape[1]
        return (adv[..., None] * score[tuples]).sum(1)

    errors = {m: (_expected_estimate(estimate, log_g, m) - ml_grad).norm().item() for m in (1, 2, 4, 8)}
    assert errors[1] == pytest.approx(ml_grad.norm().item())  # M = 1: w̃ = 1, no signal
    assert errors[1] > errors[2] > errors[4] > errors[8]
    assert all(m * err < 0.65 for m, err in errors.items())  # bias ≈ c/M
    assert errors[8] < 0.2 * ml_grad.norm().item()


def test_self_normalized_estimator_is_invariant_to_log_w_shifts() -> None:
    log_w = torch.randn(5, 7, dtype=F64)
    a, b = normalized_weights(log_w) - 1 / 7, normalized_weights(log_w + 3.7) - 1 / 7
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(-1), torch.zeros(5, dtype=F64))


def test_reinforce_with_constant_baseline_is_exactly_unbiased() -> None:
    """E[(1/M) Σ_m (r_m − b) ∇log g(x_m)] = ∇_θ E_g[r] for any constant b (enumerated, M = 3)."""
    theta = torch.tensor([0.3, -0.8], dtype=F64, requires_grad=True)
    _, log_g, score = _two_bit_space(theta.detach())
    r = torch.tensor([-1.0, 0.5, 2.0, -0.3], dtype=F64)
    (true_grad,) = torch.autograd.grad((_two_bit_space(theta)[1].exp() * r).sum(), theta)
    for b in (0.0, 1.3):
        est = MovingAverageBaseline(decay=0.9)
        est.baseline = b

        def estimate(tuples: torch.Tensor, est: MovingAverageBaseline = est, b: float = b) -> torch.Tensor:
            batch = _batch(group_rewards=r[tuples][:, None, :], n_actions=2)
            adv = est.prepare(batch, policy=None, value_fn=None).advantages  # type: ignore[arg-type]
            est.baseline = b
            return (adv[..., None] * score[tuples]).sum(1)

        torch.testing.assert_close(_expected_estimate(estimate, log_g, 3), true_grad)


def test_moving_average_baseline_update() -> None:
    est = MovingAverageBaseline(decay=0.5)
    r1 = torch.tensor([[[1.0, 3.0]]])
    terms = est.prepare(_batch(group_rewards=r1), policy=None, value_fn=None)  # type: ignore[arg-type]
    torch.testing.assert_close(terms.advantages, torch.tensor([[-0.5, 0.5]]))  # first batch: b = its mean
    assert est.baseline == 2.0
    est.prepare(_batch(group_rewards=torch.tensor([[[4.0, 4.0]]])), policy=None, value_fn=None)  # type: ignore[arg-type]
    assert est.baseline == 0.5 * 2.0 + 0.5 * 4.0


def test_log_weight_diagnostics() -> None:
    log_w = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, -1e9, -1e9, -1e9]], dtype=F64)
    stats = log_weight_stats(log_w)
    assert stats["ess"] == pytest.approx((4 + 1) / 2)  # uniform weights: M; one weight: 1
    assert stats["log_z"] == pytest.approx(0.5 * (0.0 + (0.0 - math.log(4))))


# ---------------------------------------------------------------------------- the agent's update


def _batch(
    *,
    group_rewards: torch.Tensor,
    obs_dim: int = 3,
    n_actions: int = 4,
    actions: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> RolloutBatch:
    T, N, G = group_rewards.shape
    obs = torch.randn(T, N, obs_dim)
    if actions is None:
        actions = torch.randint(0, 2, (T, N, G, n_actions))
    zeros, false = torch.zeros(T, N), torch.zeros(T, N, dtype=torch.bool)
    return RolloutBatch(
        obs=obs,
        next_obs=obs,
        raw_obs=obs,
        raw_next_obs=obs,
        actions=actions,
        log_probs=torch.zeros(T, N, G),
        noise=noise if noise is not None else torch.zeros(T, N, G, 1),
        rewards=zeros,
        raw_rewards=zeros,
        terminated=~false,
        truncated=false,
        group_rewards=group_rewards,
    )


def _agent(cls=BGAN, config_cls=BGANConfig, **kwargs):
    torch.manual_seed(0)
    config = config_cls(hidden_sizes=[8], n_samples=5, learning_rate=1e-3, **kwargs)
    return cls(
        observation_space=gym.spaces.Box(-1, 1, (3,), np.float32),
        action_space=gym.spaces.MultiBinary(4),
        config=config,
    )


def _update_matches_score_gradient(agent, batch: RolloutBatch, adv: torch.Tensor) -> dict[str, float]:
    """One update's gradient equals mean_z Σ_m Â_m ∇_θ log g(x_m|z), each ∇ log g taken per sample by
    autograd (batch of 6 latents × 5 samples of 4 actions, as ``_batch`` makes); the update's metrics."""
    params = list(agent.policy.parameters())
    expected = [torch.zeros_like(p, dtype=F64) for p in params]
    obs, actions = batch.obs.reshape(6, 3), batch.actions.reshape(6, 5, 4)
    for b in range(6):
        for m in range(5):
            grads = torch.autograd.grad(agent.policy.log_prob(obs[b : b + 1], actions[b, m][None])[0], params)
            for e, g in zip(expected, grads, strict=True):
                e += adv[b, m] * g.double() / 6
    agent.optimizer.param_groups[0]["lr"] = 0.0
    metrics = agent.update(batch)
    for p, e in zip(params, expected, strict=True):
        torch.testing.assert_close(-p.grad.double(), e, rtol=1e-4, atol=1e-6)
    return metrics


@pytest.mark.parametrize("algo", ["bgan", "bgan-reinforce"])
def test_agent_gradient_is_the_estimator_formula(algo: str) -> None:
    """The gradient of one update equals mean_z Σ_m Â_m ∇_θ log g(x_m|z), with each ∇ log g taken
    per sample by autograd (BGAN: Â = w̃ − 1/M; REINFORCE: Â = (r − b)/M)."""
    agent = _agent() if algo == "bgan" else _agent(BGANReinforce, ReinforceConfig)
    agent.bind(BindContext(env_id="none", env_kwargs={}, obs_normalizer=None, reward_scaler=None))  # type: ignore[arg-type]
    batch = _batch(group_rewards=torch.randn(3, 2, 5))
    if algo == "bgan":
        adv = normalized_weights(batch.group_rewards.reshape(6, 5).double()) - 0.2
    else:
        r = batch.group_rewards.reshape(6, 5).double()
        adv = (r - r.mean()) / 5
    metrics = _update_matches_score_gradient(agent, batch, adv)
    assert metrics["ess"] >= 1.0 and metrics["ess"] <= 5.0
    assert {"generator_loss", "log_w_mean", "log_w_var", "ess", "log_z"} <= set(metrics)


def test_relaxed_straight_through_reproduces_collected_actions() -> None:
    """With the collector's noise, the straight-through sample's forward value is exactly the action
    the env scored, for Bernoulli and multi-categorical generators, and gradients reach θ."""
    torch.manual_seed(0)
    obs = torch.randn(6, 3)
    for policy in (
        BernoulliPolicy(3, 5, hidden_sizes=[8]),
        MultiCategoricalPolicy(3, np.full(5, 4), hidden_sizes=[8]),
    ):
        for p in policy.parameters():  # away from the near-uniform init
            p.data.normal_(0, 1)
        s = policy.sample(obs, 7)
        x = relaxed_action(policy, obs, s.noise, temperature=0.5, straight_through=True)
        hard = x if isinstance(policy, BernoulliPolicy) else x.argmax(-1)
        assert torch.equal(hard.detach().round().long(), s.action)
        x.sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())


# ---------------------------------------------------------------------------- env


def test_fixed_split_and_quantisation() -> None:
    d = digits(2)
    assert d["x_train"].shape == (1347, 64) and d["x_held_out"].shape == (450, 64)
    from sklearn.datasets import load_digits

    raw = load_digits()
    held = np.arange(1797) % HELD_OUT_EVERY == 0
    np.testing.assert_array_equal(d["y_held_out"], raw.target[held])
    np.testing.assert_array_equal(d["x_held_out"], (raw.data[held] >= 8).astype(np.float32))
    np.testing.assert_array_equal(
        quantize(np.array([0, 3, 4, 7, 8, 11, 12, 16.0]), 4) * 3, [0, 0, 1, 1, 2, 2, 3, 3]
    )
    np.testing.assert_allclose(np.unique(digits(4)["x_train"]), [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-6)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_passes_gymnasium_checker(env_id: str) -> None:
    env = gym.make(env_id, **FAST_ENV)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated and not truncated and reward == info["log_w"]


def test_group_is_scored_by_one_discriminator_and_state_round_trips() -> None:
    env = gym.make("rlcv/BGAN-Digits-v0", disc_batch_size=8, disc_hidden_sizes=[16]).unwrapped
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    updates = []
    for _ in range(3):  # 3 groups of 4 images: the discriminator steps at the start of step()
        group = rng.integers(0, 2, (4, 64))
        executed = env.step(group[0])[1]
        updates.append(env.disc_updates)
        rest = env.group_rewards(env._z, group[1:])
        assert env.disc_updates == updates[-1]  # never between members of a group
        x = torch.from_numpy(group).float()
        torch.testing.assert_close(torch.tensor([executed, *rest]), env.differentiable_reward(None, x))
    assert updates == [0, 0, 1]  # 8 buffered images after 2 groups → one step, at the third step()
    diag = env.diagnostics()
    assert diag["disc_updates"] == 1 and np.isfinite(diag["disc_loss"])
    state = env.state_dict()
    other = gym.make("rlcv/BGAN-Digits-v0", disc_batch_size=8, disc_hidden_sizes=[16]).unwrapped
    other.load_state_dict(state)
    other.reset(seed=99)  # a later reset must not re-initialise a loaded discriminator
    probe = torch.from_numpy(rng.integers(0, 2, (5, 64))).float()
    torch.testing.assert_close(
        other.differentiable_reward(None, probe), env.differentiable_reward(None, probe)
    )
    assert other.disc_updates == 1 and other._disc.buffered == env._disc.buffered == 4


def test_differentiable_reward_gives_gradients_to_actions_only() -> None:
    for env_id in ENV_IDS:
        env = gym.make(env_id, disc_hidden_sizes=[16]).unwrapped
        env.reset(seed=0)
        shape = (2, 3, 64, env.levels) if env.levels > 2 else (2, 3, 64)
        x = torch.rand(shape)
        if env.levels > 2:
            x = torch.softmax(x, -1)
        x.requires_grad_()
        env.differentiable_reward(None, x).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert all(p.grad is None for p in env.disc.parameters())


def test_discriminator_init_follows_the_reset_seed() -> None:
    def first_weight(seed: int) -> torch.Tensor:
        env = gym.make("rlcv/BGAN-Digits-v0", disc_hidden_sizes=[16]).unwrapped
        env.reset(seed=seed)
        return next(env.disc.parameters()).detach().clone()

    assert torch.equal(first_weight(1), first_weight(1))
    assert not torch.equal(first_weight(1), first_weight(2))
    fixed = [gym.make("rlcv/BGAN-Digits-v0", disc_seed=5).unwrapped for _ in range(2)]
    for env, seed in zip(fixed, (1, 2), strict=True):
        env.reset(seed=seed)
    assert torch.equal(next(fixed[0].disc.parameters()), next(fixed[1].disc.parameters()))


def test_unknown_divergence_is_a_clear_error() -> None:
    from rlcv.errors import RlcvError

    with pytest.raises(RlcvError, match="did you mean|Did you mean"):
        gym.make("rlcv/BGAN-Digits-v0", divergence="hellinge")


def test_entropy_bonus_adds_its_gradient_and_tempered_weights_are_a_softmax_power() -> None:
    """ent_coef c adds −c ∇ mean_z H(g(·|z)) to the loss gradient; weight_power β makes the
    advantages softmax(β log w) − 1/M (β = 1: the plain estimator)."""
    from rlcv.estimators.base import EstimatorSetup
    from rlcv.estimators.boundary_seeking import BoundarySeeking
    from rlcv.estimators.continuous_bgan import BoundarySeekingSettings

    ctx = BindContext(env_id="none", env_kwargs={}, obs_normalizer=None, reward_scaler=None)  # type: ignore[arg-type]
    batch = _batch(group_rewards=torch.randn(3, 2, 5))
    grads = []
    for coef in (0.0, 0.5):
        agent = _agent(ent_coef=coef)
        agent.bind(ctx)
        agent.optimizer.param_groups[0]["lr"] = 0.0
        agent.update(batch)
        grads.append([p.grad.clone() for p in agent.policy.parameters()])
    agent = _agent()
    params = list(agent.policy.parameters())
    h = torch.autograd.grad(agent.policy.entropy(batch.obs.reshape(6, 3)).mean(), params)
    for g0, g1, gh in zip(*grads, h, strict=True):
        torch.testing.assert_close(g1 - g0, -0.5 * gh, rtol=1e-4, atol=1e-6)
    setup = EstimatorSetup(
        observation_space=gym.spaces.Box(-1, 1, (3,)), action_space=gym.spaces.MultiBinary(4)
    )
    est = BoundarySeeking.from_setup(BoundarySeekingSettings(weight_power=0.5), setup)
    terms = est.prepare(batch, policy=agent.policy, value_fn=None)
    log_w = batch.group_rewards.reshape(6, 5)
    torch.testing.assert_close(terms.advantages, torch.softmax(0.5 * log_w, -1) - 0.2)
    assert terms.stats["ess"] == pytest.approx(log_weight_stats(log_w)["ess"])  # untempered
    sharp = BoundarySeeking.from_setup(BoundarySeekingSettings(weight_power=2.0), setup)
    terms2 = sharp.prepare(batch, policy=agent.policy, value_fn=None)
    torch.testing.assert_close(terms2.advantages, torch.softmax(2.0 * log_w, -1) - 0.2)
    for bad in (0.0, 4.5):
        with pytest.raises(Exception, match="weight_power must be in"):
            BoundarySeekingSettings(weight_power=bad)


def test_discriminator_regularisers_spectral_norm_and_instance_noise() -> None:
    env = gym.make("rlcv/BGAN-Digits-v0", disc_batch_size=8, disc_hidden_sizes=[16], disc_spectral_norm=True)
    disc = env.unwrapped.disc
    env.reset(seed=0)
    for _ in range(20):  # the power iteration converges as the net is called in training mode
        disc(torch.rand(4, 64))
    for layer in (m for m in disc.modules() if isinstance(m, torch.nn.Linear)):
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, rel=0.05)
    noisy = gym.make("rlcv/BGAN-Digits-v0", disc_batch_size=8, disc_instance_noise=0.5).unwrapped
    noisy.reset(seed=0)
    torch.manual_seed(0)
    for _ in range(3):
        noisy.step(np.zeros(64, np.int8))
        noisy.group_rewards(noisy._z, np.zeros((3, 64), np.int8))
    assert noisy.disc_updates == 1 and np.isfinite(noisy.diagnostics()["disc_loss"])
    with pytest.raises(Exception, match="disc_instance_noise must be >= 0"):
        gym.make("rlcv/BGAN-Digits-v0", disc_instance_noise=-1.0)


def test_out_init_gain_reinitialises_only_the_output_layer() -> None:
    """out_init_gain g > 0 re-draws the policy's last linear layer as an orthogonal matrix times g
    (bias 0) and leaves every other parameter as the default init draws it; 0 is the default."""
    default, scaled = _agent(), _agent(out_init_gain=10.0)
    layers = [m for m in scaled.policy.logits_net.modules() if isinstance(m, torch.nn.Linear)]
    w = layers[-1].weight.detach().double()  # [4, 8]: orthonormal rows times g
    torch.testing.assert_close(w @ w.T, 100.0 * torch.eye(4, dtype=F64), rtol=1e-5, atol=1e-4)
    assert not layers[-1].bias.any()
    named = dict(default.policy.named_parameters())
    for n, p in scaled.policy.named_parameters():  # the default's output weight has gain 0.01
        assert torch.equal(p, named[n]) != (p is layers[-1].weight)
    with pytest.raises(Exception, match="out_init_gain must be >= 0"):
        BGANConfig(out_init_gain=-1.0)


def test_continuous_objective_weights_is_the_self_normalised_gradient_on_box_generators() -> None:
    """With ``continuous_objective=weights`` a Box generator gets the discrete estimator's update:
    mean_z Σ_m (w̃_m − 1/M) ∇_θ log g(x_m|z) with the (squashed) Gaussian's log-density, and no
    pathwise term; the default stays the (V − log Z)² objective. A bad value is one clear error."""
    from rlcv.estimators.base import EstimatorSetup
    from rlcv.estimators.boundary_seeking import BoundarySeeking
    from rlcv.estimators.continuous_bgan import BoundarySeekingSettings, ContinuousBoundarySeeking
    from rlcv.estimators.self_normalized import SelfNormalizedWeights

    box = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    setup = EstimatorSetup(observation_space=gym.spaces.Box(-1, 1, (3,)), action_space=box)
    assert isinstance(
        BoundarySeeking.from_setup(BoundarySeekingSettings(), setup).inner, ContinuousBoundarySeeking
    )
    weights = BoundarySeekingSettings(continuous_objective="weights")
    assert isinstance(BoundarySeeking.from_setup(weights, setup).inner, SelfNormalizedWeights)
    with pytest.raises(Exception, match="continuous_objective must be 'boundary' or 'weights'"):
        BoundarySeekingSettings(continuous_objective="boundry")

    torch.manual_seed(0)
    config = BGANConfig(hidden_sizes=[8], n_samples=5, squash_output=True, estimator_settings=weights)
    agent = BGAN(observation_space=gym.spaces.Box(-1, 1, (3,), np.float32), action_space=box, config=config)
    agent.bind(BindContext(env_id="none", env_kwargs={}, obs_normalizer=None, reward_scaler=None))  # type: ignore[arg-type]
    batch = _batch(group_rewards=torch.randn(3, 2, 5), actions=torch.rand(3, 2, 5, 4) * 0.9 + 0.05)
    adv = normalized_weights(batch.group_rewards.reshape(6, 5).double()) - 0.2
    metrics = _update_matches_score_gradient(agent, batch, adv)
    assert 1.0 <= metrics["ess"] <= 5.0

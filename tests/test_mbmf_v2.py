"""MBMF v2: the λ-matched control variate, split η, the trust gate, early-stopped model training,
the pathwise term under PPO's trust region and the paired (γ, λ < 1) gradient check."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcv  # noqa: F401  (registers rlcv/LQR-v0)
from rlcv.agents.ppo import PPO, PPOConfig
from rlcv.agents.trpo import TRPO, TRPOConfig
from rlcv.diagnostics.gradcheck import run_gradcheck
from rlcv.diagnostics.lqr import collect, linear_policy
from rlcv.dynamics import EnsembleDynamics, ExactDynamics, TransitionReplay, train_dynamics_early_stopping
from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorTerms
from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings, fit_split_eta, gate
from rlcv.value import ValueFunction

LQR_KWARGS = {"state_dim": 4, "action_dim": 2, "horizon": 30}


def _lqr(horizon: int = 8, n_envs: int = 3, seed: int = 0):
    env = gym.make("rlcv/LQR-v0", **LQR_KWARGS)
    policy = linear_policy(env, seed=0)
    batch = collect("rlcv/LQR-v0", {**LQR_KWARGS, "horizon": horizon}, policy, n_envs=n_envs, seed=seed)
    torch.manual_seed(seed)
    return env, policy, batch, ValueFunction(4, hidden_sizes=[8])


def _est(env, *, gamma: float, gae_lambda: float, **settings) -> MBMFControlVariate:
    base = {"k": 3, "trust_gate": False, "eta_mode": "fixed"}
    return MBMFControlVariate(
        MBMFSettings(**{**base, **settings}), gamma=gamma, gae_lambda=gae_lambda, model=ExactDynamics(env)
    )


# ---------------------------------------------------------------------------- the λ-matched CV


@pytest.mark.parametrize("cut", [True, False])
def test_lambda_form_at_lambda_one_telescopes_to_k_step_d(cut: bool) -> None:
    """Σ γ^i c_i δ̂_i = C_t − V(s_t): the λ form generalises the k-step D (time limit included)."""
    env, policy, batch, value_fn = _lqr()
    batch = dataclasses.replace(batch, time_limit=5, episode_step=torch.arange(8)[:, None].expand(8, 3) % 5)
    lam = _est(env, gamma=0.9, gae_lambda=1.0, cv_form="lambda", cut_at_terminations=cut)
    ks = _est(env, gamma=0.9, gae_lambda=1.0, cv_form="kstep", cut_at_terminations=cut)
    a = batch.actions[:, :, 0]
    with torch.no_grad():
        values = value_fn(batch.obs)
        d_lam = lam.imagined_d(batch, policy, value_fn, a, lambda x: x, lam.cv_lambda)
        c = ks.control_variate(batch, policy, value_fn, a)
    torch.testing.assert_close(d_lam, c - values, rtol=1e-5, atol=1e-5)


def test_lambda_form_matches_hand_computation() -> None:
    """k = 2, t = 0: δ̂_0 + γλ δ̂_1 with the model's states and the real noise of step 1."""
    env, policy, batch, value_fn = _lqr(horizon=6, n_envs=2, seed=1)
    gamma, lam = 0.95, 0.8
    est = _est(env, gamma=gamma, gae_lambda=lam, k=2, cv_form="lambda")
    with torch.no_grad():
        d = est.imagined_d(batch, policy, value_fn, batch.actions[:, :, 0], lambda x: x, est.cv_lambda)
        s0, a0 = batch.raw_obs[0, 0], batch.actions[0, 0, 0]
        s1, r0 = env.unwrapped.model_step(s0[None].double(), a0[None].double())
        a1 = policy.action_from_noise(s1.float(), batch.noise[1, 0, 0][None])
        s2, r1 = env.unwrapped.model_step(s1, a1.double())
        v0, v1, v2 = (value_fn(x.float()).item() for x in (s0[None], s1, s2))
        expected = (r0.item() + gamma * v1 - v0) + gamma * lam * (r1.item() + gamma * v2 - v1)
    assert d[0, 0].item() == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_default_k_is_two_over_one_minus_gamma_lambda_capped() -> None:
    assert MBMFSettings(k_max=100).horizon(0.9, 0.5) == 4  # ⌈2 / 0.55⌉
    assert MBMFSettings(k_max=100).horizon(0.98, 0.92) == 21
    assert MBMFSettings(k_max=16).horizon(0.98, 0.92) == 16
    assert MBMFSettings(k_max=16).horizon(1.0, 1.0) == 16
    assert MBMFSettings(k=3).horizon(0.98, 0.92) == 3


# ---------------------------------------------------------------------------- split η and the gate


def test_split_parts_sum_to_d_and_the_trajectory_part_ignores_a_t() -> None:
    env, policy, batch, value_fn = _lqr()
    est = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", eta_mode="split")
    values = value_fn(batch.obs).detach()
    d_a, d_tau, grad = est.features(batch, policy, value_fn, values)
    with torch.no_grad():
        d = est.imagined_d(batch, policy, value_fn, batch.actions[:, :, 0], lambda x: x, est.cv_lambda)
    torch.testing.assert_close(d_a + d_tau, d)
    moved = dataclasses.replace(batch, actions=batch.actions + 0.3)
    d_a2, d_tau2, _ = est.features(moved, policy, value_fn, values)
    torch.testing.assert_close(d_tau2, d_tau)  # D_τ = D(μ_t): no a_t in it
    assert not torch.allclose(d_a2, d_a) and grad.abs().sum() > 0


def test_fit_split_eta_recovers_the_coefficients() -> None:
    g = torch.Generator().manual_seed(0)
    d_a, d_tau, noise = (torch.randn(4000, generator=g) for _ in range(3))
    eta_a, eta_tau = fit_split_eta(0.7 * d_a - 0.4 * d_tau + 0.05 * noise + 3.0, d_a, d_tau)
    assert eta_a == pytest.approx(0.7, abs=0.01) and eta_tau == pytest.approx(-0.4, abs=0.01)


def test_split_eta_comes_from_the_previous_batch() -> None:
    env, policy, _, value_fn = _lqr()
    est = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", eta_mode="split")
    first = est.prepare(_lqr(seed=1)[2], policy=policy, value_fn=value_fn)
    assert first.stats["cv_eta_a"] == 0.0 and first.stats["cv_eta_tau"] == 0.0  # no previous batch
    assert est.split_eta == (0.0, 0.0)  # prepare only measures: learning waits for after_update
    est.learn_from_batch()
    fitted = est.split_eta
    assert fitted != (0.0, 0.0)
    second = est.prepare(_lqr(seed=2)[2], policy=policy, value_fn=value_fn)
    assert second.stats["cv_eta_a"] == pytest.approx(fitted[0])  # applied to the next batch
    assert second.stats["cv_eta_tau"] == pytest.approx(fitted[1])
    est.learn_from_batch()
    assert est.split_eta != fitted  # and refitted on this one, for the one after
    state = est.state_dict()
    fresh = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", eta_mode="split")
    fresh.load_state_dict(state)
    assert fresh.split_eta == est.split_eta and fresh.last_error == est.last_error


def test_gate_ramps_between_the_thresholds() -> None:
    assert gate(None, 0.5, 1.0) == 0.0  # nothing measured yet: off
    assert gate(0.2, 0.5, 1.0) == 1.0 and gate(0.75, 0.5, 1.0) == pytest.approx(0.5)
    assert gate(1.0, 0.5, 1.0) == 0.0 and gate(30.0, 0.5, 1.0) == 0.0 and gate(float("nan"), 0.5, 1.0) == 0.0


def test_gate_is_decided_from_the_previous_batch_error() -> None:
    env, policy, batch, value_fn = _lqr()
    est = _est(env, gamma=0.9, gae_lambda=0.8, eta_mode="fixed", trust_gate=True)
    est.replay = TransitionReplay(10)  # a learned-model setting: the gate needs a measured error
    assert est.prepare(batch, policy=policy, value_fn=value_fn).stats["cv_gate"] == 0.0
    est.last_error = 0.75
    terms = est.prepare(batch, policy=policy, value_fn=value_fn)
    assert terms.stats["cv_gate"] == pytest.approx(0.5) and terms.stats["cv_eta_a"] == pytest.approx(0.5)


def test_variance_gate_reads_the_previous_batch_held_out_ratio() -> None:
    """gate_on=variance: closed until a held-out ratio exists; then g follows the ratio the previous
    batch's ungated η gave on the batch after it, decided before the current batch is seen."""
    env, policy, batch, value_fn = _lqr(horizon=30, n_envs=8)
    _, _, other, _ = _lqr(horizon=30, n_envs=8, seed=1)
    est = _est(env, gamma=0.9, gae_lambda=0.8, eta_mode="split", trust_gate=True, gate_on="variance")
    est.replay = TransitionReplay(10)  # a learned-model setting: unknown means closed
    first = est.prepare(batch, policy=policy, value_fn=value_fn).stats
    # No coefficients were fitted before this batch, so there is nothing to test yet.
    assert first["cv_gate"] == 0.0 and np.isnan(first["cv_heldout_ratio"]) and est.last_ratio is None
    est.learn_from_batch()  # between two updates (after_update in training)
    second = est.prepare(other, policy=policy, value_fn=value_fn).stats
    assert second["cv_gate"] == 0.0 and second["cv_eta_a"] == 0.0  # gated off: the estimate is Â's
    # The exact model's CV transfers across batches: the ratio is well below 1 and opens the gate.
    assert second["cv_heldout_ratio"] < 0.9
    est.learn_from_batch()
    third = est.prepare(batch, policy=policy, value_fn=value_fn).stats
    assert third["cv_gate"] == 1.0 and third["cv_score_var_ratio"] < 1.0
    # A ratio between the thresholds ramps linearly; it survives a checkpoint round trip.
    est.last_ratio = 0.95
    clone = _est(env, gamma=0.9, gae_lambda=0.8, eta_mode="split", trust_gate=True, gate_on="variance")
    clone.load_state_dict(est.state_dict())
    assert clone.gate() == pytest.approx(0.5) and clone.split_eta_fitted


def test_variance_gate_trusts_a_fixed_model_until_measured() -> None:
    """As with the model-error gate, a fixed (exact) model starts open; its first measured ratio rules."""
    env, policy, batch, value_fn = _lqr(horizon=30, n_envs=8)
    est = _est(env, gamma=0.9, gae_lambda=0.8, eta_mode="fixed", trust_gate=True, gate_on="variance")
    first = est.prepare(batch, policy=policy, value_fn=value_fn).stats
    assert first["cv_gate"] == 1.0 and first["cv_eta_a"] == 1.0
    est.last_ratio = 1.2  # the CV made things worse on the last batch
    assert est.prepare(batch, policy=policy, value_fn=value_fn).stats["cv_gate"] == 0.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gate_on": "loss"}, "gate_on must be one of"),
        ({"gate_ratio_low": 1.0, "gate_ratio_high": 0.9}, "gate_ratio_low must be"),
    ],
)
def test_variance_gate_settings_are_checked(settings: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        MBMFSettings(**settings)


# ---------------------------------------------------------------------------- the model


def test_early_stopping_keeps_the_best_held_out_parameters() -> None:
    env, policy, batch, _ = _lqr(horizon=30, n_envs=20)
    model = EnsembleDynamics(4, 2, ensemble_size=2, hidden_sizes=[16], predict_termination=False)
    replay = TransitionReplay(10_000)
    replay.add_batch(batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    best, steps = train_dynamics_early_stopping(
        model, opt, replay, max_steps=400, batch_size=64, horizon=2, holdout=0.2, patience=2, eval_every=5
    )
    assert 0 < steps <= 400 and np.isfinite(best)
    held = replay._concat()
    from rlcv.dynamics import cut_windows

    w = cut_windows({k: v[24:] for k, v in held.items()}, None, 2, None)
    with torch.no_grad():
        now, _ = model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)
    assert now.item() == pytest.approx(best, rel=0.2)  # the kept parameters are the best ones found


# ---------------------------------------------------------------------------- the agents


def _recording_terms(obs: torch.Tensor, seen: list) -> EstimatorTerms:
    """Random advantages and a pathwise loss (−0.1 Σ μ_θ(s)) that records the weights it is given."""

    def pathwise_loss(idx, pol, weights):
        seen.append(None if weights is None else weights.clone())
        a = pol.action_from_noise(obs[idx], torch.zeros(len(idx), pol.log_std.shape[0]))
        return -a.sum(-1).mean() * 0.1

    n = obs.shape[0]
    zeros = torch.zeros(n)
    return EstimatorTerms(advantages=torch.randn(n), returns=zeros, values=zeros, pathwise_loss=pathwise_loss)


def test_ppo_passes_ratio_and_clip_mask_to_the_pathwise_term() -> None:
    env = gym.make("InvertedPendulum-v5")
    torch.manual_seed(0)
    agent = PPO(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=PPOConfig(n_steps=64, batch_size=16, n_epochs=4, learning_rate=3e-2, clip_range=0.05),
    )
    from test_mbmf import _batch  # tests/ is on sys.path (pytest rootdir-less prepend import)

    batch = _batch("InvertedPendulum-v5", agent.policy, 64, n_envs=1)
    seen: list = []
    agent.learn(batch, _recording_terms(batch.obs.reshape(64, -1), seen))
    assert torch.equal(seen[0], torch.ones(16))  # θ = θ_old: every weight is 1
    later = torch.cat(seen[4:])
    assert (later == 0).any()  # samples outside the clip range carry no pathwise gradient
    inside = later[later > 0]
    assert ((inside - 1).abs() <= 0.05 + 1e-6).all() and not torch.all(inside == 1)


def test_mbmf_pathwise_term_uses_the_weights() -> None:
    env, policy, batch, value_fn = _lqr()
    est = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda")
    terms = est.prepare(batch, policy=policy, value_fn=value_fn)
    assert terms.pathwise_loss is not None
    idx = torch.arange(6)
    params = list(policy.parameters())
    plain = torch.autograd.grad(terms.pathwise_loss(idx, policy, None), params)
    ones = torch.autograd.grad(terms.pathwise_loss(idx, policy, torch.ones(6)), params)
    zero = torch.autograd.grad(terms.pathwise_loss(idx, policy, torch.zeros(6)), params)
    assert all(torch.equal(a, b) for a, b in zip(plain, ones, strict=True))
    assert all(torch.count_nonzero(g) == 0 for g in zero)
    off = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", pathwise_trust_region=False)
    t_off = off.prepare(batch, policy=policy, value_fn=value_fn)
    assert t_off.pathwise_loss is not None
    ignored = torch.autograd.grad(t_off.pathwise_loss(idx, policy, torch.zeros(6)), params)
    assert all(torch.equal(a, b) for a, b in zip(plain, ignored, strict=True))


def test_target_kl_stops_mbmf_ppo_early() -> None:
    env = gym.make("rlcv/LQR-v0", **LQR_KWARGS)
    settings = MBMFSettings(model="exact", k=3)
    agent = PPO(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=PPOConfig(
            n_steps=60,
            batch_size=20,
            n_epochs=10,
            target_kl=1e-6,
            estimator="mbmf",
            estimator_settings=settings,
        ),
    )
    agent.estimator.use_model(ExactDynamics(env))
    batch = collect("rlcv/LQR-v0", LQR_KWARGS, agent.policy, n_envs=2, seed=0)
    out = agent.update(batch)
    assert out["n_epochs_run"] == 1.0 and "cv_gate" in out


def test_trpo_surrogate_and_line_search_include_the_pathwise_term() -> None:
    env, policy, batch, _ = _lqr(horizon=30, n_envs=2)
    agent = TRPO(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=TRPOConfig(n_steps=30, n_critic_updates=1),
    )
    n = 60
    obs, actions = batch.obs.reshape(n, -1), batch.actions[:, :, 0].reshape(n, -1)
    seen: list = []
    terms = _recording_terms(obs, seen)
    old = agent.policy.log_prob(obs, actions).detach()
    with_p = agent.surrogate(terms, obs, actions, old)
    without = agent.surrogate(dataclasses.replace(terms, pathwise_loss=None), obs, actions, old)
    params = list(agent.policy.parameters())
    g_with = torch.autograd.grad(with_p, params, allow_unused=True)
    g_without = torch.autograd.grad(without, params, allow_unused=True)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(g_with, g_without, strict=True)
        if a is not None and b is not None
    )
    seen.clear()
    agent.learn(batch, terms)
    assert len(seen) >= 2 and all(w is None for w in seen)  # the gradient and every line-search step


# ---------------------------------------------------------------------------- the proofs (small)


@pytest.mark.parametrize(
    ("k", "estimates", "episodes"),
    # ~20 s and ~40 s on a shared core (a critic and split η are fitted on separate batches first)
    [
        pytest.param(3, 100, 3, marks=pytest.mark.expensive),
        pytest.param(5, 300, 5, marks=pytest.mark.expensive),
    ],
)
def test_paired_gradcheck_v2_is_unbiased_and_rejects_the_broken_variant(
    k: int, estimates: int, episodes: int
) -> None:
    kw = {
        "env_kwargs": LQR_KWARGS,
        "k": k,
        "estimates": estimates,
        "episodes": episodes,
        "gamma": 0.95,
        "gae_lambda": 0.9,
        "cv_form": "lambda",
        "eta_mode": "split",
        "clip_range": 0.2,
    }
    ok = run_gradcheck(**kw)
    assert ok["reference"].startswith("paired") and ok["passed"] and ok["passed_chi2"], ok
    assert abs(ok["proj_z"]) < 3.3 and ok["trace_ratio_vs_k0"] < 1.0
    broken = run_gradcheck(**kw, variant="broken")
    assert not broken["passed"] and not broken["passed_chi2"], broken


# ---------------------------------------------------------------------------- the model's budget
def test_model_budget_per_transition_scales_with_the_batch() -> None:
    """model_train_steps null: one Adam step per model_transitions_per_step transitions of the batch, so
    the model's budget per env step is the same at any n_steps; a number keeps the fixed budget."""
    env, _, batch, _ = _lqr(horizon=8, n_envs=3)  # 8 steps x 3 envs = 24 transitions
    assert batch.n_steps * batch.n_envs == 24
    per = _est(env, gamma=0.99, gae_lambda=0.95, model_train_steps=None, model_transitions_per_step=5.0)
    assert per.model_steps(batch) == 5  # ceil(24 / 5)
    fixed = _est(env, gamma=0.99, gae_lambda=0.95, model_train_steps=7)
    assert fixed.model_steps(batch) == 7
    with pytest.raises(RlcvError, match="model_transitions_per_step must be > 0"):
        MBMFSettings(model_transitions_per_step=0)


# ---------------------------------------------------------------------------- eta_mode tau (D_τ only)
def test_tau_mode_keeps_d_tau_and_drops_the_action_part_and_the_pathwise_term() -> None:
    env, policy, batch, value_fn = _lqr()
    split = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", eta_mode="split")
    tau = _est(env, gamma=0.9, gae_lambda=0.8, cv_form="lambda", eta_mode="tau")
    values = value_fn(batch.obs).detach()
    _, d_tau, _ = split.features(batch, policy, value_fn, values)
    t_a, t_tau, t_grad = tau.features(batch, policy, value_fn, values)
    torch.testing.assert_close(t_tau, d_tau)  # the same mean-action rollout
    assert not t_a.any() and not t_grad.any() and t_a.shape == d_tau.shape
    tau.prepare(_lqr(seed=1)[2], policy=policy, value_fn=value_fn)
    tau.learn_from_batch()
    assert tau.split_eta[0] == 0.0 and tau.split_eta[1] != 0.0  # η_a = 0: D_a is zero
    terms = tau.prepare(batch, policy=policy, value_fn=value_fn)
    assert terms.pathwise_loss is None and terms.stats["cv_eta_tau"] == pytest.approx(tau.split_eta[1])


@pytest.mark.expensive
def test_tau_mode_passes_the_paired_gradcheck_where_the_broken_split_is_rejected() -> None:
    """D_τ needs no pathwise term: unbiased without one. At the same settings the split CV without its
    pathwise term (the broken variant) is rejected, so the check has the power to see a missing term."""
    kw = {
        "env_kwargs": LQR_KWARGS,
        "k": 3,
        "estimates": 100,
        "episodes": 3,
        "gamma": 0.95,
        "gae_lambda": 0.9,
        "cv_form": "lambda",
        "clip_range": 0.2,
    }
    # no pathwise term to drop: the power target is a stated bias, 25 % along the reference (100 estimates
    # detect ~21 %; the default 10 % would need ~500)
    ok = run_gradcheck(**kw, eta_mode="tau", detect_bias=0.25)
    assert ok["reference"].startswith("paired") and ok["passed"] and ok["passed_chi2"], ok
    assert ok["has_power"], ok
    assert ok["split_eta"][0] == 0.0 and ok["trace_ratio_vs_k0"] < 1.0
    broken = run_gradcheck(**kw, eta_mode="split", variant="broken")
    assert not broken["passed"] and not broken["passed_chi2"], broken

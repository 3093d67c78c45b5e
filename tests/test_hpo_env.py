"""rlcv/OnlineHPO-v0: Gymnasium contract, divergence, clipping, determinism and the hypergradient math."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlcv  # noqa: F401  (registers the env)
from rlcv.envs.online_hpo import HPARAMS, OBS, OnlineHPOEnv, sgd_step

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(env: OnlineHPOEnv, action: np.ndarray) -> tuple[list[np.ndarray], list[float], dict]:
    observations, rewards = [], []
    while True:
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        assert not truncated
        if terminated:
            return observations, rewards, info


def test_passes_gymnasium_env_checker() -> None:
    check_env(gym.make("rlcv/OnlineHPO-v0", **TINY).unwrapped, skip_render_check=True)
    check_env(OnlineHPOEnv(**TINY, hypergradient="forward", hparam_init="random"), skip_render_check=True)


def test_episode_is_one_inner_run_with_reward_the_val_loss_decrease() -> None:
    env = OnlineHPOEnv(**TINY)
    obs0, info = env.reset(seed=3)
    observations, rewards, info = _run(env, np.zeros(3, np.float32))
    assert len(rewards) == TINY["budget"] // TINY["steps_per_action"]
    record = info["episode"]
    assert record["sgd_steps"] == record["steps_done"] == TINY["budget"] and not record["diverged"]
    # Rewards telescope: the return is L_val(θ_0) − L_val(θ_final).
    assert sum(rewards) == pytest.approx(obs0[OBS["val_loss"]] - observations[-1][OBS["val_loss"]], abs=1e-5)
    assert observations[-1][OBS["budget_used"]] == 1.0
    assert 0.0 <= record["test_accuracy"] <= 1.0 and math.isfinite(record["test_loss"])


def test_inner_seed_varies_per_episode_and_is_pinned_by_reset_seed() -> None:
    env = OnlineHPOEnv(**TINY)
    _, a = env.reset(seed=0)
    _, b = env.reset()
    _, c = env.reset(seed=0)
    assert a["inner_seed"] != b["inner_seed"] and a["inner_seed"] == c["inner_seed"]
    _, d = env.reset(options={"inner_seed": 123})
    assert d["inner_seed"] == 123


def test_same_seed_same_trajectory() -> None:
    runs = []
    for _ in range(2):
        env = OnlineHPOEnv(**TINY, hypergradient="forward")
        env.reset(seed=7)
        actions = np.random.default_rng(0).uniform(-1, 1, size=(4, 3)).astype(np.float32)
        runs.append([env.step(a)[:2] for a in actions])
    for (o1, r1), (o2, r2) in zip(*runs, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_hyperparameters_are_clipped_to_their_ranges() -> None:
    env = OnlineHPOEnv(
        **TINY,
        lr_range=(1e-3, 0.5),
        batch_size_range=(8, 64),
        weight_decay_range=(1e-5, 1e-2),
        max_factor=1e3,
    )
    space = env.observation_space
    env.reset(seed=0)
    for sign in (1.0, -1.0):
        # ×1000 (the action, 100, is itself clipped to log2 max_factor) overshoots every range
        obs, *_ = env.step(np.full(3, 100.0 * sign, np.float32))
        assert space.contains(obs)
        hp = env.hparams()
        expected = (
            {"lr": 0.5, "batch_size": 64, "weight_decay": 1e-2}
            if sign > 0
            else {"lr": 1e-3, "batch_size": 8, "weight_decay": 1e-5}
        )
        assert hp == pytest.approx(expected)
        assert obs[OBS["log10_lr"]] == pytest.approx(math.log10(expected["lr"]), abs=1e-6)
        assert obs[OBS["log2_batch_size"]] == pytest.approx(math.log2(expected["batch_size"]), abs=1e-6)
    env.reset(seed=0, options={"hparams": {"lr": 1e6, "batch_size": 1, "weight_decay": 0.0}})
    assert env.hparams() == pytest.approx({"lr": 0.5, "batch_size": 8, "weight_decay": 1e-5})
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        env.reset(options={"hparams": {"momentum": 0.9}})


def test_one_action_multiplies_by_at_most_max_factor() -> None:
    env = OnlineHPOEnv(**TINY, max_factor=4.0)
    assert env.action_space.high.tolist() == [2.0, 2.0, 2.0]
    env.reset(seed=0)
    before = env.hparams()
    env.step(np.array([1.0, -1.0, 5.0], np.float32))
    after = env.hparams()
    assert after["lr"] == pytest.approx(before["lr"] * 2) and after["batch_size"] == before["batch_size"] // 2
    assert after["weight_decay"] == pytest.approx(before["weight_decay"] * 4)


def test_nan_loss_ends_the_episode_with_a_large_negative_reward(tmp_path) -> None:
    log = tmp_path / "episodes.jsonl"
    env = OnlineHPOEnv(**TINY, episode_log=str(log))
    env.reset(seed=0)
    env.step(np.zeros(3, np.float32))
    env.run.theta[0] = float("nan")  # a corrupted inner run
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, np.float32))
    assert terminated and not truncated and reward == -env.divergence_penalty and info["diverged"]
    assert np.isfinite(obs).all() and env.observation_space.contains(obs)
    assert info["episode"]["diverged"] and info["episode"]["test_accuracy"] == 0.0
    assert "Infinity" in log.read_text()  # the record is written, with an infinite loss
    env.reset()  # the env is usable again
    assert not math.isnan(env.step(np.zeros(3, np.float32))[1])


def test_exploding_learning_rate_diverges_cleanly() -> None:
    env = OnlineHPOEnv(**TINY, lr_init=1e3, lr_range=(1.0, 1e4))
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(np.ones(3, np.float32))
    assert terminated and info["diverged"] and reward == -env.divergence_penalty
    assert info["inner_steps"] < TINY["steps_per_action"]  # stopped at the first bad step
    assert env.observation_space.contains(obs)


def test_member_state_round_trip_copies_the_run() -> None:
    a, b = OnlineHPOEnv(**TINY), OnlineHPOEnv(**TINY)
    a.reset(seed=0, options={"hparams": {"lr": 0.2}})
    b.reset(seed=1)
    a.step(np.zeros(3, np.float32))
    state = a.member_state
    state["lr"] = 1e9  # clipped on load
    b.member_state = state
    assert torch.equal(b.run.theta, a.run.theta) and b.run.theta is not a.run.theta
    assert b.run.steps_done == a.run.steps_done and b.hparams()["lr"] == b.ranges["lr"][1]
    assert b.run.sgd_steps == 0  # compute stays with the env that spent it
    b.member_state = None  # no-op
    assert b.run.steps_done == a.run.steps_done


# ------------------------------------------------------------------------------ hypergradients


def _quadratic(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = R @ R.T / n + 0.5 * torch.eye(n, dtype=torch.float64)  # SPD
    b, c, theta0 = (torch.randn(n, generator=g, dtype=torch.float64) for _ in range(3))
    return A, b, c, theta0


def test_forward_mode_hypergradient_matches_the_closed_form_on_a_quadratic() -> None:
    r"""Training loss ½θᵀAθ − bᵀθ + ½λ‖θ‖², T full-batch GD steps; validation loss ½‖θ_T − c‖².

    With M = A + λI = QΛQᵀ and θ* = M⁻¹b:  θ_T = θ* + Q diag((1 − ηΛ)^T) Qᵀ (θ_0 − θ*), so
    dθ_T/dη = Q diag(−TΛ(1 − ηΛ)^{T−1}) Qᵀ (θ_0 − θ*)  and, since dθ*/dλ = −M⁻¹θ*,
    dθ_T/dλ = (I − P_T) dθ*/dλ + Q diag(−Tη(1 − ηΛ)^{T−1}) Qᵀ (θ_0 − θ*).
    """
    A, b, c, theta0 = _quadratic()
    lr, wd, T = 0.3, 0.05, 25
    mask = torch.ones(4, dtype=torch.float64)

    theta, Z = theta0.clone(), torch.zeros(4, 2, dtype=torch.float64)
    for _ in range(T):
        res = sgd_step(
            theta,
            lambda th: (0.5 * th @ A @ th - b @ th, None),
            lr=lr,
            weight_decay=wd,
            weight_mask=mask,
            tangents=Z,
        )
        theta, Z = res.theta, res.tangents
    hyper = Z.T @ (theta - c)

    M = A + wd * torch.eye(4, dtype=torch.float64)
    lam, Q = torch.linalg.eigh(M)
    star = torch.linalg.solve(M, b)
    e0 = Q.T @ (theta0 - star)
    P_T = Q @ torch.diag((1 - lr * lam) ** T) @ Q.T
    theta_T = star + P_T @ (theta0 - star)
    d_lr = Q @ (-T * lam * (1 - lr * lam) ** (T - 1) * e0)
    d_star = -torch.linalg.solve(M, star)
    d_wd = (torch.eye(4, dtype=torch.float64) - P_T) @ d_star + Q @ (-T * lr * (1 - lr * lam) ** (T - 1) * e0)
    exact = torch.stack([lr * (theta_T - c) @ d_lr, wd * (theta_T - c) @ d_wd])  # d/d(log η, log λ)

    torch.testing.assert_close(theta, theta_T, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hyper, exact, rtol=1e-8, atol=1e-12)
    assert exact.abs().min() > 1e-4  # the check is not vacuous


def test_hd_signal_is_minus_the_one_step_hypergradient() -> None:
    """θ_t = θ_{t−1} − η g_{t−1}  ⇒  ∂L(θ_t)/∂η = −g_t · g_{t−1}: what hypergradient descent follows."""
    A, b, _, theta0 = _quadratic(seed=1)
    mask = torch.zeros(4, dtype=torch.float64)

    def loss(th: torch.Tensor) -> tuple[torch.Tensor, None]:
        return 0.5 * th @ A @ th - b @ th, None

    prev = sgd_step(theta0, loss, lr=0.2, weight_decay=0.0, weight_mask=mask)
    nxt = sgd_step(prev.theta, loss, lr=0.2, weight_decay=0.0, weight_mask=mask)
    eta = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    (d_eta,) = torch.autograd.grad(loss(theta0 - eta * prev.grad)[0], eta)
    assert float(d_eta) == pytest.approx(-float(nxt.grad @ prev.grad), rel=1e-12)


def test_env_hd_signal_sums_consecutive_gradient_products() -> None:
    env = OnlineHPOEnv(**TINY)
    env.reset(seed=0)
    env.step(np.zeros(3, np.float32))
    run = env.run
    theta, prev, gen_state = run.theta.clone(), run.prev_grad.clone(), run.gen.get_state()
    obs, *_ = env.step(np.zeros(3, np.float32))

    gen = torch.Generator()
    gen.set_state(gen_state)
    X, y = env.data["train"]
    expected = 0.0
    for _ in range(TINY["steps_per_action"]):
        idx = torch.randint(0, len(y), (env.batch_size,), generator=gen)
        res = sgd_step(
            theta,
            lambda th, idx=idx: env.task.loss(th, X[idx], y[idx]),
            lr=run.lr,
            weight_decay=run.weight_decay,
            weight_mask=env.task.weight_mask,
        )
        expected += float(res.grad @ prev)
        theta, prev = res.theta, res.grad
    assert obs[OBS["hd_signal"]] == pytest.approx(expected, rel=1e-4)
    torch.testing.assert_close(run.theta, theta)


def test_env_forward_hypergradient_matches_finite_differences() -> None:
    """Zᵀ∇L_val reported after the first env step vs central differences in log η and log λ_wd."""
    kwargs = {**TINY, "steps_per_action": 20, "weight_decay_init": 1e-2}

    def val_after_one_step(hp: dict[str, float]) -> tuple[float, np.ndarray]:
        env = OnlineHPOEnv(**kwargs, hypergradient="forward")
        env.reset(seed=0, options={"hparams": hp})
        obs, *_ = env.step(np.zeros(3, np.float32))
        return float(obs[OBS["val_loss"]]), obs

    base = {"lr": 0.1, "weight_decay": 1e-2}
    _, obs = val_after_one_step(base)
    eps = 0.05
    for name, field_name in (("lr", "hypergrad_log_lr"), ("weight_decay", "hypergrad_log_weight_decay")):
        plus, _ = val_after_one_step({**base, name: base[name] * math.exp(eps)})
        minus, _ = val_after_one_step({**base, name: base[name] * math.exp(-eps)})
        fd = (plus - minus) / (2 * eps)
        assert obs[OBS[field_name]] == pytest.approx(fd, rel=0.05, abs=1e-6), name
    assert set(HPARAMS) == {"lr", "batch_size", "weight_decay"}


def test_online_hpo_takes_the_inner_network_as_network(capsys, monkeypatch) -> None:
    """OnlineHPO's `model` (env kwarg and meta_tasks key) is `network`; the old key still builds the same
    problem, with one deprecation line per process however many envs are built."""
    from rlcv import legacy

    monkeypatch.setattr(legacy, "_SAID", set())
    small = {"budget": 20, "steps_per_action": 10, "hidden_size": 4}
    new = OnlineHPOEnv(**small, network="mlp")
    assert capsys.readouterr().err == ""
    olds = [OnlineHPOEnv(**small, model="mlp"), OnlineHPOEnv(**small, meta_tasks=[{"model": "mlp"}])]
    assert capsys.readouterr().err.count("rlcv: deprecated: rlcv/OnlineHPO-v0's key 'model'") == 1
    assert all(type(env.task) is type(new.task) for env in olds)
    with pytest.raises(ValueError, match="network one of"):
        OnlineHPOEnv(**small, network="resnet")


def test_run_folders_with_the_old_key_read_with_network(tmp_path) -> None:
    import yaml

    from rlcv.run_dir import RunDir

    kwargs = {"model": "cnn", "meta_tasks": [{"task": "digits", "model": "mlp"}]}
    meta = {"algo": "hpo-ucb1", "env": "rlcv/OnlineHPO-v0", "steps": 8, "seed": 0}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**meta, "config": {"env_kwargs": kwargs}}))
    read = RunDir(tmp_path).read_meta()["config"]["env_kwargs"]
    assert read == {"network": "cnn", "meta_tasks": [{"task": "digits", "network": "mlp"}]}

"""The TD-error term of the dynamics model loss (rlcv.dynamics.TDLoss)."""

import torch

from rlcv.dynamics import EnsembleDynamics, TDLoss


def _value() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _td(weight: float = 1.0) -> tuple[TDLoss, torch.nn.Module]:
    v = _value()
    return TDLoss(value=lambda s: v(s).reshape(-1), gamma=0.9, reward_scale=0.5, weight=weight), v


def test_td_error_is_zero_for_the_real_transition_and_positive_otherwise() -> None:
    td, _ = _td()
    g = torch.Generator().manual_seed(1)
    s, s2, r = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), torch.randn(6, generator=g)
    term = torch.zeros(6)
    mask = torch.ones(6)
    never_ends = torch.full((2, 6), -50.0)  # p_continue = 1, as the real (non-terminal) steps
    exact = td.error(
        s.expand(2, -1, -1), s2.expand(2, -1, -1), r.expand(2, -1), never_ends, s, s2, r, term, mask
    )
    assert exact.shape == (2, 6)
    assert exact.abs().max() < 1e-10
    off = td.error(
        s.expand(2, -1, -1), (s2 + 0.3).expand(2, -1, -1), r.expand(2, -1), never_ends, s, s2, r, term, mask
    )
    assert (off > 0).all()


def test_td_error_is_normalised_by_the_real_td_variance() -> None:
    """Scaling rewards and values by c leaves the normalised error unchanged."""
    g = torch.Generator().manual_seed(2)
    s, s2, r = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g), torch.randn(8, generator=g)
    v = _value()
    args = (torch.full((1, 8), -50.0), s, s2, r, torch.zeros(8), torch.ones(8))
    errs = []
    for c in (1.0, 7.0):
        td = TDLoss(value=lambda x, c=c: c * v(x).reshape(-1), gamma=0.9, reward_scale=c, weight=1.0)
        errs.append(
            td.error(s.unsqueeze(0), (s2 + 0.1).unsqueeze(0), r.unsqueeze(0) + 0.2, args[0], *args[1:])
        )
    torch.testing.assert_close(errs[0], errs[1], rtol=1e-5, atol=1e-7)


def test_unrolled_loss_adds_the_td_term_and_its_gradient_reaches_the_model_only() -> None:
    torch.manual_seed(3)
    model = EnsembleDynamics(3, 2, ensemble_size=2, hidden_sizes=[16])
    B, h = 5, 3
    obs, actions = torch.randn(B, h, 3), torch.randn(B, h, 2)
    next_obs, rewards = torch.randn(B, h, 3), torch.randn(B, h)
    terminated, valid = torch.zeros(B, h, dtype=torch.bool), torch.ones(B, h, dtype=torch.bool)
    plain, per_step = model.unrolled_loss(obs, actions, next_obs, rewards, terminated, valid)
    td0, v = _td(weight=0.0)
    zero, _ = model.unrolled_loss(obs, actions, next_obs, rewards, terminated, valid, td0)
    torch.testing.assert_close(plain, zero)
    v.requires_grad_(False)  # the estimator passes a frozen copy of the critic
    td1 = TDLoss(value=td0.value, gamma=0.9, reward_scale=0.5, weight=1.0)
    with_td, per_step_td = model.unrolled_loss(obs, actions, next_obs, rewards, terminated, valid, td1)
    assert with_td > plain
    torch.testing.assert_close(per_step, per_step_td)  # the reported state/reward error is unchanged
    with_td.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for p in v.parameters())


def test_mbmf_ppo_trains_its_model_with_the_td_term(tmp_path, monkeypatch) -> None:
    import csv

    from rlcv.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["train", "--algo", "mbmf-ppo", "--env", "InvertedPendulum-v5", "--steps", "512", "--run-dir", "R"]
    fast = ["n_steps=256", "batch_size=64", "n_epochs=2", "model_train_steps=5", "model_hidden_sizes=[32,32]"]
    assert main([*argv, "--set", *fast, "model_ensemble_size=2", "model_td_weight=1.0", "--no-progress"]) == 0
    with (tmp_path / "R" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[-1]["model_loss"]) > 0
    assert main([*argv[:-2], "--run-dir", "R2", "--set", "model_td_weight=-1", "--no-progress"]) != 0

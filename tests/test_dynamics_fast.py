"""The dynamics model's faster training loss (issue 24, throughput): the same values and gradients, bit
for bit, as the step-by-step loss it replaced (kept here as the reference), and a foreach Adam step
equal to the per-tensor one."""

import copy

import pytest
import torch
from torch import nn

from rlcv.dynamics import EnsembleDynamics, TDLoss


def _reference_members(model: EnsembleDynamics, s: torch.Tensor, a: torch.Tensor, *, split: bool = False):
    """EnsembleDynamics._members before the change: (s, a) joined, then normalised."""
    a = torch.maximum(torch.minimum(a, model.action_high), model.action_low)
    x = (torch.cat([s, a], -1) - model.in_stats.mean) / model.in_stats.std
    e = model.ensemble_size
    h = x.view(e, -1, x.shape[-1]) if split else x.unsqueeze(0).expand(e, -1, -1)
    h = model._affine(h) if model.structure == "affine" else model._mlp(h)
    delta_r = h[..., :-1] * model.out_stats.std + model.out_stats.mean
    base = s.view(e, -1, s.shape[-1]) if split else s.unsqueeze(0)
    return base + delta_r[..., :-1], delta_r[..., -1], h[..., -1]


def _reference_loss(model, obs, actions, next_obs, rewards, terminated, valid, td=None):
    """EnsembleDynamics.unrolled_loss before the change: every term computed step by step."""
    h = obs.shape[1]
    state = obs[:, 0].unsqueeze(0).expand(model.ensemble_size, -1, -1)
    losses, per_step = [], []
    std = model.out_stats.std
    for i in range(h):
        flat = state.reshape(-1, model.obs_dim)
        act = actions[:, i].repeat(model.ensemble_size, 1)
        next_s, reward, term_logit = _reference_members(model, flat, act, split=True)
        err_s = (next_s - next_obs[:, i].unsqueeze(0)) / std[:-1]
        err_r = (reward - rewards[:, i].unsqueeze(0)) / std[-1]
        mse = (err_s.pow(2).sum(-1) + err_r.pow(2)) / (model.obs_dim + 1)
        mask = valid[:, i].to(mse.dtype)
        step_loss = (mse * mask).sum(-1) / mask.sum().clamp_min(1)
        if model.predict_termination:
            bce = nn.functional.binary_cross_entropy_with_logits(
                term_logit, terminated[:, i].to(term_logit.dtype).expand_as(term_logit), reduction="none"
            )
            step_loss = step_loss + (bce * mask).sum(-1) / mask.sum().clamp_min(1)
        if td is not None:
            td_err = td.error(
                state,
                next_s,
                reward,
                term_logit,
                obs[:, i],
                next_obs[:, i],
                rewards[:, i],
                terminated[:, i],
                mask,
            )
            step_loss = step_loss + td.weight * (td_err * mask).sum(-1) / mask.sum().clamp_min(1)
        losses.append(step_loss.sum())
        per_step.append(((mse * mask).sum(-1) / mask.sum().clamp_min(1)).mean().detach())
        state = next_s
    return torch.stack(losses).mean(), torch.stack(per_step)


def _model(structure: str = "mlp", predict_termination: bool = True) -> EnsembleDynamics:
    torch.manual_seed(0)
    S, A = 7, 3
    model = EnsembleDynamics(
        S,
        A,
        ensemble_size=3,
        hidden_sizes=[64, 64],
        action_low=-torch.ones(A).numpy(),
        action_high=torch.ones(A).numpy(),
        predict_termination=predict_termination,
        structure=structure,
    )
    model.in_stats.mean.copy_(torch.randn(S + A) * 0.1)
    model.in_stats.std.copy_(torch.rand(S + A) + 0.5)
    model.out_stats.mean.copy_(torch.randn(S + 1) * 0.1)
    model.out_stats.std.copy_(torch.rand(S + 1) + 0.5)
    return model


def _windows(B: int = 96, h: int = 3, S: int = 7, A: int = 3):
    g = torch.Generator().manual_seed(1)
    valid = torch.rand(B, h, generator=g) < 0.85
    valid[:, 0] = True
    valid[:, 1:] &= valid[:, :-1].clone()  # once invalid, always invalid (cut_windows's masks)
    return (
        torch.randn(B, h, S, generator=g),
        torch.randn(B, h, A, generator=g) * 1.3,  # some actions outside the bounds (clipped)
        torch.randn(B, h, S, generator=g),
        torch.randn(B, h, generator=g),
        torch.rand(B, h, generator=g) < 0.1,
        valid,
    )


def _loss_and_grads(model, loss_fn, windows, td=None):
    model.zero_grad()
    loss, per_step = loss_fn(model, *windows, td)
    loss.backward()
    return loss.detach(), per_step, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(("structure", "termination"), [("mlp", True), ("mlp", False), ("affine", True)])
def test_unrolled_loss_is_the_step_by_step_loss_bit_for_bit(structure: str, termination: bool) -> None:
    model, windows = _model(structure, termination), _windows()
    new = _loss_and_grads(model, lambda m, *w: m.unrolled_loss(*w), windows)
    ref = _loss_and_grads(model, _reference_loss, windows)
    assert torch.equal(new[0], ref[0])
    assert torch.equal(new[1], ref[1])
    assert all(torch.equal(a, b) for a, b in zip(new[2], ref[2], strict=True))


def test_unrolled_loss_with_the_td_term_matches_the_step_by_step_loss() -> None:
    """With a TD term a predicted state has more consumers, whose gradients autograd may add in another
    order: equal to float tolerance."""
    model, windows = _model(), _windows()
    torch.manual_seed(2)
    v = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 1)).requires_grad_(False)
    td = TDLoss(value=lambda s: v(s).reshape(-1), gamma=0.9, reward_scale=0.5, weight=0.7)
    new = _loss_and_grads(model, lambda m, *w: m.unrolled_loss(*w), windows, td)
    ref = _loss_and_grads(model, _reference_loss, windows, td)
    torch.testing.assert_close(new[0], ref[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(new[1], ref[1], rtol=1e-6, atol=0)
    for a, b in zip(new[2], ref[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_predict_and_its_action_gradient_are_unchanged_bit_for_bit() -> None:
    """The imagined rollouts' path (every member on the whole batch, differentiated in s and a)."""
    model = _model()
    g = torch.Generator().manual_seed(3)
    s = torch.randn(64, 7, generator=g).requires_grad_(True)
    a = (torch.randn(64, 3, generator=g) * 1.3).requires_grad_(True)
    new = model._members(s, a)
    ref = _reference_members(model, s, a)
    assert all(torch.equal(x, y) for x, y in zip(new, ref, strict=True))
    grads_new = torch.autograd.grad(sum(x.sum() for x in new), [s, a])
    grads_ref = torch.autograd.grad(sum(x.sum() for x in ref), [s, a])
    assert all(torch.equal(x, y) for x, y in zip(grads_new, grads_ref, strict=True))


def test_foreach_adam_steps_as_the_per_tensor_adam() -> None:
    """The model's optimiser (rlcv.estimators.mbmf: foreach=True) takes the same steps, bit for bit."""
    model = _model()
    params = {}
    for foreach in (False, True):
        m = copy.deepcopy(model)
        opt = torch.optim.Adam(m.parameters(), lr=3e-3, weight_decay=1e-5, foreach=foreach)
        g = torch.Generator().manual_seed(4)
        for _ in range(5):
            for p in m.parameters():
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
        params[foreach] = [p.detach().clone() for p in m.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(params[False], params[True], strict=True))


def test_features_with_the_model_frozen_give_the_same_gradient_bit_for_bit() -> None:
    """features() differentiates the imagined D in the actions with the model's parameters out of
    autograd (rlcv.estimators.mbmf.parameters_frozen): the same D and ∇_a D as with them in, and the
    parameters trainable again afterwards (a parameter frozen before stays frozen)."""
    import gymnasium as gym

    import rlcv  # noqa: F401  (registers rlcv/LQR-v0)
    from rlcv.diagnostics.lqr import collect, linear_policy
    from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings
    from rlcv.value import ValueFunction

    kwargs = {"state_dim": 4, "action_dim": 2, "horizon": 30}
    policy = linear_policy(gym.make("rlcv/LQR-v0", **kwargs), seed=0)
    batch = collect("rlcv/LQR-v0", {**kwargs, "horizon": 12}, policy, n_envs=3, seed=0)
    torch.manual_seed(0)
    value_fn = ValueFunction(4, hidden_sizes=[8])
    model = EnsembleDynamics(4, 2, ensemble_size=3, hidden_sizes=[16, 16])
    model.layers[0].bias.requires_grad_(False)
    est = MBMFControlVariate(MBMFSettings(k=4, eta_mode="split"), gamma=0.9, gae_lambda=0.8, model=model)
    values = value_fn(batch.obs).detach()
    d_a, d_tau, grad_a = est.features(batch, policy, value_fn, values)
    actions = batch.actions[:, :, 0].clone().requires_grad_(True)
    d = est.imagined_d(batch, policy, value_fn, actions, lambda x: x, est.cv_lambda, values)
    assert torch.equal(torch.autograd.grad(d.sum(), actions)[0], grad_a)
    assert torch.equal(d.detach() - d_tau, d_a)
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True, True, True]

"""The unclipped-velocity observation for MBMF's model (rlcv/unclipped.py): the model reads the
simulator's velocities, the policy sees exactly the env's own observation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcv
from rlcv.errors import RlcvError
from rlcv.normalize import ObsNormalizer
from rlcv.unclipped import UnclippedVelocity


def _paired_steps(env_id: str, steps: int) -> tuple[np.ndarray, np.ndarray, UnclippedVelocity]:
    plain, wrapped = gym.make(env_id), UnclippedVelocity(gym.make(env_id))
    rng = np.random.default_rng(0)
    obs_p, obs_w = [plain.reset(seed=0)[0]], [wrapped.reset(seed=0)[0]]
    for t in range(steps):
        action = rng.uniform(-1, 1, plain.action_space.shape)
        op, rp, term_p, trunc_p, _ = plain.step(action)
        ow, rw, term_w, trunc_w, _ = wrapped.step(action)
        assert rp == rw and term_p == term_w and trunc_p == trunc_w  # the same simulation
        obs_p.append(op)
        obs_w.append(ow)
        if term_p or trunc_p:
            obs_p.append(plain.reset(seed=t + 1)[0])
            obs_w.append(wrapped.reset(seed=t + 1)[0])
    return np.array(obs_p), np.array(obs_w), wrapped


def test_wrapper_keeps_the_velocities_the_env_clips() -> None:
    plain, wrapped, env = _paired_steps("Walker2d-v5", 200)
    clipped = np.clip(wrapped, *env.pre_clip)
    np.testing.assert_array_equal(clipped, plain)  # the env's own observation, bit for bit
    differs = np.any(wrapped != plain, axis=1)
    assert differs.mean() > 0.2  # random actions spin Walker2d's joints past ±10 often
    assert np.abs(wrapped[:, env.velocity]).max() > 10


def test_normaliser_pre_clip_gives_the_plain_env_inputs() -> None:
    plain, wrapped, env = _paired_steps("Walker2d-v5", 120)
    shape = plain.shape[1:]
    a = ObsNormalizer(shape, enabled=True)
    b = ObsNormalizer(shape, enabled=True, pre_clip=env.pre_clip)
    a.update(plain)
    b.update(wrapped)
    np.testing.assert_array_equal(a(plain), b(wrapped))
    ta, tb = a.torch_transform(), b.torch_transform()
    xw = torch.as_tensor(wrapped, dtype=torch.float64).requires_grad_(True)
    np.testing.assert_allclose(ta(torch.as_tensor(plain)).numpy(), tb(xw).detach().numpy(), atol=1e-12)
    # Where the env clips, the input map is flat, as the env's clip is: gradient 0 there, 1/std elsewhere.
    tb(xw).sum().backward()
    assert xw.grad is not None
    outside = np.abs(wrapped) > 10
    outside[:, : env.velocity.start] = False
    assert outside.any() and torch.all(xw.grad[torch.as_tensor(outside)] == 0)


def _policy_after_one_update(tmp_path, model_observation: str) -> dict[str, torch.Tensor]:
    agent = rlcv.Agent(
        "mbmf-ppo",
        "Walker2d-v5",
        seed=3,
        run_dir=str(tmp_path / model_observation),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        normalize_obs=True,
        model_observation=model_observation,
    )
    agent.learn(64)
    return torch.load(tmp_path / model_observation / "policy.pt", weights_only=False)["policy"]


@pytest.mark.expensive  # two short training runs, ~5 s
def test_first_update_is_identical_to_the_env_observation(tmp_path) -> None:
    """Before the model has trained the CV is off: only what the policy sees matters, and it is the same."""
    a = _policy_after_one_update(tmp_path, "env")
    b = _policy_after_one_update(tmp_path, "unclipped")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_env_without_clipped_velocities_is_refused() -> None:
    with pytest.raises(RlcvError, match="model_observation=unclipped needs an env"):
        UnclippedVelocity(gym.make("HalfCheetah-v5"))

"""Minibatch discrimination in the BGAN envs' discriminator (``disc_minibatch_kernels``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlcv.envs.bgan_digits import BGANDigits4Env
from rlcv.envs.bgan_discriminator import MINIBATCH_KERNEL_DIM, MinibatchFeatures, MLPDiscriminator
from rlcv.errors import RlcvError


def _images(n: int, seed: int) -> torch.Tensor:
    """``n`` random 4-level images (no data set: the feature tests need no scikit-learn import)."""
    return torch.randint(0, 4, (n, 64), generator=torch.Generator().manual_seed(seed)).float() / 3


def _features(seed: int, kernels: int = 8) -> MinibatchFeatures:
    torch.manual_seed(seed)
    return MinibatchFeatures(64, kernels)


def test_features_have_one_value_per_kernel_and_are_deterministic() -> None:
    x, ref = _images(5, 0), _images(12, 1)
    out = _features(0)(x, ref)
    assert out.shape == (5, 8)
    assert ((out > 0) & (out <= 1)).all()
    assert torch.equal(out, _features(0)(x, ref))
    assert _features(0).project.out_features == 8 * MINIBATCH_KERNEL_DIM
    assert not torch.equal(out, _features(1)(x, ref))


def test_a_batch_of_one_repeated_image_gives_other_features_than_a_diverse_batch() -> None:
    feats, x = _features(0), _images(1, 0)
    identical = feats(x, x.repeat(16, 1))  # every reference image is x itself: exp(0) = 1
    diverse = feats(x, _images(16, 2))
    assert torch.allclose(identical, torch.ones(1, 8))
    assert (diverse < identical).all()


def _trace(env: BGANDigits4Env, steps: int = 12) -> np.ndarray:
    """log w of ``steps`` groups of 4 random images (the executed one and three group members)."""
    rng, out = np.random.default_rng(1), []
    env.reset(seed=3)
    for _ in range(steps):
        a = rng.integers(0, 4, (4, 64))
        out.append(env.step(a[0])[1])
        out += list(env.group_rewards(np.zeros(32, np.float32), a[1:]))
    return np.asarray(out)


def test_default_is_the_plain_discriminator_unchanged() -> None:
    torch.manual_seed(0)
    default = BGANDigits4Env(disc_batch_size=8)
    torch.manual_seed(0)
    off = BGANDigits4Env(disc_batch_size=8, disc_minibatch_kernels=0)
    assert type(default.disc) is MLPDiscriminator
    np.testing.assert_array_equal(_trace(default), _trace(off))
    assert default.disc_updates == 5  # 44 images buffered before the last step
    assert "fake_ref" not in default.state_dict()


def test_kernels_score_against_other_latents_executed_images() -> None:
    def make() -> BGANDigits4Env:
        torch.manual_seed(0)
        return BGANDigits4Env(disc_batch_size=8, disc_minibatch_kernels=4)

    env = make()
    log_w = _trace(env)
    assert np.isfinite(log_w).all()
    np.testing.assert_array_equal(log_w, _trace(make()))  # seeded runs reproduce
    ref = env._disc.reference
    rng = np.random.default_rng(1)  # the executed images of _trace's last 8 latents
    executed = [rng.integers(0, 4, (4, 64))[0] for _ in range(12)][-8:]
    assert torch.equal(ref.x, env.to_image(np.stack(executed)))
    assert ref.ids.tolist() == list(range(5, 13))
    x = env.to_image(np.full((2, 64), 3))
    mask = torch.tensor([[True] * 7 + [False]] * 2)  # the current (12th) latent's own image is left out
    want = env.divergence.log_weight(env.disc(x, ref.x, mask)).detach()
    assert torch.equal(env._disc.log_w(x), want)
    relaxed = torch.nn.functional.one_hot(torch.full((2, 64), 3), 4).float().requires_grad_()
    grad_reward = env.differentiable_reward(torch.zeros(2, 32), relaxed)
    assert torch.allclose(grad_reward, want)
    grad_reward.sum().backward()
    assert relaxed.grad is not None and relaxed.grad.abs().sum() > 0
    copy = make()
    copy.load_state_dict(env.state_dict())
    assert torch.equal(copy._disc.log_w(x), want)


def test_masked_out_reference_images_do_not_count() -> None:
    feats, x, ref = _features(0), _images(3, 0), _images(6, 1)
    mask = torch.tensor([[True, True, True, False, False, False]] * 3)
    assert torch.allclose(feats(x, ref, mask), feats(x, ref[:3]))
    assert torch.equal(feats(x, ref[:0], mask[:, :0]), torch.zeros(3, 8))  # empty reference: 0


@pytest.mark.parametrize("bad", [-1, 2.5, True, "16"])
def test_a_bad_kernel_count_is_one_clear_error(bad: object) -> None:
    with pytest.raises(RlcvError, match=r"disc_minibatch_kernels must be an integer >= 0 \(0 = off"):
        gym.make("rlcv/BGAN-Digits4-v0", disc_minibatch_kernels=bad)

"""Cutout masks and the DualCutout loss (rlcv/hpo/regularizers.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rlcv.hpo.regularizers import CutoutSpec, cutout, cutout_mask, dual_cutout_loss, infer_input_shape


def _net(d_in: int, n_out: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d_in, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_out))


def test_infer_input_shape():
    assert infer_input_shape(64) == (8, 8)
    assert infer_input_shape(40) == (40,)


@pytest.mark.parametrize("shape,size", [((8, 8), 4), ((40,), 10), ((6, 7), (2, 3))])
def test_mask_is_one_clipped_box_per_example(shape, size):
    spec = CutoutSpec.make(shape, size)
    keep = cutout_mask(500, spec, generator=torch.Generator().manual_seed(1))
    assert keep.shape == (500, *shape)
    sizes = spec.size
    for m in keep:
        cut = (m == 0).nonzero()
        assert len(cut) >= 1  # the centre is always inside the signal
        extent = cut.max(0).values - cut.min(0).values + 1
        assert all(int(e) <= s for e, s in zip(extent, sizes, strict=True))
        # a box: the cut positions are exactly the product of their per-dimension ranges
        assert len(cut) == int(torch.prod(extent))
    # full boxes occur (centres away from the border) and boxes differ between examples
    full = (keep == 0).flatten(1).sum(1) == torch.tensor(sizes).prod()
    assert bool(full.any())
    assert len({tuple(m.flatten().tolist()) for m in keep}) > 1


def test_per_batch_mask_is_shared():
    spec = CutoutSpec.make((8, 8), 4, per_batch=True)
    keep = cutout_mask(32, spec, generator=torch.Generator().manual_seed(0))
    assert torch.equal(keep, keep[:1].expand_as(keep))


def test_cutout_zeroes_the_box_of_flat_inputs():
    spec = CutoutSpec.make((8, 8), 4)
    x = torch.randn(10, 64)
    out = cutout(x, spec, generator=torch.Generator().manual_seed(3))
    keep = cutout_mask(10, spec, generator=torch.Generator().manual_seed(3)).reshape(10, 64)
    assert torch.equal(out, x * keep)
    with pytest.raises(ValueError, match="do not fit"):
        cutout(torch.randn(2, 40), spec)
    with pytest.raises(ValueError, match="size"):
        CutoutSpec.make((8, 8), 9)


def test_dual_cutout_equals_the_formula():
    net = _net(40)
    spec = CutoutSpec.make((40,), 10)
    x, y = torch.randn(12, 40), torch.randint(0, 5, (12,))
    gen = torch.Generator().manual_seed(5)
    x1, x2 = cutout(x, spec, generator=gen), cutout(x, spec, generator=gen)
    loss, correct = dual_cutout_loss(net, x, y, spec, alpha=0.3, masked=(x1, x2))
    z1, z2 = net(x1), net(x2)
    by_hand = 0.5 * (F.cross_entropy(z1, y) + F.cross_entropy(z2, y))
    by_hand = by_hand + 0.3 * sum(((z1[b] - z2[b]) ** 2).sum() for b in range(12)) / 12
    torch.testing.assert_close(loss, by_hand)
    assert int(correct) == int((z1.argmax(1) == y).sum())
    # the random-mask path draws the same two masks from the same generator state
    again, _ = dual_cutout_loss(net, x, y, spec, alpha=0.3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(again, loss)


def test_alpha_zero_with_identical_masks_is_plain_cross_entropy():
    net = _net(64)
    x, y = torch.randn(9, 64), torch.randint(0, 5, (9,))
    xc = cutout(x, CutoutSpec.make((8, 8), 4), generator=torch.Generator().manual_seed(0))
    loss, _ = dual_cutout_loss(net, x, y, CutoutSpec.make((8, 8), 4), alpha=0.0, masked=(xc, xc))
    torch.testing.assert_close(loss, F.cross_entropy(net(xc), y))
    # identical masks: the consistency term is 0 for every alpha
    loss_a, _ = dual_cutout_loss(net, x, y, CutoutSpec.make((8, 8), 4), alpha=5.0, masked=(xc, xc))
    torch.testing.assert_close(loss_a, loss)


def test_gradients_reach_both_branches():
    net = _net(40)
    spec = CutoutSpec.make((40,), 10)
    x, y = torch.randn(6, 40), torch.randint(0, 5, (6,))
    gen = torch.Generator().manual_seed(2)
    x1 = cutout(x, spec, generator=gen).requires_grad_(True)
    x2 = cutout(x, spec, generator=gen).requires_grad_(True)
    loss, _ = dual_cutout_loss(net, x, y, spec, alpha=0.1, masked=(x1, x2))
    g1, g2 = torch.autograd.grad(loss, [x1, x2])
    assert float(g1.abs().sum()) > 0 and float(g2.abs().sum()) > 0
    # and the consistency term alone pulls the two branches' inputs in opposite directions
    only_cons, _ = dual_cutout_loss(net, x, y, spec, alpha=1.0, masked=(x1, x2))
    ce_part, _ = dual_cutout_loss(net, x, y, spec, alpha=0.0, masked=(x1, x2))
    c1, c2 = torch.autograd.grad(only_cons - ce_part, [x1, x2])
    z1, z2 = net(x1), net(x2)
    # d/dz1 of mean‖z1 − z2‖² = 2(z1 − z2)/B = −d/dz2: check through the network by the chain rule
    (e1,) = torch.autograd.grad(((z1 - z2.detach()) ** 2).sum(1).mean(), x1)
    (e2,) = torch.autograd.grad(((z1.detach() - z2) ** 2).sum(1).mean(), x2)
    torch.testing.assert_close(c1, e1)
    torch.testing.assert_close(c2, e2)

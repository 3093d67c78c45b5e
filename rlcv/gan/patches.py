r"""Patches of 8×8 digits and the *lower stage* of a locally disentangled generator.

Geometry. An image x ∈ {0, 1}^64 (row-major 8×8) is cut into a 2×2 grid of 4×4 patches, in the
order top-left, top-right, bottom-left, bottom-right; each patch is 16 pixels, row-major. Why 4×4:
a quarter of a digit still carries a recognisable stroke fragment (so one code per patch has
something to describe) while 16 binary pixels keep the patch-level BiGAN small; 2×2 strips or
1-pixel patches would leave either nothing local or nothing to share.

Lower stage (Neal, Lamb et al., "Learning Generative Models with Locally Disentangled Latent
Factors"): one network pair shared by all four patch positions,

- the patch generator g(p | c): a :class:`~rlcv.policies.BernoulliPolicy` from a code
  c ∈ [−1, 1]^d to 16 independent Bernoullis, p_j = 1[u_j < σ(l_j(c))] with uniforms u;
- the patch encoder E(p) = tanh(MLP(p)) ∈ (−1, 1)^d, deterministic (a BiGAN encoder).

Decoding a whole image from four codes c_1..c_4 applies g to each code and places patch k in its
region. Patch k's pixels depend on c_k and on the uniforms of region k only, so resampling one code
cannot change another patch's pixels when the uniforms are held fixed — locality by construction
(tested in ``tests/test_ldf.py``; measured by :func:`rlcv.gan.ldf_metrics.locality_ratio`).

A lower stage is saved as ``{"spec": ..., "state": ...}`` (:meth:`LowerStage.to_state`), in a
``bgan-bigan`` run's checkpoint (agent state) and in a ``bgan-hier`` run's code env (its env state,
so ``rlcv eval`` can decode); :func:`load_lower_stage` reads it from either kind of run directory.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlcv import checkpoint
from rlcv.errors import RlcvError
from rlcv.policies import BernoulliPolicy, mlp

IMAGE_SIDE = 8
PATCH_SIDE = 4
GRID = IMAGE_SIDE // PATCH_SIDE  # patches per row / column
N_PATCHES = GRID * GRID
PATCH_PIXELS = PATCH_SIDE * PATCH_SIDE
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE


def to_patches(images: torch.Tensor) -> torch.Tensor:
    """Images [..., 64] → patches [..., 4, 16] (see the module docstring for the order)."""
    lead = images.shape[:-1]
    x = images.reshape(*lead, GRID, PATCH_SIDE, GRID, PATCH_SIDE).transpose(-3, -2)
    return x.reshape(*lead, N_PATCHES, PATCH_PIXELS)


def from_patches(patches: torch.Tensor) -> torch.Tensor:
    """Patches [..., 4, 16] → images [..., 64]; the inverse of :func:`to_patches`."""
    lead = patches.shape[:-2]
    x = patches.reshape(*lead, GRID, GRID, PATCH_SIDE, PATCH_SIDE).transpose(-3, -2)
    return x.reshape(*lead, N_PIXELS)


def patch_mask(k: int) -> np.ndarray:
    """Boolean mask [64] of the pixels of patch ``k`` in a row-major image."""
    onehot = torch.zeros(N_PATCHES, PATCH_PIXELS, dtype=torch.bool)
    onehot[k] = True
    return from_patches(onehot).numpy()


class LowerStage(nn.Module):
    """The shared patch generator and patch encoder (module docstring). ``spec`` rebuilds it."""

    def __init__(self, generator: BernoulliPolicy, encoder: nn.Module, spec: dict[str, Any]) -> None:
        super().__init__()
        self.generator, self.encoder, self.spec = generator, encoder, dict(spec)
        self.code_dim = int(spec["code_dim"])

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LowerStage:
        return cls(make_patch_generator(spec), make_encoder(spec), spec)

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """Patches [..., 16] → codes [..., d] in (−1, 1)."""
        return self.encoder(patches.float())

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images [n, 64] → the concatenated codes of their four patches [n, 4·d]."""
        return self.encode(to_patches(images.float())).reshape(images.shape[0], -1)

    def patch_probs(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [..., d] → pixel probabilities [..., 16] of the generated patch."""
        return torch.sigmoid(self.generator.logits_net(codes.float()))

    def decode(self, codes: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Concatenated codes [n, 4·d] and uniforms [n, 64] → binary images [n, 64]: patch k is
        1[u < σ(l(c_k))] on region k (uniforms given in image layout, so pixel i always uses u_i)."""
        n = codes.shape[0]
        probs = self.patch_probs(codes.reshape(n, N_PATCHES, self.code_dim))
        return from_patches((to_patches(uniforms) < probs).float())

    def to_state(self) -> dict[str, Any]:
        return {"spec": dict(self.spec), "state": self.state_dict()}

    @classmethod
    def from_state(cls, saved: dict[str, Any]) -> LowerStage:
        lower = cls.from_spec(saved["spec"])
        lower.load_state_dict(saved["state"])
        return lower

    def frozen_copy(self) -> LowerStage:
        """A copy with no trainable parameter: what the higher stage decodes with when decoupled."""
        frozen = copy.deepcopy(self)
        frozen.requires_grad_(False)
        return frozen.eval()


def lower_spec(
    *, code_dim: int, generator_hidden_sizes: list[int], encoder_hidden_sizes: list[int], activation: str
) -> dict[str, Any]:
    return {
        "code_dim": int(code_dim),
        "generator_hidden_sizes": [int(h) for h in generator_hidden_sizes],
        "encoder_hidden_sizes": [int(h) for h in encoder_hidden_sizes],
        "activation": activation,
    }


def make_patch_generator(spec: dict[str, Any]) -> BernoulliPolicy:
    return BernoulliPolicy(
        int(spec["code_dim"]),
        PATCH_PIXELS,
        hidden_sizes=list(spec["generator_hidden_sizes"]),
        activation=spec["activation"],
        ortho_init=True,
    )


def make_encoder(spec: dict[str, Any]) -> nn.Module:
    net = mlp(
        [PATCH_PIXELS, *spec["encoder_hidden_sizes"], int(spec["code_dim"])],
        spec["activation"],
        True,
        out_gain=1.0,
    )
    return nn.Sequential(net, nn.Tanh())


def count_parameters(*modules: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad or not trainable_only)


def load_lower_stage(path: str | Path) -> LowerStage:
    """A frozen lower stage from a run directory: a ``bgan-hier`` run (its code env's saved state)
    or a ``bgan-bigan`` run (its agent state); one clear error if neither holds one."""
    from rlcv.run_dir import RunDir

    run = RunDir(path)
    if not run.is_run():
        raise RlcvError(
            f"lower='{path}' is not a run directory; point it at a finished bgan-hier or bgan-bigan run."
        )
    candidates: list[Any] = []
    if run.final_policy is not None:
        candidates.append((checkpoint.load(run.final_policy).get("env_state") or {}).get("lower"))
    last = run.checkpoint()
    if last.is_file():
        state = checkpoint.load(last)
        agent = state.get("agent") or {}
        # A bgan-hier run in its lower-stage phase (not yet installed) holds an unfinished lower stage.
        if isinstance(agent, dict) and agent.get("installed", True):
            candidates.append(agent.get("lower"))
        for env_state in (state.get("collector") or {}).get("env_states") or []:
            candidates.append(env_state.get("lower") if isinstance(env_state, dict) else None)
    for saved in candidates:
        if isinstance(saved, dict) and "spec" in saved:
            try:
                return LowerStage.from_state(saved).frozen_copy()
            except (KeyError, RuntimeError, TypeError) as exc:
                raise RlcvError(f"the lower stage saved in '{path}' is damaged ({exc}).") from exc
    raise RlcvError(
        f"'{path}' holds no trained lower stage; point lower= at a bgan-bigan run or a bgan-hier run "
        f"that finished its lower stage."
    )

"""The f-GAN discriminator that the BGAN envs train inside themselves, on the samples they score.

Shared by ``rlcv/BGAN-Digits-v0`` (:mod:`rlcv.envs.bgan_digits`) and the two levels of the locally
disentangled generator (:mod:`rlcv.envs.bgan_patches`). Every scored sample goes into a buffer;
whenever ``batch_size`` have accumulated, ``maybe_train`` (which the envs call at the start of
``step``) takes one discriminator step on them against as many real samples, so all members of a
group are scored by one discriminator. The real minibatch comes from a callable because what is
"real" depends on the env (training images, or pairs labelled by the agent's encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import nn

from rlcv.errors import RlcvError
from rlcv.gan.fdivergences import FDivergence


class MLPDiscriminator(nn.Module):
    """V(x): MLP [B, in_dim] → [B], LeakyReLU 0.2; ``spectral_norm`` divides every weight matrix by
    its largest singular value (Miyato et al., 2018), bounding V's Lipschitz constant."""

    def __init__(self, in_dim: int, hidden_sizes: list[int], *, spectral_norm: bool = False) -> None:
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden_sizes]
        for a, b in pairwise(sizes):
            layers += [wrap(nn.Linear(a, b)), nn.LeakyReLU(0.2)]
        layers.append(wrap(nn.Linear(sizes[-1], 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


MINIBATCH_KERNEL_DIM = 5  # C, the width of each minibatch kernel's projection (Salimans et al. use 3-5)


class MinibatchFeatures(nn.Module):
    """Minibatch discrimination (Salimans et al., 2016) against a *reference batch*: x [N, D] and
    ref [R, D] → o(x) [N, K] with o_k(x) = mean_r exp(−‖(xT)_k − (ref T)_k‖₁), T a learned projection
    to K kernels of width C. o_k(x) is high when x lies close to many reference images in kernel k's
    projection: an image of a mode every latent produces is close to most of a collapsed generator's
    batch and far from most of a real batch, so the discriminator can tell it apart per image."""

    def __init__(self, in_dim: int, kernels: int, kernel_dim: int = MINIBATCH_KERNEL_DIM) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.project = nn.Linear(in_dim, kernels * kernel_dim, bias=False)

    def forward(self, x: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` [N, R] (optional): which reference images count for each x (0 features if none)."""
        m = self.project(x).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # [K, N, C]
        r = self.project(ref).view(-1, self.kernels, self.kernel_dim).transpose(0, 1)  # [K, R, C]
        # cdist: half the CPU time of broadcasting to [N, R, K, C]; mean, not sum, over the
        # reference images, so o(x) does not grow with the batch size
        k = torch.exp(-torch.cdist(m, r, p=1))  # [K, N, R]
        if mask is None:
            return k.mean(-1).T
        w = mask.to(k.dtype)
        return ((k * w).sum(-1) / w.sum(-1).clamp(min=1.0)).T


class MinibatchDiscriminator(nn.Module):
    """V(x | ref): the MLP of :class:`MLPDiscriminator` on [x, o(x)] (:class:`MinibatchFeatures`)."""

    def __init__(self, in_dim: int, hidden_sizes: list[int], kernels: int, *, spectral_norm: bool) -> None:
        super().__init__()
        self.mlp = MLPDiscriminator(in_dim + kernels, hidden_sizes, spectral_norm=spectral_norm)
        self.features = MinibatchFeatures(in_dim, kernels)

    def forward(self, x: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(torch.cat([x, self.features(x, ref, mask)], dim=-1))


class GeneratedReference:
    """The generated reference batch of minibatch features: the executed image of each of the last
    ``size`` latents (one per latent, so an i.i.d. draw from the generator's marginal, as the real
    reference is from the data's — a batch of whole groups would be clumped by latent, its statistic
    unlike a real batch's even for a perfect generator, and the discriminator could always win), and
    the latent id of every image remembered for training, so that no image is ever compared with
    an image of its own latent."""

    def __init__(self, size: int, in_dim: int) -> None:
        self.size, self.latent = size, 0
        self.x, self.ids = torch.zeros(0, in_dim), torch.zeros(0, dtype=torch.long)
        self.buffer_ids: list[torch.Tensor] = []  # parallel to InEnvDiscriminator.buffer

    def add(self, x: torch.Tensor, executed: bool) -> None:
        ids = torch.full((len(x),), self.latent, dtype=torch.long)
        self.buffer_ids.append(ids)
        if executed:
            self.x, self.ids = torch.cat([self.x, x])[-self.size :], torch.cat([self.ids, ids])[-self.size :]

    def take_ids(self, n: int) -> torch.Tensor:
        """The latent ids of the ``n`` oldest buffered images (the next training batch), removed."""
        pool = torch.cat(self.buffer_ids)
        self.buffer_ids = [pool[n:]] if len(pool) > n else []
        return pool[:n]

    def mask(self, ids: torch.Tensor) -> torch.Tensor:
        return ids[:, None] != self.ids[None, :]

    def state_dict(self) -> dict[str, Any]:
        ids = torch.cat(self.buffer_ids) if self.buffer_ids else torch.zeros(0, dtype=torch.long)
        return {"ref_x": self.x, "ref_ids": self.ids, "ref_latent": self.latent, "buffer_ids": ids}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x, self.ids, self.latent = state["ref_x"], state["ref_ids"], int(state["ref_latent"])
        self.buffer_ids = [state["buffer_ids"]] if len(state["buffer_ids"]) else []


class InEnvDiscriminator:
    """An f-GAN discriminator trained inside an env on what it scores.

    Its initial weights are drawn from ``seed`` when given, else from the seed of the env's first
    ``reset(seed=...)`` (``seed_from_reset``), so ``rlcv train --seed`` changes them.
    Regularisers (both off by default): ``spectral_norm`` (see :class:`MLPDiscriminator`) and
    ``instance_noise`` σ — Gaussian noise N(0, σ²) added to real and generated inputs of every
    training step (Sønderby et al., 2017), so the two distributions overlap and log w stays smooth;
    samples are scored without noise.

    ``minibatch_kernels`` K > 0 adds minibatch discrimination (:class:`MinibatchFeatures`), off by
    default. Where the batch statistic comes from: images are *scored* one at a time (``step``) or
    G−1 at a time (``group_rewards``), all of one latent, so the batch an image is scored in says
    nothing about the generator's marginal — and the statistic must be computed the same way in
    training and in scoring, or log w is read off-distribution. So every image's features are taken
    against a reference batch of ``batch_size`` images drawn the same way for both sources: a real
    image (training) against a second real minibatch drawn with it; a generated image, in training
    and in scoring alike, against the executed images of the last ``batch_size`` latents
    (:class:`GeneratedReference`), leaving out its own latent's. The env marks each new latent
    (``next_latent``, at the start of ``step``) and the executed image (``remember(..., executed=True)``).
    Before the first executed image the reference is empty and the features are 0. ``differentiable_score``
    (relaxed generators) masks only the current latent: the latents it scores in an update may be
    in the reference.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        hidden_sizes: list[int],
        lr: float,
        betas: tuple[float, float],
        batch_size: int,
        divergence: FDivergence,
        env_name: str,
        seed: int | None = None,
        spectral_norm: bool = False,
        instance_noise: float = 0.0,
        minibatch_kernels: int = 0,
    ) -> None:
        if instance_noise < 0:
            raise RlcvError(f"{env_name}: disc_instance_noise must be >= 0, got {instance_noise}.")
        if type(minibatch_kernels) is not int or minibatch_kernels < 0:  # bool is an int: refused too
            raise RlcvError(
                f"{env_name}: disc_minibatch_kernels must be an integer >= 0 (0 = off, e.g. 16), "
                f"got {minibatch_kernels!r}."
            )
        self.spectral_norm, self.instance_noise = bool(spectral_norm), float(instance_noise)
        self.kernels = minibatch_kernels
        self.reference = GeneratedReference(batch_size, in_dim)  # used only when kernels > 0
        self.in_dim, self.hidden, self.lr, self.betas = in_dim, list(hidden_sizes), lr, betas
        self.batch_size, self.divergence, self.env_name = batch_size, divergence, env_name
        self.build(0 if seed is None else int(seed))
        self.seeded = seed is not None
        self.buffer: list[torch.Tensor] = []
        self.buffered = 0
        self.updates = 0
        self.diag: dict[str, list[float]] = {"disc_loss": [], "disc_real_acc": [], "disc_fake_acc": []}

    def build(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():  # draw the init from ``seed`` without touching the global RNG
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=gen)))
            sn = self.spectral_norm
            self.net: nn.Module = (
                MinibatchDiscriminator(self.in_dim, self.hidden, self.kernels, spectral_norm=sn)
                if self.kernels
                else MLPDiscriminator(self.in_dim, self.hidden, spectral_norm=sn)
            )
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, betas=self.betas)

    def seed_from_reset(self, seed: int | None) -> None:
        """Redraw the initial weights from the first reset seed, unless seeded already or trained."""
        if seed is not None and not self.seeded:
            if self.updates == 0:
                self.build(int(seed))
            self.seeded = True

    def next_latent(self) -> None:
        """The images scored from now on are of a new latent (see the class docstring)."""
        self.reference.latent += 1

    def _inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The network's arguments for scoring generated images x of the current latent: (x,), or
        (x, reference batch, mask leaving out the current latent)."""
        if not self.kernels:
            return (x,)
        ids = torch.full((len(x),), self.reference.latent, dtype=torch.long)
        return (x, self.reference.x, self.reference.mask(ids))

    def log_w(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.divergence.log_weight(self.net(*self._inputs(x)))

    def differentiable_score(self, x: torch.Tensor) -> torch.Tensor:
        """V(x) with the discriminator's parameters detached (gradient into x only)."""
        params = {k: v.detach() for k, v in self.net.named_parameters()}
        return torch.func.functional_call(self.net, params, self._inputs(x))

    def remember(self, x: torch.Tensor, *, executed: bool = False) -> None:
        """Buffer scored images for training; ``executed``: the image the env executed for this latent."""
        x = x.reshape(-1, self.in_dim).detach()
        self.buffer.append(x)
        self.buffered += x.shape[0]
        if self.kernels:
            self.reference.add(x, executed)

    def maybe_train(self, real_batch: Callable[[int], torch.Tensor]) -> None:
        while self.buffered >= self.batch_size:
            pool = torch.cat(self.buffer)
            fake, rest = pool[: self.batch_size], pool[self.batch_size :]
            self.buffer, self.buffered = ([rest] if len(rest) else []), len(rest)
            real = real_batch(self.batch_size)
            v_real, v_fake = self._train_scores(real, fake, real_batch)
            loss = self.divergence.disc_loss(v_real, v_fake)
            if not torch.isfinite(loss):
                raise RlcvError(
                    f"the {self.env_name} discriminator loss became {loss.item()} (divergence "
                    f"{self.divergence.name}); lower disc_lr via --env-kwargs or use divergence=gan."
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.updates += 1
            with torch.no_grad():
                lw = self.divergence.log_weight
                self.diag["disc_loss"].append(loss.item())
                self.diag["disc_real_acc"].append((lw(v_real) > 0).float().mean().item())
                self.diag["disc_fake_acc"].append((lw(v_fake) <= 0).float().mean().item())

    def _train_scores(
        self, real: torch.Tensor, fake: torch.Tensor, real_batch: Callable[[int], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """V of one training step's real and generated batches (noised when instance_noise > 0;
        with minibatch kernels, each against its reference batch, see the class docstring)."""
        real_ref = real_batch(self.batch_size) if self.kernels else real
        fake_ref = self.reference.x
        if self.instance_noise > 0:  # drawn from the global torch RNG, which the run seeds
            real = real + self.instance_noise * torch.randn_like(real)
            fake = fake + self.instance_noise * torch.randn_like(fake)
            if self.kernels:  # the references are inputs too: noised like them, in the same order
                real_ref = real_ref + self.instance_noise * torch.randn_like(real_ref)
                fake_ref = fake_ref + self.instance_noise * torch.randn_like(fake_ref)
        if not self.kernels:
            return self.net(real), self.net(fake)
        fake_mask = self.reference.mask(self.reference.take_ids(len(fake)))
        return self.net(real, real_ref), self.net(fake, fake_ref, fake_mask)

    def diagnostics(self) -> dict[str, float]:
        """Statistics averaged over the updates since the last call (NaN if none)."""
        out = {k: float(np.mean(v)) if v else float("nan") for k, v in self.diag.items()}
        out["disc_updates"] = float(self.updates)
        for v in self.diag.values():
            v.clear()
        return out

    def state_dict(self) -> dict[str, Any]:
        buffer = torch.cat(self.buffer) if self.buffer else torch.zeros(0, self.in_dim)
        return {
            "disc": self.net.state_dict(),
            "disc_optimizer": self.optimizer.state_dict(),
            "buffer": buffer,
            "disc_updates": self.updates,
            **(self.reference.state_dict() if self.kernels else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["disc"])
        self.optimizer.load_state_dict(state["disc_optimizer"])
        buffer = state["buffer"]
        self.buffer, self.buffered = ([buffer] if len(buffer) else []), len(buffer)
        self.updates = int(state["disc_updates"])
        if self.kernels:
            self.reference.load_state_dict(state)
        self.seeded = True

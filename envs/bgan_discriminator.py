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


class InEnvDiscriminator:
    """An f-GAN discriminator trained inside an env on what it scores.

    Its initial weights are drawn from ``seed`` when given, else from the seed of the env's first
    ``reset(seed=...)`` (``seed_from_reset``), so ``rlcv train --seed`` changes them.
    Regularisers (both off by default): ``spectral_norm`` (see :class:`MLPDiscriminator`) and
    ``instance_noise`` σ — Gaussian noise N(0, σ²) added to real and generated inputs of every
    training step (Sønderby et al., 2017), so the two distributions overlap and log w stays smooth;
    samples are scored without noise.
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
    ) -> None:
        if instance_noise < 0:
            raise RlcvError(f"{env_name}: disc_instance_noise must be >= 0, got {instance_noise}.")
        self.spectral_norm, self.instance_noise = bool(spectral_norm), float(instance_noise)
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
            self.net = MLPDiscriminator(self.in_dim, self.hidden, spectral_norm=self.spectral_norm)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, betas=self.betas)

    def seed_from_reset(self, seed: int | None) -> None:
        """Redraw the initial weights from the first reset seed, unless seeded already or trained."""
        if seed is not None and not self.seeded:
            if self.updates == 0:
                self.build(int(seed))
            self.seeded = True

    def log_w(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.divergence.log_weight(self.net(x))

    def differentiable_score(self, x: torch.Tensor) -> torch.Tensor:
        """V(x) with the discriminator's parameters detached (gradient into x only)."""
        params = {k: v.detach() for k, v in self.net.named_parameters()}
        return torch.func.functional_call(self.net, params, (x,))

    def remember(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, self.in_dim).detach()
        self.buffer.append(x)
        self.buffered += x.shape[0]

    def maybe_train(self, real_batch: Callable[[int], torch.Tensor]) -> None:
        while self.buffered >= self.batch_size:
            pool = torch.cat(self.buffer)
            fake, rest = pool[: self.batch_size], pool[self.batch_size :]
            self.buffer, self.buffered = ([rest] if len(rest) else []), len(rest)
            real = real_batch(self.batch_size)
            if self.instance_noise > 0:  # drawn from the global torch RNG, which the run seeds
                real = real + self.instance_noise * torch.randn_like(real)
                fake = fake + self.instance_noise * torch.randn_like(fake)
            v_real, v_fake = self.net(real), self.net(fake)
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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["disc"])
        self.optimizer.load_state_dict(state["disc_optimizer"])
        buffer = state["buffer"]
        self.buffer, self.buffered = ([buffer] if len(buffer) else []), len(buffer)
        self.updates = int(state["disc_updates"])
        self.seeded = True

r"""Density baselines as generator agents, so ``rlcv train`` / ``rlcv eval`` compare any generator
with them on the same footing (``--algo pixel-mixture``, ``--algo independent-pixels``).

The baseline is a product mixture (:mod:`rlcv.gan.density_baselines`) fitted by EM, once, to the env's
*training* images when the loop binds the agent; K is ``n_components`` (``independent-pixels``: 1)
or, with 0 (``pixel-mixture``'s default), the K of best validation likelihood on a split of the
training images. Its policy g(x|z) reads the component off the latent's first coordinate (inverse
CDF of the mixture weights, so z ~ U(−1, 1) gives exact mixture samples) and draws the pixels from
it, with torch's RNG like every policy. Updates change nothing: ``rlcv train --steps 1`` is enough,
and ``rlcv eval RUN_DIR`` then reports the env's held-out metrics.

The env must offer ``training_images()`` and ``levels`` (the BGAN-Digits envs do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.config import CommonConfig, check
from rlcv.env_hooks import BindContext
from rlcv.errors import RlcvError
from rlcv.policies import Policy, PolicySample
from rlcv.rollout import RolloutBatch

LOG_2PI = float(np.log(2 * np.pi))


@dataclass(kw_only=True)
class MixtureConfig(CommonConfig):
    n_components: int = 0  # K; 0 chooses K by validation likelihood on a split of the training images
    fit_seed: int = 0  # seed of the EM initialisation and of the validation split
    n_steps: int = 1  # env steps per (empty) update

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_components >= 0, "n_components must be >= 0 (0 = choose K on the training images)")
        check(self.n_steps >= 1, "n_steps must be >= 1")
        check(self.eval_freq == 0, "eval_freq must be 0 for generator agents; use `rlcv eval RUN_DIR`")


@dataclass(kw_only=True)
class IndependentConfig(MixtureConfig):
    n_components: int = 1


class MixturePolicy(Policy):
    """g(x|z) of a product mixture: component by inverse CDF of z[0], pixels from that component.

    Buffers: ``weights`` [K]; ``table`` [K, 64, L] (pixel log-probabilities) for quantised images, or
    ``means`` / ``log_vars`` [K, 64] for grey-scale ones. Their shapes follow the fitted K, so
    :meth:`load_state_dict` takes them from the state."""

    def __init__(self, action_space: gym.Space) -> None:
        super().__init__()
        self.box = isinstance(action_space, gym.spaces.Box)
        if isinstance(action_space, gym.spaces.MultiBinary):
            self.levels = 2
        elif isinstance(action_space, gym.spaces.MultiDiscrete):
            self.levels = int(np.max(action_space.nvec))
        elif self.box:
            self.levels = 0
        else:
            raise RlcvError(
                f"density baselines generate images: they need a MultiBinary, MultiDiscrete or Box action "
                f"space, got {action_space}."
            )
        assert action_space.shape is not None  # MultiBinary, MultiDiscrete and Box have one
        d = int(np.prod(action_space.shape))
        self.action_shape = (d,)
        self.noise_shape = (d,)
        self.action_dtype = torch.float32 if self.box else torch.long
        levels = max(self.levels, 1)
        self.register_buffer("weights", torch.ones(1))
        self.register_buffer("table", torch.full((1, d, levels), -float(np.log(levels))))
        self.register_buffer("means", torch.full((1, d), 0.5))
        self.register_buffer("log_vars", torch.zeros(1, d))
        self.fitted = False

    def set_mixture(self, mixture: Any) -> None:
        """Copy a fitted :class:`~rlcv.gan.density_baselines.ProductMixture` into the buffers."""
        self.weights = torch.as_tensor(mixture.weights, dtype=torch.float32)
        if mixture.levels == 0:
            self.means = torch.as_tensor(mixture.means, dtype=torch.float32)
            self.log_vars = torch.as_tensor(np.log(mixture.variances), dtype=torch.float32)
        else:
            self.table = torch.as_tensor(np.log(mixture.probs), dtype=torch.float32)
        self.fitted = True

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        for name in ("weights", "table", "means", "log_vars"):
            if name in state_dict:
                setattr(self, name, state_dict[name].clone())
        self.fitted = True
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _component(self, obs: torch.Tensor) -> torch.Tensor:
        u = ((obs[:, 0] + 1.0) / 2.0).contiguous()
        cdf = torch.cumsum(self.weights, 0)
        return torch.clamp(torch.searchsorted(cdf, u, right=True), max=len(self.weights) - 1)

    def _component_log_prob(self, comp: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log p_k(x) for components [B] and actions [B, G, d] → [B, G]."""
        if self.box:
            mean, log_var = self.means[comp].unsqueeze(1), self.log_vars[comp].unsqueeze(1)
            return -0.5 * ((action - mean).pow(2) / log_var.exp() + log_var + LOG_2PI).sum(-1)
        table = self.table[comp].unsqueeze(1).expand(-1, action.shape[1], -1, -1)  # [B, G, d, L]
        return table.gather(-1, action.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        comp = self._component(obs)
        b, d = len(obs), self.action_shape[0]
        noise = torch.rand(b, group_size, d) if not self.box else torch.randn(b, group_size, d)
        if self.box:
            action = self.means[comp].unsqueeze(1) + (0.5 * self.log_vars[comp]).exp().unsqueeze(1) * noise
        else:
            cdf = torch.cumsum(self.table[comp].exp(), -1).unsqueeze(1)  # [B, 1, d, L]
            action = torch.clamp((noise.unsqueeze(-1) >= cdf).sum(-1), max=self.levels - 1)
        return PolicySample(action=action, log_prob=self._component_log_prob(comp, action), noise=noise)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log p(x | its latent's component) ([B, d] → [B] or [B, G, d] → [B, G])."""
        squeeze = action.dim() == 2
        lp = self._component_log_prob(self._component(obs), action.unsqueeze(1) if squeeze else action)
        return lp[:, 0] if squeeze else lp

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        comp = self._component(obs)
        if self.box:
            return 0.5 * (self.log_vars[comp] + LOG_2PI + 1.0).sum(-1)
        table = self.table[comp]
        return -(table.exp() * table).sum((-1, -2))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        comp = self._component(obs)
        return self.means[comp] if self.box else self.table[comp].argmax(-1)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return np.clip(action, 0.0, 1.0) if self.box else action


class PixelMixture:
    """A product mixture fitted to the env's training images (see the module docstring)."""

    config_cls: ClassVar[type[CommonConfig]] = MixtureConfig
    config: MixtureConfig
    algo: ClassVar[str] = "pixel-mixture"
    metric_names: tuple[str, ...] = ("n_components", "validation_log_likelihood")

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: MixtureConfig
    ) -> None:
        self.config = config
        self.updates = 0
        self.policy: Policy = MixturePolicy(action_space)
        self.validation_ll = float("nan")

    @property
    def n_steps(self) -> int:
        return int(self.config.n_steps)

    @property
    def group_size(self) -> int:
        return 1

    def bind(self, context: BindContext) -> None:
        from rlcv.env_factory import make_env
        from rlcv.gan.density_baselines import fit_mixture, select_components

        assert isinstance(self.policy, MixturePolicy)
        if self.policy.fitted:  # resumed: the checkpoint holds the fitted mixture
            return
        env = make_env(context.env_id, context.env_kwargs)
        source = env.unwrapped
        training_images = getattr(source, "training_images", None)
        images = training_images() if callable(training_images) else None
        levels = getattr(source, "levels", None)
        env.close()
        if images is None or levels is None:
            raise RlcvError(
                f"--algo {self.algo} fits the env's training images; {context.env_id} offers none "
                f"(no training_images()). Use an image generator env such as rlcv/BGAN-Digits-v0."
            )
        cfg = self.config
        k = cfg.n_components
        if k == 0:
            k, scores = select_components(images, levels=levels, seed=cfg.fit_seed)
            self.validation_ll = scores[k]
        self.policy.set_mixture(fit_mixture(images, levels=levels, k=k, seed=cfg.fit_seed))

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        self.updates += 1
        assert isinstance(self.policy, MixturePolicy)
        return {
            "n_components": float(len(self.policy.weights)),
            "validation_log_likelihood": self.validation_ll,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.updates = int(state["updates"])


class IndependentPixels(PixelMixture):
    """One product distribution: every pixel independent (K = 1)."""

    config_cls = IndependentConfig
    config: IndependentConfig
    algo = "independent-pixels"

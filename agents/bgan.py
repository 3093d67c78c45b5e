r"""Generators trained as policies: boundary-seeking GANs and the two baselines, in the agent loop.

The env (e.g. ``rlcv/BGAN-Digits-v0``) holds and trains the discriminator and rewards an image x
with log w(x); the agent is only a policy g_θ(x|z). Each update the loop draws ``n_steps`` latents
per env and a group of M = ``n_samples`` images for each (the collector's group sampling: member 0
is executed, the rest are scored by the env's ``group_rewards`` hook), then the agent takes **one**
Adam step on

    loss = −mean_z Σ_m Â_m log g_θ(x_m|z)  +  pathwise term  −  ent_coef · mean_z H(g_θ(·|z))

with Â and the pathwise term from the agent's estimator:

===================  =====================================================  =====================
``--algo``           estimator                                              file
===================  =====================================================  =====================
``bgan``             self-normalised weights Â_m = w̃_m − 1/M (discrete);    estimators/
                     continuous objective mean (V − log Z)² (Box actions)   self_normalized.py,
                                                                            continuous_bgan.py
``bgan-reinforce``   REINFORCE, Â_m = (log w_m − b)/M, b a moving average    moving_average.py
``bgan-gumbel``      Gumbel-softmax / straight-through relaxation,          relaxed.py
                     −mean log w(x_relaxed(θ)) through the env's
                     ``differentiable_reward``
===================  =====================================================  =====================

All three see the same latents, the same number of images per latent (so the env's discriminator
is trained on the same amount of generated data) and take one generator step per update, so equal
``--steps`` means equal generator updates. Metrics (CSV/TensorBoard): ``generator_loss``,
``entropy`` (of g(·|z), nats), ``grad_norm``, ``log_w_mean``, ``log_w_var``, ``ess`` (1/Σ w̃², in
[1, M]), ``log_z`` (mean_z log mean_m w), the estimator's own (``baseline``, ``log_z_ema``) and
the env's ``disc_loss``, ``disc_real_acc``, ``disc_fake_acc``, ``disc_updates`` when it has a
``diagnostics`` hook (read through the loop's :class:`~rlcv.env_hooks.EnvHooks`).

The estimator is the config's ``estimator`` key (defaults: ``boundary_seeking`` for ``bgan``,
``moving_average`` for ``bgan-reinforce``, ``relaxed`` for ``bgan-gumbel``); its settings
(``log_z_decay``, ``baseline_decay``, ``temperature``, ``straight_through``) are its own keys.
Generators have no critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.agents.base import PolicyGradientAgent
from rlcv.config import EstimatorConfig, check
from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorTerms
from rlcv.estimators.self_normalized import WEIGHT_METRICS
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting
from rlcv.value import ValueFunction

GENERATOR_METRICS = ("generator_loss", "entropy", "grad_norm")
DISC_METRICS = ("disc_loss", "disc_real_acc", "disc_fake_acc", "disc_updates")


@dataclass(kw_only=True)
class BGANConfig(EstimatorConfig):
    estimator: str = setting(
        "boundary_seeking",
        "policy-gradient estimator (rlcv.estimators.ESTIMATORS); its keys are listed below it",
    )
    n_steps: int = 64  # latents per env per update
    n_samples: int = 20  # M: images drawn per latent (the loop's group size)
    learning_rate: float = setting(1e-3, "Adam step size", resumable=True)
    adam_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # β1 = 0.5, as GANs use
    max_grad_norm: float = setting(0.0, resumable=True)  # 0 disables clipping
    squash_output: bool = False  # Box actions: tanh-squashed Gaussian rescaled to the bounds (as SB3)
    ent_coef: float = setting(
        0.0,
        "entropy bonus: the loss subtracts ent_coef × mean_z H(g(·|z)) (keeps the policy from "
        "collapsing onto one image per latent)",
        resumable=True,
    )

    out_init_gain: float = setting(
        0.0,
        "orthogonal-init gain of the policy's output layer; 0 keeps the policy's own (0.01: every "
        "latent starts at one near-uniform distribution, which the self-normalised update keeps "
        "symmetric — all latents drift to one glyph); ~10 starts each latent at its own distribution",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_steps >= 1, "n_steps must be >= 1")
        check(self.out_init_gain >= 0, "out_init_gain must be >= 0 (0 = the policy's default init)")
        check(self.n_samples >= 2, "n_samples must be >= 2 (weights are normalised within a group)")
        check(self.learning_rate > 0, "learning_rate must be > 0")
        check(
            len(self.adam_betas) == 2 and all(0 <= b < 1 for b in self.adam_betas),
            "adam_betas must be two numbers in [0, 1)",
        )
        check(self.max_grad_norm >= 0, "max_grad_norm must be >= 0")
        check(self.ent_coef >= 0, "ent_coef must be >= 0")
        # The loop's periodic evaluation plays mode actions in a fresh env (an untrained
        # discriminator): meaningless for a generator. Its metrics come from `rlcv eval RUN_DIR`.
        check(
            self.eval_freq == 0,
            "eval_freq must be 0 for generator agents; evaluate a run's generator on held-out data "
            "with `rlcv eval RUN_DIR` (it reports C2ST accuracy, class coverage, label entropy)",
        )


@dataclass(kw_only=True)
class ReinforceConfig(BGANConfig):
    estimator: str = setting(
        "moving_average",
        "policy-gradient estimator (rlcv.estimators.ESTIMATORS); its keys are listed below it",
    )


@dataclass(kw_only=True)
class GumbelConfig(BGANConfig):
    estimator: str = setting(
        "relaxed", "policy-gradient estimator (rlcv.estimators.ESTIMATORS); its keys are listed below it"
    )


def reinit_output_layer(policy: torch.nn.Module, gain: float) -> None:
    """Orthogonal init with ``gain`` of the last linear layer of the policy's output network
    (logits, or the Gaussian's mean), bias 0.

    Why (``results/bgan_collapse_digits4_init_notes.md``): with the optimal discriminator, w = p/g
    for the marginal g = E_z g(·|z), and the self-normalised update moves each g(·|z) towards
    g(x|z) p(x) / g(x) — the M-step of EM for a mixture whose components are the latents. EM started
    from identical components stays symmetric: at gain 0.01 every latent begins at the same
    near-uniform distribution and they move together, to one glyph. A larger gain starts each
    latent at its own distribution, as EM starts each component at its own random parameters."""
    net = getattr(policy, "logits_net", None) or getattr(policy, "mean_net", None)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)] if net is not None else []
    if not linears:
        name = type(policy).__name__
        raise RlcvError(f"out_init_gain: {name} has no logits_net / mean_net to re-initialise.")
    torch.nn.init.orthogonal_(linears[-1].weight, gain=gain)
    torch.nn.init.zeros_(linears[-1].bias)


class BGAN(PolicyGradientAgent):
    """Boundary-seeking GAN generator (see the module docstring)."""

    config_cls = BGANConfig
    algo = "bgan"
    config: BGANConfig
    own_metrics: ClassVar[tuple[str, ...]] = GENERATOR_METRICS
    env_metric_names: ClassVar[tuple[str, ...]] = DISC_METRICS
    # metrics.csv columns with the default estimator; instances use their estimator's.
    metric_names: tuple[str, ...] = (*GENERATOR_METRICS, *WEIGHT_METRICS, "log_z_ema", *DISC_METRICS)
    discrete_only = False  # the baselines are for discrete generators only

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: BGANConfig) -> None:
        self.continuous = isinstance(action_space, gym.spaces.Box)
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        # Generators have no critic (none is trained or checkpointed). Earlier versions built one;
        # drawing its initial weights from the RNG keeps seeded runs identical to those recorded in
        # results/refactor/before. Drop these lines together with a re-recording of those runs.
        assert observation_space.shape is not None  # the policy network was built for this shape
        ValueFunction(
            int(np.prod(observation_space.shape)),
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            ortho_init=config.ortho_init,
        )
        self.check_action_space(action_space)
        if config.out_init_gain > 0:  # only then: the default path draws no extra random numbers
            reinit_output_layer(self.policy, config.out_init_gain)
        self.optimizer = torch.optim.Adam(
            self.policy.parameters(),
            lr=config.learning_rate,
            betas=(config.adam_betas[0], config.adam_betas[1]),
        )

    def check_action_space(self, action_space: gym.Space) -> None:
        if self.discrete_only and self.continuous:
            raise RlcvError(
                f"{self.algo} is a baseline for discrete generators; for Box actions use --algo bgan on a "
                f"generator env (rlcv/BGAN-DigitsCont-v0), or --algo ppo/trpo on other envs."
            )
        if not isinstance(action_space, gym.spaces.MultiBinary | gym.spaces.MultiDiscrete | gym.spaces.Box):
            raise RlcvError(
                f"{self.algo} generates whole samples: it needs a MultiBinary, MultiDiscrete or Box "
                f"action space, got {action_space}."
            )

    @property
    def group_size(self) -> int:
        return int(self.config.n_samples)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    # -- the update -------------------------------------------------------------------------------
    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        cfg = self.config
        B = batch.n_steps * batch.n_envs
        obs = batch.obs.reshape(B, -1)
        actions = batch.actions.reshape(B, batch.group_size, *batch.actions.shape[3:])
        loss = torch.zeros(())
        if terms.advantages.any():
            log_prob = self.policy.log_prob(obs, actions)  # [B, M]
            loss = loss - (terms.advantages * log_prob).sum(-1).mean()
        if terms.pathwise_loss is not None:
            loss = loss + terms.pathwise_loss(torch.arange(B), self.policy, None)
        if cfg.ent_coef > 0:
            loss = loss - cfg.ent_coef * self.policy.entropy(obs).mean()
        self.check_finite(f"{self.algo} generator loss", loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.policy.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(
            params, cfg.max_grad_norm if cfg.max_grad_norm else math.inf
        )
        self.optimizer.step()
        with torch.no_grad():
            entropy = self.policy.entropy(obs).mean().item()
        out = {"generator_loss": loss.item(), "entropy": entropy, "grad_norm": float(grad_norm)}
        hooks = self.context.hooks if self.context is not None else None
        if hooks is not None:
            out.update(hooks.diagnostics())  # the env's discriminator statistics
        return out


class BGANReinforce(BGAN):
    """REINFORCE with a moving-average baseline on the same groups (no self-normalisation)."""

    config_cls = ReinforceConfig
    config: ReinforceConfig
    algo = "bgan-reinforce"
    metric_names = (*GENERATOR_METRICS, *WEIGHT_METRICS, "baseline", *DISC_METRICS)
    discrete_only = True


class BGANGumbel(BGAN):
    """A relaxed (Gumbel-softmax / straight-through) generator trained through the reward."""

    config_cls = GumbelConfig
    config: GumbelConfig
    algo = "bgan-gumbel"
    metric_names = (*GENERATOR_METRICS, *WEIGHT_METRICS, *DISC_METRICS)
    discrete_only = True

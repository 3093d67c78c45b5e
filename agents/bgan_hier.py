r"""Locally disentangled generators: the patch BiGAN (``bgan-bigan``) and the two-level chain
(``bgan-hier``), after Neal, Lamb et al., "Learning Generative Models with Locally Disentangled
Latent Factors".

``--algo bgan-bigan`` on ``rlcv/BGAN-DigitPatches-v0`` (the lower level). The agent owns

- the patch generator g(p|c), its policy: a Bernoulli policy over the 16 pixels of a patch given a
  code, trained like ``--algo bgan`` (one Adam step per update with the ``boundary_seeking``
  estimator: self-normalised weights of the env's pair discriminator over M patches per code);
- the patch encoder E(p) (:mod:`rlcv.gan.patches`), one Adam step per update on the env's BiGAN encoder
  objective ``encoder_loss`` (backpropagated through the fixed discriminator into E's codes).

With ``recon_weight`` λ > 0 the encoder step also minimises λ·(−log g(p|E(p)))/16 on real patches, g
held fixed (an ALICE-style cycle term that speeds up inversion; off by default, so the default is
the pure BiGAN). It hands E to the env once (``set_encoder``): the env labels real patches with it
when it trains the discriminator on (p, E(p)) vs (g(c), c). One network pair serves all four patch
positions.

``--algo bgan-hier`` on ``rlcv/BGAN-DigitCodes-v0`` (the higher level, the loop's env). The agent's
policy is the higher generator, a Gaussian over the 4·d concatenated patch codes trained with the
continuous BGAN objective (as ``--algo bgan`` on a Box action space). It also owns a ``bgan-bigan``
agent with its own patch env and collector (the lower stage), and steers both by ``mode``:

==============  =============================================================================
``decoupled``   updates 1..``lower_updates`` train only the lower stage (the code env is inactive:
                it rewards 0 and trains nothing); then a frozen copy of the lower stage is
                installed in the code env (its encoder labels real digits, its generator decodes)
                and the remaining updates train only the higher generator. With the env kwarg
                ``lower: RUN_DIR`` the code env loads a lower stage trained by another run (frozen)
                and every update is a higher-stage update: one lower stage, many higher seeds.
``joint``       every update trains both: one lower-stage step, then one higher-stage step against
                a code env that encodes with the *live* encoder (its real codes move as E learns).
==============  =============================================================================

One update is one generator step of one network in ``decoupled`` mode and of both in ``joint``
mode, so at equal generator updates a joint run takes half the loop updates (what
``rlcv bench ldf`` does). Checkpoints hold both stages (the lower agent, its patch env's
discriminator and buffer, the phase), so ``--resume`` continues either mode; the final policy file
carries the code env's state with the lower stage, which is what ``rlcv eval`` decodes with.

Metrics: the higher generator's (as ``bgan``), ``stage`` (1: lower only, 2: higher only, 3: both),
and the lower stage's as ``lower_*`` (``lower_generator_loss``, ``lower_entropy``,
``lower_encoder_loss``, ``lower_recon_loss``, ``lower_ess``, ``lower_log_w_mean``, ``lower_disc_loss``,
``lower_disc_real_acc``, ``lower_disc_fake_acc``); empty where that stage did not update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlcv.agents.bgan import BGAN, DISC_METRICS, GENERATOR_METRICS, BGANConfig
from rlcv.config import build_config, check
from rlcv.env_hooks import BindContext, EnvHooks
from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorTerms
from rlcv.estimators.self_normalized import WEIGHT_METRICS
from rlcv.gan.patches import N_PATCHES, PATCH_PIXELS, LowerStage, lower_spec, make_encoder
from rlcv.policies import BernoulliPolicy
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting

PATCH_ENV_ID = "rlcv/BGAN-DigitPatches-v0"
MODES = ("decoupled", "joint")
LOWER_METRICS = tuple(
    f"lower_{k}"
    for k in (
        "generator_loss",
        "entropy",
        "encoder_loss",
        "recon_loss",
        "ess",
        "log_w_mean",
        "disc_loss",
        "disc_real_acc",
        "disc_fake_acc",
    )
)


@dataclass(kw_only=True)
class BiGANConfig(BGANConfig):
    encoder_hidden_sizes: list[int] = field(default_factory=lambda: [128, 128])  # the patch encoder E
    encoder_learning_rate: float = 1e-3  # Adam step size of E (betas: adam_betas)
    # Weight λ of an optional cycle term for E, λ·mean −log g(p|E(p))/16 on real patches (ALICE-style,
    # g held fixed); 0 is the pure BiGAN of the issue.
    recon_weight: float = setting(0.0, "weight λ of the encoder's cycle term (0: pure BiGAN)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(all(h > 0 for h in self.encoder_hidden_sizes), "encoder_hidden_sizes must be positive")
        check(self.encoder_learning_rate > 0, "encoder_learning_rate must be > 0")
        check(self.recon_weight >= 0, "recon_weight must be >= 0")


class BGANBiGAN(BGAN):
    """Patch generator + patch encoder on the patch env (module docstring)."""

    config_cls = BiGANConfig
    config: BiGANConfig
    algo = "bgan-bigan"
    own_metrics = (*GENERATOR_METRICS, "encoder_loss", "recon_loss")
    metric_names = (*own_metrics, *WEIGHT_METRICS, "log_z_ema", *DISC_METRICS)

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: BiGANConfig) -> None:
        if not (
            isinstance(action_space, gym.spaces.MultiBinary)
            and int(np.prod(action_space.shape)) == PATCH_PIXELS
            and isinstance(observation_space, gym.spaces.Box)
        ):
            raise RlcvError(
                f"bgan-bigan generates 4×4 binary patches from codes: use --env {PATCH_ENV_ID} "
                f"(got observation {observation_space}, action {action_space})."
            )
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        spec = lower_spec(
            code_dim=int(np.prod(observation_space.shape)),
            generator_hidden_sizes=config.hidden_sizes,
            encoder_hidden_sizes=config.encoder_hidden_sizes,
            activation=config.activation,
        )
        assert isinstance(self.policy, BernoulliPolicy)  # make_policy's for the MultiBinary action space
        self.lower = LowerStage(self.policy, make_encoder(spec), spec)
        self.encoder_optimizer = torch.optim.Adam(
            self.lower.encoder.parameters(),
            lr=config.encoder_learning_rate,
            betas=(config.adam_betas[0], config.adam_betas[1]),
        )
        self._encoder_loss: Any = None

    def bind(self, context: BindContext) -> None:
        super().bind(context)
        hooks = context.hooks
        setters = hooks.methods("set_encoder") if hooks is not None else None
        losses = hooks.methods("encoder_loss") if hooks is not None else None
        if setters is None or losses is None:
            raise RlcvError(
                f"bgan-bigan trains its encoder against the env's (patch, code) discriminator: use --env "
                f"{PATCH_ENV_ID} with vectorization=sync."
            )
        for set_encoder in setters:
            set_encoder(self.lower.encode)
        self._encoder_loss = losses

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer, "encoder_adam": self.encoder_optimizer}

    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        if self._encoder_loss is None:
            raise RuntimeError("BGANBiGAN.bind must run before learn")
        loss = torch.stack([fn(self.lower.encode) for fn in self._encoder_loss]).mean()
        recon = self.reconstruction_loss() if self.config.recon_weight > 0 else None
        total = loss if recon is None else loss + self.config.recon_weight * recon
        self.check_finite("bgan-bigan encoder loss", total)
        self.encoder_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.encoder_optimizer.step()
        out = {**super().learn(batch, terms), "encoder_loss": loss.item()}
        if recon is not None:
            out["recon_loss"] = recon.item()
        return out

    def reconstruction_loss(self) -> torch.Tensor:
        """mean −log g(p|E(p)) per pixel over a minibatch of real training patches, differentiable in
        E only (the generator's parameters are detached: g is trained by the BGAN gradient alone)."""
        from rlcv.envs.bgan_patches import digit_patches

        patches = torch.from_numpy(digit_patches()["train"])
        batch = patches[torch.randint(0, len(patches), (self.config.n_steps * self.config.n_samples,))]
        gen = self.lower.generator.logits_net
        params = {k: v.detach() for k, v in gen.named_parameters()}
        logits = torch.func.functional_call(gen, params, (self.lower.encode(batch),))
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, batch)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "encoder": self.lower.encoder.state_dict(),
            "lower": self.lower.to_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lower.encoder.load_state_dict(state["encoder"])
        super().load_state_dict(state)


@dataclass(kw_only=True)
class HierConfig(BGANConfig):
    mode: str = "decoupled"  # decoupled: lower stage first, frozen, then the higher; joint: both each update
    lower_updates: int = 500  # decoupled: updates of the lower stage before the higher stage starts
    lower_n_steps: int = 64  # codes per lower-stage update
    lower_n_samples: int = 20  # M patches per code
    lower_learning_rate: float = 1e-3  # Adam step size of the patch generator
    lower_hidden_sizes: list[int] = field(default_factory=lambda: [128, 128])  # patch generator MLP
    encoder_hidden_sizes: list[int] = field(default_factory=lambda: [128, 128])  # patch encoder MLP
    encoder_learning_rate: float = 1e-3  # Adam step size of the patch encoder
    recon_weight: float = 0.0  # optional cycle term of the encoder (bgan-bigan's recon_weight); 0: pure BiGAN
    lower_env_kwargs: dict[str, Any] = field(default_factory=dict)  # patch env kwargs (disc_*), not code_dim
    # The patch generator's output layer starts at gain 0.01 (the policy default): every code then
    # decodes to the same near-uniform patch and the self-normalised update keeps it that way (the
    # symmetric start that collapses flat BGAN). The defaults keep the lower stage as it was.
    lower_out_init_gain: float = setting(
        0.0, "the patch generator's out_init_gain (bgan's; 0: the policy's default init)"
    )
    lower_ent_coef: float = setting(0.0, "the patch generator's entropy bonus (bgan's ent_coef)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.mode in MODES, f"mode must be one of {', '.join(MODES)}")
        check(self.lower_updates >= 1, "lower_updates must be >= 1")
        check(
            self.lower_n_steps >= 1 and self.lower_n_samples >= 2, "lower_n_steps >= 1, lower_n_samples >= 2"
        )
        check(self.lower_learning_rate > 0 and self.encoder_learning_rate > 0, "learning rates must be > 0")
        check("code_dim" not in self.lower_env_kwargs, "lower_env_kwargs takes no code_dim (the code env's)")
        check(self.lower_out_init_gain >= 0, "lower_out_init_gain must be >= 0 (0 = the default init)")
        check(self.lower_ent_coef >= 0, "lower_ent_coef must be >= 0")

    def lower_config(self, code_dim: int) -> BiGANConfig:
        """The config of the lower-stage agent (a bgan-bigan on the patch env)."""
        return build_config(
            BiGANConfig,
            {
                "n_steps": self.lower_n_steps,
                "n_samples": self.lower_n_samples,
                "learning_rate": self.lower_learning_rate,
                "adam_betas": self.adam_betas,
                "max_grad_norm": self.max_grad_norm,
                "hidden_sizes": self.lower_hidden_sizes,
                "activation": self.activation,
                "encoder_hidden_sizes": self.encoder_hidden_sizes,
                "encoder_learning_rate": self.encoder_learning_rate,
                "recon_weight": self.recon_weight,
                "out_init_gain": self.lower_out_init_gain,
                "ent_coef": self.lower_ent_coef,
                "num_threads": self.num_threads,
                "env_kwargs": {**self.lower_env_kwargs, "code_dim": code_dim},
            },
        )


class LowerTrainer:
    """A bgan-bigan agent with its own patch env and collector: the lower stage of ``bgan-hier``."""

    def __init__(self, config: BiGANConfig, seed: int) -> None:
        from rlcv.collector import Collector
        from rlcv.env_factory import make_vec_env
        from rlcv.normalize import ObsNormalizer, RewardScaler

        self.seed = seed
        self.envs = make_vec_env(PATCH_ENV_ID, n_envs=1, env_kwargs=config.env_kwargs)
        self.agent = BGANBiGAN(
            observation_space=self.envs.single_observation_space,
            action_space=self.envs.single_action_space,
            config=config,
        )
        obs_shape = self.envs.single_observation_space.shape
        norm = ObsNormalizer(obs_shape, enabled=False)
        scaler = RewardScaler(1, enabled=False, gamma=config.gamma)
        hooks = EnvHooks(self.envs)
        self.agent.bind(
            BindContext(
                env_id=PATCH_ENV_ID,
                env_kwargs=config.env_kwargs,
                obs_normalizer=norm,
                reward_scaler=scaler,
                hooks=hooks,
            )
        )
        self.collector = Collector(
            self.envs,
            self.agent.policy,
            obs_normalizer=norm,
            reward_scaler=scaler,
            group_size=self.agent.group_size,
            hooks=hooks,
        )
        self.collector.reset(seed)

    @property
    def lower(self) -> LowerStage:
        return self.agent.lower

    def update(self) -> dict[str, float]:
        from rlcv.finite import check_env_data

        batch = self.collector.collect(self.agent.n_steps)
        check_env_data(PATCH_ENV_ID, self.agent.updates, reward=batch.raw_rewards, observation=batch.raw_obs)
        out = self.agent.update(batch)
        return {name: out[name[len("lower_") :]] for name in LOWER_METRICS if name[len("lower_") :] in out}

    def state_dict(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "collector": self.collector.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.collector.load_state_dict(state["collector"])
        # Fresh codes seeded from (seed, updates), as the loop re-seeds its own envs on resume.
        self.collector.reset(self.seed + 7919 * (self.agent.updates + 1))


class BGANHier(BGAN):
    """The two-level chain on the code env (module docstring)."""

    config_cls = HierConfig
    config: HierConfig
    algo = "bgan-hier"
    own_metrics = (*GENERATOR_METRICS, "stage", *LOWER_METRICS)
    env_metric_names = DISC_METRICS
    metric_names = (*own_metrics, *WEIGHT_METRICS, "log_z_ema", *DISC_METRICS)

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: HierConfig) -> None:
        if not (
            isinstance(action_space, gym.spaces.Box)
            and len(action_space.shape or ()) == 1
            and int(np.prod(action_space.shape)) % N_PATCHES == 0
        ):
            raise RlcvError(
                f"bgan-hier generates the concatenated codes of the {N_PATCHES} patches: use --env "
                f"rlcv/BGAN-DigitCodes-v0 (got action space {action_space})."
            )
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        self.code_dim = int(np.prod(action_space.shape)) // N_PATCHES
        # Drawn here, from the run's seeded torch RNG: the seed of the lower stage's patch env.
        self.lower_seed = int(torch.randint(0, 2**31 - 1, ()))
        self.lower_trainer: LowerTrainer | None = None
        self._set_lower: list[Any] = []
        self.installed = False

    def bind(self, context: BindContext) -> None:
        super().bind(context)
        hooks = context.hooks
        has = hooks.methods("has_lower_stage") if hooks is not None else None
        setters = hooks.methods("set_lower_stage") if hooks is not None else None
        if has is None or setters is None:
            raise RlcvError(
                "bgan-hier needs the code env: use --env rlcv/BGAN-DigitCodes-v0 with vectorization=sync."
            )
        self._set_lower = setters
        if all(h() for h in has):  # env kwarg lower=RUN_DIR: a lower stage trained by another run
            if self.config.mode == "joint":
                raise RlcvError(
                    "mode=joint trains the lower stage itself; drop the env kwarg 'lower' or use "
                    "--set mode=decoupled to reuse a trained lower stage."
                )
            self.installed = True
            return
        with torch.random.fork_rng():  # the lower networks' init, from lower_seed alone
            torch.manual_seed(self.lower_seed)
            self.lower_trainer = LowerTrainer(self.config.lower_config(self.code_dim), self.lower_seed)
        if self.config.mode == "joint":
            self._install(self.lower_trainer.lower)

    def _install(self, lower: LowerStage) -> None:
        for set_lower in self._set_lower:
            set_lower(lower)
        self.installed = True

    @property
    def stage(self) -> int:
        if self.config.mode == "joint":
            return 3
        return 2 if self.installed else 1

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        stage = self.stage
        out: dict[str, float] = {"stage": float(stage)}
        if stage in (1, 3):
            assert self.lower_trainer is not None  # stage 1/3 exist only when this run trains it
            out.update(self.lower_trainer.update())
        if stage in (2, 3):
            out.update(super().update(batch))
        else:
            self.updates += 1
            if self.updates >= self.config.lower_updates:
                assert self.lower_trainer is not None
                self._install(self.lower_trainer.lower.frozen_copy())
        return out

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "installed": self.installed}
        if self.lower_trainer is not None:
            state["lower_trainer"] = self.lower_trainer.state_dict()
            state["lower"] = self.lower_trainer.lower.to_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.lower_trainer is not None:
            self.lower_trainer.load_state_dict(state["lower_trainer"])
            if self.config.mode == "decoupled" and state["installed"]:
                self._install(self.lower_trainer.lower.frozen_copy())

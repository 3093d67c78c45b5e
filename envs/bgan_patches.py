r"""The two levels of a locally disentangled digit generator: ``rlcv/BGAN-DigitPatches-v0`` and
``rlcv/BGAN-DigitCodes-v0``.

Both follow ``rlcv/BGAN-Digits-v0`` (:mod:`rlcv.envs.bgan_digits`): a one-step episode, the
observation is a latent, the action a whole sample, the reward the log importance weight
log w ≈ log p/g of an f-GAN discriminator that lives in the env and trains on the generated
samples it scores (a step whenever ``disc_batch_size`` of them have accumulated, taken at the start
of the next ``step`` so that a group is scored by one discriminator). Geometry and the lower-stage
networks are in :mod:`rlcv.gan.patches`.

**Lower level: ``rlcv/BGAN-DigitPatches-v0`` — a BiGAN / ALI on (patch, code) pairs.** The 8×8
binarised digits are cut into four 4×4 patches (16 binary pixels). Observation: a code
c ~ U(−1, 1)^d (the prior), action: MultiBinary(16), a patch p. The discriminator D(p, c) sees
*pairs*: real pairs (p, E(p)) with p a patch of a real training digit and E the agent's encoder,
generated pairs (p̃, c) with p̃ ~ g(·|c). The reward is log w(p̃, c) = D(p̃, c) (GAN divergence:
the logit), so the patch generator — a Bernoulli policy, discrete samples — gets the boundary-seeking
gradient of the existing ``boundary_seeking`` estimator: for each code, M patches are drawn and
ĝ = mean_c Σ_m (w̃_m − 1/M) ∇ log g(p̃_m|c), with w̃ the softmax of D over the group. No gradient
passes through the discrete samples.

The encoder E(p) = tanh(MLP(p)) is continuous and deterministic, so it is trained by
backpropagation, BiGAN-style: it tries to make *real* pairs look generated, minimising
L_E = mean_p softplus(D(p, E(p))) = −mean log(1 − σ(D)) over a minibatch of real patches, with
D's parameters held fixed (:meth:`BGANDigitPatchesEnv.encoder_loss`, the env's hook the agent
calls each update; the gradient flows through D into the code E(p) only). At the BiGAN optimum
the joint laws of (p, E(p)) and (g(c), c) coincide, so E inverts g. The agent
(``--algo bgan-bigan``, or the lower stage of ``--algo bgan-hier``) owns g and E and hands E to the
env once (``set_encoder``) to label real patches when D trains.

**Higher level: ``rlcv/BGAN-DigitCodes-v0`` — a continuous generator over patch codes.**
Observation: a latent z ~ U(−1, 1)^latent_dim; action: Box(−1, 1, (4·d,)), the concatenated codes of
the four patches; real data: the lower stage's encoder applied to the four patches of real
training digits. The reward is the code discriminator's log w, and ``differentiable_reward`` makes
it a function of the action (clamped straight-through) for the continuous BGAN objective
(``rlcv/estimators/continuous_bgan.py``), which ``--algo bgan`` / ``bgan-hier`` use on Box actions.
The lower stage comes from the env kwarg ``lower`` (a run directory, loaded frozen) or from the
agent (``set_lower_stage``: a frozen copy when decoupled, the live networks when joint). Until it
has one, the env is *inactive*: rewards are 0 and its discriminator neither stores nor trains
(the lower-stage phase of a decoupled ``bgan-hier`` run). ``evaluate_policy`` decodes the
generated codes with the lower stage's patch generator and reports the same held-out metrics as
the flat env (through :func:`rlcv.gan.ldf_metrics.held_out_metrics`), plus seam discontinuity,
confident share and the locality ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlcv.envs.bgan_digits import eval_report, sample_policy
from rlcv.envs.bgan_discriminator import InEnvDiscriminator
from rlcv.errors import RlcvError
from rlcv.gan.fdivergences import get_divergence
from rlcv.gan.patches import (
    N_PATCHES,
    N_PIXELS,
    PATCH_PIXELS,
    PATCH_SIDE,
    LowerStage,
    load_lower_stage,
    to_patches,
)

PATCH_ENV_ID = "rlcv/BGAN-DigitPatches-v0"
CODE_ENV_ID = "rlcv/BGAN-DigitCodes-v0"


@cache
def digit_patches() -> dict[str, np.ndarray]:
    """The flat env's binarised split, as patches: ``train`` [1347·4, 16], ``held_out`` [450·4, 16]."""
    from rlcv.envs.bgan_digits import digits

    d = digits(2)
    return {
        "train": to_patches(torch.from_numpy(d["x_train"])).reshape(-1, PATCH_PIXELS).numpy(),
        "held_out": to_patches(torch.from_numpy(d["x_held_out"])).reshape(-1, PATCH_PIXELS).numpy(),
    }


class _InEnvGAN(gym.Env):
    """What both levels share: the latent observation, a discriminator seeded like the flat env's
    (``disc_seed``, else the first reset seed), and its hooks."""

    metadata: dict[str, Any] = {"render_modes": []}  # an instance variable of gym.Env
    env_name: ClassVar[str] = ""

    def _setup(
        self,
        *,
        obs_dim: int,
        disc_in: int,
        divergence: str,
        disc_hidden_sizes: list[int] | None,
        disc_lr: float,
        disc_betas: tuple[float, float] | list[float],
        disc_batch_size: int,
        disc_seed: int | None,
        eval_samples: int,
        disc_instance_noise: float = 0.0,
    ) -> None:
        if obs_dim < 1 or disc_batch_size < 1 or eval_samples < 10:
            raise RlcvError(
                f"{self.env_name}: code_dim / latent_dim and disc_batch_size must be >= 1, "
                f"eval_samples >= 10."
            )
        self.obs_dim, self.eval_samples = int(obs_dim), int(eval_samples)
        self.observation_space = spaces.Box(-1.0, 1.0, (self.obs_dim,), np.float32)
        self.disc = InEnvDiscriminator(
            in_dim=disc_in,
            hidden_sizes=list(disc_hidden_sizes or [128, 128]),
            lr=float(disc_lr),
            betas=(float(disc_betas[0]), float(disc_betas[1])),
            batch_size=int(disc_batch_size),
            divergence=get_divergence(divergence),
            env_name=self.env_name,
            seed=disc_seed,
            instance_noise=float(disc_instance_noise),
        )
        self._obs = np.zeros(self.obs_dim, np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.disc.seed_from_reset(seed)
        self._obs = self.np_random.uniform(-1.0, 1.0, self.obs_dim).astype(np.float32)
        return self._obs.copy(), {}

    def diagnostics(self) -> dict[str, float]:
        return self.disc.diagnostics()

    def state_dict(self) -> dict[str, Any]:
        return self.disc.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.disc.load_state_dict(state)


class BGANDigitPatchesEnv(_InEnvGAN):
    """The patch-level BiGAN env (module docstring).

    Args:
        code_dim: d, the dimension of a patch code (the observation; the encoder's output).
        disc_hidden_sizes, disc_lr, disc_betas, disc_batch_size, disc_seed: the pair discriminator.
        eval_samples: generated patches behind the patch-level metrics of ``evaluate_policy``.
    """

    env_name = PATCH_ENV_ID

    def __init__(
        self,
        *,
        code_dim: int = 8,
        disc_hidden_sizes: list[int] | None = None,
        disc_lr: float = 2e-4,
        disc_betas: tuple[float, float] | list[float] = (0.5, 0.999),
        disc_batch_size: int = 256,
        disc_seed: int | None = None,
        eval_samples: int = 1000,
    ) -> None:
        # BiGAN's encoder objective is the GAN one (softplus of the logit), so the divergence is fixed.
        self._setup(
            obs_dim=code_dim,
            disc_in=PATCH_PIXELS + int(code_dim),
            divergence="gan",
            disc_hidden_sizes=disc_hidden_sizes,
            disc_lr=disc_lr,
            disc_betas=disc_betas,
            disc_batch_size=disc_batch_size,
            disc_seed=disc_seed,
            eval_samples=eval_samples,
        )
        self.action_space = spaces.MultiBinary(PATCH_PIXELS)
        self._patches = torch.from_numpy(digit_patches()["train"])
        self._encode: Callable[[torch.Tensor], torch.Tensor] | None = None

    # -- hooks the patch agent uses ---------------------------------------------------------------
    def set_encoder(self, encode: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """The agent's encoder E: patches [n, 16] → codes [n, d] (called under no_grad to label
        real patches whenever the discriminator trains)."""
        self._encode = encode

    def _real_pairs(self, n: int) -> torch.Tensor:
        if self._encode is None:
            raise RlcvError(
                f"{PATCH_ENV_ID} needs the agent's patch encoder to label real patches; train it with "
                f"--algo bgan-bigan (or bgan-hier on {CODE_ENV_ID})."
            )
        idx = torch.from_numpy(self.np_random.integers(0, len(self._patches), n))
        patches = self._patches[idx]
        with torch.no_grad():
            codes = self._encode(patches)
        return torch.cat([patches, codes], -1)

    def encoder_loss(self, encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """L_E = mean softplus(D(p, E(p))) over ``disc_batch_size`` real patches drawn from the env's
        RNG, differentiable in E's output only (module docstring)."""
        idx = torch.from_numpy(self.np_random.integers(0, len(self._patches), self.disc.batch_size))
        patches = self._patches[idx]
        v = self.disc.differentiable_score(torch.cat([patches, encode(patches)], -1))
        return nn.functional.softplus(v).mean()

    def _pairs(self, codes: np.ndarray, patches: np.ndarray) -> torch.Tensor:
        p = torch.as_tensor(np.asarray(patches), dtype=torch.float32).reshape(-1, PATCH_PIXELS)
        c = torch.as_tensor(np.asarray(codes), dtype=torch.float32).reshape(1, -1).expand(p.shape[0], -1)
        return torch.cat([p, c], -1)

    # -- Gymnasium API ----------------------------------------------------------------------------
    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.disc.maybe_train(self._real_pairs)
        pair = self._pairs(self._obs, np.asarray(action)[None])
        log_w = float(self.disc.log_w(pair)[0])
        self.disc.remember(pair)
        return self._obs.copy(), log_w, True, False, {"log_w": log_w}

    def group_rewards(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        pairs = self._pairs(obs, actions)
        log_w = self.disc.log_w(pairs)
        self.disc.remember(pairs)
        return log_w.numpy().astype(np.float32)

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate_policy(
        self,
        policy: Any,
        *,
        episodes: int,
        seed: int = 0,
        obs_normalizer: Any = None,
        grid_path: str | Path | None = None,
    ) -> dict[str, Any]:
        """Patch-level metrics of a patch generator: RF two-sample and 1-NN accuracy of
        ``eval_samples`` patches (codes from the prior) against the held-out digits' patches."""
        from rlcv.gan.metrics import nn1_accuracy, save_grid, two_sample_accuracy

        n = max(self.eval_samples, episodes)
        codes, action = sample_policy(policy, n, self.obs_dim, seed=seed, obs_normalizer=obs_normalizer)
        patches = action[:, 0].float()
        pairs = torch.cat([patches, torch.from_numpy(codes)], -1)
        log_w = self.disc.log_w(pairs[:episodes]).numpy()
        held_out = digit_patches()["held_out"]
        sample = patches[: self.eval_samples].numpy()
        if grid_path is not None:
            save_grid(sample[:100].reshape(-1, PATCH_SIDE, PATCH_SIDE), grid_path)
        metrics = {
            "patch_c2st_accuracy": two_sample_accuracy(held_out, sample, seed=seed),
            "patch_nn1_accuracy": nn1_accuracy(held_out, sample, seed=seed),
        }
        return eval_report(log_w, episodes, metrics)


class BGANDigitCodesEnv(_InEnvGAN):
    """The code-level env (module docstring).

    Args:
        latent_dim: dimension of the latent z (the observation).
        code_dim: d of one patch code; the action is the 4·d concatenated codes.
        lower: a run directory holding a trained lower stage (a bgan-bigan or bgan-hier run), loaded
            frozen; without it the agent installs one (``--algo bgan-hier``).
        divergence, disc_*: the code discriminator (as in ``rlcv/BGAN-Digits-v0``);
            ``disc_instance_noise`` σ adds N(0, σ²) to the real and generated codes of every training
            step (off by default; codes live in [−1, 1]).
        eval_samples: decoded images behind the held-out metrics of ``evaluate_policy``.
    """

    env_name = CODE_ENV_ID

    def __init__(
        self,
        *,
        latent_dim: int = 32,
        code_dim: int = 8,
        lower: str | None = None,
        divergence: str = "gan",
        disc_hidden_sizes: list[int] | None = None,
        disc_lr: float = 2e-4,
        disc_betas: tuple[float, float] | list[float] = (0.5, 0.999),
        disc_batch_size: int = 256,
        disc_seed: int | None = None,
        disc_instance_noise: float = 0.0,
        eval_samples: int = 1000,
    ) -> None:
        if code_dim < 1:
            raise RlcvError(f"{CODE_ENV_ID}: code_dim must be >= 1.")
        self.code_dim = int(code_dim)
        self._setup(
            obs_dim=latent_dim,
            disc_in=N_PATCHES * self.code_dim,
            divergence=divergence,
            disc_hidden_sizes=disc_hidden_sizes,
            disc_lr=disc_lr,
            disc_betas=disc_betas,
            disc_batch_size=disc_batch_size,
            disc_seed=disc_seed,
            eval_samples=eval_samples,
            disc_instance_noise=disc_instance_noise,
        )
        self.action_space = spaces.Box(-1.0, 1.0, (N_PATCHES * self.code_dim,), np.float32)
        from rlcv.envs.bgan_digits import digits

        self._digits = torch.from_numpy(digits(2)["x_train"])
        self.lower: LowerStage | None = None
        self.lower_source = lower
        if lower is not None:
            self._install(load_lower_stage(lower))

    # -- the lower stage --------------------------------------------------------------------------
    def _install(self, lower: LowerStage) -> None:
        if lower.code_dim != self.code_dim:
            raise RlcvError(
                f"{CODE_ENV_ID}: the lower stage has code_dim {lower.code_dim}, the env {self.code_dim}; "
                f"set --env-kwargs '{{code_dim: {lower.code_dim}}}'."
            )
        self.lower = lower

    def set_lower_stage(self, lower: LowerStage) -> None:
        """Decode and encode with ``lower`` from now on (the agent's frozen copy, or its live
        networks in joint training); the env becomes active."""
        self._install(lower)

    def has_lower_stage(self) -> bool:
        return self.lower is not None

    def _real_codes(self, n: int) -> torch.Tensor:
        assert self.lower is not None  # the env is inactive (never trains) without one
        idx = torch.from_numpy(self.np_random.integers(0, len(self._digits), n))
        with torch.no_grad():
            return self.lower.encode_images(self._digits[idx])

    def _codes(self, actions: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(actions), dtype=torch.float32).clamp(-1.0, 1.0)

    # -- Gymnasium API ----------------------------------------------------------------------------
    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.lower is None:
            return self._obs.copy(), 0.0, True, False, {"log_w": 0.0}
        self.disc.maybe_train(self._real_codes)
        codes = self._codes(np.asarray(action)[None])
        log_w = float(self.disc.log_w(codes)[0])
        self.disc.remember(codes)
        return self._obs.copy(), log_w, True, False, {"log_w": log_w}

    def group_rewards(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        if self.lower is None:
            return np.zeros(len(actions), np.float32)
        codes = self._codes(actions)
        log_w = self.disc.log_w(codes)
        self.disc.remember(codes)
        return log_w.numpy().astype(np.float32)

    def differentiable_reward(self, obs: torch.Tensor, relaxed_actions: torch.Tensor) -> torch.Tensor:
        """log w of codes [..., 4·d] → [...], clamped to the box straight-through, differentiable in
        the codes only."""
        x = relaxed_actions.float()
        x = x + (x.clamp(-1.0, 1.0) - x).detach()
        v = self.disc.differentiable_score(x.reshape(-1, x.shape[-1]))
        return self.disc.divergence.log_weight(v).reshape(x.shape[:-1])

    def state_dict(self) -> dict[str, Any]:
        return {**self.disc.state_dict(), "lower": self.lower.to_state() if self.lower is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The discriminator, and the lower stage's weights: loaded into the installed one (the agent's,
        which it restored itself) or, for evaluation, into a frozen one built from the saved spec."""
        super().load_state_dict(state)
        saved = state.get("lower")
        if saved is None:
            return
        if self.lower is not None:
            self.lower.load_state_dict(saved["state"])
        else:
            self._install(LowerStage.from_state(saved).frozen_copy())

    # -- evaluation -------------------------------------------------------------------------------
    def generate_codes(self, policy: Any, n: int, *, seed: int, obs_normalizer: Any = None) -> torch.Tensor:
        """``n`` code vectors [n, 4·d] from the higher generator for latents drawn from ``seed``."""
        _, action = sample_policy(policy, n, self.obs_dim, seed=seed, obs_normalizer=obs_normalizer)
        return self._codes(policy.env_action(action[:, 0].numpy()))

    def decode(self, codes: torch.Tensor, *, seed: int) -> np.ndarray:
        """Images [n, 64] decoded by the lower stage with pixel uniforms drawn from ``seed``."""
        if self.lower is None:
            raise RlcvError(
                f"{CODE_ENV_ID} has no lower stage to decode with; pass --env-kwargs '{{lower: RUN_DIR}}' "
                f"or evaluate a bgan-hier run that finished its lower stage."
            )
        uniforms = torch.rand(codes.shape[0], N_PIXELS, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self.lower.decode(codes, uniforms).numpy()

    def generate(self, policy: Any, n: int, *, seed: int, obs_normalizer: Any = None) -> np.ndarray:
        """``n`` decoded images [n, 64] (the flat env's ``generate`` contract)."""
        return self.decode(
            self.generate_codes(policy, n, seed=seed, obs_normalizer=obs_normalizer), seed=seed
        )

    def evaluate_policy(
        self,
        policy: Any,
        *,
        episodes: int,
        seed: int = 0,
        obs_normalizer: Any = None,
        grid_path: str | Path | None = None,
    ) -> dict[str, Any]:
        """The flat env's held-out metrics of ``eval_samples`` decoded images (C2ST, 1-NN, class
        coverage, label entropy), seam discontinuity, confident share and the locality ratio;
        ``mean_return`` is the code discriminator's mean log w over ``episodes`` generated codes."""
        from rlcv.gan.ldf_metrics import image_metrics, locality_ratio
        from rlcv.gan.metrics import save_grid

        n = max(self.eval_samples, episodes)
        codes = self.generate_codes(policy, n, seed=seed, obs_normalizer=obs_normalizer)
        images = self.decode(codes, seed=seed)
        log_w = self.disc.log_w(codes[:episodes]).numpy()
        assert self.lower is not None  # decode checked it
        sample = images[: self.eval_samples]
        metrics = {
            **image_metrics(sample, seed=seed),
            **locality_ratio(self.lower, codes[: self.eval_samples], seed=seed),
        }
        if grid_path is not None:
            save_grid(sample[:100].reshape(-1, 8, 8), grid_path)
        return eval_report(log_w, episodes, metrics)

r"""Generating 8×8 digits as a decision problem: ``rlcv/BGAN-Digits-v0`` and its variants.

A GAN generator g(x|z) is a policy: the observation is a latent z, the action is a whole image x,
and the reward is the discriminator's log importance weight log w(x) ≈ log p(x)/g(x) for the
chosen f-divergence (:mod:`rlcv.gan.fdivergences`). The discriminator lives *inside* the env and is
trained on real vs generated images as the agent loop runs, so any agent of the loop can train a
generator — boundary-seeking GANs (Hjelm et al., ICLR 2018) are the one built for it
(:mod:`rlcv.agents.bgan`).

Data. scikit-learn's bundled 8×8 digits (1797 images, pixel values 0..16, labels 0..9; no
download). The split is fixed: image i (in ``load_digits`` order) is **held out** when
``i % 4 == 0`` (450 images), the other 1347 are the **training** images the discriminator sees.
Held-out images are used only by :meth:`BGANDigitsEnv.evaluate_policy`.

=============================  =====================  ==========================================
id                             action space           image x (pixel intensities in [0, 1])
=============================  =====================  ==========================================
``rlcv/BGAN-Digits-v0``        MultiBinary(64)        binarised: x = 1[v ≥ 8]
``rlcv/BGAN-Digits4-v0``       MultiDiscrete([4]*64)  4 levels: q = min(⌊4v/16⌋, 3), x = q/3
``rlcv/BGAN-DigitsCont-v0``    Box(0, 1, (64,))       grey-scale x = v/16 (continuous generator)
=============================  =====================  ==========================================

(v is the raw pixel value 0..16; actions are pixels in row-major order.)

Episodes. One step each (a contextual bandit): ``reset`` draws z ~ U(−1, 1)^latent_dim, ``step(x)``
returns reward log w(x) and ``terminated=True``. ``info["log_w"]`` repeats the reward.

Discriminator. An MLP V(x) (LeakyReLU 0.2) trained with Adam on the f-GAN objective
max E_real[g_f(V)] − E_gen[f*(g_f(V))]. Every image the env scores (executed by ``step`` or scored
by ``group_rewards``) goes into a buffer; whenever ``disc_batch_size`` images have accumulated, the
*next* ``step`` first takes one discriminator step on them against as many training images drawn
uniformly. Updates therefore happen only at the start of ``step``, never between the executed
action and the rest of its group, so all G members of a group are scored by the same
discriminator. Its initial weights are drawn from ``disc_seed`` when given, else from the seed of
the first ``reset(seed=...)`` (so ``rlcv train --seed`` changes them); its minibatches come from the
env's ``np_random``.

Hooks beyond the Gymnasium API (all optional for the loop, used when present):

- ``group_rewards(obs, actions)`` — log w of extra group members [G−1] (the collector's hook);
- ``differentiable_reward(obs, relaxed_actions)`` — log w as a torch function of a *relaxed*
  action (MultiBinary: [..., 64] in [0, 1]; MultiDiscrete: [..., 64, L] on the simplex; Box:
  [..., 64], clamped straight-through), differentiable in the action only — what relaxed
  (Gumbel-softmax) generators and the continuous BGAN objective back-propagate through;
- ``state_dict()`` / ``load_state_dict()`` — discriminator, its optimiser and the buffer, saved in
  checkpoints so a resumed run continues the same game;
- ``diagnostics()`` — discriminator loss/accuracy averaged since the previous call;
- ``evaluate_policy(policy, ...)`` — held-out metrics, what ``rlcv eval`` reports for this env.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlcv.envs.bgan_discriminator import InEnvDiscriminator
from rlcv.errors import RlcvError
from rlcv.gan.fdivergences import get_divergence

N_PIXELS = 64
HELD_OUT_EVERY = 4  # image i is held out iff i % 4 == 0
EVAL_GROUPS, EVAL_GROUP_SIZE = 100, 10  # latents × images per latent of the within-latent check
EVAL_SAMPLES = 1000  # images (one per latent) behind every held-out metric


# ---------------------------------------------------------------------------- data


@cache
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def quantize(raw: np.ndarray, levels: int) -> np.ndarray:
    """Raw pixel values 0..16 → intensities in [0, 1]: ``levels`` ≥ 2 evenly spaced levels, or
    grey-scale v/16 for ``levels == 0``."""
    if levels == 0:
        return (raw / 16.0).astype(np.float32)
    q = np.minimum(np.floor(raw * levels / 16.0), levels - 1)
    return (q / (levels - 1)).astype(np.float32)


def to_grid(x: np.ndarray) -> np.ndarray:
    """Grey-scale intensities in [0, 1] rounded to the data's grid v/16, v = 0..16 (:func:`quantize`)."""
    return (np.clip(np.round(np.asarray(x, dtype=np.float64) * 16.0), 0, 16) / 16.0).astype(np.float32)


@cache
def digits(levels: int) -> dict[str, np.ndarray]:
    """The fixed split: ``x_train`` [1347, 64], ``y_train``, ``x_held_out`` [450, 64], ``y_held_out``."""
    raw, labels = _raw_digits()
    x = quantize(raw, levels)
    held = np.arange(len(x)) % HELD_OUT_EVERY == 0
    return {"x_train": x[~held], "y_train": labels[~held], "x_held_out": x[held], "y_held_out": labels[held]}


@cache
def digit_classifier(levels: int) -> tuple[Any, float]:
    """An SVM digit classifier trained on the training images in this representation, with its
    accuracy on the held-out images (the labeller behind coverage and label entropy). It gives
    class probabilities (libsvm's pairwise-coupling Platt scaling, seeded) for the confident
    coverage. scikit-learn 1.9 deprecates ``probability=True`` in favour of CalibratedClassifierCV,
    whose one-vs-rest sigmoids, renormalised, rarely reach 0.9 even on real digits (median 0.84
    against 0.97 here), so the warning is silenced until it is removed."""
    import warnings

    from sklearn.svm import SVC

    d = digits(levels)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
        clf = SVC(C=10.0, gamma="scale", probability=True, random_state=0).fit(d["x_train"], d["y_train"])
    labels = clf.classes_[clf.predict_proba(d["x_held_out"]).argmax(1)]
    return clf, float((labels == d["y_held_out"]).mean())


@cache
def collapse_thresholds(levels: int) -> Any:
    """The collapse detector's thresholds in this representation (:mod:`rlcv.gan.collapse`), from
    the training images alone: 1000-image subsets (the size of every scored sample) and the true
    labels of the training digits."""
    from rlcv.gan.collapse import real_thresholds

    d = digits(levels)
    return real_thresholds(d["x_train"], d["y_train"], n=EVAL_SAMPLES)


@cache
def comparison_labels(levels: int, against: str) -> np.ndarray:
    """The labeller's labels of the images metrics compare against: the histogram a generated
    sample's labels are measured against (``label_tv``)."""
    reference, _ = comparison_split(levels, against)
    clf, _ = digit_classifier(levels)
    return np.asarray(clf.classes_[clf.predict_proba(reference).argmax(1)])


@cache
def mmd_bandwidth(levels: int) -> float:
    """The MMD kernel width of this representation: the median squared distance between training
    images, fixed so every generator is measured on one scale."""
    from rlcv.gan.metrics import median_sq_distance

    return median_sq_distance(digits(levels)["x_train"])


def comparison_split(levels: int, against: str = "held-out") -> tuple[np.ndarray, np.ndarray]:
    """(the images metrics compare against, other real images for a real-vs-real row).

    ``held-out``: the 450 held-out images, and the training images. ``train``: a fixed 450 of the
    training images, and the other training images — for choosing settings without ever looking at
    the held-out images."""
    d = digits(levels)
    if against == "held-out":
        return d["x_held_out"], d["x_train"]
    if against == "train":
        order = np.random.default_rng(0).permutation(len(d["x_train"]))
        n = len(d["x_held_out"])
        return d["x_train"][order[:n]], d["x_train"][order[n:]]
    raise RlcvError(f"against must be 'held-out' or 'train', got '{against}'.")


def score_digits(
    sample: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    levels: int,
    seed: int = 0,
    against: str = "held-out",
) -> dict[str, Any]:
    """Every held-out metric of a set of images — generated, from a reference model or real: the one
    code path behind ``rlcv eval`` of a generator and every row of ``rlcv bench bgan``.

    ``sample`` [n, 64] holds one image per latent (intensities as the env's ``to_image`` gives
    them), ``groups`` [L, S, 64] optionally S images for each of L latents (the within-latent
    collapse check). Metrics (:mod:`rlcv.gan.metrics`): ``c2st_accuracy`` (grey-scale digits also
    ``c2st_grid_accuracy``, the sample rounded to the data's grid, :func:`to_grid`), ``nn1_accuracy`` (0.5 is
    indistinguishable from the 450 held-out images), ``mmd2`` / ``mmd_p_value`` (kernel width
    :func:`mmd_bandwidth`), ``class_coverage`` / ``label_entropy`` / ``label_hist`` (labels = the
    SVM's most probable class), ``confident_coverage`` / ``confident_share`` (labels the SVM gives
    with probability ≥ 0.9), ``unique_fraction`` / ``across_latent_distance`` /
    ``within_latent_distance`` (collapse), ``glyphs`` / ``label_tv`` / ``collapse`` (the collapse
    detector, :func:`collapse_report`), ``classifier_accuracy`` (the SVM's held-out accuracy).
    ``against="train"`` compares with training images instead (:func:`comparison_split`).
    """
    from rlcv.gan.metrics import (
        confident_coverage,
        label_statistics,
        mmd_test,
        nn1_accuracy,
        two_sample_accuracy,
    )

    reference, _ = comparison_split(levels, against)
    clf, clf_acc = digit_classifier(levels)
    proba = clf.predict_proba(sample)
    collapse = collapse_report(sample, clf.classes_[proba.argmax(1)], groups, levels=levels, against=against)
    # Grey-scale digits lie on the raw 0..16 grid, a continuous generator's pixels never do, so the forest
    # of the plain C2ST separates any continuous model by that alone (≈ 1.000 for every one, a 60-component
    # mixture too). Rounded to the same grid first, the two-sample test compares what the images show.
    on_grid = (
        {"c2st_grid_accuracy": two_sample_accuracy(reference, to_grid(sample), seed=seed)}
        if levels == 0
        else {}
    )
    return {
        "c2st_accuracy": two_sample_accuracy(reference, sample, seed=seed),
        **on_grid,
        "nn1_accuracy": nn1_accuracy(reference, sample, seed=seed),
        **mmd_test(reference, sample, bandwidth=mmd_bandwidth(levels), seed=seed),
        **label_statistics(clf.classes_[proba.argmax(1)]),
        **confident_coverage(proba),
        **collapse,
        "classifier_accuracy": clf_acc,
    }


def collapse_report(
    sample: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, *, levels: int, against: str
) -> dict[str, Any]:
    """The collapse statistics of a sample [n, 64] with its labels (and ``groups`` [L, S, 64]), and
    the detector's verdict against :func:`collapse_thresholds` (glyph counts are scaled to 1000
    images when ``sample`` has another size)."""
    from rlcv.gan.collapse import collapse_verdict, glyph_count, label_tv
    from rlcv.gan.metrics import collapse_statistics

    th = collapse_thresholds(levels)
    ref = np.bincount(comparison_labels(levels, against), minlength=10) / len(
        comparison_labels(levels, against)
    )
    stats: dict[str, Any] = {
        **collapse_statistics(sample, groups),
        "glyphs": glyph_count(sample, th.radius) * th.n / len(sample),
        "label_tv": label_tv(labels, ref),
    }
    stats["collapse"] = collapse_verdict(stats, th)
    return stats


def sample_policy(
    policy: Any, n: int, dim: int, *, seed: int, obs_normalizer: Any = None, per_latent: int = 1
) -> tuple[np.ndarray, torch.Tensor]:
    """(``n`` latents [n, dim] drawn from U(−1, 1) with ``seed``, the policy's actions for them
    [n, per_latent, ...]) — the samples every BGAN env evaluates; the global torch RNG is left as it was."""
    z = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
    obs = obs_normalizer(z) if obs_normalizer is not None else z
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        action = policy.sample(torch.from_numpy(np.asarray(obs, np.float32)), per_latent).action
    return z, action


def eval_report(log_w: np.ndarray, episodes: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """What ``evaluate_policy`` of the BGAN envs returns: the discriminator's log w of ``episodes``
    generated samples as returns, and the held-out ``metrics``."""
    return {
        "mean_return": float(log_w.mean()),
        "std_return": float(log_w.std()),
        "episodes": episodes,
        "returns": [float(v) for v in log_w],
        "metrics": metrics,
    }


# ---------------------------------------------------------------------------- env


class BGANDigitsEnv(gym.Env):
    """Binarised digits (MultiBinary(64)); see the module docstring for the whole contract.

    Args:
        latent_dim: dimension of the latent z ~ U(−1, 1)^latent_dim (the observation).
        divergence: f-divergence of the discriminator and the weight form of the reward — one of
            ``gan``, ``js``, ``kl``, ``reverse_kl``, ``hellinger``, ``pearson``.
        disc_hidden_sizes: hidden layers of the discriminator MLP.
        disc_lr, disc_betas: its Adam settings.
        disc_batch_size: generated images per discriminator step (and as many real ones).
        disc_seed: seed of the discriminator's initial weights (default: the first reset seed).
        disc_spectral_norm, disc_instance_noise: the discriminator's regularisers
            (:class:`~rlcv.envs.bgan_discriminator.InEnvDiscriminator`; off by default).
        disc_minibatch_kernels: K > 0 adds minibatch discrimination with K kernels, each image's
            features taken against a reference batch (see ``InEnvDiscriminator``); 0 (default) is off.
        eval_samples: generated images behind the held-out metrics of ``evaluate_policy``.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # an instance variable of gym.Env
    levels: ClassVar[int] = 2  # 2: MultiBinary; L > 2: MultiDiscrete([L] * 64); 0: Box(0, 1) grey-scale

    def __init__(
        self,
        *,
        latent_dim: int = 32,
        divergence: str = "gan",
        disc_hidden_sizes: list[int] | None = None,
        disc_lr: float = 2e-4,
        disc_betas: tuple[float, float] | list[float] = (0.5, 0.999),
        disc_batch_size: int = 256,
        disc_seed: int | None = None,
        disc_spectral_norm: bool = False,
        disc_instance_noise: float = 0.0,
        disc_minibatch_kernels: int = 0,
        eval_samples: int = EVAL_SAMPLES,
    ) -> None:
        if latent_dim < 1 or disc_batch_size < 1 or eval_samples < 10:
            raise RlcvError("BGAN-Digits: latent_dim and disc_batch_size must be >= 1, eval_samples >= 10.")
        self.latent_dim = int(latent_dim)
        self.divergence = get_divergence(divergence)
        self.disc_batch_size = int(disc_batch_size)
        self.eval_samples = int(eval_samples)
        self.observation_space = spaces.Box(-1.0, 1.0, (self.latent_dim,), np.float32)
        if self.levels == 2:
            self.action_space = spaces.MultiBinary(N_PIXELS)
        elif self.levels > 2:
            self.action_space = spaces.MultiDiscrete(np.full(N_PIXELS, self.levels, np.int64))
        else:
            self.action_space = spaces.Box(0.0, 1.0, (N_PIXELS,), np.float32)
        data = digits(self.levels)
        self._x_train = torch.from_numpy(data["x_train"])
        self._disc = InEnvDiscriminator(
            in_dim=N_PIXELS,
            hidden_sizes=list(disc_hidden_sizes or [256, 256]),
            lr=float(disc_lr),
            betas=(float(disc_betas[0]), float(disc_betas[1])),
            batch_size=self.disc_batch_size,
            divergence=self.divergence,
            env_name="BGAN-Digits",
            seed=disc_seed,
            spectral_norm=bool(disc_spectral_norm),
            instance_noise=float(disc_instance_noise),
            minibatch_kernels=disc_minibatch_kernels,
        )
        self._z = np.zeros(self.latent_dim, np.float32)

    @property
    def disc(self) -> torch.nn.Module:
        """The discriminator network V(x): [B, 64] → [B]."""
        return self._disc.net

    @property
    def disc_optimizer(self) -> torch.optim.Optimizer:
        return self._disc.optimizer

    @property
    def disc_updates(self) -> int:
        return self._disc.updates

    # -- actions ↔ images -------------------------------------------------------------------------
    def to_image(self, actions: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Actions [..., 64] (as the env receives them) → pixel intensities [..., 64] in [0, 1]."""
        a = torch.as_tensor(np.asarray(actions) if not isinstance(actions, torch.Tensor) else actions)
        if self.levels == 0:
            return a.float().clamp(0.0, 1.0)
        return a.float() / (self.levels - 1)

    def relaxed_to_image(self, relaxed: torch.Tensor) -> torch.Tensor:
        """A relaxed action → intensities, differentiably (see ``differentiable_reward``)."""
        if self.levels == 0:  # clamp in the forward pass, identity gradient (straight-through)
            return relaxed + (relaxed.clamp(0.0, 1.0) - relaxed).detach()
        if self.levels == 2:
            return relaxed
        grid = torch.linspace(0.0, 1.0, self.levels, dtype=relaxed.dtype)
        return (relaxed * grid).sum(-1)

    # -- discriminator ----------------------------------------------------------------------------
    def _real_images(self, n: int) -> torch.Tensor:
        """``n`` training images drawn uniformly from the env's RNG (the discriminator's real batch)."""
        idx = self.np_random.integers(0, len(self._x_train), n)
        return self._x_train[torch.from_numpy(idx)]

    # -- Gymnasium API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._disc.seed_from_reset(seed)
        self._z = self.np_random.uniform(-1.0, 1.0, self.latent_dim).astype(np.float32)
        return self._z.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._disc.maybe_train(self._real_images)
        self._disc.next_latent()  # one step per latent; its group follows in group_rewards
        image = self.to_image(np.asarray(action)[None])
        log_w = float(self._disc.log_w(image)[0])
        self._disc.remember(image, executed=True)
        return self._z.copy(), log_w, True, False, {"log_w": log_w}

    # -- hooks ------------------------------------------------------------------------------------
    def group_rewards(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log w of the other members of a group (actions [G−1, 64]), scored by the same discriminator
        as the executed member, and remembered for discriminator training."""
        images = self.to_image(actions)
        log_w = self._disc.log_w(images)
        self._disc.remember(images)
        return log_w.numpy().astype(np.float32)

    def differentiable_reward(self, obs: torch.Tensor, relaxed_actions: torch.Tensor) -> torch.Tensor:
        """log w of relaxed actions [..., 64(, L)] → [...], differentiable in the actions only (the
        discriminator's parameters are detached and receive no gradient)."""
        x = self.relaxed_to_image(relaxed_actions).float()
        v = self._disc.differentiable_score(x.reshape(-1, N_PIXELS))
        return self.divergence.log_weight(v).reshape(x.shape[:-1])

    def diagnostics(self) -> dict[str, float]:
        """Discriminator statistics averaged over its updates since the last call (NaN if none)."""
        return self._disc.diagnostics()

    def state_dict(self) -> dict[str, Any]:
        return self._disc.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._disc.load_state_dict(state)

    def training_images(self) -> np.ndarray:
        """The images the discriminator trains on [1347, 64] (what density-model agents fit)."""
        return digits(self.levels)["x_train"]

    # -- evaluation -------------------------------------------------------------------------------
    def generate(
        self, policy: Any, n: int, *, seed: int, obs_normalizer: Any = None, per_latent: int = 1
    ) -> np.ndarray:
        """Images [n, 64] (intensities) sampled from the generator policy for ``n`` latents drawn from
        ``seed`` — [n, per_latent, 64] when ``per_latent`` > 1 (several images of each latent); the
        global torch RNG is left as it was."""
        _, action = sample_policy(
            policy, n, self.latent_dim, seed=seed, obs_normalizer=obs_normalizer, per_latent=per_latent
        )
        images = self.to_image(policy.env_action(action.numpy())).numpy()
        return images[:, 0] if per_latent == 1 else images

    def evaluate_policy(
        self,
        policy: Any,
        *,
        episodes: int,
        seed: int = 0,
        obs_normalizer: Any = None,
        grid_path: str | Path | None = None,
    ) -> dict[str, Any]:
        """Held-out metrics of a generator policy (what ``rlcv eval`` reports for this env).

        ``mean_return`` / ``std_return`` are over ``episodes`` sampled images scored by the env's
        current discriminator (load the run's with ``load_state_dict``). The metrics use
        ``eval_samples`` images regardless of ``episodes``:

        :func:`score_digits` of the ``eval_samples`` images (one per latent) and of
        ``EVAL_GROUPS`` × ``EVAL_GROUP_SIZE`` images for the within-latent collapse check (latents
        drawn from ``seed + 1``): two-sample accuracies, MMD, coverage (plain and confident), label
        entropy, collapse statistics.
        """
        from rlcv.gan.metrics import save_grid

        images = self.generate(
            policy, max(self.eval_samples, episodes), seed=seed, obs_normalizer=obs_normalizer
        )
        log_w = self._disc.log_w(torch.from_numpy(images[:episodes])).numpy()
        sample = images[: self.eval_samples]
        groups = self.generate(
            policy, EVAL_GROUPS, seed=seed + 1, obs_normalizer=obs_normalizer, per_latent=EVAL_GROUP_SIZE
        )
        metrics = score_digits(sample, groups, levels=self.levels, seed=seed)
        if grid_path is not None:
            save_grid(sample[:100].reshape(-1, 8, 8), grid_path)
        return eval_report(log_w, episodes, metrics)


class BGANDigits4Env(BGANDigitsEnv):
    """Digits quantised to 4 levels: MultiDiscrete([4] * 64) (a multinomial generator)."""

    levels: ClassVar[int] = 4


class BGANDigitsContEnv(BGANDigitsEnv):
    """Grey-scale digits in [0, 1]: Box(0, 1, (64,)) for continuous-output generators."""

    levels: ClassVar[int] = 0

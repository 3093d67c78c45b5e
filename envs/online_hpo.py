r"""Online hyper-parameter optimisation as a sequential decision problem: ``rlcv/OnlineHPO-v0``.

One episode is one *inner* training run: an MLP classifier on scikit-learn's bundled digits
(8×8 images, 10 classes; a fixed train / validation / test split; ``task="mnist1d"``: MNIST-1D, and
``network="cnn"``: a small 1-D CNN, see :mod:`rlcv.hpo.inner_tasks`), trained with minibatch SGD for a
fixed budget of ``budget`` inner SGD steps. Each env step runs ``K = steps_per_action`` inner steps
with the current hyper-parameters λ = (learning rate η, batch size S, L2 weight λ_wd); the action
changes them multiplicatively first.

Inner problem (θ: all MLP parameters as one flat vector, m: 1 on weights, 0 on biases)::

    L_B(θ)   = mean cross-entropy on a minibatch B of S training examples (drawn with replacement;
               S ≥ the training-set size means the whole set: full-batch gradient descent)
    g_t      = ∇L_B(θ_t) + λ_wd m ⊙ θ_t
    θ_{t+1}  = θ_t − η g_t

Action (``Box(−L, L, (3,))``, L = log2(max_factor)): log2-multipliers of (η, S, λ_wd)::

    η ← clip(η · 2^{a_0}),   S ← clip(S · 2^{a_1}),   λ_wd ← clip(λ_wd · 2^{a_2})

clipped to ``lr_range`` / ``batch_size_range`` / ``weight_decay_range`` (S is kept as a real
number and rounded when a batch is drawn, so small multipliers accumulate). So η/S is controllable.

Observation (``float32 [13]``, field names in :data:`OBS_FIELDS`), after the K inner steps:
training loss and accuracy (means over the K minibatches), validation loss and accuracy (full
validation set), log10 of the mean gradient norm, mean cosine between consecutive minibatch
gradients, log10 η, log2 S, log10 λ_wd, budget used ∈ [0, 1], and three gradient signals for
hypergradient controllers:

- ``hd_signal`` = Σ_k g_k · g_{k−1} over this env step's inner steps. Since θ_k = θ_{k−1} − η g_{k−1},
  −g_k · g_{k−1} = ∂L_B(θ_k)/∂η is the one-step hypergradient of hypergradient descent (Baydin et
  al., 2018); the sum is K HD updates with η frozen inside the env step.
- ``hypergrad_log_lr`` / ``hypergrad_log_weight_decay`` = Zᵀ ∇L_val(θ), the forward-mode (real-time)
  hypergradient of the validation loss w.r.t. (log η, log λ_wd) (Franceschi et al., 2017), where
  Z = dθ/d(log η, log λ_wd) [P, 2] is carried along the run (only with ``hypergradient="forward"``,
  zero otherwise): Z_{t+1} = (I − η H_t) Z_t − η [g_t, λ_wd m ⊙ θ_t], H_t = ∇²L_B(θ_t) + λ_wd diag(m),
  with H_t Z_t from Hessian-vector products (double backward; ~3× the cost of a plain step).
  ``hypergrad_decay`` multiplies Z once per env step (1 = the exact online recursion).

Reward: decrease of the validation loss over the env step, L_val(before) − L_val(after), so an
episode's return is L_val(θ_0) − L_val(θ_final). Episode end (``terminated``): the budget is spent,
or the run diverged — a non-finite or > ``max_loss`` training / validation loss or gradient — which
ends the episode at once with reward −``divergence_penalty``; the loop never sees a NaN.

Inner seeds: every episode draws a fresh inner seed (network init and minibatch order) from the
env's ``np_random``; ``reset(options={"inner_seed": s, "hparams": {"lr": ..., "batch_size": ...,
"weight_decay": ...}})`` pins them (benchmarks, tests). ``hparam_init="random"`` starts each episode
from log-uniform hyper-parameters over the ranges (population-based training's initial population).

Landscape observations (``landscape=True``, :mod:`rlcv.hpo.landscape`): five fields are appended
(:data:`LANDSCAPE_FIELDS`), measured on a fixed probe subset of ``probe_size`` training examples
with the objective SGD descends (cross-entropy + L2 term), every ``landscape_every`` env steps and
held in between: ``floor_alpha`` = α* of the last ``landscape_steps`` inner steps (mean; the loss
along each step θ_t + α D_t on α ∈ {0, 0.1, …, 1}, "A walk with SGD"), ``log10_height`` = log10 of
their mean L(θ_t) − floor, ``log10_lambda_max`` = the top Hessian eigenvalue by Lanczos
(``lanczos_iterations`` Hessian-vector products, every ``lambda_every``-th measurement),
``dist_init`` = ‖θ − θ_0‖ and ``log10_noise_scale`` = log10 η/S. The final values and one row per
measurement (:data:`LANDSCAPE_TRACE`) go into ``info["episode"]["landscape"]``, with
``lambda_max_final``, λ_max at the final θ. At the default
cadence they add 16 % CPU time to a digits episode (28 % with ``landscape_every=1``; median of 5,
``results/walk.md``).

Test data is only touched at the end of an episode: the final test loss / accuracy go into
``info["episode"]`` (with the final validation numbers, compute spent and the hyper-parameter trace)
and, with ``episode_log=PATH``, are appended to a JSON-lines file — how benchmarks read results
without the loop knowing about them.

Regularisers (``regularizer="cutout" | "dualcutout"``, :mod:`rlcv.hpo.regularizers`) mask the training
minibatches only; DualCutout's α can be a 4th action component (``tune_dual_alpha=True``) that the
same controllers tune. Compute is charged in explicit units per episode (``CURVE_COLUMNS``): SGD steps,
training examples, per-example gradient passes (two branches of DualCutout and the Hessian-vector
products of forward mode included) and wall-clock inside ``step()``, with one row per env step.

Population-based controllers copy runs between envs through the :attr:`OnlineHPOEnv.member_state`
property (``vector_env.get_attr("member_state")`` / ``set_attr("member_state", [...])``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlcv.hpo import landscape as ls
from rlcv.hpo.inner_tasks import NETWORKS, TASKS, FlatNetwork, MLPTask, digits_split, make_network, task_split
from rlcv.legacy import deprecated

__all__ = [
    "HPARAMS",
    "LANDSCAPE_FIELDS",
    "OBS",
    "OBS_FIELDS",
    "MLPTask",
    "OnlineHPOEnv",
    "digits_split",
    "sgd_step",
]

OBS_FIELDS: tuple[str, ...] = (
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "log10_grad_norm",
    "grad_cosine",
    "log10_lr",
    "log2_batch_size",
    "log10_weight_decay",
    "budget_used",
    "hd_signal",
    "hypergrad_log_lr",
    "hypergrad_log_weight_decay",
)
# Appended to the observation with ``landscape=True`` (``rlcv.hpo.landscape``; see the module docstring).
LANDSCAPE_FIELDS: tuple[str, ...] = (
    "floor_alpha",
    "log10_height",
    "log10_lambda_max",
    "dist_init",
    "log10_noise_scale",
)
OBS: dict[str, int] = {name: i for i, name in enumerate((*OBS_FIELDS, *LANDSCAPE_FIELDS))}
# Columns of info["episode"]["landscape"]["trace"], one row per landscape measurement.
LANDSCAPE_TRACE: tuple[str, ...] = (
    "steps_done",
    "floor_alpha",  # mean α* of the measured steps
    "inside_fraction",  # of the measured steps with the floor strictly inside (0 < α* < 1)
    "height",  # mean L(θ_t) − floor
    "convex_fraction",  # of the measured steps roughly convex along the step
    "lambda_max",  # Lanczos, NaN where not computed
    "dist_init",
    "log10_noise_scale",
)
HPARAMS: tuple[str, ...] = ("lr", "batch_size", "weight_decay")  # the order of the action's components
# With regularizer="dualcutout" and tune_dual_alpha=True the action has a 4th component: DualCutout's α.
DUAL_ALPHA = "dual_alpha"
# Columns of info["episode"]["curve"], one row per env step: the compute charged so far and the
# validation loss reached (anytime curves). example_grads counts per-example gradient-sized passes:
# a plain step B, a DualCutout step 2B (two branches), a forward-mode step 3B (two Hessian-vector
# products; each counted as one gradient although a double-backward HVP costs more, which compute_s
# shows) plus one full validation-set gradient per env step. compute_s: wall-clock inside step().
CURVE_COLUMNS: tuple[str, ...] = ("sgd_steps", "examples", "example_grads", "compute_s", "val_loss")
_SIGNAL_BOUND = 1e6  # gradient signals are clipped here so the observation stays finite in float32


# ---------------------------------------------------------------------------------- SGD step


@dataclass
class StepResult:
    theta: torch.Tensor  # θ_{t+1} [P]
    tangents: torch.Tensor | None  # Z_{t+1} = dθ_{t+1}/d(log η, log λ_wd) [P, 2], or None
    loss: torch.Tensor  # L_B(θ_t), scalar
    aux: Any  # second output of the loss function (e.g. number correct)
    grad: torch.Tensor  # g_t = ∇L_B(θ_t) + λ_wd m ⊙ θ_t [P]


def sgd_step(
    theta: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], tuple[torch.Tensor, Any]],
    *,
    lr: float,
    weight_decay: float,
    weight_mask: torch.Tensor,
    tangents: torch.Tensor | None = None,
) -> StepResult:
    r"""One SGD step θ' = θ − η (∇ℓ(θ) + λ_wd m ⊙ θ), and with ``tangents`` Z [P, 2] its forward-mode
    derivative w.r.t. (log η, log λ_wd):

        Z' = (I − η H) Z − η [g, λ_wd m ⊙ θ],   H = ∇²ℓ(θ) + λ_wd diag(m)

    (the columns are ∂θ'/∂log η = −η g and ∂θ'/∂log λ_wd = −η λ_wd m ⊙ θ, the ∂²L/∂θ∂λ term); H Z is
    two Hessian-vector products by double backward. ``loss_fn(θ) -> (loss, aux)`` is the minibatch loss
    without the L2 term. Works in any floating dtype (tests use float64 on a quadratic).
    """
    theta = theta.detach().requires_grad_(True)
    loss, aux = loss_fn(theta)
    second_order = tangents is not None
    (g_loss,) = torch.autograd.grad(loss, theta, create_graph=second_order)
    theta0 = theta.detach()
    grad = g_loss.detach() + weight_decay * weight_mask * theta0
    new_tangents = None
    if second_order:
        assert tangents is not None
        if g_loss.requires_grad:
            k = tangents.shape[1]
            hz = [
                torch.autograd.grad(g_loss, theta, grad_outputs=tangents[:, j], retain_graph=j + 1 < k)[0]
                for j in range(k)
            ]
            hess_z = torch.stack(hz, 1)
        else:  # ℓ is linear in θ: its Hessian is zero
            hess_z = torch.zeros_like(tangents)
        hess_z = hess_z + weight_decay * weight_mask[:, None] * tangents
        direct = torch.stack([lr * grad, lr * weight_decay * weight_mask * theta0], 1)
        new_tangents = tangents - lr * hess_z - direct
    return StepResult(theta=theta0 - lr * grad, tangents=new_tangents, loss=loss.detach(), aux=aux, grad=grad)


# ------------------------------------------------------------------------------------ the env

# How the applied learning rate follows the controlled one: "constant" applies η as set; "cosine" treats
# η as the *scale* of a cosine schedule over the run, η_k = η · ½(1 + cos(π (k + ½) / n)) at env step k of
# n (piecewise constant per env step, like the benchmark's cosine baseline), so an action that does
# nothing is a plain cosine run and an action rescales the rest of the schedule instead of replacing it.
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _make_problem(
    spec: dict[str, Any], n_train: int | None, n_val: int | None, split_seed: int
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], FlatNetwork]:
    """(data split, flat network) of one inner problem: ``spec`` has task, network, hidden_size, channels."""
    unknown = set(spec) - {"task", "network", "hidden_size", "channels"}
    if unknown or spec["task"] not in TASKS or spec["network"] not in NETWORKS:
        raise ValueError(
            f"task must be one of {TASKS} and network one of {NETWORKS} (meta_tasks entries hold only task, "
            f"network, hidden_size, channels), got {spec}"
        )
    data = task_split(spec["task"], n_train, n_val, split_seed)
    network = make_network(
        spec["network"],
        data["train"][0].shape[1],
        10,
        hidden=int(spec["hidden_size"]),
        channels=int(spec["channels"]),
    )
    return data, network


# Before issue 26 the inner-task network was the key "model"; only dynamics models are called models now.
RENAMED = "rlcv/OnlineHPO-v0's key 'model' (the inner-task network) is now 'network'; use that spelling."


def _current_spelling(spec: dict[str, Any]) -> dict[str, Any]:
    """A meta_tasks entry with ``network`` for its old key ``model`` (one deprecation line)."""
    if "model" not in spec:
        return spec
    deprecated(RENAMED, once=True)
    return {("network" if k == "model" else k): v for k, v in spec.items()}


def _pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not 0 < lo <= hi:
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {value}")
    return lo, hi


@dataclass
class _Run:
    """The state of one inner run (what :attr:`OnlineHPOEnv.member_state` copies, minus the RNG)."""

    theta: torch.Tensor
    lr: float
    log2_batch_size: float
    weight_decay: float
    gen: torch.Generator
    inner_seed: int
    steps_done: int = 0  # progress through the budget (inherited when a population member is copied)
    sgd_steps: int = 0  # SGD steps this env executed in this episode (compute actually spent)
    examples: int = 0  # training examples this env processed in this episode
    example_grads: int = 0  # see CURVE_COLUMNS
    compute_s: float = 0.0  # wall-clock spent in step() this episode
    curve: list[list[float]] = field(default_factory=list)  # CURVE_COLUMNS rows
    dual_alpha: float = 0.0  # DualCutout's α (regularizer="dualcutout"; appended to each trace row)
    # Cutout masks have their own stream, so runs with and without a regulariser see the same minibatches.
    mask_gen: torch.Generator = field(default_factory=torch.Generator)
    prev_grad: torch.Tensor | None = None
    tangents: torch.Tensor | None = None
    val_loss: float = math.nan
    val_accuracy: float = math.nan
    episode_return: float = 0.0
    trace: list[list[float]] = field(default_factory=list)  # [steps_done, η, S, λ_wd] per env step
    theta_init: torch.Tensor | None = None  # θ_0 (landscape: distance from initialisation)
    landscape: dict[str, float] = field(default_factory=dict)  # the latest LANDSCAPE_FIELDS values
    measurements: int = 0  # landscape measurements so far (λ_max every lambda_every-th)
    landscape_trace: list[list[float]] = field(default_factory=list)  # LANDSCAPE_TRACE rows


class OnlineHPOEnv(gym.Env):
    """Online HPO of an SGD-trained MLP on digits (the module docstring has the full definition).

    Args:
        budget: inner SGD steps per episode (one full run).
        steps_per_action: K, inner SGD steps per env step.
        hidden_size: hidden units of the MLP.
        lr_init, batch_size_init, weight_decay_init: hyper-parameters at the start of an episode
            (``hparam_init="fixed"``).
        lr_range, batch_size_range, weight_decay_range: (low, high) every hyper-parameter is clipped to.
        max_factor: largest multiplicative change per env step; the action bounds are ±log2(max_factor).
        hparam_init: ``"fixed"`` (the ``*_init`` values) or ``"random"`` (log-uniform over the ranges).
        hypergradient: ``"none"`` or ``"forward"`` (carry Z and report Zᵀ∇L_val in the observation).
        hypergrad_decay: factor applied to Z once per env step.
        max_loss: a training / validation loss above this counts as divergence.
        divergence_penalty: the reward of the step on which the run diverged is −divergence_penalty.
        n_train, n_val, split_seed: the fixed data split (``None``: the task's defaults, digits 1000 /
            400 with the remaining 397 digits as the test set, MNIST-1D 3000 / 1000 and its 1000 test
            signals; see :mod:`rlcv.hpo.inner_tasks`).
        task: ``"digits"`` or ``"mnist1d"``; network: ``"mlp"`` (``hidden_size`` tanh units) or ``"cnn"``
            (``channels`` per 1-D convolution).
        landscape: append :data:`LANDSCAPE_FIELDS` to the observation (and to ``info["episode"]``).
        landscape_every: env steps between landscape measurements (values are held in between).
        landscape_steps: inner steps interpolated per measurement (the last ones of the env step).
        lambda_every: landscape measurements between Lanczos estimates of λ_max.
        lanczos_iterations: Lanczos steps per λ_max estimate.
        probe_size: training examples of the fixed probe subset every landscape quantity is measured on.
        episode_log: optional path of a JSON-lines file that receives one record per finished episode.
        inner_seed_range: ``[lo, hi)`` from which unpinned episodes draw their inner seed (default: all
            31-bit seeds); meta-training draws from a range disjoint from the evaluation seeds.
        regularizer: ``"none"``, ``"cutout"`` or ``"dualcutout"`` (:mod:`rlcv.hpo.regularizers`) on the
            training minibatches; validation and test data are never masked.
        input_shape: spatial shape of one example for cutout (``None``: 8×8 for 64 features, else 1-D).
        cutout_size: box side per spatial dimension (``None``: half of each side); cutout_per_batch:
            one box per minibatch instead of one per example.
        dual_alpha, dual_alpha_range: DualCutout's α at the start of an episode and its clipping range.
        tune_dual_alpha: add α as a 4th action component (log2-multiplier, like the others).
        lr_schedule: ``"constant"`` or ``"cosine"`` (the controlled η is the scale of a cosine schedule,
            :data:`LR_SCHEDULES`); with a wide ``max_factor`` an action reaches any η in one env step.
        meta_tasks: optional list of inner problems (dicts of task, network, hidden_size, channels; missing
            keys from the arguments above); each episode draws one uniformly (``reset(options=
            {"meta_task": i})`` pins it) — meta-training a controller across tasks.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # an instance variable of gym.Env
    action_space: spaces.Box  # log2-multipliers, set in __init__

    def __init__(
        self,
        budget: int = 1500,
        steps_per_action: int = 50,
        hidden_size: int = 64,
        lr_init: float = 0.01,
        batch_size_init: int = 32,
        weight_decay_init: float = 1e-4,
        lr_range: Sequence[float] = (1e-4, 10.0),
        batch_size_range: Sequence[float] = (8, 512),
        weight_decay_range: Sequence[float] = (1e-6, 0.1),
        max_factor: float = 2.0,
        hparam_init: str = "fixed",
        hypergradient: str = "none",
        hypergrad_decay: float = 1.0,
        regularizer: str = "none",
        input_shape: Sequence[int] | None = None,
        cutout_size: int | Sequence[int] | None = None,
        cutout_per_batch: bool = False,
        dual_alpha: float = 0.1,
        dual_alpha_range: Sequence[float] = (1e-3, 10.0),
        tune_dual_alpha: bool = False,
        max_loss: float = 100.0,
        divergence_penalty: float = 10.0,
        n_train: int | None = None,
        n_val: int | None = None,
        split_seed: int = 0,
        episode_log: str | None = None,
        inner_seed_range: Sequence[int] | None = None,
        task: str = "digits",
        network: str = "mlp",
        channels: int = 16,
        landscape: bool = False,
        landscape_every: int = 2,
        landscape_steps: int = 1,
        lambda_every: int = 10,
        lanczos_iterations: int = 10,
        probe_size: int = 256,
        lr_schedule: str = "constant",
        meta_tasks: Sequence[dict[str, Any]] | None = None,
        model: str | None = None,  # the old name of `network` (one deprecation line)
    ) -> None:
        if model is not None:
            deprecated(RENAMED, once=True)
            network = model
        if budget < 1 or steps_per_action < 1 or hidden_size < 1:
            raise ValueError(
                f"budget, steps_per_action and hidden_size must be >= 1, got {budget}, "
                f"{steps_per_action}, {hidden_size}"
            )
        if max_factor <= 1.0:
            raise ValueError(f"max_factor must be > 1, got {max_factor}")
        if hparam_init not in ("fixed", "random"):
            raise ValueError(f"hparam_init must be 'fixed' or 'random', got {hparam_init!r}")
        if hypergradient not in ("none", "forward"):
            raise ValueError(f"hypergradient must be 'none' or 'forward', got {hypergradient!r}")
        if not 0.0 <= hypergrad_decay <= 1.0 or max_loss <= 0 or divergence_penalty < 0:
            raise ValueError("need 0 <= hypergrad_decay <= 1, max_loss > 0 and divergence_penalty >= 0")
        self.budget, self.steps_per_action = int(budget), int(steps_per_action)
        self.ranges = {
            "lr": _pair("lr_range", lr_range),
            "batch_size": _pair("batch_size_range", batch_size_range),
            "weight_decay": _pair("weight_decay_range", weight_decay_range),
        }
        self.inits = {
            "lr": float(lr_init),
            "batch_size": float(batch_size_init),
            "weight_decay": float(weight_decay_init),
        }
        self.hparam_init, self.hypergradient = hparam_init, hypergradient
        self.hypergrad_decay, self.max_loss = float(hypergrad_decay), float(max_loss)
        self.divergence_penalty = float(divergence_penalty)
        self.episode_log = Path(episode_log) if episode_log else None
        if inner_seed_range is not None:
            lo, hi = (int(v) for v in inner_seed_range)
            if not 0 <= lo < hi <= 2**31 - 1:
                raise ValueError(
                    f"inner_seed_range must be [lo, hi) with 0 <= lo < hi < 2**31, got {inner_seed_range}"
                )
            self.inner_seed_range: tuple[int, int] = (lo, hi)
        else:
            self.inner_seed_range = (0, 2**31 - 1)
        if task not in TASKS or network not in NETWORKS:
            raise ValueError(
                f"task must be one of {TASKS} and network one of {NETWORKS}, got {task!r}, {network!r}"
            )
        if min(landscape_every, landscape_steps, lambda_every, lanczos_iterations, probe_size, channels) < 1:
            raise ValueError(
                "landscape_every, landscape_steps, lambda_every, lanczos_iterations, probe_size and "
                "channels must be >= 1"
            )
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}")
        self.lr_schedule = lr_schedule
        base = {"task": task, "network": network, "hidden_size": hidden_size, "channels": channels}
        self.problems = [
            _make_problem({**base, **_current_spelling(spec)}, n_train, n_val, int(split_seed))
            for spec in (meta_tasks or [{}])
        ]
        if meta_tasks and (landscape or regularizer != "none"):
            raise ValueError("meta_tasks cannot be combined with landscape observations or a regularizer")
        self.data, self.task = self.problems[0]
        self.problem_index = 0
        self.landscape = bool(landscape)
        self.landscape_every, self.landscape_steps = int(landscape_every), int(landscape_steps)
        self.lambda_every, self.lanczos_iterations = int(lambda_every), int(lanczos_iterations)
        # The probe subset is fixed by the split seed: every measurement of every run sees the same data.
        n_tr = len(self.data["train"][1])
        probe = torch.randperm(n_tr, generator=torch.Generator().manual_seed(int(split_seed)))[
            : min(int(probe_size), n_tr)
        ]
        self.probe = (self.data["train"][0][probe], self.data["train"][1][probe])

        bound = math.log2(float(max_factor))
        self.action_space = spaces.Box(-bound, bound, (len(HPARAMS),), np.float32)
        (lr_lo, lr_hi), (bs_lo, bs_hi), (wd_lo, wd_hi) = self.ranges.values()
        low = np.array(
            [
                0,
                0,
                0,
                0,
                -10,
                -1,
                math.log10(lr_lo),
                math.log2(bs_lo),
                math.log10(wd_lo),
                0,
                -_SIGNAL_BOUND,
                -_SIGNAL_BOUND,
                -_SIGNAL_BOUND,
            ],
            np.float32,
        )
        high = np.array(
            [
                self.max_loss,
                self.max_loss,
                1,
                1,
                10,
                1,
                math.log10(lr_hi),
                math.log2(bs_hi),
                math.log10(wd_hi),
                1,
                _SIGNAL_BOUND,
                _SIGNAL_BOUND,
                _SIGNAL_BOUND,
            ],
            np.float32,
        )
        if self.landscape:
            noise = (math.log10(lr_lo / bs_hi), math.log10(lr_hi / bs_lo))
            # floor_alpha, log10_height, log10_lambda_max, dist_init, log10_noise_scale
            low = np.concatenate([low, np.array([0, -12, -12, 0, noise[0]], np.float32)])
            high = np.concatenate([high, np.array([1, 3, 6, _SIGNAL_BOUND, noise[1]], np.float32)])
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._low, self._high = low, high
        self._init_regularizer(
            regularizer,
            input_shape,
            cutout_size,
            cutout_per_batch,
            dual_alpha,
            dual_alpha_range,
            tune_dual_alpha,
        )
        if len(self.hparam_names) > len(HPARAMS):
            self.action_space = spaces.Box(-bound, bound, (len(self.hparam_names),), np.float32)
        self.run: _Run | None = None

    # -- regulariser ----------------------------------------------------------------------------
    def _init_regularizer(
        self,
        regularizer: str,
        input_shape: Sequence[int] | None,
        cutout_size: int | Sequence[int] | None,
        per_batch: bool,
        dual_alpha: float,
        dual_alpha_range: Sequence[float],
        tune_dual_alpha: bool,
    ) -> None:
        from rlcv.hpo.regularizers import REGULARIZERS, CutoutSpec, infer_input_shape

        if regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer must be one of {', '.join(REGULARIZERS)}, got {regularizer!r}")
        if tune_dual_alpha and regularizer != "dualcutout":
            raise ValueError("tune_dual_alpha needs regularizer='dualcutout'")
        self.regularizer = regularizer
        self.hparam_names: tuple[str, ...] = (*HPARAMS, DUAL_ALPHA) if tune_dual_alpha else HPARAMS
        self.ranges[DUAL_ALPHA] = _pair("dual_alpha_range", dual_alpha_range)
        self.inits[DUAL_ALPHA] = float(dual_alpha)
        shape = tuple(input_shape) if input_shape else infer_input_shape(self.data["train"][0].shape[1])
        size = cutout_size if cutout_size is not None else tuple(max(1, s // 2) for s in shape)
        self.cutout_spec = CutoutSpec.make(shape, size, per_batch=per_batch)
        self._branches = 2 if regularizer == "dualcutout" else 1

    def _train_loss(
        self, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch loss SGD descends (without the L2 term): CE, CE on cutout inputs, or DualCutout."""
        from rlcv.hpo.regularizers import (
            cutout,
            dual_cutout_loss,
        )  # here, so the module's imports stay the task's

        if self.regularizer == "none":
            return self.task.loss(theta, X, y)
        if self.regularizer == "cutout":
            return self.task.loss(theta, cutout(X, self.cutout_spec, generator=gen), y)
        assert self.run is not None
        return dual_cutout_loss(
            lambda x: self.task.logits(theta, x),
            X,
            y,
            self.cutout_spec,
            alpha=self.run.dual_alpha,
            generator=gen,
        )

    # -- hyper-parameters ---------------------------------------------------------------------
    def _clip(self, name: str, value: float) -> float:
        lo, hi = self.ranges[name]
        return float(min(max(value, lo), hi))

    @property
    def batch_size(self) -> int:
        assert self.run is not None
        lo, hi = self.ranges["batch_size"]
        return int(min(max(round(2.0**self.run.log2_batch_size), lo), hi))

    def applied_lr(self) -> float:
        """The learning rate the next inner steps use: η itself, or η times the cosine factor of the
        current env step (``lr_schedule="cosine"``, see :data:`LR_SCHEDULES`)."""
        assert self.run is not None
        if self.lr_schedule == "constant":
            return self.run.lr
        n = math.ceil(self.budget / self.steps_per_action)
        k = min(self.run.steps_done // self.steps_per_action, n - 1)
        return self.run.lr * 0.5 * (1.0 + math.cos(math.pi * (k + 0.5) / n))

    def hparams(self) -> dict[str, float]:
        """The current (η, S, λ_wd) as used by the next inner step."""
        assert self.run is not None
        values = {"lr": self.run.lr, "batch_size": self.batch_size, "weight_decay": self.run.weight_decay}
        if self.regularizer == "dualcutout":
            values[DUAL_ALPHA] = self.run.dual_alpha
        return values

    def _set_hparams(self, values: dict[str, float]) -> None:
        assert self.run is not None
        known = (*HPARAMS, DUAL_ALPHA)
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown hyper-parameters {sorted(unknown)}; known: {', '.join(known)}")
        if DUAL_ALPHA in values:
            self.run.dual_alpha = self._clip(DUAL_ALPHA, float(values[DUAL_ALPHA]))
        if "lr" in values:
            self.run.lr = self._clip("lr", float(values["lr"]))
        if "batch_size" in values:
            self.run.log2_batch_size = math.log2(self._clip("batch_size", float(values["batch_size"])))
        if "weight_decay" in values:
            self.run.weight_decay = self._clip("weight_decay", float(values["weight_decay"]))

    # -- gym API --------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = options or {}
        if len(self.problems) > 1:  # drawn only with meta_tasks, so single-task RNG streams are unchanged
            index = options.get("meta_task", None)
            if index is None:
                index = int(self.np_random.integers(len(self.problems)))
            if not 0 <= int(index) < len(self.problems):
                raise ValueError(f"meta_task must be in [0, {len(self.problems)}), got {index}")
            self.problem_index = int(index)
            self.data, self.task = self.problems[self.problem_index]
        if "inner_seed" in options:
            inner_seed = int(options["inner_seed"])
        else:
            inner_seed = int(self.np_random.integers(*self.inner_seed_range))
        if self.hparam_init == "random":
            start = {
                k: float(np.exp(self.np_random.uniform(*np.log(self.ranges[k])))) for k in self.hparam_names
            }
            start.setdefault(DUAL_ALPHA, self.inits[DUAL_ALPHA])
        else:
            start = dict(self.inits)
        gen = torch.Generator().manual_seed(inner_seed)
        self.run = _Run(
            theta=self.task.init(gen),
            lr=0.0,
            log2_batch_size=0.0,
            weight_decay=0.0,
            gen=gen,
            inner_seed=inner_seed,
        )
        self._set_hparams({**start, **options.get("hparams", {})})
        self.run.mask_gen.manual_seed(inner_seed + 1_000_003)
        if self.hypergradient == "forward":
            self.run.tangents = torch.zeros(self.task.n_params, 2)
        X, y = self.data["train"]
        res = sgd_step(
            self.run.theta,
            lambda th: self.task.loss(th, X, y),
            lr=0.0,
            weight_decay=0.0,
            weight_mask=self.task.weight_mask,
        )
        val_loss, val_acc = self._evaluate("val")
        self.run.val_loss, self.run.val_accuracy = val_loss, val_acc
        if self.landscape:
            self.run.theta_init = self.run.theta.clone()
            self._update_landscape([])
        stats = {
            "train_loss": float(res.loss),
            "train_accuracy": float(res.aux) / len(y),
            "log10_grad_norm": math.log10(float(res.grad.norm()) + 1e-12),
        }
        return self._obs(stats), {"inner_seed": inner_seed}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.run is None:
            raise RuntimeError("call reset() before step()")
        run = self.run
        started = time.perf_counter()
        a = np.clip(
            np.nan_to_num(np.asarray(action, np.float64).reshape(-1), nan=0.0),
            self.action_space.low,
            self.action_space.high,
        )
        self._set_hparams(
            {
                "lr": run.lr * 2.0 ** a[0],
                "batch_size": 2.0 ** (run.log2_batch_size + a[1]),
                "weight_decay": run.weight_decay * 2.0 ** a[2],
                **({DUAL_ALPHA: run.dual_alpha * 2.0 ** a[3]} if len(a) > 3 else {}),
            }
        )
        bs = self.batch_size
        lr = self.applied_lr()
        run.trace.append([run.steps_done, lr, bs, run.weight_decay])
        if self.regularizer == "dualcutout":
            run.trace[-1].append(run.dual_alpha)
        grads_per_example = self._branches * (3 if run.tangents is not None else 1)

        X, y = self.data["train"]
        mask = self.task.weight_mask
        losses, correct, norms, cosines, hd = [], 0, [], [], 0.0
        diverged = False
        n_inner = min(self.steps_per_action, self.budget - run.steps_done)
        measure = self.landscape and (len(run.trace) - 1) % self.landscape_every == 0
        measured_steps: list[tuple[torch.Tensor, torch.Tensor]] = []  # (θ_t, θ_{t+1})
        for k in range(n_inner):
            if bs >= len(y):  # a batch as large as the training set is full-batch gradient descent
                xb, yb = X, y
            else:
                idx = torch.randint(0, len(y), (bs,), generator=run.gen)
                xb, yb = X[idx], y[idx]
            res = sgd_step(
                run.theta,
                partial(self._train_loss, X=xb, y=yb, gen=run.mask_gen),
                lr=lr,
                weight_decay=run.weight_decay,
                weight_mask=mask,
                tangents=run.tangents,
            )
            loss = float(res.loss)
            gnorm = float(res.grad.norm())
            if not (math.isfinite(loss) and loss <= self.max_loss and math.isfinite(gnorm)):
                diverged = True
                break
            losses.append(loss)
            correct += int(res.aux)
            norms.append(gnorm)
            if run.prev_grad is not None:
                dot = float(res.grad @ run.prev_grad)
                hd += dot
                cosines.append(dot / (gnorm * float(run.prev_grad.norm()) + 1e-12))
            if measure and k >= n_inner - self.landscape_steps:
                measured_steps.append((run.theta, res.theta))
            run.theta, run.tangents, run.prev_grad = res.theta, res.tangents, res.grad
            run.steps_done += 1
            run.sgd_steps += 1
            run.examples += bs
            run.example_grads += bs * grads_per_example

        stats: dict[str, float] = {}
        if not diverged:
            val_loss, val_acc = self._evaluate("val")
            diverged = not (
                math.isfinite(val_loss)
                and val_loss <= self.max_loss
                and bool(torch.isfinite(run.theta).all())
            )
        if diverged:
            reward = -self.divergence_penalty
            run.val_loss, run.val_accuracy = self.max_loss, 0.0
            run.prev_grad = None
            stats = {"train_loss": self.max_loss, "train_accuracy": 0.0, "log10_grad_norm": 10.0}
        else:
            reward = run.val_loss - val_loss
            run.val_loss, run.val_accuracy = val_loss, val_acc
            n = max(len(losses), 1)
            stats = {
                "train_loss": sum(losses) / n,
                "train_accuracy": correct / (n * bs),
                "log10_grad_norm": math.log10(sum(norms) / n + 1e-12),
                "grad_cosine": sum(cosines) / len(cosines) if cosines else 0.0,
                "hd_signal": hd,
            }
            if self.landscape:
                self._update_landscape(measured_steps)
            if run.tangents is not None:
                stats["hypergrad_log_lr"], stats["hypergrad_log_weight_decay"] = self._val_hypergradient()
                run.tangents.mul_(self.hypergrad_decay)
                run.example_grads += len(self.data["val"][1])
        run.episode_return += reward
        run.compute_s += time.perf_counter() - started
        run.curve.append([run.sgd_steps, run.examples, run.example_grads, run.compute_s, run.val_loss])
        terminated = diverged or run.steps_done >= self.budget
        info: dict[str, Any] = {"inner_steps": run.steps_done, "diverged": diverged}
        if terminated:
            info["episode"] = self._finish(diverged)
        return self._obs(stats), float(reward), terminated, False, info

    # -- helpers --------------------------------------------------------------------------------
    def _evaluate(self, split: str) -> tuple[float, float]:
        """(mean loss, accuracy) of the current θ on a split."""
        assert self.run is not None
        X, y = self.data[split]
        with torch.no_grad():
            loss, correct = self.task.loss(self.run.theta, X, y)
        return float(loss), float(correct) / len(y)

    def _val_hypergradient(self) -> list[float]:
        """Zᵀ ∇L_val(θ): d L_val / d(log η, log λ_wd) along the run so far (forward mode)."""
        assert self.run is not None and self.run.tangents is not None
        X, y = self.data["val"]
        theta = self.run.theta.detach().requires_grad_(True)
        (g_val,) = torch.autograd.grad(self.task.loss(theta, X, y)[0], theta)
        return (self.run.tangents.T @ g_val).tolist()

    def _probe_loss(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The objective SGD descends (cross-entropy + L2 term at the current λ_wd) on the probe subset."""
        assert self.run is not None
        X, y = self.probe
        wd, mask = self.run.weight_decay, self.task.weight_mask

        def f(theta: torch.Tensor) -> torch.Tensor:
            return self.task.loss(theta, X, y)[0] + 0.5 * wd * (mask * theta * theta).sum()

        return f

    def _update_landscape(self, steps: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Refresh :data:`LANDSCAPE_FIELDS` after an env step: interpolate each measured step (mean α*,
        log10 of the mean height), λ_max every ``lambda_every``-th measurement, distance and η/S always."""
        run = self.run
        assert run is not None and run.theta_init is not None
        f = self._probe_loss()
        values = run.landscape
        values["dist_init"] = ls.distance(run.theta, run.theta_init)
        values["log10_noise_scale"] = ls.log10_noise_scale(self.applied_lr(), self.batch_size)
        values.setdefault("log10_lambda_max", math.nan)
        if not steps:
            values.setdefault("floor_alpha", math.nan)
            values.setdefault("log10_height", math.nan)
            return
        inter = [ls.interpolate_step(f, a, b - a) for a, b in steps]
        height = float(np.mean([i.height for i in inter]))
        values["floor_alpha"] = float(np.mean([i.alpha_star for i in inter]))
        values["log10_height"] = math.log10(height + 1e-12)
        lambda_max = math.nan
        if run.measurements % self.lambda_every == 0:
            ext = ls.hessian_extremes(
                f, run.theta, iterations=self.lanczos_iterations, seed=run.inner_seed + run.steps_done
            )
            lambda_max = ext.lambda_max
            values["log10_lambda_max"] = math.log10(max(lambda_max, 1e-12))
        run.measurements += 1
        run.landscape_trace.append(
            [
                run.steps_done,
                values["floor_alpha"],
                float(np.mean([i.inside for i in inter])),
                height,
                float(np.mean([i.convex for i in inter])),
                lambda_max,
                values["dist_init"],
                values["log10_noise_scale"],
            ]
        )

    def _finish(self, diverged: bool) -> dict[str, Any]:
        assert self.run is not None
        run = self.run
        test_loss, test_acc = self._evaluate("test")
        if diverged or not math.isfinite(test_loss):
            test_loss, test_acc = math.inf, 0.0
        record: dict[str, Any] = {
            "inner_seed": run.inner_seed,
            "meta_task": self.problem_index,
            "budget": self.budget,
            "steps_done": run.steps_done,
            "sgd_steps": run.sgd_steps,
            "examples": run.examples,
            "example_grads": run.example_grads,
            "compute_s": run.compute_s,
            "diverged": diverged,
            "val_loss": run.val_loss if not diverged else math.inf,
            "val_accuracy": run.val_accuracy,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "episode_return": run.episode_return,
            **self.hparams(),
            "trace": run.trace,
            "curve": run.curve,
        }
        if self.landscape:
            final = math.nan
            if not diverged:  # λ_max at the final θ: what a run ends in, whatever the cadence
                final = ls.hessian_extremes(
                    self._probe_loss(), run.theta, iterations=self.lanczos_iterations, seed=run.inner_seed
                ).lambda_max
            record["landscape"] = {
                "lambda_max_final": final,
                **run.landscape,
                "columns": list(LANDSCAPE_TRACE),
                "trace": run.landscape_trace,
            }
        if self.episode_log is not None:
            self.episode_log.parent.mkdir(parents=True, exist_ok=True)
            with self.episode_log.open("a") as f:  # one short line per append: safe across processes
                f.write(json.dumps(record) + "\n")
        return record

    def _obs(self, stats: dict[str, float]) -> np.ndarray:
        assert self.run is not None
        run = self.run
        values = {
            "val_loss": run.val_loss,
            "val_accuracy": run.val_accuracy,
            "log10_lr": math.log10(run.lr),
            "log2_batch_size": run.log2_batch_size,
            "log10_weight_decay": math.log10(run.weight_decay),
            "budget_used": run.steps_done / self.budget,
            **stats,
        }
        if self.landscape:
            values.update(run.landscape)
        obs = np.zeros(len(self._low), np.float64)
        for name, value in values.items():
            obs[OBS[name]] = value
        obs = np.nan_to_num(obs, nan=0.0, posinf=_SIGNAL_BOUND, neginf=-_SIGNAL_BOUND)
        obs = np.clip(obs, self._low, self._high)
        return obs.astype(np.float32)

    # -- population-based training ---------------------------------------------------------------
    @property
    def member_state(self) -> dict[str, Any]:
        """A copy of the inner run (θ, hyper-parameters, progress, gradient memory) for PBT's exploit.

        The minibatch RNG and the compute counters stay with the env, so a copied run continues
        with this env's own data order and compute is never double counted."""
        if self.run is None:
            raise RuntimeError("call reset() before reading member_state")
        run = self.run
        return {
            "theta": run.theta.clone(),
            "lr": run.lr,
            "batch_size": 2.0**run.log2_batch_size,
            "weight_decay": run.weight_decay,
            DUAL_ALPHA: run.dual_alpha,
            "steps_done": run.steps_done,
            "val_loss": run.val_loss,
            "val_accuracy": run.val_accuracy,
            "prev_grad": None if run.prev_grad is None else run.prev_grad.clone(),
            "tangents": None if run.tangents is None else run.tangents.clone(),
            # The copied run's own θ_0, so dist_init stays the distance travelled by that run.
            "theta_init": None if run.theta_init is None else run.theta_init.clone(),
        }

    @member_state.setter
    def member_state(self, state: dict[str, Any] | None) -> None:
        """Load a state from :attr:`member_state` (hyper-parameters clipped); ``None`` keeps the run."""
        if state is None:
            return
        if self.run is None:
            raise RuntimeError("call reset() before setting member_state")
        run = self.run
        run.theta = state["theta"].clone()
        self._set_hparams({k: state[k] for k in (*HPARAMS, DUAL_ALPHA) if k in state})
        run.steps_done, run.val_loss, run.val_accuracy = (
            int(state["steps_done"]),
            state["val_loss"],
            state["val_accuracy"],
        )
        run.prev_grad = None if state["prev_grad"] is None else state["prev_grad"].clone()
        if state.get("theta_init") is not None and run.theta_init is not None:
            run.theta_init = state["theta_init"].clone()
        if run.tangents is not None:
            tangents = state["tangents"]
            run.tangents = torch.zeros_like(run.tangents) if tangents is None else tangents.clone()

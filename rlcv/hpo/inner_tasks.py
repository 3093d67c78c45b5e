r"""Inner tasks for hyper-parameter and loss-landscape studies: data splits and flat-parameter models.

Data (:func:`task_split`): ``{"train" | "val" | "test": (X float32 [n, d], y int64 [n])}``.

- ``digits``: scikit-learn's bundled 8×8 digits (1797 × 64), split once by ``split_seed``, features
  standardised with training statistics. Every sensible setting reaches ~97–98 % test accuracy.
- ``mnist1d``: MNIST-1D (Greydanus, 2020; the ``mnist1d`` package, ``pip install 'rlcv[landscape]'``):
  5000 one-dimensional signals of length 40, 10 classes, generated *offline* by the package's
  ``make_dataset(get_dataset_args())`` (its own seed 42; ~10 s) and cached as ``.npz`` in the user
  cache directory (``$RLCV_CACHE_DIR``, else ``$XDG_CACHE_HOME/rlcv``, else ``~/.cache/rlcv``).
  ``get_dataset()`` is never called: it downloads. The package's 1000-signal test split is the test
  set; train / val are drawn from its 4000 training signals by ``split_seed``. It separates models
  (its README: logistic ~32 %, MLP ~68 %, CNN ~94 %), which digits does not.

Networks (:func:`make_network`) are functions of one flat parameter vector θ [P] (what SGD, Hessian-vector
products and forward-mode hypergradients act on), with ``weight_mask`` [P] = 1 on weights (the L2
term's support), ``init(gen)``, ``logits(θ, X)`` and ``loss(θ, X, y) -> (mean CE, #correct)``:

- ``mlp``: one hidden tanh layer (:class:`MLPTask`);
- ``cnn``: three stride-2 1-D convolutions with ReLU and a linear read-out (:class:`Conv1dTask`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcv.errors import RlcvError

__all__ = [
    "NETWORKS",
    "TASKS",
    "Conv1dTask",
    "FlatNetwork",
    "MLPTask",
    "cache_dir",
    "digits_split",
    "make_network",
    "mnist1d_arrays",
    "mnist1d_split",
    "task_defaults",
    "task_split",
]

TASKS: tuple[str, ...] = ("digits", "mnist1d")
NETWORKS: tuple[str, ...] = ("mlp", "cnn")
Split = dict[str, tuple[torch.Tensor, torch.Tensor]]
# (n_train, n_val) when not given: digits keeps 397 test digits; MNIST-1D uses its 4000 training signals.
_DEFAULT_SIZES = {"digits": (1000, 400), "mnist1d": (3000, 1000)}


def task_defaults(task: str) -> tuple[int, int]:
    """(n_train, n_val) used when a caller does not choose them."""
    _check_task(task)
    return _DEFAULT_SIZES[task]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def task_split(task: str, n_train: int | None = None, n_val: int | None = None, split_seed: int = 0) -> Split:
    """The fixed train / val / test split of ``task`` (see the module docstring); cached per process."""
    d_train, d_val = task_defaults(task)
    n_train = d_train if n_train is None else int(n_train)
    n_val = d_val if n_val is None else int(n_val)
    if task == "digits":
        return digits_split(n_train, n_val, int(split_seed))
    return mnist1d_split(n_train, n_val, int(split_seed))


def _tensors(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


@functools.lru_cache(maxsize=4)
def digits_split(n_train: int = 1000, n_val: int = 400, split_seed: int = 0) -> Split:
    """scikit-learn's digits (1797 × 64), split once by ``split_seed``; features standardised with
    training statistics. Returns ``{"train" | "val" | "test": (X float32 [n, 64], y int64 [n])}``."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    if n_train < 1 or n_val < 1 or n_train + n_val >= len(y):
        raise ValueError(
            f"n_train + n_val must leave test data (digits has {len(y)} examples), got {n_train}, {n_val}"
        )
    perm = np.random.default_rng(split_seed).permutation(len(y))
    parts = {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}
    mean, std = X[parts["train"]].mean(0), X[parts["train"]].std(0)
    std[std < 1e-8] = 1.0  # pixels that are constant on the training set
    return {k: _tensors((X[i] - mean) / std, y[i]) for k, i in parts.items()}


# ------------------------------------------------------------------------------------ MNIST-1D


def cache_dir() -> Path:
    """Where generated data sets are kept between processes."""
    if os.environ.get("RLCV_CACHE_DIR"):
        return Path(os.environ["RLCV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlcv"


def _mnist1d_generator() -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise RlcvError(
            "task mnist1d needs the mnist1d package: pip install 'rlcv[landscape]' (or pip install mnist1d)."
        ) from exc
    args = get_dataset_args(as_dict=True)
    return args, lambda: make_dataset(get_dataset_args())


@functools.lru_cache(maxsize=1)
def mnist1d_arrays() -> dict[str, np.ndarray]:
    """MNIST-1D's arrays ``x`` [4000, 40], ``y`` [4000], ``x_test`` [1000, 40], ``y_test`` [1000],
    generated offline once and cached (the file name holds a hash of the generator's arguments)."""
    args, generate = _mnist1d_generator()
    key = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = cache_dir() / f"mnist1d_{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in ("x", "y", "x_test", "y_test")}
    # make_dataset reseeds the global numpy / random generators: leave them as the caller had them.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = generate()
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, x=arrays["x"], y=arrays["y"], x_test=arrays["x_test"], y_test=arrays["y_test"])
    os.replace(tmp.name, path)  # atomic: concurrent generators never leave a half-written cache
    return arrays


@functools.lru_cache(maxsize=4)
def mnist1d_split(n_train: int = 3000, n_val: int = 1000, split_seed: int = 0) -> Split:
    """MNIST-1D (already centred and scaled by its generator): train / val drawn from the 4000
    training signals by ``split_seed``, the package's 1000 test signals as the test set."""
    arrays = mnist1d_arrays()
    n_pool = len(arrays["y"])
    if n_train < 1 or n_val < 1 or n_train + n_val > n_pool:
        raise ValueError(f"need n_train, n_val >= 1 and n_train + n_val <= {n_pool}, got {n_train}, {n_val}")
    perm = np.random.default_rng(split_seed).permutation(n_pool)
    tr, va = perm[:n_train], perm[n_train : n_train + n_val]
    return {
        "train": _tensors(arrays["x"][tr], arrays["y"][tr]),
        "val": _tensors(arrays["x"][va], arrays["y"][va]),
        "test": _tensors(arrays["x_test"], arrays["y_test"]),
    }


# ------------------------------------------------------------------------------------ networks


class FlatNetwork:
    """A classifier as a function of one flat parameter vector θ [P].

    ``shapes`` lists the parameter tensors in θ's order; ``weights`` their indices that are weights
    (L2-penalised, randomly initialised with variance ``gain / fan_in``); the others are biases (0)."""

    shapes: list[tuple[int, ...]]
    weights: tuple[int, ...]
    gains: tuple[float, ...]

    def _layout(self) -> None:
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = np.cumsum([0, *sizes]).tolist()
        self.n_params = self.offsets[-1]
        self.weight_mask = torch.zeros(self.n_params)
        for i in self.weights:
            self.weight_mask[self.offsets[i] : self.offsets[i + 1]] = 1.0

    def unpack(self, theta: torch.Tensor) -> list[torch.Tensor]:
        return [theta[self.offsets[i] : self.offsets[i + 1]].view(s) for i, s in enumerate(self.shapes)]

    def fan_in(self, i: int) -> int:
        raise NotImplementedError

    def init(self, gen: torch.Generator) -> torch.Tensor:
        theta = torch.zeros(self.n_params)
        for i, gain in zip(self.weights, self.gains, strict=True):
            w = torch.randn(self.shapes[i], generator=gen) * math.sqrt(gain / self.fan_in(i))
            theta[self.offsets[i] : self.offsets[i + 1]] = w.reshape(-1)
        return theta

    def logits(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(
        self, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean cross-entropy, number of correct predictions)."""
        logits = self.logits(theta, X)
        return torch.nn.functional.cross_entropy(logits, y), (logits.detach().argmax(1) == y).sum()


class MLPTask(FlatNetwork):
    """A one-hidden-layer tanh MLP. Layout of θ: W1 [n_in, h], b1 [h], W2 [h, n_out], b2 [n_out];
    LeCun-normal weights (variance 1/fan_in, right for tanh), zero biases."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        self.shapes = [(n_in, hidden), (hidden,), (hidden, n_out), (n_out,)]
        self.weights, self.gains = (0, 2), (1.0, 1.0)
        self._layout()

    def fan_in(self, i: int) -> int:
        return self.shapes[i][0]

    def logits(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = self.unpack(theta)
        return torch.tanh(X @ W1 + b1) @ W2 + b2


class Conv1dTask(FlatNetwork):
    """Three 1-D convolutions (kernels 5, 3, 3; stride 2; ``channels`` each; ReLU) and a linear read-out,
    after MNIST-1D's reference CNN (25 channels there). Input X [n, length], treated as one channel.
    He-normal convolution weights (variance 2/fan_in, right for ReLU), LeCun-normal read-out."""

    KERNELS = (5, 3, 3)

    def __init__(self, length: int, channels: int, n_out: int) -> None:
        c, (k1, k2, k3) = channels, self.KERNELS
        out = length
        for k in self.KERNELS:
            out = (out + 2 * (k // 2) - k) // 2 + 1
        self.out_length = out
        self.shapes = [(c, 1, k1), (c,), (c, c, k2), (c,), (c, c, k3), (c,), (c * out, n_out), (n_out,)]
        self.weights, self.gains = (0, 2, 4, 6), (2.0, 2.0, 2.0, 1.0)
        self._layout()

    def fan_in(self, i: int) -> int:
        s = self.shapes[i]
        return s[0] if len(s) == 2 else s[1] * s[2]

    def logits(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3, W, b = self.unpack(theta)
        h = X[:, None, :]
        for w, bias, k in zip((w1, w2, w3), (b1, b2, b3), self.KERNELS, strict=True):
            h = torch.relu(torch.nn.functional.conv1d(h, w, bias, stride=2, padding=k // 2))
        return h.flatten(1) @ W + b


def make_network(network: str, n_in: int, n_out: int, *, hidden: int = 64, channels: int = 16) -> FlatNetwork:
    """``mlp`` (``hidden`` tanh units) or ``cnn`` (``channels`` per convolution) for inputs [n, n_in]."""
    if network == "mlp":
        return MLPTask(n_in, hidden, n_out)
    if network == "cnn":
        return Conv1dTask(n_in, channels, n_out)
    raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")


# The names before issue 26 ("model" means the dynamics model only); kept for code that uses them.
MODELS, FlatModel, make_model = NETWORKS, FlatNetwork, make_network

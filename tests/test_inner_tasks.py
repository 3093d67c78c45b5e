"""rlcv.hpo.inner_tasks (MNIST-1D generation and cache, models) and OnlineHPO-v0's landscape observations."""

from __future__ import annotations

import math
import random
import sys
import types

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rlcv.envs.online_hpo import LANDSCAPE_FIELDS, LANDSCAPE_TRACE, OBS, OBS_FIELDS, OnlineHPOEnv
from rlcv.hpo import inner_tasks
from rlcv.hpo.inner_tasks import Conv1dTask, MLPTask, make_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}


@pytest.fixture
def fake_mnist1d(tmp_path, monkeypatch):
    """A stand-in ``mnist1d`` package (same API, 500 signals) and an empty cache directory; it records
    its calls and, like the real one, reseeds the global generators."""
    calls: list[str] = []

    def get_dataset_args(as_dict: bool = False):
        d = {"num_samples": 500, "train_split": 0.8, "final_seq_length": 40, "seed": 42}
        return d if as_dict else types.SimpleNamespace(**d)

    def make_dataset(args):
        calls.append("make_dataset")
        np.random.seed(args.seed)
        random.seed(args.seed)
        x = np.random.randn(args.num_samples, args.final_seq_length)
        y = np.arange(args.num_samples) % 10
        x[np.arange(args.num_samples), y] += 3.0  # learnable: the label's position lights up
        n = int(args.num_samples * args.train_split)
        return {"x": x[:n], "y": y[:n], "x_test": x[n:], "y_test": y[n:]}

    def get_dataset(*a, **k):  # downloads in the real package: must never be called
        raise AssertionError("get_dataset() downloads; rlcv must generate offline")

    pkg, data = types.ModuleType("mnist1d"), types.ModuleType("mnist1d.data")
    data.get_dataset_args, data.make_dataset, data.get_dataset = get_dataset_args, make_dataset, get_dataset
    pkg.data = data
    monkeypatch.setitem(sys.modules, "mnist1d", pkg)
    monkeypatch.setitem(sys.modules, "mnist1d.data", data)
    monkeypatch.setenv("RLCV_CACHE_DIR", str(tmp_path / "cache"))
    for fn in (inner_tasks.mnist1d_arrays, inner_tasks.mnist1d_split):
        fn.cache_clear()
    yield calls
    for fn in (inner_tasks.mnist1d_arrays, inner_tasks.mnist1d_split):
        fn.cache_clear()


def test_mnist1d_is_generated_once_cached_and_leaves_global_rngs_alone(fake_mnist1d, tmp_path) -> None:
    np.random.seed(7)
    random.seed(7)
    expect_np, expect_py = np.random.get_state()[1].copy(), random.getstate()
    split = inner_tasks.mnist1d_split(300, 100, 0)
    assert fake_mnist1d == ["make_dataset"]
    np.testing.assert_array_equal(np.random.get_state()[1], expect_np)
    assert random.getstate() == expect_py
    assert [len(split[k][1]) for k in ("train", "val", "test")] == [300, 100, 100]
    assert split["train"][0].dtype == torch.float32 and split["train"][1].dtype == torch.int64
    assert len(list((tmp_path / "cache").glob("mnist1d_*.npz"))) == 1
    inner_tasks.mnist1d_arrays.cache_clear()
    inner_tasks.mnist1d_split.cache_clear()
    again = inner_tasks.mnist1d_split(300, 100, 0)  # a new process: read from the cache file
    assert fake_mnist1d == ["make_dataset"]
    torch.testing.assert_close(again["val"][0], split["val"][0])
    with pytest.raises(ValueError, match="n_train \\+ n_val"):
        inner_tasks.mnist1d_split(350, 100, 0)


def test_missing_mnist1d_package_is_a_clear_error(monkeypatch, tmp_path) -> None:
    from rlcv.errors import RlcvError

    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    monkeypatch.setenv("RLCV_CACHE_DIR", str(tmp_path))
    inner_tasks.mnist1d_arrays.cache_clear()
    with pytest.raises(RlcvError, match=r"pip install 'rlcv\[landscape\]'"):
        inner_tasks.mnist1d_arrays()


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_online_hpo_on_mnist1d_learns_with_either_model(fake_mnist1d, model: str) -> None:
    env = OnlineHPOEnv(
        task="mnist1d", model=model, budget=60, steps_per_action=20, lr_init=0.1, n_train=300, n_val=100
    )
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    while True:
        _, _, terminated, _, info = env.step(np.zeros(3, np.float32))
        if terminated:
            break
    assert info["episode"]["test_accuracy"] > 0.3  # chance is 0.1
    assert isinstance(env.task, Conv1dTask if model == "cnn" else MLPTask)


def test_conv1d_task_matches_torch_modules() -> None:
    task = make_network("cnn", 40, 10, channels=4)
    assert task.out_length == 5
    theta = task.init(torch.Generator().manual_seed(0))
    X = torch.randn(3, 40)
    w1, b1, w2, b2, w3, b3, W, b = task.unpack(theta)
    convs = [torch.nn.Conv1d(i, 4, k, stride=2, padding=k // 2) for i, k in ((1, 5), (4, 3), (4, 3))]
    with torch.no_grad():
        for conv, (w, bias) in zip(convs, ((w1, b1), (w2, b2), (w3, b3)), strict=True):
            conv.weight.copy_(w)
            conv.bias.copy_(bias)
        h = X[:, None]
        for conv in convs:
            h = torch.relu(conv(h))
        expected = h.flatten(1) @ W + b
    torch.testing.assert_close(task.logits(theta, X), expected)
    assert int(task.weight_mask.sum()) == 4 * 5 + 4 * 4 * 3 * 2 + 20 * 10


def test_landscape_observations_and_episode_trace() -> None:
    env = OnlineHPOEnv(**TINY, landscape=True, landscape_every=1, lambda_every=2, probe_size=64)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(OBS_FIELDS) + len(LANDSCAPE_FIELDS),)
    env.reset(seed=1, options={"hparams": {"lr": 0.5, "batch_size": 16}})
    theta0 = env.run.theta.clone()
    obs, *_ = env.step(np.zeros(3, np.float32))
    assert obs[OBS["dist_init"]] == pytest.approx(float((env.run.theta - theta0).norm()), rel=1e-5)
    assert obs[OBS["log10_noise_scale"]] == pytest.approx(math.log10(0.5 / 16), rel=1e-5)
    assert obs[OBS["floor_alpha"]] in {round(0.1 * i, 1) for i in range(11)} or obs[OBS["floor_alpha"]] == 1.0
    while True:
        obs, _, terminated, _, info = env.step(np.zeros(3, np.float32))
        if terminated:
            break
    land = info["episode"]["landscape"]
    assert (
        land["columns"] == list(LANDSCAPE_TRACE)
        and len(land["trace"]) == TINY["budget"] // TINY["steps_per_action"]
    )
    lam = [row[LANDSCAPE_TRACE.index("lambda_max")] for row in land["trace"]]
    assert all(math.isfinite(v) for v in lam[::2]) and all(math.isnan(v) for v in lam[1::2])
    assert set(LANDSCAPE_FIELDS) <= set(land) and land["lambda_max_final"] > 0


def test_batch_as_large_as_the_training_set_is_full_batch_gradient_descent() -> None:
    kw = {
        **TINY,
        "n_train": 200,
        "batch_size_range": (8, 200),
        "steps_per_action": 1,
        "weight_decay_init": 1e-6,
    }
    env = OnlineHPOEnv(**kw)
    env.reset(seed=0, options={"hparams": {"lr": 0.3, "batch_size": 200}})
    theta = env.run.theta.clone().requires_grad_(True)
    X, y = env.data["train"]
    (g,) = torch.autograd.grad(env.task.loss(theta, X, y)[0], theta)
    env.step(np.zeros(3, np.float32))
    expected = theta.detach() - 0.3 * (g + 1e-6 * env.task.weight_mask * theta.detach())
    torch.testing.assert_close(env.run.theta, expected)


@pytest.mark.expensive
def test_real_mnist1d_generates_offline_with_the_package_shapes() -> None:
    pytest.importorskip("mnist1d")
    arrays = inner_tasks.mnist1d_arrays()
    assert arrays["x"].shape == (4000, 40) and arrays["x_test"].shape == (1000, 40)
    assert sorted(set(arrays["y"].tolist())) == list(range(10))


def test_member_copy_keeps_the_copied_runs_initialisation() -> None:
    a, b = (OnlineHPOEnv(**TINY, landscape=True) for _ in range(2))
    a.reset(seed=0)
    b.reset(seed=1)
    a.step(np.zeros(3, np.float32))
    b.member_state = a.member_state
    torch.testing.assert_close(b.run.theta_init, a.run.theta_init)


def test_the_pre_issue_26_names_still_import() -> None:
    """Inner-task networks are networks (only dynamics models are models); the old names stay usable."""
    from rlcv.hpo.inner_tasks import MODELS, NETWORKS, FlatModel, FlatNetwork, make_model

    assert (MODELS, FlatModel, make_model) == (NETWORKS, FlatNetwork, make_network)

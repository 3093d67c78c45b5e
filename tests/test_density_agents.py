"""Density baselines as agents: `rlcv train --algo pixel-mixture` fits the env's training images and
`rlcv eval` scores it like any generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rlcv.agents.density import MixturePolicy
from rlcv.cli import main
from rlcv.envs.bgan_digits import digits
from rlcv.gan.density_baselines import fit_mixture

SMALL = ["--env-kwargs", '{"eval_samples": 200}']


@pytest.mark.expensive  # ~6-20 s each (the labeller's SVM is fitted per process): CI runs them
@pytest.mark.parametrize(
    ("algo", "env", "k"),
    [
        ("pixel-mixture", "rlcv/BGAN-Digits-v0", 4),
        ("independent-pixels", "rlcv/BGAN-Digits4-v0", 1),
        ("pixel-mixture", "rlcv/BGAN-DigitsCont-v0", 3),
    ],
)
def test_density_agent_trains_and_evaluates(algo: str, env: str, k: int, tmp_path: Path, capsys) -> None:
    run = tmp_path / "R"
    extra = ["--set", f"n_components={k}"] if algo == "pixel-mixture" else []
    argv = ["train", "--algo", algo, "--env", env, "--steps", "2", "--run-dir", str(run), "--no-progress"]
    assert main([*argv, *SMALL, *extra]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "5", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert 0.4 <= metrics["c2st_accuracy"] <= 1.0 and metrics["within_latent_distance"] > 0
    assert "n_components" in (run / "metrics.csv").read_text().splitlines()[0]


def test_mixture_policy_samples_the_fitted_mixture() -> None:
    import gymnasium as gym

    mixture = fit_mixture(digits(2)["x_train"], levels=2, k=5, seed=0)
    policy = MixturePolicy(gym.spaces.MultiBinary(64))
    policy.set_mixture(mixture)
    z = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (3000, 8)).astype(np.float32))
    torch.manual_seed(0)
    s = policy.sample(z, 2)
    assert s.action.shape == (3000, 2, 64)
    comp = policy._component(z).numpy()
    assert comp.tolist() == mixture.components_of((z[:, 0].numpy().astype(np.float64) + 1) / 2).tolist()
    # Pixel frequencies of each component's samples match its Bernoulli parameters.
    for c in range(5):
        rows = s.action[torch.from_numpy(comp == c)].reshape(-1, 64).float().mean(0).numpy()
        assert np.abs(rows - mixture.probs[c, :, 1]).max() < 0.15
    # log_prob is the component's log-likelihood of the image.
    images = s.action[:, 0].float().numpy()
    expected = mixture.component_log_likelihood(images)[np.arange(3000), comp]
    assert policy.log_prob(z, s.action[:, 0]).numpy() == pytest.approx(expected, abs=1e-3)


def test_density_agent_on_a_non_image_env_is_one_clear_error(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    argv = ["train", "--algo", "pixel-mixture", "--env", "CartPole-v1", "--steps", "2"]
    assert main([*argv, "--run-dir", str(tmp_path / "R"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlcv: error: ") and err.count("\n") == 1 and "image" in err

"""Learning sanity: rlcv PPO and TRPO clearly improve on the easy ``rlcv/LQR-v0`` task.

On the default LQR (2-d state, 1-d action, horizon 20) the exact return of the zero policy is about
−20.0 and the best time-invariant linear feedback reaches about −7.7 (both from
``rlcv.envs.lqr.exact_return``). A fresh policy's mean action is ≈ 0 (output gain 0.01), so its
deterministic evaluation sits near −20; 6k env steps bring either agent to about −9…−10
(seeds 0–6 checked), far outside the evaluation noise of 100 episodes.
"""

from __future__ import annotations

import csv

import gymnasium as gym
import pytest
import torch

from rlcv.envs.lqr import exact_return
from rlcv.evaluation import evaluate
from rlcv.launch import TrainRequest, evaluate_run, resolve_config, train
from rlcv.loop import Trainer

ENV = "rlcv/LQR-v0"
STEPS = 6144
EVAL_EPISODES, EVAL_SEED = 100, 1000
OVERRIDES = {
    "ppo": {"n_steps": 512, "n_epochs": 5},
    "trpo": {"n_steps": 512, "n_critic_updates": 5},
}


def _initial_return(algo: str, seed: int) -> float:
    """Deterministic evaluation of the policy a run with this seed starts from."""
    config = resolve_config(algo, ENV, None, OVERRIDES[algo])
    trainer = Trainer(algo=algo, env_id=ENV, config=config, seed=seed)
    try:
        return evaluate(
            trainer.agent.policy,
            ENV,
            episodes=EVAL_EPISODES,
            obs_normalizer=trainer.obs_normalizer,
            seed=EVAL_SEED,
        )["mean_return"]
    finally:
        trainer.envs.close()


def test_reference_returns_of_lqr() -> None:
    """The numbers the thresholds below are built on."""
    env = gym.make(ENV)
    zero = exact_return(env, torch.zeros(1, 2), torch.zeros(1), torch.tensor([-30.0])).item()
    good = exact_return(env, torch.tensor([[0.2833, -0.9078]]), torch.zeros(1), torch.tensor([-30.0])).item()
    assert zero == pytest.approx(-20.03, abs=0.01)
    assert good == pytest.approx(-7.73, abs=0.01)


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_agent_improves_on_lqr(algo: str, tmp_path) -> None:
    seed = 0
    before = _initial_return(algo, seed)
    assert -30.0 < before < -15.0  # ≈ the zero policy (−20)
    run_dir = train(
        TrainRequest(
            algo=algo,
            env=ENV,
            steps=STEPS,
            seed=seed,
            overrides=OVERRIDES[algo],
            run_dir=str(tmp_path / "run"),
            progress=False,
        )
    )
    after = evaluate_run(run_dir, episodes=EVAL_EPISODES, seed=EVAL_SEED)["mean_return"]
    assert after > before + 6.0, (before, after)
    assert after > -13.0, after

    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert int(rows[-1]["step"]) == STEPS and len(rows) == STEPS // 512
    # Training returns (stochastic policy, σ = 1 at the start) improve too.
    first, last = float(rows[0]["episode_return_mean"]), float(rows[-1]["episode_return_mean"])
    assert last > first + 10.0, (first, last)
    if algo == "trpo":
        assert sum(float(r["step_accepted"]) for r in rows) >= len(rows) // 2
        assert all(float(r["kl"]) <= 0.01 + 1e-9 for r in rows)  # the trust region holds

"""Joint bandits (hpo-ucb1-joint, hpo-ts), DualCutout and compute units in OnlineHPO, 4-d actions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rlcv.agents.hpo.joint import (
    JointUCB1Config,
    JointUCB1Policy,
    ThompsonConfig,
    ThompsonPolicy,
    arm_table,
)
from rlcv.cli import main
from rlcv.config import build_config
from rlcv.envs.online_hpo import CURVE_COLUMNS, DUAL_ALPHA, OnlineHPOEnv

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _space(**kwargs):
    return OnlineHPOEnv(**TINY, **kwargs).action_space


def test_arm_tables():
    coord = arm_table(build_config(ThompsonConfig, {}), 3)
    assert coord.shape == (7, 3) and torch.equal(coord[0], torch.zeros(3))
    assert all(int((row != 0).sum()) == 1 for row in coord[1:])  # one parameter moves per arm
    product = arm_table(build_config(ThompsonConfig, {"arms": "product"}), 3)
    assert product.shape == (27, 3) and torch.equal(product[0], torch.zeros(3))
    with_alpha = arm_table(build_config(ThompsonConfig, {"controlled": ["lr", DUAL_ALPHA]}), 4)
    assert with_alpha.shape == (5, 4) and bool((with_alpha[:, 3] != 0).any())


@pytest.mark.parametrize(
    "policy_cls,config_cls", [(ThompsonPolicy, ThompsonConfig), (JointUCB1Policy, JointUCB1Config)]
)
def test_concentrates_on_the_best_arm_of_a_stationary_bandit(policy_cls, config_cls):
    """7 arms, Gaussian rewards (sd 1) with the best mean 1 above the rest: most late pulls are on it."""
    torch.manual_seed(0)
    policy = policy_cls(_space(), build_config(config_cls, {}), "test")
    means = torch.zeros(len(policy.arms))
    means[4] = 1.0
    rng = np.random.default_rng(0)
    late = []
    obs = torch.zeros(1, 13)
    for t in range(600):
        action = policy.sample(obs).action[0, 0]
        arm = policy.arm_of(action)
        policy.observe(arm, float(means[arm] + rng.normal()))
        if t >= 400:
            late.append(arm)
    assert np.mean(np.asarray(late) == 4) >= 0.8
    assert policy.arm_of(policy.mode(obs)[0]) == 4


def test_thompson_explores_every_arm_first_and_is_seeded():
    draws = []
    for _ in range(2):
        torch.manual_seed(1)
        policy = ThompsonPolicy(_space(), build_config(ThompsonConfig, {}), "test")
        arms = []
        for i in range(20):
            arm = policy.arm_of(policy.sample(torch.zeros(1, 13)).action[0, 0])
            policy.observe(arm, 0.1 * i)
            arms.append(arm)
        assert sorted(arms[:7]) == list(range(7))
        draws.append(arms)
    assert draws[0] == draws[1]


def test_dualcutout_env_tunes_alpha_and_charges_both_branches():
    plain = OnlineHPOEnv(**TINY)
    dual = OnlineHPOEnv(**TINY, regularizer="dualcutout", tune_dual_alpha=True, dual_alpha=0.1)
    assert plain.action_space.shape == (3,) and dual.action_space.shape == (4,)
    assert dual.cutout_spec.shape == (8, 8) and dual.cutout_spec.size == (4, 4)
    records = []
    for env, action in ((plain, np.zeros(3, np.float32)), (dual, np.array([0, 0, 0, 1.0], np.float32))):
        env.reset(options={"inner_seed": 3})
        done = False
        while not done:
            _, _, done, _, info = env.step(action)
        records.append(info["episode"])
    p, d = records
    assert p["sgd_steps"] == d["sgd_steps"] == TINY["budget"] and p["examples"] == d["examples"]
    assert d["example_grads"] == 2 * p["example_grads"] == 2 * p["examples"]
    assert d[DUAL_ALPHA] == pytest.approx(0.1 * 2**4)  # doubled at each of the 4 env steps
    assert len(d["curve"]) == 4 and len(d["curve"][0]) == len(CURVE_COLUMNS)
    assert d["curve"][-1][CURVE_COLUMNS.index("compute_s")] == pytest.approx(d["compute_s"])
    # the masks have their own stream: the minibatches (hence example counts) match; the weights differ
    assert p["val_loss"] != d["val_loss"]
    with pytest.raises(ValueError, match="tune_dual_alpha"):
        OnlineHPOEnv(**TINY, tune_dual_alpha=True)
    with pytest.raises(ValueError, match="regularizer"):
        OnlineHPOEnv(**TINY, regularizer="mixup")


def test_forward_mode_is_charged_its_hessian_vector_products():
    env = OnlineHPOEnv(**TINY, hypergradient="forward")
    env.reset(options={"inner_seed": 0})
    env.step(np.zeros(3, np.float32))
    n_val = len(env.data["val"][1])
    assert env.run.example_grads == 3 * env.run.examples + n_val


def test_ts_tunes_alpha_through_the_loop(tmp_path):
    log = tmp_path / "log.jsonl"
    kwargs = {**TINY, "regularizer": "dualcutout", "tune_dual_alpha": True, "episode_log": str(log)}
    args = ["train", "--algo", "hpo-ts", "--env", "rlcv/OnlineHPO-v0", "--steps", "4", "--seed", "0"]
    args += ["--run-dir", str(tmp_path / "run"), "--no-progress", "--env-kwargs", json.dumps(kwargs)]
    args += ["--set", "controlled=[lr,batch_size,weight_decay,dual_alpha]"]
    assert main(args) == 0
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert math.isfinite(record["val_loss"]) and len(record["trace"][0]) == 5
    # without the α action the same controlled list is one clear error
    bad = [a if a != json.dumps(kwargs) else json.dumps(TINY) for a in args]
    bad[bad.index(str(tmp_path / "run"))] = str(tmp_path / "bad")
    assert main(bad) == 2


def test_log_ratio_credit_is_comparable_across_the_run():
    """Two decisions that each cut the validation loss by 10 %: equal log-ratio credit, although the raw
    decreases differ 10x (1.0 -> 0.9 early, 0.1 -> 0.09 late)."""
    from types import SimpleNamespace

    from rlcv.agents.hpo.joint import ThompsonAgent
    from rlcv.envs.online_hpo import OBS

    env = OnlineHPOEnv(**TINY)
    for reward, expected in (("log_ratio", [math.log(1 / 0.9)] * 2), ("raw", [0.1, 0.01])):
        config = build_config(ThompsonConfig, {"reward": reward, "reset_each_episode": False})
        agent = ThompsonAgent(
            observation_space=env.observation_space, action_space=env.action_space, config=config
        )
        arm = agent.policy.arms[1]
        next_obs = torch.zeros(2, 1, 13)
        next_obs[0, 0, OBS["val_loss"]], next_obs[1, 0, OBS["val_loss"]] = 0.9, 0.09
        batch = SimpleNamespace(
            raw_rewards=torch.tensor([[0.1], [0.01]]),
            raw_next_obs=next_obs,
            dones=torch.zeros(2, 1, dtype=torch.bool),
            actions=arm.float().expand(2, 1, 1, 3),
            n_steps=2,
            n_envs=1,
        )
        agent.adapt(batch)
        assert float(agent.policy.counts[1]) == 2
        assert float(agent.policy.sums[1]) == pytest.approx(sum(expected), rel=1e-5)
        assert float(agent.policy.sumsq[1]) == pytest.approx(sum(e * e for e in expected), rel=1e-5)

"""The estimator contract: registry, settings through the config, bind / prepare / after_update,
checkpointed state, logged metrics; the agent protocol and the env-hook facade."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcv  # noqa: F401  (registers the envs)
from rlcv.agents import AGENTS, agent_class
from rlcv.agents.base import Agent
from rlcv.agents.bgan import BGAN, BGANConfig
from rlcv.agents.ppo import PPO, PPOConfig
from rlcv.collector import Collector
from rlcv.config import EstimatorConfig, build_config, preset
from rlcv.diagnostics.gradcheck import run_gradcheck
from rlcv.env_factory import make_vec_env
from rlcv.env_hooks import BindContext, EnvHooks
from rlcv.errors import RlcvError
from rlcv.estimators import ESTIMATORS, estimator_class, settings_class
from rlcv.estimators.base import GradientEstimator
from rlcv.estimators.mbmf import MBMF_METRICS, MBMFSettings
from rlcv.normalize import ObsNormalizer, RewardScaler
from rlcv.policies import BernoulliPolicy, GaussianPolicy, Relaxable, Reparameterised

ENV = "InvertedPendulum-v5"


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_every_registered_estimator_resolves_with_a_settings_dataclass(name: str) -> None:
    cls = estimator_class(name)
    assert issubclass(cls, GradientEstimator) and dataclasses.is_dataclass(settings_class(name))
    assert isinstance(cls.metric_names, tuple)


def test_mbmf_presets_are_ppo_and_trpo_with_the_mbmf_estimator() -> None:
    for algo, base in (("mbmf-ppo", "ppo"), ("mbmf-trpo", "trpo")):
        assert agent_class(algo) is agent_class(base)
        config = build_config(
            agent_class(algo).config_cls, {**preset(algo, ENV), "k": 5, "eta_mode": "fitted"}
        )
        assert config.estimator == "mbmf"
        assert (config.estimator_settings.k, config.estimator_settings.eta_mode) == (5, "fitted")
        assert config.gamma == 0.98  # the base algorithm's env preset is inherited


def test_config_round_trips_through_its_dict_form() -> None:
    """config.yaml stores the settings nested; reading them back gives the same config."""
    config = build_config(PPOConfig, {"estimator": "mbmf", "k": 2, "n_steps": 64})
    again = build_config(PPOConfig, dataclasses.asdict(config))
    assert again == config and isinstance(again.estimator_settings, MBMFSettings)


def test_unknown_key_names_the_nearest_agent_or_estimator_key() -> None:
    with pytest.raises(RlcvError, match=r"unknown config key 'eta_mod'.*Did you mean: eta_mode"):
        build_config(PPOConfig, {"estimator": "mbmf", "eta_mod": "fitted"})
    with pytest.raises(RlcvError, match=r"unknown config key 'learning_rat'.*Did you mean: learning_rate"):
        build_config(PPOConfig, {"estimator": "mbmf", "learning_rat": 1e-3})
    with pytest.raises(RlcvError, match="unknown config key 'k'"):
        build_config(PPOConfig, {"k": 3})  # the gae estimator has no k
    with pytest.raises(RlcvError, match="unknown estimator 'mbfm'.*Did you mean: mbmf"):
        build_config(PPOConfig, {"estimator": "mbfm"})
    with pytest.raises(RlcvError, match=r"k must be in \[0, 1000\]"):
        build_config(PPOConfig, {"estimator": "mbmf", "k": -1})


def test_env_kwarg_defaults_merge_under_the_users_env_kwargs() -> None:
    forward = agent_class("hpo-forward").config_cls
    config = build_config(forward, {"env_kwargs": {"budget": 200}})
    assert config.env_kwargs == {"hypergradient": "forward", "budget": 200}
    with pytest.raises(RlcvError, match="hypergradient: forward"):
        build_config(forward, {"env_kwargs": {"hypergradient": "none"}})
    pbt = agent_class("hpo-pbt").config_cls
    assert build_config(pbt, {"env_kwargs": {"hparam_init": "fixed"}}).env_kwargs == {"hparam_init": "fixed"}


def _spaces() -> dict:
    env = gym.make(ENV)
    return {"observation_space": env.observation_space, "action_space": env.action_space}


def _bind(agent, envs) -> EnvHooks:
    hooks = EnvHooks(envs)
    agent.bind(
        BindContext(
            env_id=ENV,
            env_kwargs={},
            obs_normalizer=ObsNormalizer(envs.single_observation_space.shape, enabled=False),
            reward_scaler=RewardScaler(1, enabled=False, gamma=0.99),
            hooks=hooks,
        )
    )
    return hooks


def _collect(agent, envs, n_steps: int, seed: int):
    collector = Collector(
        envs,
        agent.policy,
        obs_normalizer=ObsNormalizer(envs.single_observation_space.shape, enabled=False),
        reward_scaler=RewardScaler(1, enabled=False, gamma=0.99),
    )
    collector.reset(seed)
    return collector.collect(n_steps)


def test_mbmf_model_learns_only_after_the_update_and_its_state_round_trips() -> None:
    torch.manual_seed(0)
    config = build_config(
        PPOConfig,
        {
            "estimator": "mbmf",
            "n_steps": 64,
            "batch_size": 32,
            "n_epochs": 1,
            "model_train_steps": 3,
            "eta_mode": "fixed",
            "trust_gate": False,
        },
    )
    agent = PPO(**_spaces(), config=config)
    assert agent.metric_names == (*PPO.own_metrics, *MBMF_METRICS)
    envs = make_vec_env(ENV, n_envs=1)
    try:
        _bind(agent, envs)
        est = agent.estimator
        batch = _collect(agent, envs, 64, 0)
        before = {k: v.clone() for k, v in est.model.state_dict().items()}
        est.prepare(batch, policy=agent.policy, value_fn=agent.value_fn)  # measures, never trains
        assert all(torch.equal(v, est.model.state_dict()[k]) for k, v in before.items())
        assert not est.model_fitted
        metrics = agent.update(batch)
        assert est.model_fitted and np.isfinite(metrics["model_loss"])
        assert "model_error_1step" not in metrics  # the model had not seen data before this batch
        later = agent.update(_collect(agent, envs, 64, 1))
        assert np.isfinite(later["model_error_1step"]) and later["cv_eta_mean"] == 1.0
    finally:
        envs.close()
    state = agent.state_dict()
    assert {"model", "model_adam", "model_fitted"} <= set(state["estimator"])
    fresh = PPO(**_spaces(), config=config)
    fresh.load_state_dict(state)
    assert fresh.estimator.model_fitted and fresh.estimator.updates == 2
    for k, v in state["estimator"]["model"].items():
        assert torch.equal(fresh.estimator.model.state_dict()[k], v)


def test_generators_have_no_critic_and_checkpoint_their_estimator() -> None:
    agent = BGAN(
        observation_space=gym.spaces.Box(-1, 1, (3,), np.float32),
        action_space=gym.spaces.MultiBinary(4),
        config=BGANConfig(hidden_sizes=[8], n_samples=3),
    )
    state = agent.state_dict()
    assert "value_fn" not in state and "estimator" in state and agent.critic is None
    assert agent.metric_names == BGAN.metric_names


@pytest.mark.parametrize("algo", sorted(AGENTS))
def test_every_agent_class_has_the_protocols_members(algo: str) -> None:
    cls = agent_class(algo)
    for member in ("bind", "update", "state_dict", "load_state_dict", "n_steps", "group_size"):
        assert hasattr(cls, member), (algo, member)
    assert dataclasses.is_dataclass(cls.config_cls)
    if issubclass(cls.config_cls, EstimatorConfig):
        assert cls.config_cls().estimator in ESTIMATORS


def test_a_built_agent_satisfies_the_agent_protocol() -> None:
    assert isinstance(PPO(**_spaces(), config=PPOConfig()), Agent)


def test_policies_declare_what_estimators_may_ask_of_them() -> None:
    box = gym.spaces.Box(-1, 1, (2,), np.float32)
    assert isinstance(GaussianPolicy(3, box, hidden_sizes=[4]), Reparameterised)
    bern = BernoulliPolicy(3, 4, hidden_sizes=[4])
    assert isinstance(bern, Relaxable) and not isinstance(bern, Reparameterised)


def test_gradcheck_works_with_the_plain_gae_estimator() -> None:
    result = run_gradcheck(
        estimator="gae",
        env_kwargs={"state_dim": 4, "action_dim": 2, "horizon": 10},
        estimates=300,
        episodes=3,
        detect_bias=0.5,  # no pathwise term: the power target is a stated bias (0.1 needs more estimates)
    )
    assert result["passed"] is True and result["estimator"] == "gae"


def test_env_hooks_read_and_set_member_states() -> None:
    tiny = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
    envs = make_vec_env("rlcv/OnlineHPO-v0", n_envs=2, env_kwargs=tiny)
    try:
        envs.reset(seed=0)
        hooks = EnvHooks(envs)
        states = hooks.member_states()
        hooks.set_member_states([None, dict(states[0])])
        after = hooks.member_states()
        assert torch.equal(after[1]["theta"], states[0]["theta"])
        assert torch.equal(after[0]["theta"], states[0]["theta"])
        assert hooks.differentiable_reward() is None and hooks.env_states() is None
    finally:
        envs.close()


def test_configs_saved_before_the_estimator_key_still_build() -> None:
    """An mbmf-ppo run's config.yaml from before this layout stored the MBMF keys flat."""
    from rlcv.agents import build_agent_config

    old = {"n_steps": 64, "k": 5, "eta_mode": "fitted", "model_train_steps": 2}
    config = build_agent_config("mbmf-ppo", old)
    assert config.estimator == "mbmf" and config.estimator_settings.k == 5
    assert build_agent_config("ppo", {"n_steps": 64}).estimator == "gae"

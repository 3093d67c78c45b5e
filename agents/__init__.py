"""Agents (learning algorithms) of the project, by the name the CLI's ``--algo`` uses.

This folder sits at the top of the repository (as users asked) and installs as ``rlcv.agents``.
Adding an algorithm is one new file here plus one line in :data:`AGENTS`.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> "module:Class"; imported lazily so `import rlcv.agents` stays cheap.
AGENTS: dict[str, str] = {
    "ppo": "rlcv.agents.ppo:PPO",
    "trpo": "rlcv.agents.trpo:TRPO",
    # PPO whose policy gradient averages over r× the samples, the extra ones uncounted (`rlcv bench oracle`).
    "ppo-oracle": "rlcv.agents.ppo_oracle:PPOOracle",
    # Presets of ppo / trpo with `estimator: mbmf` (rlcv/presets/mbmf-*.yaml, whose `base:` names ppo / trpo).
    "mbmf-ppo": "rlcv.agents.ppo:PPO",
    "mbmf-trpo": "rlcv.agents.trpo:TRPO",
    "bgan": "rlcv.agents.bgan:BGAN",
    "bgan-reinforce": "rlcv.agents.bgan:BGANReinforce",
    "bgan-gumbel": "rlcv.agents.bgan:BGANGumbel",
    # Density baselines: fits of the generator envs' training images (reference rows for generators).
    "pixel-mixture": "rlcv.agents.density:PixelMixture",
    "independent-pixels": "rlcv.agents.density:IndependentPixels",
    "hpo-ucb1": "rlcv.agents.hpo.bandits:UCB1Agent",
    "hpo-dts": "rlcv.agents.hpo.bandits:DTSAgent",
    "hpo-hd": "rlcv.agents.hpo.hypergradient:HDAgent",
    "hpo-forward": "rlcv.agents.hpo.hypergradient:ForwardAgent",
    "hpo-pbt": "rlcv.agents.hpo.pbt:PBTAgent",
    "hpo-floor": "rlcv.agents.hpo.floor:FloorAgent",
    "hpo-schedule": "rlcv.agents.hpo.schedule:ScheduleAgent",
    "hpo-ucb1-joint": "rlcv.agents.hpo.joint:JointUCB1Agent",
    "hpo-ts": "rlcv.agents.hpo.joint:ThompsonAgent",
    "hpo-range": "rlcv.agents.hpo.range_test:RangeTestAgent",
    "hpo-pb2": "rlcv.agents.hpo.pb2:PB2Agent",
    "ipg-sgm": "rlcv.agents.ipg:SGMAgent",
    "ipg-msgm": "rlcv.agents.ipg:MSGMAgent",
    "ipg-fp": "rlcv.agents.ipg:FictitiousPlayAgent",
    "ipg-psro": "rlcv.agents.ipg_rl:PSROAgent",
    "ipg-pg": "rlcv.agents.ipg_rl:PGSelfPlayAgent",
    "bgan-bigan": "rlcv.agents.bgan_hier:BGANBiGAN",
    "bgan-hier": "rlcv.agents.bgan_hier:BGANHier",
}

# Baselines run through the same CLI and run-dir format (see rlcv.sb3_backend).
SB3_ALGOS: tuple[str, ...] = ("sb3-ppo", "sb3-trpo")


def agent_class(name: str) -> Any:
    module, cls = AGENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_agent_config(algo: str, values: dict[str, Any]) -> Any:
    """The config of ``algo`` from fully resolved ``values`` (e.g. a run's config.yaml ``config``).

    A config written before agents had an ``estimator`` key (an ``mbmf-ppo`` run stored ``k`` etc.
    flat) gets the estimator of the algorithm's preset, so old runs still evaluate.
    """
    from rlcv.config import EstimatorConfig, build_config, preset

    cls = agent_class(algo).config_cls
    if "estimator" not in values and issubclass(cls, EstimatorConfig):
        chosen = preset(algo, "").get("estimator")
        if chosen is not None:
            values = {**values, "estimator": chosen}
    return build_config(cls, values)

"""Agents (learning algorithms) of the project, by the name the CLI's ``--algo`` uses."""

from __future__ import annotations

import importlib

# name -> "module:Class"; imported lazily so `import rlcv.agents` stays cheap.
AGENTS: dict[str, str] = {
    "ppo": "rlcv.agents.ppo:PPO",
    "trpo": "rlcv.agents.trpo:TRPO",
    "mbmf-ppo": "rlcv.agents.mbmf:MBMFPPO",
    "mbmf-trpo": "rlcv.agents.mbmf:MBMFTRPO",
    "bgan": "rlcv.agents.bgan:BGAN",
    "bgan-reinforce": "rlcv.agents.bgan:BGANReinforce",
    "bgan-gumbel": "rlcv.agents.bgan:BGANGumbel",
    "hpo-ucb1": "rlcv.agents.hpo_controllers:UCB1Agent",
    "hpo-dts": "rlcv.agents.hpo_controllers:DTSAgent",
    "hpo-hd": "rlcv.agents.hpo_controllers:HDAgent",
    "hpo-forward": "rlcv.agents.hpo_controllers:ForwardAgent",
    "hpo-pbt": "rlcv.agents.hpo_controllers:PBTAgent",
}

# Baselines run through the same CLI and run-dir format (see rlcv.sb3_backend).
SB3_ALGOS: tuple[str, ...] = ("sb3-ppo", "sb3-trpo")


def agent_class(name: str):
    module, cls = AGENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)

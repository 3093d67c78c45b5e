"""Plug-ins declare their settings beside their fields (issue 26 item 1): every key has a meaning, the
resume rules read the declarations, and a new estimator is one file plus one registry line."""

from __future__ import annotations

import csv
import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from rlcv.agents import AGENTS, agent_class
from rlcv.cli import main
from rlcv.config import _field_comments
from rlcv.estimators import ESTIMATORS, estimator_class
from rlcv.settings import resumable_keys

# What `rlcv train --resume --set` accepted before the declarations replaced the central table.
OLD_RESUMABLE = {
    "learning_rate", "clip_range", "ent_coef", "vf_coef", "max_grad_norm", "target_kl", "n_epochs",
    "eval_freq", "eval_episodes", "checkpoint_freq", "num_threads", "eta", "log_z_decay",
    "baseline_decay", "temperature",
}  # fmt: skip
# Keys declared resumable since (each a decision of the plug-in that added it).
NEW_RESUMABLE = {"weight_power"}  # tempering of the boundary-seeking weights (issue 29)


def _config_classes() -> set[type]:
    classes = {agent_class(a).config_cls for a in AGENTS} | {
        estimator_class(e).settings_cls for e in ESTIMATORS
    }
    return {c for c in classes if dataclasses.is_dataclass(c)}


def test_every_key_of_every_plug_in_has_a_meaning() -> None:
    missing = []
    for cls in _config_classes():
        comments = _field_comments(cls)
        for f in dataclasses.fields(cls):
            if f.name != "estimator_settings" and not (f.metadata.get("help") or comments.get(f.name)):
                missing.append(f"{cls.__name__}.{f.name}")
    assert missing == []


def test_the_declared_resumable_keys_are_the_old_table() -> None:
    declared = {k for cls in _config_classes() for k in resumable_keys(cls)}
    assert declared == OLD_RESUMABLE | NEW_RESUMABLE


NEW_ESTIMATOR = '''
"""A Monte-Carlo-return estimator: advantages are discounted returns minus a running mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.settings import setting


@dataclass(kw_only=True)
class MCSettings:
    mc_decay: float = setting(0.5, "decay of the running-mean baseline", resumable=True)


class MonteCarlo(GradientEstimator):
    name = "mc"
    settings_cls = MCSettings
    metric_names = ("mc_baseline",)

    def __init__(self, settings: Any, setup: EstimatorSetup) -> None:
        self.settings, self.gamma, self.baseline = settings, setup.gamma, 0.0

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> "MonteCarlo":
        return cls(settings, setup)

    def prepare(self, batch: Any, *, policy: Any, value_fn: Any) -> EstimatorTerms:
        with torch.no_grad():
            values = value_fn(batch.obs)
        returns = torch.zeros_like(batch.rewards)
        running = torch.zeros_like(batch.rewards[0])
        for t in reversed(range(batch.rewards.shape[0])):
            running = batch.rewards[t] + self.gamma * running * (1.0 - batch.dones[t].float())
            returns[t] = running
        d = self.settings.mc_decay
        self.baseline = d * self.baseline + (1 - d) * returns.mean().item()
        adv = (returns - self.baseline).reshape(-1)
        stats = {"mc_baseline": self.baseline}
        flat = returns.reshape(-1)
        return EstimatorTerms(advantages=adv, returns=flat, values=values.reshape(-1), stats=stats)
'''


def test_a_new_estimator_is_one_file_and_one_registry_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_mc.py").write_text(textwrap.dedent(NEW_ESTIMATOR))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(ESTIMATORS, "mc", "my_mc:MonteCarlo")  # the one registry line
    # Its key is documented by `rlcv config` ...
    assert main(["config", "--algo", "ppo", "--env", "rlcv/LQR-v0", "--set", "estimator=mc"]) == 0
    assert "decay of the running-mean baseline" in capsys.readouterr().out
    # ... it trains and logs its metric ...
    run = tmp_path / "R"
    args = ["--algo", "ppo", "--env", "rlcv/LQR-v0", "--set", "estimator=mc", "n_steps=200", "--no-progress"]
    assert main(["train", *args, "--steps", "400", "--run-dir", str(run)]) == 0
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["mc_baseline"] != "" for r in rows] == [True, True]
    # ... and a resume may change its resumable key.
    assert (
        main(["train", "--resume", str(run), "--steps", "600", "--set", "mc_decay=0.9", "--no-progress"]) == 0
    )
    meta = yaml.safe_load((run / "config.yaml").read_text())
    assert meta["changes"] == [{"step": 400, "set": {"mc_decay": 0.9}}]
    assert meta["config"]["estimator_settings"]["mc_decay"] == 0.9
    sys.modules.pop("my_mc", None)

"""The LDF lower stage's symmetric-start fix: ``bgan-hier``'s ``lower_out_init_gain`` / ``lower_ent_coef``
(defaults leave the lower stage exactly as before), the code-spread measure of :mod:`rlcv.gan.lower_spread`,
and the pure parts of ``rlcv bench ldf-lower``."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlcv.agents.bgan_hier import BGANBiGAN, BiGANConfig, HierConfig
from rlcv.bench import ldf_lower
from rlcv.config import build_config
from rlcv.errors import RlcvError
from rlcv.gan.lower_spread import code_spread
from rlcv.gan.patches import LowerStage, lower_spec, make_encoder, make_patch_generator

SMALL = {"lower_hidden_sizes": [16], "encoder_hidden_sizes": [16], "hidden_sizes": [16]}


def _agent(config: BiGANConfig, seed: int = 0) -> BGANBiGAN:
    # the patch env's spaces for code_dim 4 (building the env itself loads the digits: too slow here)
    obs, act = gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.MultiBinary(16)
    torch.manual_seed(seed)
    return BGANBiGAN(observation_space=obs, action_space=act, config=config)


def _lower_agent(config: HierConfig, seed: int = 0) -> BGANBiGAN:
    return _agent(config.lower_config(code_dim=4), seed)


def test_default_keys_leave_the_lower_stage_unchanged() -> None:
    # The lower config of a run without the new keys is the BiGAN config it always was (gain 0 takes
    # the path that draws no extra random number), so old runs reproduce bit for bit.
    default = build_config(HierConfig, SMALL)
    cfg = default.lower_config(code_dim=4)
    assert (cfg.out_init_gain, cfg.ent_coef) == (0.0, 0.0)
    # the agent a BiGAN config that never heard of the keys builds (the path before they existed)
    before = build_config(
        BiGANConfig, {"hidden_sizes": [16], "encoder_hidden_sizes": [16], "activation": "relu"}
    )
    a, b = _lower_agent(default), _agent(before)
    for (name, x), (_, y) in zip(a.lower.state_dict().items(), b.lower.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_the_gain_breaks_the_symmetric_start() -> None:
    base = _lower_agent(build_config(HierConfig, SMALL))
    wide = _lower_agent(
        build_config(HierConfig, {**SMALL, "lower_out_init_gain": 10.0, "lower_ent_coef": 0.05})
    )
    assert wide.config.out_init_gain == 10.0 and wide.config.ent_coef == 0.05
    # Only the output layer is redrawn: the hidden layers come from the same seed.
    net_a, net_b = base.lower.generator.logits_net, wide.lower.generator.logits_net
    assert torch.equal(net_a[0].weight, net_b[0].weight)
    flat, spread = code_spread(base.lower, seed=1), code_spread(wide.lower, seed=1)
    assert flat["across"] < 0.05 < 1.0 < spread["across"]  # pixels of a 16-pixel patch
    assert flat["within"] == pytest.approx(8.0, abs=0.05)  # every pixel near p = ½: 16 · 2 · ¼


def test_code_spread_is_exact_for_known_probabilities() -> None:
    spec = lower_spec(code_dim=1, generator_hidden_sizes=[4], encoder_hidden_sizes=[4], activation="relu")
    lower = LowerStage(make_patch_generator(spec), make_encoder(spec), spec)
    net = lower.generator.logits_net
    with torch.no_grad():  # logits = 100·c: code −1 draws the empty patch, code +1 the full one
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        net[0].weight.fill_(1.0)
        net[-1].weight.fill_(100.0)
        net[0].bias.fill_(0.0)
    codes = torch.tensor([[1.0], [-1.0]])
    # relu(c) > 0 for c = 1 only: probabilities 1 and ½ → across 16 · ½ = 8, within (0 + 8) / 2 = 4
    assert code_spread(lower, codes=codes) == pytest.approx({"across": 8.0, "within": 4.0}, abs=1e-6)


@pytest.mark.parametrize("key", ["lower_out_init_gain", "lower_ent_coef"])
def test_negative_keys_are_one_clear_error(key: str) -> None:
    with pytest.raises(RlcvError, match=key):
        build_config(HierConfig, {**SMALL, key: -1.0})


def test_bench_trains_the_ldf_lower_stage_and_stops_at_install() -> None:
    spec = ldf_lower.LowerSpec(variants=["base", "init10"], lower_updates=500)
    args = ldf_lower.train_args(spec, "init10", 3)
    assert args[args.index("--steps") + 1] == str(500 * 64)
    assert {"mode=decoupled", "recon_weight=1.0", "lower_updates=500", "lower_out_init_gain=10"} <= set(args)
    assert "lower_out_init_gain=10" not in ldf_lower.train_args(spec, "base", 3)


def _record(variant: str, seed: int, c2st: float) -> dict:
    keys = [k for k, _ in ldf_lower.METRICS]
    return {
        "variant": variant,
        "seed": seed,
        "final": dict.fromkeys(keys, 0.5) | {"ceiling_c2st_accuracy": c2st},
    }


def test_report_pairs_seeds_and_marks_an_incomplete_variant(tmp_path: Path) -> None:
    spec = ldf_lower.LowerSpec(variants=["base", "init10"], seeds=3)
    runs = [_record("base", s, 0.99) for s in range(3)] + [
        _record("init10", s, 0.80 + s / 100) for s in range(2)
    ]
    ref = {"c2st_accuracy": 0.94, "nn1_accuracy": 0.76, "confident_coverage": 0.0, "seam_discontinuity": 0.35}
    payload = {
        "command": "rlcv bench ldf-lower",
        "seeds": [0, 1, 2],
        "lower_updates": 500,
        "baseline": "base",
        "variants": {n: {"label": n, "train_args": ldf_lower.train_args(spec, n, 0)} for n in spec.variants},
        "runs": [{**r, "wall_seconds": 30.0} for r in runs],
        "references": {
            "independent": ref,
            "real": ref | {"c2st_accuracy": 0.5},
            "real_patch_l1": 6.75,
            "init_spread": [{"gain": 0.0, "across": 0.005, "within": 8.0}],
        },
    }
    (tmp_path / "x.json").write_text(json.dumps(payload))
    text = ldf_lower.write_report(payload, tmp_path, "x")
    assert "**`init10` is incomplete**: seeds 0, 1 of 0, 1, 2" in text
    assert "-0.185 [-0.249, -0.121] *" in text  # init10 − base over seeds 0 and 1: −0.19, −0.18
    assert "- `base`: ceiling below independent pixels on C2ST (interval below 0): **missed**" in text
    assert "- `init10`: ceiling below independent pixels on C2ST (interval below 0): **met**" in text


def test_higher_updates_run_on_and_score_the_decoupled_samples(tmp_path: Path) -> None:
    spec = ldf_lower.LowerSpec(variants=["base"], lower_updates=500, higher_updates=500)
    args = ldf_lower.train_args(spec, "base", 0)
    assert args[args.index("--steps") + 1] == str(1000 * 64) and "lower_updates=500" in args
    keys = [k for k, _ in ldf_lower.METRICS] + [f"sample_{k}" for k in ldf_lower.SAMPLE_KEYS]
    ref = dict.fromkeys(ldf_lower.SAMPLE_KEYS, 0.9)
    payload = {
        "command": "rlcv bench ldf-lower --higher-updates 500",
        "seeds": [0, 1],
        "lower_updates": 500,
        "higher_updates": 500,
        "baseline": "base",
        "variants": {"base": {"label": "base", "train_args": args}},
        "runs": [
            {"variant": "base", "seed": s, "final": dict.fromkeys(keys, 0.8 + s / 100), "wall_seconds": 1.0}
            for s in (0, 1)
        ],
        "references": {"independent": ref, "real": ref, "real_patch_l1": 6.75, "init_spread": []},
    }
    text = ldf_lower.write_report(payload, tmp_path, "x")
    assert "then 500 higher-stage updates" in text
    # decoupled C2ST − independent pixels over the two seeds: −0.10, −0.09
    assert "| `base` | — | — | — | — | — | -0.095 [-0.159, -0.031] * |" in text

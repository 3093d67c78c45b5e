"""Config resolution: unknown keys, types, --set parsing, presets and validation."""

from __future__ import annotations

import pytest

from rlcv.agents.ppo import PPOConfig
from rlcv.agents.trpo import TRPOConfig
from rlcv.config import build_config, load_yaml, parse_overrides, preset
from rlcv.errors import RlcvError, did_you_mean
from rlcv.launch import resolve_config


def test_unknown_key_names_nearest_key() -> None:
    with pytest.raises(RlcvError) as info:
        build_config(PPOConfig, {"lerning_rate": 1e-3})
    msg = str(info.value)
    assert "unknown config key 'lerning_rate'" in msg and "PPOConfig" in msg
    assert "Did you mean: learning_rate" in msg
    assert "\n" not in msg


def test_unknown_key_for_other_algo() -> None:
    # clip_range is a PPO key, not a TRPO one: no silent acceptance.
    with pytest.raises(RlcvError, match="unknown config key 'clip_range' for TRPOConfig"):
        build_config(TRPOConfig, {"clip_range": 0.2})


def test_did_you_mean() -> None:
    assert did_you_mean("n_step", ["n_steps", "batch_size"]) == " Did you mean: n_steps?"
    assert did_you_mean("zzzzzz", ["n_steps", "batch_size"]) == ""
    assert did_you_mean("Cheetah", ["HalfCheetah-v5", "Hopper-v5"]) == " Did you mean: HalfCheetah-v5?"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n_steps", 2.5, "expected a int"),
        ("n_steps", "256", "expected a int"),
        ("normalize_obs", 1, "expected a bool"),
        ("learning_rate", "fast", "expected a float"),
        ("learning_rate", True, "expected a float"),
        ("hidden_sizes", 64, "expected a list"),
        ("activation", 3, "expected a str"),
        ("env_kwargs", [1], "expected a dict"),
        ("target_kl", "x", "expected float | None"),
    ],
)
def test_wrong_type_is_rejected(key: str, value, expected: str) -> None:
    with pytest.raises(RlcvError, match=f"config key '{key}' got") as info:
        build_config(PPOConfig, {key: value})
    assert expected in str(info.value)


def test_types_are_coerced() -> None:
    cfg = build_config(
        PPOConfig,
        {
            "learning_rate": 1,
            "target_kl": None,
            "hidden_sizes": (32, 32),
            "env_kwargs": {"horizon": 30},
            "gamma": 1,
        },
    )
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.gamma == 1.0 and isinstance(cfg.gamma, float)
    assert cfg.target_kl is None
    assert cfg.hidden_sizes == [32, 32] and isinstance(cfg.hidden_sizes, list)
    assert cfg.env_kwargs == {"horizon": 30}
    assert build_config(PPOConfig, {"target_kl": 0.02}).target_kl == 0.02


@pytest.mark.parametrize("value", [["a"], [64.5]])
def test_list_element_types_are_checked(value) -> None:
    with pytest.raises(RlcvError, match="hidden_sizes"):
        build_config(PPOConfig, {"hidden_sizes": value})


def test_parse_overrides_types() -> None:
    out = parse_overrides(
        [
            "learning_rate=3e-4",
            "lr2=3.0e-4",
            "big=1e30",
            "n_steps=256",
            "neg=-5",
            "hidden_sizes=[64,64]",
            "normalize_obs=false",
            "ortho_init=True",
            "activation=relu",
            "target_kl=null",
            "env_kwargs={horizon: 30}",
            "empty=",
            "expr=a=b",
        ]
    )
    assert out["learning_rate"] == 3e-4 and isinstance(out["learning_rate"], float)
    assert out["lr2"] == 3e-4 and out["big"] == 1e30
    assert out["n_steps"] == 256 and isinstance(out["n_steps"], int)
    assert out["neg"] == -5
    assert out["hidden_sizes"] == [64, 64]
    assert out["normalize_obs"] is False and out["ortho_init"] is True
    assert out["activation"] == "relu"
    assert out["target_kl"] is None
    assert out["env_kwargs"] == {"horizon": 30}
    assert out["empty"] == ""
    assert out["expr"] == "a=b"  # split at the first '='


def test_parse_overrides_then_build() -> None:
    cfg = build_config(
        PPOConfig,
        parse_overrides(["learning_rate=3e-4", "n_steps=128", "hidden_sizes=[8]", "normalize_obs=true"]),
    )
    assert (cfg.learning_rate, cfg.n_steps, cfg.hidden_sizes, cfg.normalize_obs) == (3e-4, 128, [8], True)


def test_parse_overrides_requires_equals() -> None:
    with pytest.raises(RlcvError, match="key=value"):
        parse_overrides(["learning_rate"])


def test_preset_default_then_env_block() -> None:
    default = preset("ppo", "SomeUnknownEnv-v0")
    assert default["n_steps"] == 2048 and default["gamma"] == 0.99 and default["learning_rate"] == 3e-4
    merged = preset("ppo", "InvertedPendulum-v5")
    assert merged["n_steps"] == 1024 and merged["gamma"] == 0.98 and merged["gae_lambda"] == 0.9
    assert merged["learning_rate"] == 3e-4  # not in the env block: inherited from default
    assert merged["normalize_obs"] is True
    hc = preset("ppo", "HalfCheetah-v5")
    assert hc["hidden_sizes"] == [256, 256] and hc["activation"] == "relu" and hc["learning_rate"] == 2e-5
    assert preset("trpo", "InvertedPendulum-v5")["target_kl"] == 0.01
    assert preset("no-such-algo", "InvertedPendulum-v5") == {}


def test_every_preset_builds() -> None:
    for algo, cls in (("ppo", PPOConfig), ("trpo", TRPOConfig)):
        for env in ("default", "InvertedPendulum-v5", "HalfCheetah-v5", "Hopper-v5"):
            build_config(cls, preset(algo, env))


def test_resolution_order(tmp_path) -> None:
    """dataclass defaults < preset default < preset env block < --config FILE < --set."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("n_epochs: 3\nbatch_size: 32\nlearning_rate: 1.0e-3\n")
    cfg = resolve_config("ppo", "InvertedPendulum-v5", str(cfg_file), {"batch_size": 16})
    assert cfg.clip_range == 0.2  # preset default (== dataclass default)
    assert cfg.normalize_obs is True  # preset default overrides dataclass default False
    assert cfg.gamma == 0.98 and cfg.n_steps == 1024  # env block
    assert cfg.n_epochs == 3 and cfg.learning_rate == 1e-3  # config file
    assert cfg.batch_size == 16  # --set
    assert cfg.target_kl is None  # dataclass default


def test_load_yaml_errors(tmp_path) -> None:
    with pytest.raises(RlcvError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(RlcvError, match="not valid YAML"):
        load_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(RlcvError, match="mapping"):
        load_yaml(lst)


@pytest.mark.parametrize(
    ("cls", "values", "match"),
    [
        (PPOConfig, {"n_steps": 0}, "n_steps"),
        (PPOConfig, {"batch_size": 0}, "batch_size"),
        (PPOConfig, {"n_epochs": 0}, "n_epochs"),
        (PPOConfig, {"learning_rate": 0.0}, "learning_rate"),
        (PPOConfig, {"learning_rate": float("nan")}, "learning_rate"),
        (PPOConfig, {"clip_range": -0.1}, "clip_range"),
        (PPOConfig, {"gae_lambda": 1.5}, "gae_lambda"),
        (PPOConfig, {"gamma": 0.0}, "gamma"),
        (PPOConfig, {"gamma": 1.01}, "gamma"),
        (PPOConfig, {"n_envs": 0}, "n_envs"),
        (PPOConfig, {"activation": "gelu"}, "activation"),
        (PPOConfig, {"vectorization": "ray"}, "vectorization"),
        (PPOConfig, {"hidden_sizes": [64, 0]}, "hidden_sizes"),
        (PPOConfig, {"eval_episodes": 0}, "eval_episodes"),
        (TRPOConfig, {"target_kl": 0.0}, "target_kl"),
        (PPOConfig, {"clip_obs": -1.0}, "clip_obs"),
        (PPOConfig, {"max_grad_norm": -1.0}, "max_grad_norm"),
        (PPOConfig, {"target_kl": -0.01}, "target_kl"),
        (PPOConfig, {"ent_coef": float("inf")}, "ent_coef must be a finite number"),
        (PPOConfig, {"estimator": "mbmf", "eta": float("nan")}, "eta must be a finite number"),
        (PPOConfig, {"estimator": "mbmf", "k": 1_000_000_000}, "k must be in [0, 1000]"),
        (TRPOConfig, {"n_steps": 0}, "n_steps"),
        (TRPOConfig, {"line_search_shrinking_factor": 1.0}, "line_search_shrinking_factor"),
    ],
)
def test_validation_errors(cls, values, match: str) -> None:
    with pytest.raises(RlcvError, match="invalid config") as info:
        build_config(cls, values)
    assert match in str(info.value)


def test_preset_variants_inherit_base_preset() -> None:
    for env in ("InvertedPendulum-v5", "HalfCheetah-v5", "SomeUnknownEnv-v0"):
        assert preset("sb3-ppo", env) == preset("ppo", env)
        assert preset("sb3-trpo", env) == preset("trpo", env)
    mbmf = preset("mbmf-ppo", "InvertedPendulum-v5")
    base = preset("ppo", "InvertedPendulum-v5")
    assert {k: mbmf[k] for k in base} == base  # the base's env-tuned values survive
    assert mbmf["k"] is None and mbmf["eta_mode"] == "tau"  # k from γλ, capped; D_τ only

"""Issue 12: every input error is one stderr line ``rlcv: error: ...``, exit status 2, no traceback,
and nothing on disk changes (a snapshot of the whole working folder, hidden files included, is
taken before and compared after). The CLI runs in-process (``rlcv.cli.main``), so the table is fast.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from rlcv.cli import main
from rlcv.errors import RlcvError
from rlcv.finite import check_parameters, raised_by_a_distribution
from rlcv.run_lock import RunLock

ENV = "rlcv/LQR-v0"
FAST = ["--set", "n_steps=200", "batch_size=50", "n_epochs=1", "--no-progress"]


# ---------------------------------------------------------------------------- hostile test envs


class _Base(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


class _ResetFails(_Base):
    def reset(self, *, seed=None, options=None):
        raise RuntimeError("simulator not reachable")


class _CtorFails(_Base):
    def __init__(self, size: int = 1) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")


class _NanFromStart(_Base):
    def step(self, action):
        return np.zeros(2, np.float32), float("nan"), False, False, {}


class _NanObs(_Base):
    def step(self, action):
        return np.full(2, np.nan, np.float32), 0.0, False, False, {}


class _DictAction(_Base):
    action_space = gym.spaces.Dict({"a": gym.spaces.Discrete(2)})


ENVS = {
    "badtest/DictAction-v0": _DictAction,
    "badtest/ResetFails-v0": _ResetFails,
    "badtest/CtorFails-v0": _CtorFails,
    "badtest/NanReward-v0": _NanFromStart,
    "badtest/NanObs-v0": _NanObs,
}
for _id, _entry in ENVS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=50)


# ---------------------------------------------------------------------------- the base run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A finished 400-step PPO run on LQR with step checkpoints, copied (never modified) by cases."""
    run = tmp_path_factory.mktemp("base") / "R"
    argv = ["train", "--algo", "ppo", "--env", ENV, "--steps", "400", *FAST, "--run-dir", str(run)]
    assert main([*argv, "--set", "checkpoint_freq=200"]) == 0
    return run


def _write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def _save(rel: str, obj: object) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        torch.save(obj, root / rel)

    return setup


def _edit_meta(**changes: object) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        meta = yaml.safe_load((root / "R/config.yaml").read_text())
        for key, value in changes.items():
            if value is _DELETE:
                del meta[key]
            elif key == "env_kwargs":
                meta["config"]["env_kwargs"] = value
            else:
                meta[key] = value
        (root / "R/config.yaml").write_text(yaml.safe_dump(meta))

    return setup


def _symlinks(*pairs: tuple[str, str]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for link, target in pairs:
            (root / link).symlink_to(target)

    return setup


def _remove(rel: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).unlink()

    return setup


def _metrics_empty_step(root: Path) -> None:
    path = root / "R/metrics.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "," + lines[1].split(",", 1)[1]
    path.write_text("".join(lines))


_DELETE = object()


def _old_layout(content: object) -> Callable[[Path], None]:
    """A run made before the policy.pt rename (model.pt), its file replaced by ``content``."""

    def setup(root: Path) -> None:
        (root / "R/policy.pt").unlink()
        if isinstance(content, bytes):
            (root / "R/model.pt").write_bytes(content)
        else:
            torch.save(content, root / "R/model.pt")

    return setup


def _last_only(content: object) -> Callable[[Path], None]:
    """An unfinished run (no policy.pt) whose last.pt is replaced by ``content``."""

    def setup(root: Path) -> None:
        (root / "R/policy.pt").unlink()
        if isinstance(content, bytes):
            (root / "R/checkpoints/last.pt").write_bytes(content)
        else:
            torch.save(content, root / "R/checkpoints/last.pt")

    return setup


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    setup: Callable[[Path], None] | None = None
    needs_run: bool = False  # copy the base run to ROOT/R first
    expect: str = ""  # a fragment the error line must contain


def T(*argv: str) -> list[str]:  # a new training run with the fast settings
    return ["train", *argv]


def NEW(*extra: str, algo: str = "ppo", env: str = ENV, steps: str = "400") -> list[str]:
    return ["train", "--algo", algo, "--env", env, "--steps", steps, *FAST, "--run-dir", "NEW", *extra]


def RES(*extra: str) -> list[str]:
    return ["train", "--resume", "R", "--no-progress", *extra]


CASES = [
    # -- argparse-level ---------------------------------------------------------------------
    Case("no-command", []),
    Case("unknown-command", ["fly"]),
    Case("train-unknown-flag", NEW("--bogus")),
    Case("steps-not-int", NEW(steps="abc"), expect="invalid int value"),
    Case("seed-not-int", NEW("--seed", "x")),
    Case("n-envs-float", NEW("--n-envs", "1.5")),
    Case("eval-freq-text", NEW("--eval-freq", "often")),
    Case("set-without-value", ["train", "--algo", "ppo", "--env", ENV, "--steps", "9", "--set"]),
    Case("eval-missing-run", ["eval"]),
    Case("plot-missing-run", ["plot"]),
    Case("eval-episodes-text", ["eval", "R", "--episodes", "x"]),
    Case("config-missing-algo", ["config", "--env", ENV]),
    Case("bench-unknown", ["bench", "nope"]),
    # -- rlcv train: request ----------------------------------------------------------------
    Case("missing-algo", T("--env", ENV, "--steps", "9"), expect="--algo"),
    Case("missing-env", T("--algo", "ppo", "--steps", "9"), expect="--env"),
    Case("missing-steps", T("--algo", "ppo", "--env", ENV), expect="--steps"),
    Case("unknown-algo", NEW(algo="ppp"), expect="Did you mean"),
    Case("unknown-env", NEW(env="HalfCheeta-v5"), expect="Did you mean"),
    Case("env-without-version", NEW(env="nonsense")),
    Case("steps-zero", NEW(steps="0"), expect="--steps must be >= 1"),
    Case("steps-negative", NEW(steps="-5"), expect="--steps must be >= 1"),
    Case("seed-negative", NEW("--seed", "-1"), expect="[0, 2**32)"),
    Case("seed-too-big", NEW("--seed", str(2**32)), expect="[0, 2**32)"),
    Case("seed-huge", NEW("--seed", str(10**30)), expect="[0, 2**32)"),
    Case("from-without-resume", NEW("--from", "step_1.pt"), expect="--resume"),
    Case("n-envs-zero", NEW("--n-envs", "0"), expect="n_envs"),
    Case("train-eval-episodes-zero", NEW("--eval-episodes", "0"), expect="eval_episodes"),
    Case("num-threads-zero", NEW("--num-threads", "0"), expect="num_threads"),
    Case(
        "sb3-estimator",
        ["train", "--algo", "sb3-ppo", "--env", ENV, "--steps", "200", "--set", "estimator=mbmf", "k=5"],
        expect="cannot use estimator 'mbmf'",
    ),
    Case(
        "sb3-oracle",
        ["train", "--algo", "sb3-ppo", "--env", ENV, "--steps", "200", "--set", "oracle_ratio=2"],
        expect="has no oracle samples",
    ),
    Case(
        "run-dir-too-long",
        T("--algo", "ppo", "--env", ENV, "--steps", "400", *FAST, "--run-dir", "a" * 300),
        expect="File name too long",
    ),
    Case(
        "run-dir-symlink-loop",
        NEW(),
        setup=_symlinks(("NEW", "L2"), ("L2", "NEW")),
        expect="Too many levels of symbolic links",
    ),
    Case(
        "run-dir-dangling-into-nowhere",
        NEW(),
        setup=_symlinks(("NEW", "nowhere/x")),
        expect="does not exist; create it",
    ),
    Case("config-is-a-device", NEW("--config", "/dev/null"), expect="is not a regular file"),
    Case("eval-name-too-long", ["eval", "a" * 300], expect="cannot be read (File name too long)"),
    Case(
        "video-of-an-env-without-frames",
        ["eval", "R", "--episodes", "1", "--video", "V"],
        needs_run=True,
        setup=_edit_meta(env="rlcv/LQR-v0"),
        expect="cannot render frames",
    ),
    Case(
        "env-kwargs-nan",
        NEW("--env-kwargs", '{"noise_std": NaN}'),
        expect="noise_std=NaN is not a finite number",
    ),
    Case(
        "env-kwargs-yaml-inf",
        NEW("--env-kwargs", "{noise_std: .inf}"),
        expect="noise_std=inf is not a finite number",
    ),
    Case("num-threads-huge", NEW("--num-threads", "100000"), expect="num_threads must be in [1, 1024]"),
    Case("eval-freq-negative", NEW("--eval-freq", "-1"), expect="eval_freq"),
    # -- --set ------------------------------------------------------------------------------
    Case("set-no-equals", NEW("--set", "learning_rate"), expect="key=value"),
    Case("set-unknown-key", NEW("--set", "learning_rat=1e-3"), expect="rlcv config"),
    Case("set-empty-key", NEW("--set", "=3")),
    Case("set-lr-text", NEW("--set", "learning_rate=fast"), expect="learning_rate"),
    Case("set-lr-negative", NEW("--set", "learning_rate=-1"), expect="learning_rate"),
    Case("set-lr-nan", NEW("--set", "learning_rate=nan"), expect="learning_rate"),
    Case("set-n-envs-zero", NEW("--set", "n_envs=0")),
    Case("set-n-envs-float", NEW("--set", "n_envs=1.5")),
    Case("set-gamma-big", NEW("--set", "gamma=1.5"), expect="gamma"),
    Case("set-activation", NEW("--set", "activation=sigmoid"), expect="activation"),
    Case("set-hidden-zero", NEW("--set", "hidden_sizes=[0]"), expect="hidden_sizes"),
    Case("set-hidden-text", NEW("--set", "hidden_sizes=wide")),
    Case("set-hidden-mixed", NEW("--set", "hidden_sizes=[64,x]")),
    Case("set-estimator-unknown", NEW("--set", "estimator=nope"), expect="unknown estimator"),
    Case("set-k-text", NEW("--set", "k=three", algo="mbmf-ppo")),
    Case("set-estimator-key-wrong-estimator", NEW("--set", "k=2"), expect="rlcv config"),
    Case("set-vectorization", NEW("--set", "vectorization=threads")),
    Case("set-clip-zero", NEW("--set", "clip_range=0")),
    Case("set-env-kwargs-list", NEW("--set", "env_kwargs=[1]")),
    Case("set-bool-text", NEW("--set", "normalize_obs=maybe")),
    Case("sb3-unknown-key", NEW("--set", "foo=1", algo="sb3-ppo"), expect="rlcv config"),
    Case("trpo-unknown-key", NEW("--set", "clip_range=0.1", algo="trpo")),
    # -- --config ---------------------------------------------------------------------------
    Case("config-missing", NEW("--config", "nope.yaml"), expect="not found"),
    Case("config-invalid-yaml", NEW("--config", "c.yaml"), _write("c.yaml", "a: [1,\n"), expect="YAML"),
    Case("config-list", NEW("--config", "c.yaml"), _write("c.yaml", "- 1\n- 2\n"), expect="mapping"),
    Case("config-scalar", NEW("--config", "c.yaml"), _write("c.yaml", "42\n"), expect="mapping"),
    Case("config-not-utf8", NEW("--config", "c.yaml"), _write("c.yaml", b"a: \xff\xfe\n"), expect="UTF-8"),
    Case("config-file-unknown-key", NEW("--config", "c.yaml"), _write("c.yaml", "learnin_rate: 1\n")),
    Case("config-file-bad-value", NEW("--config", "c.yaml"), _write("c.yaml", "gamma: -1\n")),
    Case("config-is-dir", NEW("--config", "d"), _write("d/x", "")),
    # -- --env-kwargs -----------------------------------------------------------------------
    Case("env-kwargs-not-yaml", NEW("--env-kwargs", "{state_dim: "), expect="--env-kwargs"),
    Case("env-kwargs-list", NEW("--env-kwargs", "[1, 2]"), expect="mapping"),
    Case("env-kwargs-scalar", NEW("--env-kwargs", "5"), expect="mapping"),
    Case("env-kwargs-null", NEW("--env-kwargs", "null"), expect="mapping"),
    Case("env-kwargs-unknown", NEW("--env-kwargs", '{"nope": 1}'), expect="--env-kwargs"),
    Case("env-kwargs-value-error", NEW("--env-kwargs", "{state_dim: -3}"), expect="--env-kwargs"),
    Case("env-kwargs-wrong-type", NEW("--env-kwargs", "{state_dim: many}"), expect="--env-kwargs"),
    Case("env-kwargs-int-keys", NEW("--env-kwargs", "{1: 2}"), expect="env_kwargs"),
    Case("render-human", NEW("--env-kwargs", "{render_mode: human}"), expect="render_mode"),
    Case("render-rgb", NEW("--env-kwargs", "{render_mode: rgb_array}"), expect="render_mode"),
    # -- envs that fail, agents that do not fit ---------------------------------------------
    Case("env-ctor-raises", NEW("--env-kwargs", "{size: -1}", env="badtest/CtorFails-v0")),
    Case("env-reset-raises", NEW(env="badtest/ResetFails-v0"), expect="failed to start"),
    Case("nan-reward-first-update", NEW(env="badtest/NanReward-v0"), expect="non-finite reward"),
    Case("nan-obs-first-update", NEW(env="badtest/NanObs-v0"), expect="non-finite observation"),
    Case("trpo-nan-first-update", NEW(env="badtest/NanReward-v0", algo="trpo")),
    Case(
        "sb3-diverges-first-update",
        ["train", "--algo", "sb3-ppo", "--env", "Pendulum-v1", "--steps", "512", "--no-progress"]
        + ["--set", "learning_rate=1e30", "n_steps=128", "batch_size=64", "n_epochs=1"],
        expect="sb3-ppo diverged",
    ),
    Case("sb3-nan-reward", NEW(env="badtest/NanReward-v0", algo="sb3-ppo"), expect="non-finite reward"),
    Case(
        "bgan-reinforce-on-box",
        ["train", "--algo", "bgan-reinforce", "--env", ENV, "--steps", "9", "--run-dir", "NEW"],
        expect="for Box actions use --algo bgan on a generator env",
    ),
    Case(
        "bgan-on-box-non-generator",
        ["train", "--algo", "bgan", "--env", ENV, "--steps", "9"],
        expect="ppo or trpo",
    ),
    Case("dict-action-space", NEW(env="badtest/DictAction-v0"), expect="action"),
    # -- run directory paths ----------------------------------------------------------------
    Case("run-dir-proc", NEW("--run-dir", "/proc/rlcv-run")),
    Case("run-dir-under-file", NEW("--run-dir", "f/run"), _write("f", "x"), expect="is a file"),
    Case("run-dir-is-file", NEW("--run-dir", "f"), _write("f", "x"), expect="is a file"),
    Case("run-dir-exists", NEW("--run-dir", "R"), needs_run=True, expect="--resume"),
    Case("run-dir-nonempty", NEW("--run-dir", "d"), _write("d/notes.txt", "mine")),
    # -- rlcv train --resume ----------------------------------------------------------------
    Case("resume-missing", ["train", "--resume", "nope"], expect="not found"),
    Case("resume-not-a-run", ["train", "--resume", "d"], _write("d/x", ""), expect="not a run"),
    Case("resume-yaml-invalid", RES(), _write("R/config.yaml", "algo: [\n"), True, "not valid YAML"),
    Case("resume-yaml-empty", RES(), _write("R/config.yaml", ""), True, "lacks"),
    Case("resume-yaml-not-utf8", RES(), _write("R/config.yaml", b"\xff\xfe"), True),
    Case("resume-yaml-missing-key", RES(), _edit_meta(seed=_DELETE), True, "lacks"),
    Case("resume-unknown-algo", RES(), _edit_meta(algo="ppp"), True, "unknown algorithm"),
    Case("resume-steps-text", RES(), _edit_meta(steps="many"), True, "damaged"),
    Case("resume-config-list", RES(), _edit_meta(config=[1]), True, "damaged"),
    Case("resume-unknown-env", RES("--steps", "800"), _edit_meta(env="Nope-v0"), True),
    Case("resume-last-corrupt", RES("--steps", "800"), _write("R/checkpoints/last.pt", b"junk"), True),
    Case("resume-last-list", RES("--steps", "800"), _save("R/checkpoints/last.pt", [1, 2]), True),
    Case("resume-last-wrong-keys", RES("--steps", "800"), _save("R/checkpoints/last.pt", {"x": 1}), True),
    Case(
        "resume-last-wrong-types",
        RES("--steps", "800"),
        _save(
            "R/checkpoints/last.pt",
            {
                "step": 1,
                "agent": 5,
                "obs_normalizer": {},
                "reward_scaler": {},
                "collector": {},
                "torch_rng": 0,
            },
        ),
        True,
    ),
    Case("resume-last-missing", RES("--steps", "800"), _remove("R/checkpoints/last.pt"), True),
    Case("resume-steps-fewer", RES("--steps", "200"), needs_run=True, expect="does not exceed"),
    Case("resume-steps-equal", RES("--steps", "400"), needs_run=True, expect="does not exceed"),
    Case("resume-steps-negative", RES("--steps", "-5"), needs_run=True, expect="--steps"),
    Case("resume-set-shape", RES("--set", "hidden_sizes=[8]"), needs_run=True, expect="cannot change"),
    Case("resume-set-n-steps", RES("--set", "n_steps=100"), needs_run=True, expect="cannot change"),
    Case("resume-set-unknown", RES("--set", "nope=1"), needs_run=True, expect="cannot change"),
    Case("resume-set-bad-lr", RES("--steps", "800", "--set", "learning_rate=-1"), needs_run=True),
    Case("resume-set-eta-on-ppo", RES("--steps", "800", "--set", "eta=0.5"), needs_run=True),
    Case("resume-other-algo", RES("--algo", "trpo"), needs_run=True, expect="differs"),
    Case("resume-other-env", RES("--env", "Pendulum-v1"), needs_run=True, expect="differs"),
    Case("resume-other-seed", RES("--seed", "5"), needs_run=True, expect="differs"),
    Case("resume-bad-seed", RES("--seed", "-5"), needs_run=True, expect="[0, 2**32)"),
    Case("resume-from-missing", RES("--from", "step_7.pt"), needs_run=True, expect="Available"),
    Case("resume-with-config", RES("--config", "c.yaml"), needs_run=True, expect="--resume"),
    Case("resume-with-run-dir", RES("--run-dir", "X"), needs_run=True, expect="--resume"),
    Case("resume-with-env-kwargs", RES("--env-kwargs", "{a: 1}"), needs_run=True, expect="--resume"),
    Case("resume-metrics-empty-step", RES("--steps", "800"), _metrics_empty_step, True, "no valid step"),
    # -- rlcv eval --------------------------------------------------------------------------
    Case("eval-missing-dir", ["eval", "nope"], expect="not found"),
    Case("eval-not-a-run", ["eval", "d"], _write("d/x", ""), expect="not a run"),
    Case("eval-yaml-invalid", ["eval", "R"], _write("R/config.yaml", ": : :\n- ["), True),
    Case("eval-yaml-empty", ["eval", "R"], _write("R/config.yaml", ""), True, "lacks"),
    Case("eval-unknown-algo", ["eval", "R"], _edit_meta(algo="nope"), True, "unknown algorithm"),
    Case("eval-unknown-env", ["eval", "R"], _edit_meta(env="Nope-v0"), True, "unknown environment"),
    Case("eval-render-kwargs", ["eval", "R"], _edit_meta(env_kwargs={"render_mode": "human"}), True),
    Case("eval-policy-list", ["eval", "R"], _save("R/policy.pt", [1]), True),
    Case("eval-policy-no-weights", ["eval", "R"], _save("R/policy.pt", {"format": "x"}), True),
    Case(
        "eval-policy-wrong-shapes",
        ["eval", "R"],
        _save("R/policy.pt", {"policy": {"w": torch.ones(2)}, "obs_normalizer": {}}),
        True,
    ),
    Case("eval-model-pt-corrupt", ["eval", "R"], _old_layout(b"PK\x03\x04junk"), True, "corrupt"),
    Case("eval-model-pt-list", ["eval", "R"], _old_layout([1, 2]), True, "not an rlcv checkpoint"),
    Case("eval-last-only-corrupt", ["eval", "R"], _last_only(b"junk"), True, "corrupt"),
    Case("eval-last-only-wrong", ["eval", "R"], _last_only({"agent": 3}), True, "no policy weights"),
    Case("eval-episodes-zero", ["eval", "R", "--episodes", "0"], needs_run=True, expect="--episodes"),
    Case("eval-seed-negative", ["eval", "R", "--seed", "-1"], needs_run=True),
    Case("eval-seed-too-big", ["eval", "R", "--seed", str(2**32)], needs_run=True),
    Case("eval-video-proc", ["eval", "R", "--video", "/proc/v"], needs_run=True),
    Case("eval-video-under-file", ["eval", "R", "--video", "f/v"], _write("f", "x"), True),
    Case("eval-video-is-file", ["eval", "R", "--video", "f"], _write("f", "x"), True),
    Case("eval-grid-not-generator", ["eval", "R", "--grid", "g.png"], needs_run=True, expect="--grid"),
    Case("eval-grid-proc", ["eval", "R", "--grid", "/proc/g.png"], needs_run=True),
    # -- rlcv plot --------------------------------------------------------------------------
    Case("plot-missing-dir", ["plot", "nope", "--out", "p.png"]),
    Case("plot-unknown-metric", ["plot", "R", "--metric", "eval_retrun", "--out", "p.png"], None, True),
    Case("plot-out-proc", ["plot", "R", "--out", "/proc/p.png"], needs_run=True, expect="--out"),
    Case("plot-out-under-file", ["plot", "R", "--out", "f/p.png"], _write("f", "x"), True),
    Case("plot-out-is-dir", ["plot", "R", "--out", "d"], _write("d/x", ""), True),
    Case("plot-metrics-empty-step", ["plot", "R", "--out", "p.png"], _metrics_empty_step, True),
    Case("plot-metrics-not-utf8", ["plot", "R", "--out", "p.png"], _write("R/metrics.csv", b"\xff\n"), True),
    Case("plot-not-a-run", ["plot", "d", "--out", "p.png"], _write("d/x", "")),
    # -- rlcv config ------------------------------------------------------------------------
    Case("config-unknown-algo", ["config", "--algo", "pp", "--env", ENV], expect="Did you mean"),
    Case("config-unknown-env", ["config", "--algo", "ppo", "--env", "LQR"]),
    Case("config-unknown-key", ["config", "--algo", "ppo", "--env", ENV, "--set", "lr=1"]),
    Case("config-bad-value", ["config", "--algo", "ppo", "--env", ENV, "--set", "gamma=2"]),
    # -- benches ----------------------------------------------------------------------------
    Case("speed-steps-negative", ["bench", "speed", "--steps", "-1"], expect="--steps"),
    Case("speed-repeats-zero", ["bench", "speed", "--repeats", "0"], expect="--repeats"),
    Case("speed-unknown-algo", ["bench", "speed", "--algos", "ppo", "pp0"], expect="--algos"),
    Case("speed-unknown-env", ["bench", "speed", "--env", "Nope-v0"], expect="unknown environment"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and folder below ``root`` (hidden ones too) with its mode and content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():  # a link (maybe dangling or looping) as itself: its target text
                out[str(path.relative_to(root))] = (path.lstat().st_mode, os.readlink(path).encode())
                continue
            out[str(path.relative_to(root))] = (
                path.stat().st_mode,
                b"" if path.is_dir() else path.read_bytes(),
            )
    return out


def test_at_least_100_cases() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    if case.needs_run:
        shutil.copytree(base_run, root / "R")
    if case.setup is not None:
        case.setup(root)
    before = _snapshot(root)
    code = main(case.argv)
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (code, err)
    assert "Traceback" not in err + captured.out
    assert err.startswith("rlcv: error: ") and err.count("\n") == 1 and err.endswith("\n"), repr(err)
    assert case.expect in err
    assert _snapshot(root) == before


def test_a_held_lock_is_an_error_naming_the_pid(base_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """flock locks belong to an open file description: a second RunLock conflicts even in-process."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(base_run, tmp_path / "R")
    with RunLock(tmp_path / "R"):
        before = _snapshot(tmp_path)
        for argv in (RES("--steps", "800"), NEW("--run-dir", "R"), NEW("--run-dir", "R", "--seed", "2")):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1
            if "already exists" not in err:  # a new run in R fails on the folder before the lock
                assert f"in use by another rlcv process (pid {os.getpid()})" in err
        assert _snapshot(tmp_path) == before
    with RunLock(tmp_path / "NEW"):
        assert main(NEW()) == 2
        assert f"pid {os.getpid()}" in capsys.readouterr().err
    assert not (tmp_path / "NEW").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]


# ---------------------------------------------------------------------------- bench argument checks


def test_non_finite_weights_are_named_as_the_optimisation() -> None:
    layer = torch.nn.Linear(2, 1)
    check_parameters(layer, "sb3-ppo", 100)
    with torch.no_grad():
        layer.bias.fill_(float("inf"))
    with pytest.raises(
        RlcvError, match="sb3-ppo diverged: the update ending at step 100 made 'bias' non-finite"
    ):
        check_parameters(layer, "sb3-ppo", 100)


def test_a_distribution_error_is_recognised_by_where_it_was_raised() -> None:
    try:
        torch.distributions.Normal(torch.zeros(1), torch.zeros(1), validate_args=True)
    except ValueError as exc:
        assert raised_by_a_distribution(exc)
    assert not raised_by_a_distribution(ValueError("nan in the text only"))


def _disk_full(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_at_the_first_checkpoint_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("rlcv.checkpoint.torch.save", _disk_full)
    assert main(NEW()) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlcv: error: cannot write to the run directory") and "No space left" in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_a_resume_keeps_the_run_resumable(
    base_run: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(base_run, tmp_path / "R")
    monkeypatch.setattr("rlcv.checkpoint.torch.save", _disk_full)
    assert main(RES("--steps", "800")) == 2
    assert "No space left" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main(RES("--steps", "800")) == 0
    rows = (tmp_path / "R/metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [200, 400, 600, 800]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]

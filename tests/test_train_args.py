"""Every `rlcv train` flag and numeric config key is checked before any work (issue 27 items 4-5):
random values (negative, zero, NaN, inf, huge, fractional, non-numeric) are either refused with one
`rlcv: error:` line, exit 2 and nothing written, or — exactly when the value is valid — reach the
point where the env would be built (stubbed here, so nothing trains)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcv import launch
from rlcv.cli import main
from rlcv.errors import RlcvError

BASE = ["train", "--algo", "ppo", "--env", "rlcv/LQR-v0", "--steps", "400", "--no-progress"]
POOL = ["-1", "0", "1", "2", "0.5", "1e-3", "1e9", "nan", "inf", "-inf", "abc", "", "3.7", "1e400", "-0"]


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _pos_int(text: str) -> bool:
    return (v := _int(text)) is not None and v >= 1


def _finite(text: str, ok: Callable[[float], bool]) -> bool:
    v = _num(text)
    return v is not None and math.isfinite(v) and ok(v)


# flag or --set key -> whether a value is valid (the documented ranges)
FLAGS: dict[str, Callable[[str], bool]] = {
    "--steps": _pos_int,
    "--seed": lambda t: (v := _int(t)) is not None and 0 <= v < 2**32,
    "--n-envs": _pos_int,
    "--eval-freq": lambda t: (v := _int(t)) is not None and v >= 0,
    "--eval-episodes": _pos_int,
    "--num-threads": lambda t: (v := _int(t)) is not None and 1 <= v <= 1024,
}
KEYS: dict[str, Callable[[str], bool]] = {
    "learning_rate": lambda t: _finite(t, lambda v: v > 0),
    "gamma": lambda t: _finite(t, lambda v: 0 < v <= 1),
    "gae_lambda": lambda t: _finite(t, lambda v: 0 <= v <= 1),
    "clip_range": lambda t: _finite(t, lambda v: v > 0),
    "max_grad_norm": lambda t: _finite(t, lambda v: v > 0),
    "clip_obs": lambda t: _finite(t, lambda v: v > 0),
    "vf_coef": lambda t: _finite(t, lambda v: v >= 0),
    "ent_coef": lambda t: _finite(t, lambda v: True),
    "n_steps": lambda t: (v := _int(t)) is not None and v >= 1 and str(v) == t.strip(),
    "batch_size": lambda t: (v := _int(t)) is not None and v >= 1 and str(v) == t.strip(),
    "n_epochs": lambda t: (v := _int(t)) is not None and v >= 1 and str(v) == t.strip(),
}


class _Reached(RlcvError):
    pass


def _values(seed: int) -> list[str]:
    rng = random.Random(seed)
    drawn = [repr(rng.uniform(-3, 3)) for _ in range(3)] + [str(rng.randint(-5, 2**33)) for _ in range(2)]
    return POOL + drawn


@pytest.mark.parametrize("name", [*FLAGS, *KEYS])
def test_every_value_is_refused_or_valid(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stop(*args, **kwargs):  # every check passed: this is where training would build the env
        raise _Reached("reached the env")

    monkeypatch.setattr(launch, "_start", stop)
    monkeypatch.chdir(tmp_path)
    valid = FLAGS.get(name) or KEYS[name]
    for value in _values(sum(map(ord, name))):
        argv = [*BASE, name, value] if name.startswith("--") else [*BASE, "--set", f"{name}={value}"]
        code = main([*argv, "--run-dir", "R"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("rlcv: error: "), (name, value, err)
        reached = "reached the env" in err
        assert reached == valid(value), (name, value, err)
        assert list(tmp_path.iterdir()) == [], (name, value)  # nothing written, valid or not

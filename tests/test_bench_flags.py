"""rlcv.bench.flags: one declaration gives the parser, the settings and the regenerating command line,
and the command line parses back to the same settings."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

import pytest

from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.sharpness import SharpnessSpec
from rlcv.bench.walk import WalkSpec


@dataclass(kw_only=True)
class Toy:
    seeds: int = flag(3, type=int)
    lrs: list[float] = flag([0.1, 1e-5], type=float)
    kwargs: dict[str, int] = flag({}, type=lambda s: {"n": int(s)})
    cap: float | None = flag(None, type=float)
    network: str = flag("mlp", name="--net", old="--model", choices=["mlp", "cnn"])
    fast: bool = flag(False)
    gate: bool = flag(True, name="--no-gate")
    out: str = flag("results")
    report_only: bool = flag(False, command=False)
    fixed: int = 7  # no flag


def _parse(spec_cls: type, words: list[str]) -> object:
    parser = argparse.ArgumentParser()
    add_flags(parser, spec_cls)
    return spec_of(spec_cls, parser.parse_args(words))


def test_defaults_and_command_line() -> None:
    spec = _parse(Toy, [])
    assert spec == Toy()
    # None and {} are left out, floats with :g, a False bool and command=False flags are not written
    assert command_line("rlcv bench toy", spec) == (
        "rlcv bench toy --seeds 3 --lrs 0.1 1e-05 --net mlp --out results"
    )
    argv = ["--cap", "2.5", "--fast", "--model", "cnn", "--kwargs", "4", "--report-only", "--no-gate"]
    other = _parse(Toy, argv)
    assert (other.cap, other.fast, other.gate, other.network, other.kwargs, other.report_only) == (
        2.5,
        True,
        False,
        "cnn",
        {"n": 4},
        True,
    )
    # switches are written when flipped
    assert command_line("x", other).endswith(
        "--kwargs '{\"n\": 4}' --cap 2.5 --net cnn --fast --no-gate --out results"
    )


@pytest.mark.parametrize(
    "spec", [WalkSpec(seeds=2, sgd_lrs=[0.5]), SharpnessSpec(ratios=[0.4 / 32], model="cnn")]
)
def test_a_bench_command_parses_back_to_its_settings(spec: object) -> None:
    words = shlex.split(spec.command())[3:]  # type: ignore[attr-defined]
    assert _parse(type(spec), words) == spec

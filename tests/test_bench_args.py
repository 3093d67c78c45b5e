"""Issue 27 (item 4, bench part of item 5): every `rlcv bench` argument is checked before any work
starts, by the range declared with the argument (its argparse ``type=``, :mod:`rlcv.bench.checks`), and
a bad one is one stderr line ``rlcv: error: ...``, exit 2, with the folder unchanged.

1. A table of the failures an adversarial tester found (internal errors, runs started for a typo, hangs
   on accepted nonsense, silent acceptance, late checks blaming another flag, output paths found
   unwritable after the work), each run in-process with the folder snapshotted before and after.
2. A property test: every numeric argument of every bench gets negative, zero, NaN, infinite, huge,
   fractional and non-numeric values (a fixed pool and seeded random draws); each is either refused
   while parsing (one line naming the flag, exit 2, nothing written) or, only when inside the declared
   range, reaches a stub in place of the bench, which runs nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import rlcv.cli
from rlcv.bench.checks import Range, out_dir, out_file
from rlcv.cli import main

# Benches with a numeric argument no declared range fits (gradcheck's --eta: any finite η, checked in
# its own `run`); the coverage test below names them so that they are not forgotten.
NOT_DECLARED_YET = {"gradcheck"}


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = (
                path.stat().st_mode,
                b"" if path.is_dir() else path.read_bytes(),
            )
    return out


def _mkdir(*rels: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for rel in rels:
            (root / rel).mkdir(parents=True)

    return setup


def _file(rel: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).write_text("x")

    return setup


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    expect: str
    setup: Callable[[Path], None] | None = None


def B(*argv: str) -> list[str]:
    return ["bench", *argv]


CASES = [
    # -- were internal errors (exit 1) -------------------------------------------------------------
    Case("speed-out-proc", B("speed", "--out", "/proc/x"), "argument --out: '/proc/x' cannot be written"),
    # The tester's env was rlcv/BGAN-Digits-v0 (MultiBinary actions; 8 s to build on a busy machine).
    Case("speed-discrete-env", B("speed", "--env", "CartPole-v1"), "has Discrete(2) actions"),
    Case("speed-unbounded-env", B("speed", "--env", "rlcv/LQR-v0"), "leave sb3-ppo out of --algos"),
    Case("hpo-budget-spa-zero", B("hpo-budget", "--steps-per-action", "0"), "--steps-per-action: must be"),
    Case(
        "dualcutout-report-only-empty",
        B("dualcutout", "--report-only", "--out", "empty"),
        "--report-only: no per-run results found under 'empty/per_run'",
        _mkdir("empty"),
    ),
    Case(
        "dualcutout-report-only-missing",
        B("dualcutout", "--report-only", "--out", "nope"),
        "--report-only: no per-run results",
    ),
    Case(
        "walk-batch-sizes-zero",
        B("walk", "--batch-sizes", "8", "0"),
        "--batch-sizes: must be an integer >= 1",
    ),
    Case(
        "sharpness-batch-sweep-zero",
        B("sharpness", "--batch-sweep", "0"),
        "--batch-sweep: must be an integer",
    ),
    # -- a typo that started 20 failing runs ---------------------------------------------------
    Case(
        "learn-unknown-env", B("learn", "--envs", "Hopper-v5", "Nope-v9"), "unknown environment id 'Nope-v9'"
    ),
    Case("oracle-unknown-env", B("oracle", "--envs", "Nope-v9"), "unknown environment id 'Nope-v9'"),
    Case("oracle-spent-unknown-env", B("oracle-spent", "--env", "Nope-v9"), "unknown environment id"),
    # -- hangs on accepted nonsense ------------------------------------------------------------
    Case("hpo-budget-grid-nan", B("hpo-budget", "--grid", "nan"), "--grid: must be a finite number > 0"),
    # -- silently accepted ---------------------------------------------------------------------
    Case("ipg-time-limit-nan", B("ipg", "--time-limit", "nan"), "--time-limit: must be a finite number > 0"),
    Case("ipg-instances-negative", B("ipg", "--instances", "-3"), "--instances: must be an integer >= 1"),
    Case("walk-sgd-lrs-negative", B("walk", "--sgd-lrs", "-1"), "--sgd-lrs: must be a finite number > 0"),
    Case("sharpness-eta-sweep-zero", B("sharpness", "--eta-sweep", "0"), "--eta-sweep: must be"),
    Case(
        "oracle-report-only-empty",
        B("oracle", "--report-only", "--out", "empty"),
        "--report-only: no summaries of these --envs/--ratios/--seeds under 'empty/summaries'",
        _mkdir("empty"),
    ),
    Case(
        "oracle-spent-report-only-empty",
        B("oracle-spent", "--report-only", "--out", "empty"),
        "--report-only: no tuning summaries",
        _mkdir("empty"),
    ),
    Case(
        "learn-report-only-empty",
        B("learn", "--report-only", "--envs", "rlcv/LQR-v0", "--out", "empty"),
        "--report-only: no finished runs or summaries",
        _mkdir("empty"),
    ),
    Case(
        "ipg-report-only-empty",
        B("ipg", "--report-only", "--data", "data", "--out", "empty"),
        "--report-only: no per-instance results found under 'empty/ipg'",
        _mkdir("empty", "data/knapsack"),
    ),
    Case(
        "speed-report-only-empty",
        B("speed", "--report-only", "--out", "empty"),
        "--report-only: empty/speed.json is missing",
        _mkdir("empty"),
    ),
    # -- late checks that blamed another flag --------------------------------------------------
    Case("bgan-set-n-samples-zero", B("bgan", "--set", "n_samples=0"), "n_samples must be >= 2"),
    Case(
        "bgan-set-unknown-key",
        B("bgan", "--algos", "bgan", "--set", "nope=1"),
        "--set / --env-kwargs for bgan",
    ),
    Case("bgan-non-generator-env", B("bgan", "--env", "rlcv/LQR-v0"), "not a digits generator env"),
    Case("bgan-env-kwargs-unknown", B("bgan", "--env-kwargs", "{nope: 1}"), "fix --env-kwargs"),
    Case("bgan-env-kwargs-value", B("bgan", "--env-kwargs", "{latent_dim: 0}"), "latent_dim"),
    Case("bgan-env-kwargs-render", B("bgan", "--env-kwargs", "{render_mode: human}"), "render_mode"),
    Case(
        "bgan-seeds-past-2-32",
        B("bgan", "--first-seed", str(2**32 - 1), "--seeds", "2"),
        "--first-seed + --seeds",
    ),
    Case("bgan-notes-missing", B("bgan", "--notes", "nope.md"), "argument --notes: 'nope.md' is not a file"),
    Case(
        "dualcutout-unknown-controller", B("dualcutout", "--controller", "hpo-tss"), "--controller: unknown"
    ),
    # -- output paths that cannot be written, found before the work ----------------------------
    Case("ipg-json-proc", B("ipg", "--instance", "i.npy", "--json", "/proc/r.json"), "argument --json"),
    Case("ipg-json-is-dir", B("ipg", "--instance", "i.npy", "--json", "d"), "is a folder", _mkdir("d")),
    Case(
        "ipg-json-under-file",
        B("ipg", "--instance", "i.npy", "--json", "f/r.json"),
        "which is a file",
        _file("f"),
    ),
    Case("walk-out-is-file", B("walk", "--out", "f"), "argument --out: 'f' is a file", _file("f")),
    Case("learn-out-under-file", B("learn", "--out", "f/x"), "argument --out", _file("f")),
    Case("bgan-runs-proc", B("bgan", "--runs", "/sys/r"), "argument --runs"),
    Case("ldf-out-proc", B("ldf", "--out", "/proc/o"), "argument --out"),
]


def _check_one_line(code: int, err: str, out: str) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err + out
    assert err.startswith("rlcv: error: ") and err.count("\n") == 1 and err.endswith("\n"), repr(err)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_bench_argument(case: Case, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    before = _snapshot(tmp_path)
    code = main(case.argv)
    captured = capsys.readouterr()
    _check_one_line(code, captured.err, captured.out)
    assert case.expect in captured.err
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- the property test


def _bench_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = rlcv.cli.build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bench = top.choices["bench"]
    sub = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _required(parser: argparse.ArgumentParser, but: argparse.Action | None = None) -> list[str]:
    """A placeholder value for every required option of ``parser`` (e.g. variance's --run, --json)."""
    return [
        w
        for a in parser._actions
        if a.required and a.option_strings and a is not but
        for w in (a.option_strings[0], "req")
    ]


def _declared(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if isinstance(a.type, Range)]


def test_every_numeric_bench_argument_declares_its_range() -> None:
    """No bare ``type=int`` / ``type=float`` is left (outside the benches named above), every range has
    a lower bound (no bench argument is meaningful at any negative value), and every output path is
    checked."""
    bare = {
        f"{name} {a.option_strings[0]}"
        for name, p in _bench_parsers().items()
        for a in p._actions
        if a.type in (int, float) and name not in NOT_DECLARED_YET
    }
    assert not bare
    for name, p in _bench_parsers().items():
        for a in _declared(p):
            assert a.type.low is not None and a.type.low >= 0, (name, a.option_strings)
        for a in p._actions:
            if a.dest in ("out", "runs", "work_dir", "json") and name not in NOT_DECLARED_YET:
                assert a.type in (out_dir, out_file), (name, a.option_strings)


POOL = [
    "-1", "0", "1", "2", "0.5", "1.5", "3e2", "1e6", "-0", "-0.0", "nan", "NaN", "-nan", "inf", "-inf",
    "Infinity", "1e309", "1e-320", str(2**32 - 1), str(2**32), str(10**30), "9" * 5000, "", " ", "abc",
    "1,5", "0x10", "1/2", "--", "1\n2", "½", "true",
]  # fmt: skip


def _random_values(rng: random.Random, n: int) -> list[str]:
    values = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            values.append(str(rng.randint(-(10**6), 10**6)))
        elif kind == 1:
            values.append(repr(rng.uniform(-10.0, 10.0)))
        elif kind == 2:
            values.append(f"{10 ** rng.uniform(-300, 300):g}")
        elif kind == 3:
            values.append(f"-{10 ** rng.uniform(-5, 5):.3g}")
        else:
            values.append("".join(rng.choice("0123456789.e-+xn ") for _ in range(rng.randint(1, 6))))
    return values


def _as_number(text: str, kind: type) -> float | None:
    """The value ``text`` stands for, computed without the checks module; None when it is no number."""
    try:
        number = float(text)
    except ValueError:
        return None
    if kind is int:
        try:
            return int(text)
        except ValueError:
            return int(number) if math.isfinite(number) and number.is_integer() else None
    return number


def _inside(value: float, rng_: Range) -> bool:
    if not math.isfinite(value):
        return False
    low_ok = value > rng_.low if rng_.low_open else value >= rng_.low
    high_ok = rng_.high is None or (value < rng_.high if rng_.high_open else value <= rng_.high)
    return low_ok and high_ok


def _good(action: argparse.Action) -> str:
    """A value the flag accepts: its default's first element, or (a list flag defaulting to None) the
    first of a few plain numbers inside its range."""
    if action.default:
        return str(action.default[0])
    rng_ = action.type
    return next(c for c in ("1", "0.5", "2", "10", "0") if _inside(_as_number(c, rng_.kind), rng_))


@pytest.fixture
def stubbed(monkeypatch, tmp_path: Path) -> list[argparse.Namespace]:
    """The parser built once (argparse keeps no state between parses) and ``bench_run`` replaced by a
    stub: a value that passes its checks reaches the stub, which runs nothing."""
    parser = rlcv.cli.build_parser()
    calls: list[argparse.Namespace] = []
    monkeypatch.setattr(rlcv.cli, "build_parser", lambda: parser)
    monkeypatch.setattr(rlcv.cli, "_bench", lambda args: calls.append(args) or 0)
    monkeypatch.chdir(tmp_path)
    return calls


def test_random_values_are_refused_while_parsing_or_reach_the_bench_unchanged(
    stubbed: list[argparse.Namespace], tmp_path: Path, capsys
) -> None:
    rng = random.Random(27)
    before = _snapshot(tmp_path)
    checked = 0
    for name, parser in _bench_parsers().items():
        for action in _declared(parser):
            flag, kind = action.option_strings[0], action.type.kind
            lists = action.nargs in ("+", "*")
            fixed = action.nargs if isinstance(action.nargs, int) else 0  # e.g. --blocks UNROLL STEPS
            for text in POOL + _random_values(rng, 12):
                # list arguments: the bad value after a good one (each element is checked)
                good = [_good(action)] if lists else ["1"] * max(0, fixed - 1)
                argv = ["bench", name, *_required(parser), flag, *good, text]
                stubbed.clear()
                code = main(argv)
                captured = capsys.readouterr()
                number = _as_number(text, kind)
                # argparse reads "-x" as an option unless it looks like a plain negative number
                option_like = text.startswith("-") and not re.fullmatch(r"-\d+|-\d*\.\d+", text)
                if number is not None and _inside(number, action.type) and not option_like:
                    assert code == 0 and len(stubbed) == 1, (argv, captured.err)
                    got = getattr(stubbed[0], action.dest)
                    assert (got[-1] if lists or fixed else got) == number, (argv, got)
                    assert captured.err == ""
                else:
                    _check_one_line(code, captured.err, captured.out)
                    assert not stubbed
                    if not option_like:  # "--grid 1 -1e3" ends the list: "-1e3" is then unrecognised
                        assert captured.err.startswith(f"rlcv: error: bench {name}: argument {flag}: ")
                checked += 1
    assert checked > 1000
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["/proc/x", "/sys/x/y", "f", "f/x", "new/deeper/folder"])
def test_output_paths_are_checked_while_parsing_and_nothing_is_created(
    value: str, stubbed: list[argparse.Namespace], tmp_path: Path, capsys
) -> None:
    (tmp_path / "f").write_text("a file")
    before = _snapshot(tmp_path)
    for name, parser in _bench_parsers().items():
        for action in parser._actions:
            if action.type not in (out_dir, out_file):
                continue
            stubbed.clear()
            code = main(["bench", name, *_required(parser, action), action.option_strings[0], value])
            captured = capsys.readouterr()
            if value.startswith("new/") or (value == "f" and action.type is out_file):  # a file to replace
                assert code == 0 and getattr(stubbed[0], action.dest) == value
            else:
                _check_one_line(code, captured.err, captured.out)
                assert f"argument {action.option_strings[0]}: '{value}'" in captured.err
    assert _snapshot(tmp_path) == before

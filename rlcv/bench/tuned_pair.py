"""`rlcv bench tuned-pair`: two algorithms, one grid, one tuning budget, fresh evaluation seeds (issue 24
item 3's fairness rule).

MBMF-PPO's gain must not be a tuning gain: rlcv PPO gets the same search space and budget on the same
tuning task and seeds, both final configurations are fixed before the evaluation seeds run, and every
configuration tried is in the report. The protocol is :mod:`rlcv.bench.tuning`'s (the one `rlcv bench
oracle-spent` uses): arms are the two ``--algos`` (the first is the base, e.g. ``ppo mbmf-ppo``), each
starting from its own preset (``g0``); the target per evaluation seed is the base preset's eval return at
the last evaluation ≤ ``--target-step`` (default: the last step, so "steps to PPO's 300k return").

Summaries: ``OUT/summaries/ENV/ALGO[-gK]/sS.json``; the report ``OUT/ENV.md`` / ``.json``, rebuilt
from the summaries alone with ``--report-only``. Every grid entry is checked against both algorithms'
configs before anything runs.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcv.bench import oracle, tuning
from rlcv.errors import RlcvError

# Fixed 2026-12-06, before any run, for the HalfCheetah-v5 preset (lr 2e-5, clip 0.1, n_steps 512,
# batch 64, 20 epochs): the grid on which the oracle spent its r = 4 reduction (`bench oracle-spent`),
# plus the oracle's chosen point with half the rollout (its best point sat at the grid's edge).
DEFAULT_GRID = [
    "learning_rate=4e-5",
    "learning_rate=8e-5 clip_range=0.2",
    "n_steps=256 learning_rate=4e-5",
    "n_steps=256 learning_rate=8e-5 clip_range=0.2",
]


@dataclass(kw_only=True)
class PairSpec:
    env: str = "HalfCheetah-v5"
    algos: list[str] = field(default_factory=lambda: ["ppo", "mbmf-ppo"])
    grid: list[str] = field(default_factory=lambda: list(DEFAULT_GRID))
    tune_seeds: list[int] = field(default_factory=lambda: [100, 101])
    eval_seeds: int = 10
    steps: int = 300_000
    target_step: int = 300_000  # the CLI's default: --steps
    eval_freq: int = 10_000
    eval_episodes: int = 10
    sets: list[str] = field(default_factory=list)  # KEY=VALUE for every run of both arms
    workers: int | None = None
    out: str = "results/tuned_pair"

    # -- the arms, keyed by algorithm ------------------------------------------------------------
    def arms(self) -> list[Hashable]:
        return list(self.algos)

    def arm_label(self, arm: Hashable) -> str:
        return str(arm)

    def arm_dir(self, arm: Hashable, k: int) -> str:
        return str(arm) if k == 0 else f"{arm}-g{k}"

    def arm_fields(self, arm: Hashable) -> dict[str, Any]:
        return {"algo": arm}

    def train_args(self, arm: Hashable, seed: int) -> list[str]:
        return [
            *("train", "--algo", str(arm), "--env", self.env, "--steps", str(self.steps)),
            *("--seed", str(seed), "--eval-freq", str(self.eval_freq)),
            *("--eval-episodes", str(self.eval_episodes), "--num-threads", "1", "--no-progress"),
            *(["--set", *self.sets] if self.sets else []),
        ]

    def configs(self) -> list[dict[str, str]]:
        return [{}, *(tuning.parse_config(text) for text in self.grid)]

    def title(self) -> str:
        base, other = self.algos[0], self.algos[-1]
        if len(self.algos) == 1:  # one algorithm: its own preset fixed on a grid (e.g. Hopper's PPO)
            return (
                f"# Tuned {base} on {self.env}: hyper-parameters chosen from a grid on the tuning seeds, "
                "then its preset and its choice on fresh seeds"
            )
        return (
            f"# Tuned pair on {self.env}: {base} vs {other}, each with hyper-parameters chosen from the "
            "same grid on the same tuning seeds"
        )

    def stem(self) -> Path:
        return Path(self.out) / oracle.env_dir(self.env)

    def command(self) -> str:
        argv = ["rlcv", "bench", "tuned-pair", "--env", self.env, "--algos", *self.algos]
        argv += ["--grid", *self.grid]
        argv += ["--tune-seeds", *map(str, self.tune_seeds), "--eval-seeds", str(self.eval_seeds)]
        argv += ["--steps", str(self.steps), "--target-step", str(self.target_step)]
        argv += ["--eval-freq", str(self.eval_freq), "--eval-episodes", str(self.eval_episodes)]
        argv += ["--set", *self.sets] if self.sets else []
        return shlex.join([*argv, "--out", self.out])

    def validate(self) -> None:
        from rlcv.config import parse_overrides
        from rlcv.launch import check_algo, resolve_config

        if len(self.algos) not in (1, 2) or len(set(self.algos)) != len(self.algos):
            raise RlcvError(
                f"--algos takes one algorithm, or two different ones (base first), got {self.algos}."
            )
        if not 0 < self.target_step <= self.steps or self.eval_freq > self.target_step:
            raise RlcvError(
                f"--target-step {self.target_step} must lie in [--eval-freq, --steps] = "
                f"[{self.eval_freq}, {self.steps}]."
            )
        tuning.check_seeds(self)
        self.configs()  # the grid's own message for a malformed entry
        for algo in self.algos:
            check_algo(algo)
            for text in ["", *self.grid]:  # a bad key fails here, not in every run
                resolve_config(algo, self.env, None, parse_overrides([*self.sets, *text.split()]))

    def words(self) -> tuning.Words:
        base, other = self.algos[0], self.algos[-1]
        return tuning.Words(
            target_owner=f"{base}'s (preset)",
            steps_owner=f"{base}'s",
            base_short=f"{base} preset",
            base_tuned=base,
            other=other,
        )


def report(spec: PairSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    return tuning.report(spec, words=spec.words(), echo=echo)


def run_sweep(spec: PairSpec, *, report_only: bool = False, echo: Callable[[str], None] = print) -> int:
    arms = f"--algos {' '.join(spec.algos)}"
    return tuning.run_sweep(spec, words=spec.words(), arms_flag=arms, report_only=report_only, echo=echo)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tuned-pair", help="two algorithms tuned on one grid and budget, then fresh seeds")
    p.add_argument(
        "--algos",
        nargs="+",
        default=["ppo", "mbmf-ppo"],
        metavar="ALGO",
        help="BASE OTHER; or one algorithm, to fix its preset on the grid (no head-to-head)",
    )
    p.add_argument("--set", dest="sets", nargs="+", default=[], metavar="KEY=VALUE", help="for both arms")
    tuning.add_arguments(
        p, tuning.Defaults(DEFAULT_GRID, 10, 300_000, None, 10_000, 10, out="results/tuned_pair")
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    spec = PairSpec(algos=args.algos, sets=args.sets, **tuning.spec_kwargs(args))
    return 1 if run_sweep(spec, report_only=args.report_only) else 0

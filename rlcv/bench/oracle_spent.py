"""`rlcv bench oracle-spent`: the oracle ceiling when the learner *spends* its lower variance.

`rlcv bench oracle` holds PPO's hyper-parameters fixed while the policy gradient averages over r×
the samples (``oracle_ratio=r``); a learner tuned for noisy gradients may not use the quieter ones.
Here both arms — plain PPO (r = 1) and the oracle (r = ``--ratio``) — choose their hyper-parameters
from the same grid with the same budget, then are evaluated on fresh seeds:

1. Tuning. Every grid configuration (``g0`` is the env preset; ``--grid`` adds one configuration per
   argument, ``KEY=VALUE`` pairs separated by spaces) runs on the tuning seeds for each arm. Its
   score is the mean eval return over all evaluations of the run (the area under the eval curve,
   which rewards learning early as well as ending high), averaged over the tuning seeds. Each arm
   keeps its best configuration.
2. Evaluation. Each arm's preset and its chosen configuration run on the evaluation seeds (disjoint
   from the tuning seeds). Per evaluation seed the target is plain PPO's (r = 1, preset) eval return
   at the last evaluation ≤ ``--target-step``, as in `rlcv bench oracle`; steps-to-target and the
   speed-up ``target_step / steps`` are reported per arm with the median over seeds and a seed
   bootstrap interval, the final return with the paired difference to plain PPO.

Summaries share `rlcv bench oracle`'s layout in the same ``--out`` (default ``results/oracle``):
the preset runs are ``summaries/ENV/rR/sS.json`` — the very runs that bench makes, so neither bench
repeats them — and grid configuration k is ``summaries/ENV/rR-gk/sS.json``. Every summary records its
train arguments; a grid that changes after runs were made is refused by the runner (stale
arguments), never mixed in. The report (``OUT/spent_ENV.md`` / ``.json``) is built from summaries
alone; ``--report-only`` rebuilds it.
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

# Fixed before any run (2026-12-06) for HalfCheetah-v5, whose preset is lr 2e-5, clip 0.1, n_steps
# 512, batch 64, 20 epochs: a larger step (lr ×2; lr ×4 with a wider clip), and more updates per
# sample (half the rollout per update). The same grid serves both arms.
DEFAULT_GRID = [
    "learning_rate=4e-5",
    "learning_rate=8e-5 clip_range=0.2",
    "n_steps=256 learning_rate=4e-5",
]
WORDS = tuning.Words(
    target_owner="plain PPO's (r = 1, preset)",
    steps_owner="plain PPO's",
    base_short="PPO preset",
    base_tuned="PPO",
    other="oracle",
)


@dataclass(kw_only=True)
class SpentSpec:
    env: str = "HalfCheetah-v5"
    ratio: int = 4
    grid: list[str] = field(default_factory=lambda: list(DEFAULT_GRID))
    tune_seeds: list[int] = field(default_factory=lambda: [100, 101])
    eval_seeds: int = 5
    steps: int = 150_000
    target_step: int = 100_000
    eval_freq: int = 5_000
    eval_episodes: int = 5
    workers: int | None = None
    out: str = "results/oracle"

    # -- the arms: plain PPO (r = 1) and the oracle (r = ratio), keyed by r -------------------------
    def arms(self) -> list[Hashable]:
        return [1, self.ratio]

    def arm_label(self, arm: Hashable) -> str:
        return f"r = {arm}"

    def arm_dir(self, arm: Hashable, k: int) -> str:
        return arm_dir(int(arm), k)  # type: ignore[call-overload]

    def arm_fields(self, arm: Hashable) -> dict[str, Any]:
        return {"ratio": arm}

    def train_args(self, arm: Hashable, seed: int) -> list[str]:
        return oracle.train_args(self.oracle_spec(), self.env, int(arm), seed)  # type: ignore[call-overload]

    def configs(self) -> list[dict[str, str]]:
        """``g0`` (the preset, no overrides) then one dict per ``--grid`` entry."""
        return [{}, *(tuning.parse_config(text, reserved=("oracle_ratio",)) for text in self.grid)]

    def title(self) -> str:
        return (
            f"# Spent oracle on {self.env}: PPO vs PPO with r = {self.ratio}× policy-gradient samples, "
            "each with hyper-parameters chosen from the same grid"
        )

    def stem(self) -> Path:
        return Path(self.out) / f"spent_{oracle.env_dir(self.env)}"

    def oracle_spec(self) -> oracle.OracleSpec:
        return oracle.OracleSpec(
            envs=[self.env],
            ratios=[1, self.ratio],
            seeds=self.eval_seeds,
            steps=self.steps,
            target_step=self.target_step,
            eval_freq=self.eval_freq,
            eval_episodes=self.eval_episodes,
            out=self.out,
        )

    def command(self) -> str:
        argv = ["rlcv", "bench", "oracle-spent", "--env", self.env, "--ratio", str(self.ratio), "--grid"]
        argv += [*self.grid, "--tune-seeds", *map(str, self.tune_seeds), "--eval-seeds", str(self.eval_seeds)]
        argv += ["--steps", str(self.steps), "--target-step", str(self.target_step)]
        argv += ["--eval-freq", str(self.eval_freq), "--eval-episodes", str(self.eval_episodes)]
        return shlex.join([*argv, "--out", self.out])

    def validate(self) -> None:
        self.oracle_spec().validate()
        if self.ratio < 2:
            raise RlcvError(f"--ratio must be >= 2 (r = 1 is plain PPO, the other arm), got {self.ratio}.")
        tuning.check_seeds(self)
        self.configs()  # parses the grid


def arm_dir(ratio: int, k: int) -> str:
    return f"r{ratio}" if k == 0 else f"r{ratio}-g{k}"


def report(spec: SpentSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    return tuning.report(spec, words=WORDS, echo=echo)


def run_sweep(spec: SpentSpec, *, report_only: bool = False, echo: Callable[[str], None] = print) -> int:
    arms = f"--ratio {spec.ratio}"
    return tuning.run_sweep(spec, words=WORDS, arms_flag=arms, report_only=report_only, echo=echo)


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import int_range

    p = sub.add_parser("oracle-spent", help="the oracle ceiling with hyper-parameters re-chosen for it")
    p.add_argument(
        "--ratio", type=int_range(2), default=4, help="r of the oracle arm (the other arm is r = 1)"
    )
    tuning.add_arguments(
        p, tuning.Defaults(DEFAULT_GRID, 5, 150_000, 100_000, 5_000, 5, out="results/oracle")
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    spec = SpentSpec(ratio=args.ratio, **tuning.spec_kwargs(args))
    return 1 if run_sweep(spec, report_only=args.report_only) else 0

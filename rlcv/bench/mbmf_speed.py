"""`rlcv bench mbmf-speed`: MBMF-PPO vs rlcv PPO throughput, both with the env's preset, interleaved.

The two arms train in turn (ppo, mbmf-ppo, ppo, mbmf-ppo, ...; ``--repeats`` pairs, seed = repeat
1, 2, ...) so machine drift hits both alike; throughput is the ``fps`` column of each run's last
metrics row (env steps per second of the training loop, model training and the control variate
included). ``--mbmf-set`` adds ``--set`` overrides to the mbmf-ppo arm only. Writes ``--json`` (the
per-repeat fps, their medians and the ratio of medians) and the page beside it (same name, ``.md``);
``--report-only`` rebuilds both from the JSON's per-repeat fps.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlcv.errors import RlcvError

ARMS = ("ppo", "mbmf-ppo")


def summarise(
    env: str, steps: int, fps: Mapping[str, Sequence[float]], mbmf_set: str | None
) -> dict[str, Any]:
    """The JSON record: per-repeat fps, medians per arm, and mbmf-ppo's median over ppo's."""
    out: dict[str, Any] = {"env": env, "steps": steps, "repeats": len(fps["ppo"])}
    if mbmf_set is not None:  # the first records predate the option and do not hold it
        out["mbmf_set"] = mbmf_set
    out["fps"] = {a: list(fps[a]) for a in ARMS}
    out["fps_median"] = {a: statistics.median(fps[a]) for a in ARMS}
    out["ratio_mbmf_over_ppo"] = out["fps_median"]["mbmf-ppo"] / out["fps_median"]["ppo"]
    return out


def render(record: Mapping[str, Any], json_path: str) -> str:
    fps, median = record["fps"], record["fps_median"]
    extra = record.get("mbmf_set") or ""
    lines = [
        f"# MBMF-PPO vs rlcv PPO throughput on {record['env']} (interleaved)",
        "",
        f"{record['repeats']} interleaved pairs of {record['steps']}-step runs, "
        "both arms with the env's preset"
        + (f"; mbmf-ppo with `--set {extra}`" if extra else "")
        + ". fps: env steps per second of the training loop (model training and the control variate "
        "included), the last metrics row of each run.",
        "",
        "| arm | fps, each repeat | median |",
        "|---|---|---:|",
        *(f"| `{a}` | {', '.join(f'{x:.0f}' for x in fps[a])} | {median[a]:.0f} |" for a in ARMS),
        "",
        f"MBMF-PPO / PPO (ratio of medians): {ratio_text(record)}.",
        "",
        f"Regenerate: `rlcv bench mbmf-speed --json {json_path} --report-only` (without `--report-only` and "
        f"with `--steps {record['steps']} --repeats {record['repeats']}"
        + (f" --mbmf-set {shlex.join(extra.split())}" if extra else "")
        + "` it trains the pairs again).",
    ]
    return "\n".join(lines) + "\n"


def ratio_text(record: Mapping[str, Any]) -> str:
    """mbmf-ppo's median fps over ppo's with its 95 % interval: a percentile bootstrap over the repeats,
    resampled by pair (repeat r of both arms: seed r, run one after the other)."""
    from rlcv.bench.report import fmt_interval
    from rlcv.bench.stats import median_ratio_bootstrap

    iv = median_ratio_bootstrap(record["fps"]["mbmf-ppo"], record["fps"]["ppo"], paired=True)
    text = fmt_interval(iv, ".2f", "×")
    if math.isnan(iv.low):
        return f"{text} (no interval: {iv.n} pair{'' if iv.n == 1 else 's'})"
    return f"{text} (95 % CI: paired bootstrap over the {iv.n} repeats; coarse with few repeats)"


def train_args(algo: str, env: str, steps: int, seed: int, extra: list[str]) -> list[str]:
    """The `rlcv train` arguments of one arm's run (no evaluation during it: its cost is not the arm's)."""
    args = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed)]
    args += ["--num-threads", "1", "--eval-freq", "1000000", "--no-progress"]
    return [*args, *(["--set", *extra] if extra else [])]


def _fps(algo: str, env: str, steps: int, seed: int, run_dir: Path, extra: list[str]) -> float:
    """One run through the bench runner (rlcv.bench.runs.run_one: a fresh process, one thread)."""
    from rlcv.bench import runs
    from rlcv.run_dir import RunDir

    job = runs.RunJob(f"{algo}/s{seed}", run_dir, train_args(algo, env, steps, seed, extra), steps)
    outcome = runs.run_one(job)
    if not outcome.ok:
        raise RlcvError(f"rlcv bench mbmf-speed: the {algo} run (seed {seed}) failed: {outcome.last_line}")
    return float(RunDir(run_dir).metrics_rows()[-1]["fps"])


def measure(env: str, steps: int, repeats: int, mbmf_set: list[str]) -> dict[str, list[float]]:
    fps: dict[str, list[float]] = {a: [] for a in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(1, repeats + 1):
            for algo in ARMS:
                extra = mbmf_set if algo == "mbmf-ppo" else []
                fps[algo].append(_fps(algo, env, steps, rep, Path(tmp) / f"{algo}_{rep}", extra))
                print(f"repeat {rep} {algo}: {fps[algo][-1]:.0f} fps", flush=True)
    return fps


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_file, positive_int

    p = sub.add_parser("mbmf-speed", help="MBMF-PPO vs rlcv PPO throughput, env presets, interleaved")
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=positive_int, default=10240)
    p.add_argument("--repeats", type=positive_int, default=2, help="interleaved pairs")
    p.add_argument("--mbmf-set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides, mbmf-ppo only")
    p.add_argument("--json", type=out_file, default="results/variance/v2_speed.json")
    p.add_argument("--report-only", action="store_true", help="rebuild the JSON and page from the JSON's fps")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.json)
    if args.report_only:
        from rlcv.bench.checks import require_report_input

        require_report_input(path, "mbmf-speed")
        saved = json.loads(path.read_text())
        record = summarise(saved["env"], saved["steps"], saved["fps"], saved.get("mbmf_set"))
    else:
        fps = measure(args.env, args.steps, args.repeats, args.mbmf_set)
        record = summarise(args.env, args.steps, fps, " ".join(args.mbmf_set))
    path.write_text(json.dumps(record, indent=1))
    path.with_suffix(".md").write_text(render(record, args.json))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0

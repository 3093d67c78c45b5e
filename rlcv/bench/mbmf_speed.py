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
    """The page (template mbmf_speed.md.j2): mbmf-ppo's median fps over ppo's with its 95 % interval, a
    percentile bootstrap over the repeats resampled by pair (repeat r of both arms: seed r, one after
    the other)."""
    from rlcv.bench.report import render as page
    from rlcv.stats import median_ratio_bootstrap

    fps, extra = record["fps"], record.get("mbmf_set") or ""
    rows = [[f"`{a}`", ", ".join(f"{x:.0f}" for x in fps[a]), f"{record['fps_median'][a]:.0f}"] for a in ARMS]
    ratio = median_ratio_bootstrap(fps["mbmf-ppo"], fps["ppo"], paired=True)
    words = shlex.join(extra.split())
    return page(
        "mbmf_speed.md.j2",
        r=record,
        rows=rows,
        ratio=ratio,
        has_ci=not math.isnan(ratio.low),
        extra=extra,
        extra_words=words,
        json_path=json_path,
    )


def train_args(algo: str, env: str, steps: int, seed: int, extra: list[str]) -> list[str]:
    """The `rlcv train` arguments of one arm's run (no evaluation during it: its cost is not the arm's)."""
    args = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed)]
    args += ["--num-threads", "1", "--eval-freq", "1000000", "--no-progress"]
    return [*args, *(["--set", *extra] if extra else [])]


def measure(env: str, steps: int, repeats: int, mbmf_set: list[str]) -> dict[str, list[float]]:
    from rlcv.bench.speed import train_fps

    fps: dict[str, list[float]] = {a: [] for a in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(1, repeats + 1):
            for algo in ARMS:
                extra = mbmf_set if algo == "mbmf-ppo" else []
                args = train_args(algo, env, steps, rep, extra)
                run_dir = Path(tmp) / f"{algo}_{rep}"
                fps[algo].append(train_fps(f"{algo}/s{rep}", run_dir, args, steps, "mbmf-speed"))
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
    from rlcv.bench.report import saved_or_measured

    path = Path(args.json)

    def timed() -> dict[str, Any]:
        fps = measure(args.env, args.steps, args.repeats, args.mbmf_set)
        return {"env": args.env, "steps": args.steps, "fps": fps, "mbmf_set": " ".join(args.mbmf_set)}

    # the per-repeat fps, measured now or as the JSON holds them; the JSON is rewritten from them below
    saved = saved_or_measured(path, "mbmf-speed", args.report_only, timed, save=False)
    record = summarise(saved["env"], saved["steps"], saved["fps"], saved.get("mbmf_set"))
    path.write_text(json.dumps(record, indent=1))
    path.with_suffix(".md").write_text(render(record, args.json))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0

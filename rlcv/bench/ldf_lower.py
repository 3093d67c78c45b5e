"""`rlcv bench ldf-lower`: the lower stage of the two-level (LDF) generator alone, on paired seeds.

``results/ldf.md`` found the lower stage to be the limit. This bench trains just that stage — ``rlcv
train --algo bgan-hier --set mode=decoupled lower_updates=U`` for U·64 steps, so the run stops as the
frozen lower stage is installed: the very lower stage ``rlcv bench ldf`` trains on the same seed — for
each *variant* (:data:`VARIANTS`: ``--set`` overrides on top of ``ldf.md``'s ``recon_weight=1.0``) and
seed (:func:`rlcv.bench.bgan.scored_sweep`), and scores it (:func:`rlcv.gan.lower_spread.lower_stage_scores`:
its ceiling, its inversion, whether the patch generator uses its code). The page (``ldf_lower.md.j2``):
mean [t-interval] per variant, paired differences against ``--baseline``, each ceiling against
independent pixels, and the untrained patch generator's spread at each output gain.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.bgan import VariantSpec, check_baseline, run_variants, scored_sweep, variant_page
from rlcv.bench.checks import int_range, out_dir, positive_int
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.runs import RunJob
from rlcv.gan.ldf_eval import SAMPLE_KEYS

CODE_ENV = "rlcv/BGAN-DigitCodes-v0"
STEPS_PER_UPDATE = 64
BASE_SET = ("mode=decoupled", "recon_weight=1.0")  # results/ldf.md's two-level settings
INIT_GAINS = (0.0, 1.0, 3.0, 10.0, 30.0)  # the untrained patch generator's spread at these gains
NOISE_03 = 'env_kwargs={"disc_instance_noise":0.3}'  # the code env's discriminator (--set, read as YAML)
# fmt: off
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {  # name → (what, --set overrides)
    "base": ("lower stage of results/ldf.md (recon_weight 1.0)", ()),
    "init10": ("patch generator output-layer init gain 10", ("lower_out_init_gain=10",)),
    "init30": ("patch generator output-layer init gain 30", ("lower_out_init_gain=30",)),
    "init10_ent": (
        "output-layer init gain 10 and entropy bonus 0.05", ("lower_out_init_gain=10", "lower_ent_coef=0.05")
    ),
    # The higher generator starts symmetric too (code means 0.002 apart across latents at gain 0);
    # gain 3 spreads them by ~0.5 per dimension, the spread of real codes through a gain-10 lower
    # stage. Its re-init draws from the run's RNG before the lower stage's seed is drawn, so this
    # variant's lower stage is another draw than init10's on the same seed.
    "init10_hi3": (
        "init10, and the higher generator's output-layer init gain 3",
        ("lower_out_init_gain=10", "out_init_gain=3"),
    ),
    "init30_hi3": (
        "init30, and the higher generator's output-layer init gain 3",
        ("lower_out_init_gain=30", "out_init_gain=3"),
    ),
    # The higher stage (issue 29): the remedy that removed flat BGAN's collapse on Digits4
    # (results/bgan_collapse_digits4_init.md: entropy bonus 0.05, instance noise σ = 0.3) applied to the
    # higher generator and the code discriminator; with the Box generators' weights objective too
    # (results/bgan_collapse_digitscont_weights.md), the higher generator being a Gaussian.
    "init30_hi3_ent_noise": (
        "init30_hi3, and the higher stage's entropy bonus 0.05 and code-discriminator instance noise σ = 0.3",
        ("lower_out_init_gain=30", "out_init_gain=3", "ent_coef=0.05", NOISE_03),
    ),
    "init30_hi3_w": (
        "init30_hi3, the higher generator on self-normalised weights alone (no entropy bonus, no noise)",
        ("lower_out_init_gain=30", "out_init_gain=3", "continuous_objective=weights"),
    ),
    "init30_hi3_w_noise": (  # the flat DigitsCont remedy (results/bgan_collapse_digitscont_disc.md)
        "init30_hi3, weights objective and code-discriminator instance noise σ = 0.3 (no entropy bonus)",
        ("lower_out_init_gain=30", "out_init_gain=3", "continuous_objective=weights", NOISE_03),
    ),
    "init30_hi3_w_ent_noise": (
        "init30_hi3_ent_noise, the higher generator on self-normalised weights (weights objective)",
        ("lower_out_init_gain=30", "out_init_gain=3", "ent_coef=0.05", NOISE_03,
         "continuous_objective=weights"),
    ),
}
METRICS = (  # summary key, whether lower is better
    ("ceiling_c2st_accuracy", True), ("ceiling_nn1_accuracy", True), ("ceiling_confident_coverage", False),
    ("ceiling_seam_discontinuity", True), ("reconstruction_error", True), ("code_std", False),
    ("across_prior", False), ("across_real", False), ("within_prior", False),
)
# fmt: on


@dataclass(kw_only=True)
class LowerSpec(VariantSpec):
    variants: list[str] = flag(["base"], choices=sorted(VARIANTS))
    workers: int | None = flag(
        1, type=positive_int, help="concurrent runs (default 1: the machine is shared)"
    )
    name: str = flag("ldf_lower", help="file stem of the outputs")
    runs: str = flag("runs/bench-ldf-lower", type=out_dir, help="run directories")
    lower_updates: int = flag(500, type=int_range(1), help="lower-stage updates (results/ldf.md: 500)")
    higher_updates: int = flag(
        0, type=int_range(0), show=lambda s: s.higher_updates > 0,
        help="then this many higher-stage updates, and the decoupled generator's samples are scored too "
        "(0: stop at the lower stage)",
    )  # fmt: skip


def train_args(spec: Any, name: str, seed: int) -> list[str]:
    """``rlcv train`` arguments of one run (the runner adds ``--run-dir``)."""
    steps = _steps(spec)
    cmd = ["train", "--algo", "bgan-hier", "--env", CODE_ENV, "--steps", str(steps), "--seed", str(seed)]
    cmd += ["--num-threads", "1", "--no-progress", "--set", f"checkpoint_freq={steps}"]
    return [*cmd, *BASE_SET, f"lower_updates={spec.lower_updates}", *VARIANTS[name][1]]


def register(sub: argparse._SubParsersAction) -> None:
    about = "the LDF lower stage alone: its ceiling and code use, paired seeds"
    add_bench(sub, "ldf-lower", LowerSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    return run_variants(spec_of(LowerSpec, args), "ldf-lower", measure, write_report)


def _score(samples: bool, name: str, seed: int, job: RunJob) -> dict[str, Any]:
    from rlcv.gan.ldf_eval import run_times
    from rlcv.gan.lower_spread import lower_stage_scores

    final = lower_stage_scores(job.run_dir, samples)
    print(f"{name} seed {seed}: ceiling C2ST {final['ceiling_c2st_accuracy']:.3f}", flush=True)
    return {"variant": name, "seed": seed, "final": final, "wall_seconds": run_times(job.run_dir)[-1][1]}


def _steps(spec: Any) -> int:
    return (spec.lower_updates + spec.higher_updates) * STEPS_PER_UPDATE


def _references(folder: Path) -> dict[str, Any]:
    """:func:`rlcv.gan.lower_spread.lower_references`, kept in ``OUT/NAME/references.json``."""
    from rlcv.gan.lower_spread import lower_references

    path = folder / "references.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    refs = lower_references(INIT_GAINS)
    path.write_text(json.dumps(refs, indent=1))
    return refs


def measure(spec: LowerSpec) -> dict[str, Any]:
    """Train and score every (variant, seed) (``--score-finished``: the finished runs only): the JSON."""
    check_baseline(spec)
    found = scored_sweep(  # the ceiling is scored against the held-out digits (score_digits' default)
        spec, spec.variants, root=Path(spec.runs), train_args=partial(train_args, spec), steps=_steps(spec),
        score=partial(_score, spec.higher_updates > 0), against="held-out",
    )  # fmt: skip
    return {
        "command": command_line("rlcv bench ldf-lower", spec),
        "seeds": list(spec.seed_range),
        "lower_updates": spec.lower_updates,
        "higher_updates": spec.higher_updates,
        "baseline": spec.baseline,
        "variants": {
            n: {"label": VARIANTS[n][0], "train_args": train_args(spec, n, 0)} for n in spec.variants
        },
        "runs": [found[n, s] for n in spec.variants for s in spec.seed_range if (n, s) in found],
        "references": _references(Path(spec.out) / spec.name),
    }


def write_report(payload: dict[str, Any], out: Path, name: str, notes: str | None = None) -> str:
    return variant_page(
        "ldf_lower.md.j2", payload, out, name, notes, metrics=METRICS, sample_keys=SAMPLE_KEYS
    )

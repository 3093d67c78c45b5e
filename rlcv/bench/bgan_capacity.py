"""`rlcv bench bgan-capacity`: can BGAN's generator network represent the 40-component Bernoulli mixture
that beats it? The network of `results/bgan.md` is distilled from the mixture (see :data:`INTRO`,
which the page shows) for each assignment variant in :data:`VARIANTS`; the distillations are kept in
``OUT/bgan_capacity/VARIANT.json`` (a rerun skips the finished ones; delete them to redo), and the page
``OUT/bgan_capacity.md`` compares them with the mixture and BGAN rows of `rlcv bench bgan`'s
``OUT/bgan.json``. ``--report-only`` rebuilds the page from those JSONs without training. Train with
one thread: ``OMP_NUM_THREADS=1 rlcv bench bgan-capacity``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.stats import mean_t, paired_t

COMMAND = "rlcv bench bgan-capacity"
INTRO = """\
Can BGAN's generator network represent the 40-component Bernoulli mixture that beats it?

The generator of `results/bgan.md` is g_θ(x|z) = Π_d Bernoulli(x_d; σ(f_θ(z)_d)), f_θ the preset's MLP
(32 → 256 → 256 → 64, ReLU, orthogonal init). The mixture reference is itself such a generator:
z[0] picks component k by inverse CDF of π and x ~ Π_d Bernoulli(p_kd). Here f_θ (same class, same
sizes, same init, same Adam settings as the preset) is regressed onto the mixture's pixel
probabilities: each step draws 64 × 20 fresh latents z ~ U(−1, 1)^32 and minimises the Bernoulli
cross-entropy between σ(f_θ(z)) and p_{k(z)} — the same number of latents and images per step as one
BGAN update, but with the answer given instead of a discriminator's weights. The distilled generator
is scored by the bench's `score_digits` on the bench's latents, against the held-out images.

Which latents map to which component is free (any assignment with cell masses π gives the mixture).
Two are tried: ``quantile`` — the mixture's own sampler, k from z[0] by inverse CDF (40 narrow
intervals of one coordinate, a sharp step function for the MLP to learn); ``linear`` — k = argmax_k
(a_k·z + b_k), a_k random, b_k set so the cells' masses match π (cells with linear boundaries, the
easiest partition for a ReLU network).

If it reaches the mixture's scores, the network has the capacity and BGAN's gap is in its training
signal and length; if not, capacity is (part of) the gap."""

SEEDS = (0, 1, 2, 3, 4)  # the benchmark's seeds; seed s also seeds the mixture it distils (as the bench's)
K = 40  # the bench's likelihood-chosen K (results/bgan.md)
CHECKPOINTS = (300, 600, 1200, 2400)  # Adam steps at which the distilled generator is scored
LATENTS, M = 64, 20  # one BGAN update's latents and images per latent (rlcv/presets/bgan.yaml)
KEYS = ("c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "unique_fraction")

# name → (assignment, seeds, checkpoints): both assignments over the bench's seeds and BGAN's budget,
# and the linear one for 5× longer on one seed (does the distillation reach the mixture at all?).
VARIANTS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "quantile": ("quantile", SEEDS, CHECKPOINTS),
    "linear": ("linear", SEEDS, CHECKPOINTS),
    "linear-long": ("linear", (0,), (2400, 4800, 7200, 12000)),
}


# ---------------------------------------------------------------------------- the distillation
def linear_cells(weights: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(a [K, 32], b [K], largest |cell mass − π_k|): b by fixed-point steps on 100k latents."""
    rng = np.random.default_rng(2000 + seed)
    a = rng.standard_normal((len(weights), 32))
    scores = rng.uniform(-1.0, 1.0, (100_000, 32)) @ a.T
    b = np.zeros(len(weights))
    for _ in range(150):
        mass = np.bincount((scores + b).argmax(1), minlength=len(weights)) / len(scores)
        b += 0.5 * (np.log(weights) - np.log(np.maximum(mass, 1e-6)))
    mass = np.bincount((scores + b).argmax(1), minlength=len(weights)) / len(scores)
    return a, b, float(np.abs(mass - weights).max())


def distil(seed: int, variant: str, checkpoints: tuple[int, ...]) -> dict[str, Any]:
    """Regress the preset's generator network onto seed ``seed``'s mixture; scores at ``checkpoints``."""
    import torch

    from rlcv.bench.bgan import EVAL_SEED
    from rlcv.env_factory import make_env
    from rlcv.envs.bgan_digits import EVAL_GROUP_SIZE, EVAL_GROUPS, BGANDigitsEnv, digits, score_digits
    from rlcv.gan.density_baselines import fit_mixture
    from rlcv.policies import BernoulliPolicy

    torch.manual_seed(seed)
    env = make_env("rlcv/BGAN-Digits-v0", {"disc_batch_size": 128}).unwrapped
    assert isinstance(env, BGANDigitsEnv)
    mix = fit_mixture(digits(2)["x_train"], levels=2, k=K, seed=seed)
    assert mix.probs is not None
    a, b, mass_error = linear_cells(mix.weights, seed) if variant == "linear" else (None, None, 0.0)

    def component(z: np.ndarray) -> np.ndarray:
        if a is None or b is None:
            return mix.components_of((z[:, 0].astype(np.float64) + 1.0) / 2.0)
        return (z.astype(np.float64) @ a.T + b).argmax(1)

    target = torch.as_tensor(mix.probs[:, :, 1], dtype=torch.float32)  # [K, 64] P(pixel on)
    policy = BernoulliPolicy(32, 64, hidden_sizes=[256, 256], activation="relu", ortho_init=True)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(1000 + seed)
    points, start = [], time.perf_counter()
    for step in range(1, checkpoints[-1] + 1):
        z = rng.uniform(-1.0, 1.0, (LATENTS * M, 32)).astype(np.float32)
        p = target[component(z)]
        logits = policy.logits_net(torch.from_numpy(z))
        # Cross-entropy to the soft targets = KL(p_k ‖ σ(f)) + H(p_k): its excess over H is the error.
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)
        entropy = -(p * p.clamp_min(1e-12).log() + (1 - p) * (1 - p).clamp_min(1e-12).log()).sum(-1)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        if step in checkpoints:
            seconds = time.perf_counter() - start
            sample = env.generate(policy, env.eval_samples, seed=EVAL_SEED)
            groups = env.generate(policy, EVAL_GROUPS, seed=EVAL_SEED + 1, per_latent=EVAL_GROUP_SIZE)
            scores = score_digits(sample, groups, levels=2, seed=EVAL_SEED)
            kl = float((loss - entropy).mean().detach())
            points.append({"steps": step, "train_seconds": seconds, "kl_nats_per_image": kl, **scores})
            print(f"{variant} seed {seed} step {step}: KL {kl:.3f} nats, C2ST {scores['c2st_accuracy']:.3f}")
            start = time.perf_counter()
    env.close()
    return {"seed": seed, "cell_mass_error": mass_error, "curve": points}


def saved_runs(out: Path, variant: str) -> list[dict[str, Any]] | None:
    """The variant's distillations from ``OUT/bgan_capacity/VARIANT.json``, if it holds this variant's
    seeds and checkpoints; else None."""
    _, seeds, checkpoints = VARIANTS[variant]
    path = out / "bgan_capacity" / f"{variant}.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if saved["checkpoints"] != list(checkpoints) or [r["seed"] for r in saved["runs"]] != list(seeds):
        return None
    return saved["runs"]


def variant_runs(out: Path, variant: str) -> list[dict[str, Any]]:
    """The saved distillations, or new ones (saved)."""
    runs = saved_runs(out, variant)
    if runs is None:
        assignment, seeds, checkpoints = VARIANTS[variant]
        runs = [distil(s, assignment, checkpoints) for s in seeds]
        path = out / "bgan_capacity" / f"{variant}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"k": K, "checkpoints": list(checkpoints), "runs": runs}, indent=1) + "\n")
    return runs


# ---------------------------------------------------------------------------- the page
def cell(values: list[float]) -> str:
    """Mean [95 % t interval]; the mean alone for one value."""
    m = mean_t(values)
    return f"{m.point:.3f}" if len(values) == 1 else f"{m.point:.3f} [{m.low:.3f}, {m.high:.3f}]"


def paired_cell(a: list[float], b: list[float]) -> str:
    """Mean of a − b [paired 95 % t interval], * when the interval excludes 0."""
    d = paired_t(a, b)
    return f"{d.point:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" + (" *" if d.low > 0 or d.high < 0 else "")


def render(bench: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> str:
    """The page from `rlcv bench bgan`'s JSON and each variant's distillations."""
    mixture = {r["seed"]: r["final"] for r in bench["references"]["rows"]["mixture"]}
    bgan = {r["seed"]: r["final"] for r in bench["runs"] if r["algo"] == "bgan"}
    lines = [
        "# BGAN's generator network, distilled from the mixture (capacity check)",
        "",
        INTRO,
        "",
        "Cells: mean [95 % t-interval] over the seeds (seed s distils the mixture row of seed s of "
        "`bgan.md`). KL: mean KL(p_k ‖ σ(f_θ(z))) over the step's training latents, nats per image. "
        "The mixture row of `bgan.md` for reference: "
        + ", ".join(f"{k} {cell([mixture[s][k] for s in SEEDS])}" for k in KEYS)
        + ".",
    ]
    for variant, (_, seeds, checkpoints) in VARIANTS.items():
        mass = max(r["cell_mass_error"] for r in runs[variant])
        lines += [
            "",
            f"## `{variant}`: seeds {', '.join(map(str, seeds))}"
            + (f" (largest cell-mass error {mass:.4f})" if mass else ""),
            "",
            "| Adam steps | KL (nats/image) | " + " | ".join(KEYS) + " |",
            "|---|---|" + "---|" * len(KEYS),
        ]
        for j, steps in enumerate(checkpoints):
            pts = [r["curve"][j] for r in runs[variant]]
            lines.append(
                f"| {steps} | {cell([p['kl_nats_per_image'] for p in pts])} | "
                + " | ".join(cell([p[k] for p in pts]) for k in KEYS)
                + " |"
            )
        if len(seeds) < 2:
            continue
        last = [r["curve"][-1] for r in runs[variant]]
        lines += [
            "",
            f"Paired differences at {checkpoints[-1]} steps (same seeds; * = the CI excludes 0):",
            "",
            "| difference | " + " | ".join(KEYS) + " |",
            "|---|" + "---|" * len(KEYS),
            "| distilled − mixture | "
            + " | ".join(paired_cell([p[k] for p in last], [mixture[s][k] for s in seeds]) for k in KEYS)
            + " |",
            "| BGAN (2400 updates) − distilled | "
            + " | ".join(paired_cell([bgan[s][k] for s in seeds], [p[k] for p in last]) for k in KEYS)
            + " |",
        ]
    lines += [
        "",
        f"Regenerate: `{COMMAND} --report-only` (reads `results/bgan.json`, written by the `rlcv bench "
        "bgan` command of `results/bgan.md`, and the distillations in `results/bgan_capacity/`; "
        f"`OMP_NUM_THREADS=1 {COMMAND}` redoes those missing from that folder).",
    ]
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_dir

    p = sub.add_parser("bgan-capacity", help="BGAN's generator network distilled from the mixture reference")
    p.add_argument("--out", type=out_dir, default="results", help="folder of bgan.json and of the page")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from the saved distillations")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not (out / "bgan.json").is_file():
        print(
            f"rlcv bench bgan-capacity: {out / 'bgan.json'} is missing (`rlcv bench bgan`)", file=sys.stderr
        )
        return 2
    runs: dict[str, list[dict[str, Any]]] = {}
    for variant in VARIANTS:
        saved = saved_runs(out, variant) if args.report_only else variant_runs(out, variant)
        if saved is None:
            print(
                f"rlcv bench bgan-capacity: {out / 'bgan_capacity' / variant}.json is missing or holds other "
                "seeds / checkpoints (run without --report-only)",
                file=sys.stderr,
            )
            return 2
        runs[variant] = saved
    page = out / "bgan_capacity.md"
    page.write_text(render(json.loads((out / "bgan.json").read_text()), runs))
    print(f"wrote {page}")
    return 0

"""`rlcv bench bgan-schedule`: the table of a BGAN schedule pilot, from its per-schedule `rlcv bench bgan`
outputs.

A pilot is a few one-seed `rlcv bench bgan` runs (``--against train``), one ``--name`` per candidate
schedule, in one ``--out`` folder; :data:`PILOTS` names the two committed ones (``binary``:
`rlcv/BGAN-Digits-v0`, ``cont``: `rlcv/BGAN-DigitsCont-v0`). The page is the pilot's hand-written notes
(what was run, with the commands, and what was chosen) with the line ``<!-- table -->`` replaced by the
table built from the JSONs, then the regenerating command. The ``cont`` table also reads each run's
final policy (its ``run_dir``, not committed) for where the generator's mode sits.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDER = "<!-- table -->"


def binary_row(name: str, payload: Mapping[str, Any]) -> str:
    """Schedule, learning rate, latents and discriminator steps per update, then the final scores."""
    r = payload["runs"][0]
    f, c = r["final"], r["config"]
    disc_batch = (r["env_kwargs"] or {}).get("disc_batch_size", 256)
    d_steps = c["n_steps"] * c["n_samples"] / disc_batch
    return (
        f"| {name} | {c['learning_rate']} | {c['n_steps']} | {d_steps:g} | {f['updates']} | "
        f"{f['wall_seconds']:.0f} | {f['c2st_accuracy']:.3f} | {f['nn1_accuracy']:.3f} | {f['mmd2']:.4f} | "
        f"{f['confident_coverage']:.0f} | {f['confident_share']:.3f} |"
    )


def mode_range(run_dir: Path) -> tuple[float, float, float]:
    """(min, max, share in (0, 1)) of the generator's mode on 1000 latents U(−1, 1)^32 (rng seed 0): the
    Gaussian mean itself (clipped by the env) or, squashed, c + h tanh(mean)."""
    import numpy as np
    import torch

    from rlcv.evaluation import load_policy

    _, policy, _ = load_policy(run_dir)
    z = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1000, 32)).astype(np.float32))
    with torch.no_grad():
        mu = policy.mode(z)
    return float(mu.min()), float(mu.max()), float(((mu > 0) & (mu < 1)).float().mean())


def cont_row(
    name: str, payload: Mapping[str, Any], mode: Callable[[Path], tuple[float, float, float]]
) -> str:
    r = payload["runs"][0]
    f = r["final"]
    low, high, inside = mode(Path(r["run_dir"]))
    return (
        f"| {name} | {' '.join(payload['overrides'])} | {f['updates']} | {f['wall_seconds']:.0f} | "
        f"{f['c2st_accuracy']:.3f} | {f['nn1_accuracy']:.3f} | {f['mmd2']:.4f} | "
        f"{f['confident_coverage']:.0f} | {f['confident_share']:.3f} | {f['unique_fraction']:.3f} | "
        f"{f['across_latent_distance']:.2f} | "
        f"{r['train']['entropy']:.1f} | {low:.3g} .. {high:.3g} | {inside:.3f} |"
    )


@dataclass(frozen=True)
class Pilot:
    out: str  # folder of the per-schedule JSONs
    names: tuple[str, ...]
    page: str
    notes: str
    header: tuple[str, ...]


PILOTS = {
    "binary": Pilot(
        out="results/bgan_schedule",
        names=("A_lr1e-3_d5", "B_lr3e-4_d5", "C_lr1e-3_d10", "D_lr1e-3_n32"),
        page="results/bgan_schedule.md",
        notes="results/bgan_schedule_notes.md",
        header=(
            "| schedule | gen lr | latents / update | disc steps / update | updates | wall (s) "
            "| C2ST ↓ | 1-NN ↓ | MMD² ↓ | confident classes | confident share |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ),
    ),
    "cont": Pilot(
        out="results/bgan-digitscont_schedule",
        names=(
            "A_logstd0",
            "B_logstd-2",
            "C_logstd-3",
            "D_squash_logstd0",
            "E_squash_logstd-2",
            "F_squash_logstd-3",
        ),
        page="results/bgan-digitscont_schedule.md",
        notes="results/bgan-digitscont_schedule_notes.md",
        header=(
            "| schedule | overrides | updates | wall (s) | C2ST | 1-NN ↓ | MMD² ↓ | confident classes "
            "| confident share | unique fraction | L1 across latents | entropy of g "
            "| generator mode (min .. max) | share of mode pixels in (0, 1) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ),
    ),
}


def render(pilot: str, notes: str, payloads: Mapping[str, Mapping[str, Any]], command: str) -> str:
    """The notes with their ``<!-- table -->`` line replaced by the pilot's table, then the command."""
    spec = PILOTS[pilot]
    if pilot == "binary":
        rows = [binary_row(name, payloads[name]) for name in spec.names]
    else:
        rows = [cont_row(name, payloads[name], mode_range) for name in spec.names]
    lines = notes.rstrip("\n").splitlines()
    if lines.count(PLACEHOLDER) != 1:
        raise ValueError(f"the notes must hold the line {PLACEHOLDER} once")
    at = lines.index(PLACEHOLDER)
    page = [
        *lines[:at],
        *spec.header,
        *rows,
        *lines[at + 1 :],
        "",
        f"Regenerate: `{command}` (the table from "
        f"`{spec.out}/*.json`, the text around it from `{spec.notes}`).",
    ]
    return "\n".join(page) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bgan-schedule", help="the table of a BGAN schedule pilot (its `bench bgan` outputs)")
    p.add_argument("--pilot", choices=sorted(PILOTS), default="binary")
    p.add_argument(
        "--report-only", action="store_true", help="accepted; the pilot's runs are `rlcv bench bgan` commands"
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    spec = PILOTS[args.pilot]
    payloads = {}
    for path in (Path(spec.notes), *(Path(spec.out) / f"{name}.json" for name in spec.names)):
        if not path.is_file():
            print(f"rlcv bench bgan-schedule: {path} is missing", file=sys.stderr)
            return 2
    for name in spec.names:
        payloads[name] = json.loads((Path(spec.out) / f"{name}.json").read_text())
    command = f"rlcv bench bgan-schedule --pilot {args.pilot} --report-only"
    try:
        page = render(args.pilot, Path(spec.notes).read_text(), payloads, command)
    except (ValueError, FileNotFoundError) as e:
        print(f"rlcv bench bgan-schedule: {e}", file=sys.stderr)
        return 2
    Path(spec.page).write_text(page)
    print(f"wrote {spec.page}")
    return 0

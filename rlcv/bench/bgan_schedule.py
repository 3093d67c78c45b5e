"""`rlcv bench bgan-schedule`: the table of a BGAN schedule pilot, from its per-schedule `rlcv bench bgan`
outputs.

A pilot is a few one-seed `rlcv bench bgan` runs (``--against train``), one ``--name`` per candidate
schedule, in one ``--out`` folder; :data:`PILOTS` names the two committed ones (``binary``:
`rlcv/BGAN-Digits-v0`, ``cont``: `rlcv/BGAN-DigitsCont-v0`). The page is the pilot's hand-written notes
(what was run, with the commands, and what was chosen) with the line ``<!-- table -->`` replaced by the
table built from the JSONs (template ``bgan_schedule.md.j2``), then the regenerating command. The
``cont`` table also reads each run's final policy (its ``run_dir``, not committed) for where the
generator's mode sits (:func:`rlcv.gan.scoring.mode_range`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.errors import RlcvError

PLACEHOLDER = "<!-- table -->"


@dataclass(frozen=True)
class Pilot:
    out: str  # folder of the per-schedule JSONs
    names: tuple[str, ...]
    page: str
    notes: str


PILOTS = {
    "binary": Pilot(
        out="results/bgan_schedule",
        names=("A_lr1e-3_d5", "B_lr3e-4_d5", "C_lr1e-3_d10", "D_lr1e-3_n32"),
        page="results/bgan_schedule.md",
        notes="results/bgan_schedule_notes.md",
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
    ),
}


def render(
    pilot: str,
    notes: str,
    payloads: Mapping[str, Mapping[str, Any]],
    command: str,
    mode: Callable[[Path], tuple[float, float, float]] | None = None,
) -> str:
    """The notes with their ``<!-- table -->`` line replaced by the pilot's table, then the command;
    ``mode``: where a run's generator mode lies (``cont`` only; default :func:`mode_range`)."""
    from rlcv.bench.report import render as page
    from rlcv.gan.scoring import mode_range

    lines = notes.rstrip("\n").splitlines()
    if lines.count(PLACEHOLDER) != 1:
        raise RlcvError(f"the notes must hold the line {PLACEHOLDER} once")
    at, spec = lines.index(PLACEHOLDER), PILOTS[pilot]
    runs = [(name, payloads[name]["runs"][0], payloads[name]["overrides"]) for name in spec.names]
    return page(
        "bgan_schedule.md.j2", pilot=pilot, before=lines[:at], after=lines[at + 1 :], runs=runs, spec=spec,
        command=command, mode=lambda run_dir: (mode or mode_range)(Path(run_dir)),
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bgan-schedule", help="the table of a BGAN schedule pilot (its `bench bgan` outputs)")
    p.add_argument("--pilot", choices=sorted(PILOTS), default="binary")
    p.add_argument(
        "--report-only", action="store_true", help="accepted; the pilot's runs are `rlcv bench bgan` commands"
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.checks import require_report_input

    spec = PILOTS[args.pilot]
    for path in (Path(spec.notes), *(Path(spec.out) / f"{name}.json" for name in spec.names)):
        require_report_input(path, "bgan --against train")
    payloads = {name: json.loads((Path(spec.out) / f"{name}.json").read_text()) for name in spec.names}
    command = f"rlcv bench bgan-schedule --pilot {args.pilot} --report-only"
    Path(spec.page).write_text(render(args.pilot, Path(spec.notes).read_text(), payloads, command))
    print(f"wrote {spec.page}")
    return 0

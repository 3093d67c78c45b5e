"""`rlcv bench bgan-collapse`: which changes stop a BGAN generator collapsing, on paired seeds.

Each *variant* (:data:`VARIANTS`: a generator ``--algo``, ``--set`` overrides and env kwargs, all
declared here so the page lists every configuration tried) is trained with plain ``rlcv train`` on
seeds FIRST..FIRST+N−1 for ``--steps`` latents (``steps / n_steps`` generator updates), one process
and one thread per run (:mod:`rlcv.bench.runs`; runs go to ``RUNS/ENV/VARIANT/sSEED``). Every run's
final generator is scored by :func:`rlcv.envs.bgan_digits.score_digits` — the same code as
``rlcv bench bgan`` — including the collapse detector (:mod:`rlcv.gan.collapse`, thresholds from
the real training digits alone), against the held-out images or, to choose settings, against a
split of the training images (``--against train``). Its summary goes to
``OUT/NAME/summaries/VARIANT_sSEED.json`` and its 100-image grid to ``OUT/NAME/VARIANT_sSEED.png`` as
soon as it is scored (commit both; a re-invocation skips a scored run).

The page: every variant's mean [95 % t-interval] over seeds, the paired differences (same seed) of
every variant against ``--baseline``, optional reference rows (``--references``: real digits,
independent pixels, the product mixture, from :func:`rlcv.bench.bgan._reference_rows`), the
detector's thresholds and verdict per seed, and every seed's grid.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.report import md_table, met
from rlcv.bench.runs import RunJob, default_workers, train_then_score
from rlcv.bench.stats import mean_t, paired_t
from rlcv.errors import RlcvError

BASE_ENV_KWARGS: dict[str, Any] = {"disc_batch_size": 128}  # as results/bgan-6000.md


@dataclass(frozen=True)
class Variant:
    """One configuration: ``rlcv train --algo ALGO --set OVERRIDES --env-kwargs BASE | ENV_KWARGS``."""

    algo: str
    label: str
    overrides: tuple[str, ...] = ()
    env_kwargs: dict[str, Any] = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    "base": Variant("bgan", "BGAN, preset (as results/bgan-6000.md)"),
    "ent": Variant("bgan", "entropy bonus 0.05", ("ent_coef=0.05",)),
    "temper": Variant("bgan", "tempered weights softmax(0.5 log w)", ("weight_power=0.5",)),
    "sn": Variant("bgan", "spectral-norm discriminator", env_kwargs={"disc_spectral_norm": True}),
    "noise": Variant(
        "bgan", "instance noise σ = 0.3 in the discriminator", env_kwargs={"disc_instance_noise": 0.3}
    ),
    "m50": Variant("bgan", "M = 50 images per latent", ("n_samples=50",)),
    "gumbel": Variant("bgan-gumbel", "Gumbel-softmax, straight-through"),
    "reinforce": Variant("bgan-reinforce", "REINFORCE + moving-average baseline"),
}
# (summary key, column title) of the tables; the collapse statistics first.
METRICS = (
    ("c2st_accuracy", "C2ST ↓"),
    ("nn1_accuracy", "1-NN ↓"),
    ("mmd2", "MMD² ↓"),
    ("glyphs", "glyphs ↑"),
    ("label_tv", "label TV ↓"),
    ("within_latent_distance", "L1 within latent ↑"),
    ("confident_coverage", "confident classes ↑"),
)


def train_args(args: argparse.Namespace, name: str, seed: int) -> list[str]:
    """``rlcv train`` arguments of one run (the runner adds ``--run-dir``)."""
    v = VARIANTS[name]
    kwargs = {**BASE_ENV_KWARGS, **v.env_kwargs}
    cmd = ["train", "--algo", v.algo, "--env", args.env, "--steps", str(args.steps), "--seed", str(seed)]
    cmd += ["--num-threads", "1", "--no-progress", "--env-kwargs", json.dumps(kwargs)]
    return [*cmd, "--set", *v.overrides, f"checkpoint_freq={args.steps}"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench bgan-collapse`` to the bench subparsers."""
    from rlcv.bench.checks import existing_file, out_dir, positive_int, seed_count, seed_value

    p = sub.add_parser(
        "bgan-collapse", help="BGAN variants against collapse, paired seeds, detector per seed"
    )
    p.add_argument("--env", default="rlcv/BGAN-Digits-v0")
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["base"])
    p.add_argument("--baseline", default="base", help="the variant every other is paired against")
    p.add_argument("--seeds", type=seed_count, default=5, help="seeds FIRST..FIRST+N-1")
    p.add_argument("--first-seed", type=seed_value, default=0)
    p.add_argument("--steps", type=positive_int, default=38_400, help="latents per run (64 per update)")
    p.add_argument("--against", choices=("held-out", "train"), default="held-out")
    p.add_argument("--references", action="store_true", help="add real / independent / mixture rows")
    p.add_argument("--workers", type=positive_int, help="concurrent runs (default: one per core)")
    p.add_argument(
        "--out", type=out_dir, default="results", help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*"
    )
    p.add_argument("--name", default="bgan_collapse", help="file stem of the outputs")
    p.add_argument("--runs", type=out_dir, default="runs/bench-bgan-collapse", help="run directories")
    p.add_argument("--notes", type=existing_file, help="markdown placed under '## Reading'")
    p.add_argument("--report-only", action="store_true", help="rebuild OUT/NAME.md from OUT/NAME.json")
    p.add_argument(
        "--score-finished",
        action="store_true",
        help="train nothing: score the finished runs, leave the others (e.g. still training elsewhere)",
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        path = Path(args.out) / f"{args.name}.json"
        if not path.is_file():
            raise RlcvError(f"--report-only needs {path}; run the bench without --report-only first.")
        print(write_report(json.loads(path.read_text()), Path(args.out), args.name, args.notes))
    else:
        main(args)
    return 0


def _check(args: argparse.Namespace) -> None:
    from rlcv.env_factory import check_env_id

    check_env_id(args.env)
    if args.baseline not in args.variants:
        raise RlcvError(f"--baseline {args.baseline} must be one of --variants ({' '.join(args.variants)}).")
    if args.steps % 64:
        raise RlcvError(f"--steps ({args.steps}) must be a multiple of 64 (the latents of one update).")


def _summary(path: Path, targs: list[str], against: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    s = json.loads(path.read_text())
    if s.get("train_args") != targs or s.get("against") != against:
        raise RlcvError(
            f"'{path}' was made with other settings; pass another --name, or delete it to redo it."
        )
    return dict(s)


def score_run(args: argparse.Namespace, name: str, seed: int, job: RunJob, grids: Path) -> dict[str, Any]:
    """Score a finished run's final generator, save its grid and return its summary."""
    from rlcv.bench.bgan import _last_rows, _score_checkpoint, save_sample_grid
    from rlcv.run_dir import RunDir

    start = time.perf_counter()
    rd = RunDir(job.run_dir)
    final = _score_checkpoint(job.run_dir, rd.checkpoint(), args.against)
    save_sample_grid(job.run_dir, grids / f"{name}_s{seed}.png")
    rows = rd.metrics_rows()
    return {
        "variant": name,
        "seed": seed,
        "train_args": job.train_args,
        "against": args.against,
        "final": final,
        "train": _last_rows(job.run_dir),
        "wall_seconds": float(rows[-1]["time_elapsed"]),
        "score_seconds": time.perf_counter() - start,
    }


def _jobs(
    args: argparse.Namespace, grids: Path
) -> tuple[list[dict[str, Any]], list[tuple[RunJob, str, int]]]:
    done, todo = [], []
    root = Path(args.runs) / args.env.replace("/", "-")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.variants:
            targs = train_args(args, name, seed)
            s = _summary(grids / "summaries" / f"{name}_s{seed}.json", targs, args.against)
            if s is not None:
                done.append(s)
            else:
                todo.append(
                    (RunJob(f"{name} seed {seed}", root / name / f"s{seed}", targs, args.steps), name, seed)
                )
    return done, todo


def _score_and_save(
    args: argparse.Namespace, job: RunJob, name: str, seed: int, grids: Path
) -> dict[str, Any]:
    s = score_run(args, name, seed, job, grids)
    path = grids / "summaries" / f"{name}_s{seed}.json"
    path.with_suffix(".tmp").write_text(json.dumps(s, indent=1) + "\n")
    path.with_suffix(".tmp").replace(path)
    fin = s["final"]
    print(
        f"{name} seed {seed}: C2ST {fin['c2st_accuracy']:.3f}, glyphs {fin['glyphs']:.0f}, "
        f"collapse {fin['collapse']['fired'] or 'none'}",
        flush=True,
    )
    return s


def _references(args: argparse.Namespace, levels: int, grids: Path, compute: Any) -> dict[str, Any]:
    """The reference rows (``compute`` = :func:`rlcv.bench.bgan._reference_rows`), kept in
    ``OUT/NAME/references.json`` so a re-invocation does not refit the mixtures."""
    path = grids / "references.json"
    key = {"env": args.env, "seeds": args.seeds, "first_seed": args.first_seed, "against": args.against}
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return dict(stored["references"])
    ref_args = argparse.Namespace(**{**vars(args), "env_kwargs": BASE_ENV_KWARGS})
    refs = compute(ref_args, levels, grids)
    path.write_text(json.dumps({"key": key, "references": refs}, indent=1))
    return dict(refs)


def main(args: argparse.Namespace) -> dict[str, Any]:
    from rlcv.bench.bgan import _levels, _reference_rows
    from rlcv.envs.bgan_digits import collapse_thresholds
    from rlcv.gan.metrics import platform_record

    _check(args)
    out, grids = Path(args.out), Path(args.out) / args.name
    (grids / "summaries").mkdir(parents=True, exist_ok=True)
    done, todo = _jobs(args, grids)
    if getattr(args, "score_finished", False):
        ready = [t for t in todo if t[0].is_finished()]
        for job, _, _ in (t for t in todo if t not in ready):
            print(f"{job.name}: not finished, left out", flush=True)
        runs = done + [_score_and_save(args, job, name, seed, grids) for job, name, seed in ready]
    else:
        scores = [(job, partial(_score_and_save, args, job, name, seed, grids)) for job, name, seed in todo]
        runs = done + train_then_score(scores, args.workers or default_workers())
    levels = _levels(args.env, BASE_ENV_KWARGS)
    payload: dict[str, Any] = {
        "command": shlex.join(["rlcv", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "",
        "env": args.env,
        "levels": levels,
        "steps": args.steps,
        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "variants": {
            n: {**VARIANTS[n].__dict__, "train_args": train_args(args, n, 0)} for n in args.variants
        },
        "baseline": args.baseline,
        "against": args.against,
        "thresholds": collapse_thresholds(levels).as_dict(),
        "platform": platform_record(),
        "runs": sorted(runs, key=lambda r: (args.variants.index(r["variant"]), r["seed"])),
    }
    if args.references:
        payload["references"] = _references(args, levels, grids, _reference_rows)
    (out / f"{args.name}.json").write_text(json.dumps(payload, indent=1, default=list))
    print(write_report(payload, out, args.name, args.notes))
    return payload


# ---------------------------------------------------------------------------- report


def _rows(payload: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """Row name → seed → record with ``final`` scores (variants, then reference rows)."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for r in payload["runs"]:
        rows.setdefault(r["variant"], {})[r["seed"]] = r
    for name, refs in (payload.get("references") or {}).get("rows", {}).items():
        rows[name] = {r["seed"]: r for r in refs}
    return rows


def _value(rec: dict[str, Any], key: str) -> float:
    if key == "ess":
        return float(rec.get("train", {}).get("ess", float("nan")))
    v = rec["final"].get(key)
    return float("nan") if v is None else float(v)


def _mean_table(payload: dict[str, Any], rows: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    header = ["row", *(t for _, t in METRICS), "ESS (of M)", "collapsed seeds"]
    body = []
    for name, by_seed in rows.items():
        recs = list(by_seed.values())
        cells = [mean_t([_value(r, k) for r in recs]).fmt(".3f") for k, _ in METRICS]
        ess = mean_t([_value(r, "ess") for r in recs]).fmt(".2f") if name in payload["variants"] else "—"
        n_coll = sum(bool(r["final"]["collapse"]["collapsed"]) for r in recs if "collapse" in r["final"])
        body.append([f"`{name}`", *cells, ess, f"{n_coll}/{len(recs)}"])
    return md_table(header, body)


def _paired_table(payload: dict[str, Any], rows: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    base = rows[payload["baseline"]]
    header = [f"row − `{payload['baseline']}`", *(t for _, t in METRICS), "ESS"]
    body = []
    for name, by_seed in rows.items():
        if name == payload["baseline"]:
            continue
        seeds = sorted(set(base) & set(by_seed))
        keys = [k for k, _ in METRICS] + (["ess"] if name in payload["variants"] else [])
        cells = []
        for k in keys:
            iv = paired_t([_value(by_seed[s], k) for s in seeds], [_value(base[s], k) for s in seeds])
            cells.append(iv.fmt("+.3f") + (" *" if iv.excludes(0.0) else ""))
        body.append([f"`{name}`", *cells, *(["—"] if len(cells) < len(header) - 1 else [])])
    return md_table(header, body)


def _per_seed_table(rows: dict[str, dict[int, dict[str, Any]]], variants: dict[str, Any]) -> list[str]:
    header = ["row", "seed", "C2ST", "glyphs", "label TV", "L1 within", "ESS", "entropy of g", "fired"]
    body = []
    for name, by_seed in rows.items():
        if name not in variants:
            continue
        for seed, r in sorted(by_seed.items()):
            f, t = r["final"], r["train"]
            body.append(
                [
                    f"`{name}`",
                    str(seed),
                    f"{f['c2st_accuracy']:.3f}",
                    f"{f['glyphs']:.0f}",
                    f"{f['label_tv']:.3f}",
                    f"{f.get('within_latent_distance', float('nan')):.2f}",
                    f"{t.get('ess', float('nan')):.2f}",
                    f"{t.get('entropy', float('nan')):.2f}",
                    ", ".join(f["collapse"]["fired"]) or "none",
                ]
            )
    return md_table(header, body)


def _targets(payload: dict[str, Any], rows: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """Issue 29's targets per variant: no collapsed seed; ahead of independent pixels on the three
    two-sample metrics (paired intervals below 0), when the reference rows are there."""
    lines = []
    for name in payload["variants"]:
        recs = rows.get(name, {})
        fired = [
            f"s{s}: {', '.join(r['final']['collapse']['fired']) or 'none'}" for s, r in sorted(recs.items())
        ]
        ok = bool(recs) and not any(r["final"]["collapse"]["collapsed"] for r in recs.values())
        lines.append(f"- `{name}`: no collapsed seed: {met(ok)} ({'; '.join(fired)}).")
        if "independent" not in rows or not recs:
            continue
        seeds = sorted(set(recs) & set(rows["independent"]))
        for key, title in METRICS[:3]:
            iv = paired_t(
                [_value(recs[s], key) for s in seeds], [_value(rows["independent"][s], key) for s in seeds]
            )
            lines.append(
                f"- `{name}` ahead of independent pixels on {title.rstrip(' ↓')} (interval below 0): "
                f"{met(iv.high < 0, iv.high)} ({name} − independent {iv.fmt('+.3f')})."
            )
    return lines


def _threshold_lines(th: dict[str, Any]) -> list[str]:
    return [
        f"Collapse detector (`rlcv.gan.collapse`), thresholds from {th['n']}-image subsets of the real "
        f"training "
        f"digits alone: glyph radius r = {th['radius']:.3f} (median nearest-neighbour L1); real digits give "
        f"{th['real_glyphs']:.1f} glyphs, the two rarest classes hold s₂ = {th['two_rarest_share']:.3f}. "
        f"A seed is **collapsed** when glyphs < {th['min_glyphs']:.1f} (few distinct glyphs), label TV > "
        f"{th['max_label_tv']:.3f} (class histogram far from real) or L1 within a latent < "
        f"{th['min_within_latent']:.3f} (one glyph per latent).",
    ]


def _grid_lines(payload: dict[str, Any], name: str) -> list[str]:
    seeds = payload["seeds"]
    header = ["variant", *(f"seed {s}" for s in seeds)]
    body = [[f"`{v}`", *(f"![{v} s{s}]({name}/{v}_s{s}.png)" for s in seeds)] for v in payload["variants"]]
    return md_table(header, body)


def write_report(payload: dict[str, Any], out: Path, name: str, notes: str | None = None) -> str:
    rows = _rows(payload)
    first = payload["runs"][0] if payload["runs"] else None
    regen = f"    {payload['command']}" if payload["command"] else ""
    lines = [
        f"# BGAN collapse remedies on `{payload['env']}`",
        "",
        *(["Regenerate with:", "", regen, ""] if regen else []),
        f"{len(payload['seeds'])} seeds ({payload['seeds'][0]}..{payload['seeds'][-1]}) per variant, "
        f"{payload['steps'] // 64} generator updates each (64 latents per update), scored against the "
        f"{'held-out' if payload['against'] == 'held-out' else 'training-split'} digits by `score_digits` "
        f"(C2ST / 1-NN: 0.5 = indistinguishable). Cells: mean [95 % t-interval] over seeds.",
        "",
        *_threshold_lines(payload["thresholds"]),
        "",
        "## Variants",
        "",
        *md_table(
            ["variant", "what", "rlcv train arguments (seed 0)"],
            [
                [f"`{n}`", v["label"], f"`{shlex.join(v['train_args'])}`"]
                for n, v in payload["variants"].items()
            ],
        ),
        "",
        "## Scores",
        "",
        *_mean_table(payload, rows),
        "",
        "## Paired differences (same seed; * = the 95 % interval excludes 0)",
        "",
        *_paired_table(payload, rows),
        "",
        "## Targets (issue 29)",
        "",
        *_targets(payload, rows),
        "",
        "## Per seed (collapse detector)",
        "",
        *_per_seed_table(rows, payload["variants"]),
        "",
        "## Samples (100 evaluation latents, every seed)",
        "",
        *_grid_lines(payload, name),
        "",
    ]
    if notes:
        lines += ["## Reading", "", Path(notes).read_text().strip(), ""]
    if first is not None:
        lines += [
            f"Wall-clock per run: {min(r['wall_seconds'] for r in payload['runs']):.0f}–"
            f"{max(r['wall_seconds'] for r in payload['runs']):.0f} s (machine shared with other sweeps).",
            "",
        ]
    text = "\n".join(lines)
    (out / f"{name}.md").write_text(text)
    return text

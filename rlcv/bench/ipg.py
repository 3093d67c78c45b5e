"""`rlcv bench ipg`: Nash equilibria of integer programming (knapsack, lot-sizing) games by SGM / m-SGM,
against Carvalho, Dragotto, Lodi, Pedroso, "Computing equilibria for integer programming games" (EJOR 2022).

Single instance (users and checks)::

    rlcv bench ipg --instance FILE.npy --method m-sgm|sgm|enum --time-limit S --json OUT

writes OUT = :func:`rlcv.games.records.solve_instance`'s record ("solved", "seconds" (wall),
"cpu_seconds", "nash_conv" — the exact Σ_p regret, not counted in the time —, "players", "iterations",
...). A time-out is ``"solved": false`` (exit 1); a malformed file or an infeasible player is a one-line
error (exit 2).

Table mode (no ``--instance``): the sets ``--sets`` (knapsack ``MxN``, lot-sizing ``lsMxT``), one record
per (set, instance, method) in ``OUT/ipg/FAMILY/METHOD/Game_m_n_ins.json`` (:func:`rlcv.games.sweep.
solve_cell`, launched by the bench runner :func:`rlcv.bench.runs.run_tasks`: an existing record is
skipped, so an interrupted sweep resumes; ``--workers`` / ``--backend``; one line first gives the solves
left and a time estimate), then the page ``OUT/ipg.md`` (template ``ipg.md.j2``) + ``OUT/ipg.json``.
The paper ran Gurobi 9 on 2 threads with a 3600 s limit; here HiGHS on the shared 2-core machine,
``--time-limit`` per instance (600 s default).

Instances (:class:`~rlcv.games.paper_files.InstanceSource`): ``--data DIR`` (the paper's files and ``.txt``
results), else the paper's generator; docs/cli.md and each section's "Instances:" line say which, and paper
columns stand only beside the paper's results on the same instances (template ``ipg.md.j2``).

Fresh games (``--fresh N --sizes 2x20 2x40 3x20 --seed S``): m-SGM on N new knapsack games per size from
the paper's generator, under a CPU cap per game (:func:`rlcv.games.sweep.solve_fresh_game` through the
runner; records ``OUT/ipg_fresh/MxN/game_III.json``, one made under another cap refused); the page
``OUT/ipg_fresh.md`` (template ``ipg_fresh.md.j2``, + ``.json``, figure ``ipg_fresh_cpu.png``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir, out_file, positive_float, positive_int, require_summaries, seed_value
from rlcv.bench.figures import ipg_fresh_figure as plot  # a seam the regeneration test stubs
from rlcv.bench.flags import flag, spec_of
from rlcv.bench.report import add_bench, fmt_interval, render, write_page
from rlcv.bench.runs import ResultStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.errors import RlcvError
from rlcv.files import write_text
from rlcv.games.comparisons import (
    enum_speed_ratio,
    fresh_summary,
    instances_source,
    lot_sizing_target,
    paper_records,
    per_instance,
    same_payoff,
    set_summary,
)
from rlcv.games.paper_files import KNAPSACK_SEED
from rlcv.games.records import METHODS, cpu, record_source, solve_instance
from rlcv.games.sweep import (
    FAMILIES,
    Record,
    estimate_line,
    fresh_games,
    parse_set,
    read_records,
    result_path,
    set_cells,
    set_key,
    solve_cell,
    solve_fresh_game,
)

DEFAULT_SETS = ["2x20", "2x40", "2x80", "3x10", "3x20", "ls2x10", "ls2x20", "ls2x50", "ls2x100"]
FRESH_SIZES = ("2x20", "2x40", "3x20", "3x10", "2x80")  # rlcv bench ipg --fresh
# Targets of issue 28 (CPU seconds per fresh game): size → (p90 bound, max bound, every game solved).
FRESH_TARGETS = {"2x40": (5.0, 30.0, True), "3x20": (5.0, 30.0, True), "2x20": (None, 5.0, False)}
FIGURE = "ipg_fresh_cpu.png"
DEFAULT_DATA = Path("../shared/ipg")  # the paper's files on the developers' machines (not in a clone)
# The committed run (a checkout's results/ipg/): its per-instance wall seconds estimate a sweep's time.
REFERENCE_OUT = Path(__file__).resolve().parents[2] / "results"


@dataclass(kw_only=True)
class IpgSpec:
    """`rlcv bench ipg`'s flags: one instance, the table, or fresh games."""

    instance: str | None = flag(
        None, help="solve one .npy instance (the paper's layout) instead of the table"
    )
    method: str = flag("m-sgm", choices=list(METHODS), help="with --instance")
    json: str | None = flag(
        None, type=out_file, help="with --instance: write the result here (default: print it)"
    )
    time_limit: float = flag(600.0, type=positive_float, help="seconds per instance")
    sets: list[str] = flag(DEFAULT_SETS, help="table: knapsack sets MxN")
    methods: list[str] = flag(["m-sgm", "sgm"], choices=list(METHODS))
    instances: int = flag(10, type=positive_int, help="table: instances 0..N-1 per set")
    data: str | None = flag(
        None,
        help="table: the paper's instance folder (knapsack/, lot_sizing/: its .npy files and .txt results; "
        f"default {DEFAULT_DATA} when present, else the paper's generator draws the instances)",
    )
    out: str = flag("results", type=out_dir)
    report_only: bool = flag(False, help="table: rebuild the report from OUT/ipg/")
    fresh: int | None = flag(
        None, type=positive_int, help="N new games per size (--sizes) by the paper's generator, m-SGM each"
    )
    sizes: list[str] = flag(list(FRESH_SIZES), help="with --fresh: knapsack sizes MxN")
    seed: int = flag(0, type=seed_value, help="with --fresh: the seed the games are drawn from")
    cpu_limit: float = flag(60.0, type=positive_float, help="with --fresh: CPU seconds per game")


def run_table(spec: IpgSpec, data: Path | None, pool: dict[str, Any]) -> dict[str, Any]:
    """Solve every missing (set, instance, method), then write the report from the result files.
    ``data``: the paper's folder, or None (every instance generated, no paper columns)."""
    parsed = [parse_set(s) for s in spec.sets]
    out = Path(spec.out)
    if spec.report_only:
        require_summaries(out / "ipg", "Game_*.json", "per-instance results")
    else:
        if line := estimate_line(parsed, spec.methods, out, spec.time_limit, spec.instances, REFERENCE_OUT):
            print(line, flush=True)
        solve = partial(solve_cell, data, spec.time_limit, spec.instances)
        cells = set_cells(parsed, spec.methods, spec.instances)
        tasks = [Task("{}/{}/Game_{}_{}_{}".format(*c), {}, partial(solve, c)) for c in cells]
        run_tasks(ResultStore(out / "ipg"), tasks, **pool)
    return write_report(parsed, spec.methods, data, out, spec.time_limit, spec.instances)


# -- the report ---------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "pure" if v else "mixed"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def _row_cells(rec: Record) -> list[str]:
    if rec is None:
        return ["–"] * 5
    if not rec.get("solved"):
        return ["t/o" if "seconds" in rec else "err", _fmt(rec.get("iterations")), "–", "–", "–"]
    fields = (cpu(rec), rec["iterations"], rec["sampled_sizes"], rec["support_sizes"], rec["pure"])
    return [_fmt(v) for v in fields]


def _instance_rows(
    ours: list[Record], paper: list[Record], has_paper: bool
) -> tuple[list[list[str]], list[str]]:
    """The section's table rows (ours, then the paper's columns where it has them) and payoff checks."""
    rows, sames = [], []
    for ins, (rec, pap) in enumerate(zip(ours, paper, strict=True)):
        nc = None if rec is None else rec.get("nash_conv")
        rows.append([str(ins), *_row_cells(rec), "–" if nc is None else f"{nc:.1e}"])
        if has_paper:
            sames.append(same_payoff(rec, pap))
            rows[-1] += [*_row_cells(pap), sames[-1]]
    return rows, sames


def _section(
    data: Path | None, out: Path, cell: tuple[str, str, int, int], instances: int
) -> tuple[dict, dict]:
    """One set and method: its page section's data, and its record for ``ipg.json``."""
    family, method, m, n = cell
    ours = read_records(out, family, method, m, n, instances)
    paper, table07 = paper_records(data, ours, family, method, m, n)
    has_paper = any(p is not None for p in paper)
    where, short = instances_source({i: record_source(r) for i, r in enumerate(ours) if r is not None})
    rows, sames = _instance_rows(ours, paper, has_paper)
    header = ["ins", "s", "iter", "sizes", "supp", "NE", "nc"]
    header += ["paper s", "iter", "sizes", "supp", "NE", "=payoff"] if has_paper else []
    limits = sorted({r["time_limit"] for r in ours if r is not None and "time_limit" in r})
    so, sp = set_summary(ours), set_summary(paper)
    section = {"family": family, "method": method, "m": m, "n": n, "instances": where, "has_paper": has_paper}
    section |= {"header": header, "rows": rows, "table07": table07, "wins": None, "not_comparable": None}
    section |= {"limit": f" (limit {', '.join(f'{v:g}' for v in limits)} s)" if limits else ""}
    section |= {"ours": _shown(so), "paper": _shown(sp)}
    section |= per_instance(ours, paper, sames) if has_paper and not table07 else {}
    section["target"] = lot_sizing_target(ours, paper, table07) if family == "lot_sizing" else None
    return section, {"instances": short, "ours": so, "paper": sp if has_paper else None}


def _shown(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        **summary,
        "mean_seconds": _fmt(summary["mean_seconds"]),
        "mean_iterations": _fmt(summary["mean_iterations"]),
    }


def write_report(
    sets: list[tuple[str, int, int]],
    methods: list[str],
    data: Path | None,
    out: Path,
    time_limit: float,
    instances: int,
) -> dict[str, Any]:
    """``OUT/ipg.md`` and ``OUT/ipg.json`` from the per-instance files and, with ``data``, the paper's
    ``.txt``; paper columns only in sections with paper results on the same instances."""
    report: dict[str, Any] = {"time_limit_s": time_limit, "sets": {}}
    sections = []
    for family, m, n in sets:
        for method in methods:
            if not any(result_path(out, family, method, m, n, 0).parent.glob(f"Game_{m}_{n}_*.json")):
                continue  # e.g. enum runs only on the small sets: no empty sections
            section, record = _section(data, out, (family, method, m, n), instances)
            sections.append(section)
            report["sets"][f"{set_key(family, m, n)}/{method}"] = record
    ratios = _speed_ratios(sets, out, instances, report) if {"enum", "m-sgm"} <= set(methods) else None
    page = render(
        "ipg.md.j2", time_limit=time_limit, knapsack_seed=KNAPSACK_SEED, sections=sections, ratios=ratios
    )
    write_page(out, "ipg", page.rstrip("\n") + "\n", report)
    return report


def _speed_ratios(
    sets: list[tuple[str, int, int]], out: Path, instances: int, report: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per knapsack set with both enum and m-SGM records: :func:`~rlcv.games.comparisons.enum_speed_ratio`
    for the page (each instance's ratio as its cell, ≥ for a lower bound) and ``ipg.json``."""
    shown = []
    for family, m, n in sets:
        enums, msgms = (read_records(out, family, method, m, n, instances) for method in ("enum", "m-sgm"))
        if family != "knapsack" or (ratio := enum_speed_ratio(enums, msgms, m, n)) is None:
            continue
        cells = ["–" if r is None else f"{'' if r[1] else '≥'}{r[0]:.0f}" for r in ratio["per_instance"]]
        shown.append({**ratio, "m": m, "n": n, "cells": cells, "count": len(ratio["ratios"])})
        shown[-1]["solved"] = sum(ratio["enum_solved"])
        keys = ("ratios", "enum_solved", "median")
        report.setdefault("speed_ratio", {})[f"{m}x{n}"] = {k: ratio[k] for k in keys} | {
            "median_is_lower_bound": not ratio["exact"]
        }
    return shown


# -- fresh games --------------------------------------------------------------------------------------
def _fresh_records(out: Path, key: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "ipg_fresh" / key).glob("game_*.json"))]


def _nc(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _with_nc(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "nc": _nc(rec["nash_conv"])}


def _fresh_row(key: str, s: dict[str, Any]) -> list[str]:
    cpu_s = [fmt_interval(s["median_cpu_s"], ".2f"), f"{s['p90_cpu_s']:.2f}", f"{s['max_cpu_s']:.2f}"]
    counts = [str(s["milp_games"]), str(s["backtracking_games"])]
    return [key, f"{s['solved']}/{s['games']}", *cpu_s, _nc(s["worst_nash_conv"]), *counts]


def write_fresh(out: Path, sizes: list[str], count: int) -> dict[str, Any]:
    """``OUT/ipg_fresh.md``, ``.json`` and the figure, from the per-game records; the paper instances
    the solver could not finish before (``rlcv bench ipg --instance ... --json
    OUT/ipg_fresh/paper/NAME.json``) listed apart."""
    summaries = {key: fresh_summary(_fresh_records(out, key)) for key in sizes}
    summaries = {k: s for k, s in summaries.items() if s["games"]}
    seeds = sorted({r["seed"] for key in summaries for r in _fresh_records(out, key)})
    limits = sorted({v for s in summaries.values() for v in s["cpu_limit_s"]})
    command = (
        f"rlcv bench ipg --fresh {count} --sizes {' '.join(sizes)} --seed {' '.join(map(str, seeds)) or 'S'} "
        f"--cpu-limit {' '.join(f'{v:g}' for v in limits) or '60'} --out {out}"
    )
    tail = _fresh_records(out, "tail")
    paper = sorted((out / "ipg_fresh" / "paper").glob("Game_*.json"))
    page = render(
        "ipg_fresh.md.j2",
        command=command,
        rows=[_fresh_row(k, s) for k, s in summaries.items()],
        targets=[(k, summaries[k], *t) for k, t in FRESH_TARGETS.items() if k in summaries],
        tail=_with_nc(tail[0]) if tail else None,
        paper=[
            (Path(r["instance"]).name, p, _with_nc(r)) for p in paper for r in [json.loads(p.read_text())]
        ],
        figure=FIGURE,
    )
    if summaries:
        plot(out / FIGURE, {key: _fresh_records(out, key) for key in summaries})
    report = {"command": command, "sizes": summaries}
    write_page(out, "ipg_fresh", page, report)
    return report


def _same_cap(path: Path, rec: dict[str, Any], params: dict[str, Any]) -> None:
    """A fresh game's record is reused only under the cap it was solved with."""
    if rec.get("cpu_limit") != params["cpu_limit"]:
        raise RlcvError(
            f"'{path}' was solved with --cpu-limit {rec.get('cpu_limit')}, not {params['cpu_limit']:g}; "
            "give the same cap, or another --out."
        )


# -- CLI ----------------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    about = "integer programming games: SGM / m-SGM equilibria vs the paper"
    add_pool_flags(add_bench(sub, "ipg", IpgSpec, run, help=about))


def _has_instances(folder: Path) -> bool:
    return any((folder / family).is_dir() for family in FAMILIES.values())


def table_data(given: str | None) -> Path | None:
    """Table mode's paper folder: ``--data`` (it must exist and hold knapsack/ or lot_sizing/), else
    :data:`DEFAULT_DATA` when present, else None (every instance generated)."""
    if given is None:
        return DEFAULT_DATA if _has_instances(DEFAULT_DATA) else None
    data = Path(given)
    fix = (
        "give the folder of the paper's instances (knapsack/, lot_sizing/; github.com/mxmmargarida/IPG) "
        "or leave --data out to generate them with the paper's generator."
    )
    if not data.is_dir():
        raise RlcvError(f"--data '{given}' does not exist; {fix}")
    if not _has_instances(data):
        raise RlcvError(f"--data '{given}' has no knapsack/ or lot_sizing/ folder; {fix}")
    return data


def _run_instance(spec: IpgSpec) -> int:
    """Solve ``--instance``; its record printed, or written to ``--json``. 0 when solved, 1 when not."""
    assert spec.instance is not None
    rec = solve_instance(spec.instance, spec.method, spec.time_limit)
    if not spec.json:
        print(json.dumps(rec))
        return 0 if rec["solved"] else 1
    try:
        Path(spec.json).parent.mkdir(parents=True, exist_ok=True)  # checked creatable at parsing
        write_text(spec.json, json.dumps(rec) + "\n")  # atomically: a full disk leaves no 0-byte file
    except OSError as exc:
        raise RlcvError(f"cannot write --json '{spec.json}' ({exc.strerror or exc}).") from None
    nc = "n/a" if rec["nash_conv"] is None else f"{rec['nash_conv']:.3g}"
    print(f"solved={rec['solved']} seconds={rec['seconds']:.3f} nash_conv={nc} -> {spec.json}")
    return 0 if rec["solved"] else 1


def run(args: argparse.Namespace) -> int:
    """Single instance: exit 0 when solved, 1 when not (time-out); table and fresh: 0."""
    spec = spec_of(IpgSpec, args)
    if spec.fresh is not None:  # games interleaved across sizes, then the page
        games = fresh_games(spec.sizes, spec.fresh, spec.seed)
        if spec.report_only:
            require_summaries(Path(spec.out) / "ipg_fresh", "game_*.json", "per-game summaries")
        else:
            params, solve = {"cpu_limit": spec.cpu_limit}, partial(solve_fresh_game, cpu_limit=spec.cpu_limit)
            tasks = [Task(f"{key}/game_{i:03d}", params, partial(solve, game)) for key, i, game in games]
            run_tasks(ResultStore(Path(spec.out) / "ipg_fresh", _same_cap), tasks, **pool_of(args))
        write_fresh(Path(spec.out), spec.sizes, spec.fresh)
        return 0
    if spec.instance:
        return _run_instance(spec)
    data = table_data(spec.data)
    if data is None and not spec.report_only:
        print(
            f"ipg: no --data and {DEFAULT_DATA} (the paper's instance files) is absent: generating the "
            "instances with the paper's generator (knapsack m = 2, n = 20/40/80/100: the paper's files bit "
            "for bit; other sets: new draws, labelled) — no paper columns; --data DIR for the paper's files",
            flush=True,
        )
    run_table(spec, data, pool_of(args))
    return 0

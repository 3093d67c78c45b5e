"""`rlcv bench ipg-versions --old REF`: is m-SGM / SGM slower on the paper's instances than at REF?

Every paper instance that ``results/ipg.md`` covers (the files under ``--data``; SGM on the sets the page
runs it on) is solved by the code of two commits in their own worker processes
(:mod:`rlcv.games.versions`): a worker first solves one instance of each family untimed (imports, lazy
solver set-up), then per instance ``--repeats`` interleaved old / new pairs (:func:`~rlcv.games.versions.
interleave`; after a pair with a time-out no further pair). Per instance the summary
``OUT/ipg_versions/FAMILY/METHOD/Game_m_n_ins.json`` (a :class:`~rlcv.bench.runs.SummaryStore` entry;
params: the two commits' ``rlcv/games`` trees, repeats, time limit) is written as soon as it is measured;
an existing one is skipped, so a sweep resumes; one made with other params is an error. ``--confirm``
re-measures each cell found slower into ``OUT/ipg_versions/confirm/``. The page ``OUT/ipg_versions.md``
(+ ``.json``; template ``ipg_versions.md.j2``) is rebuilt from the summaries (``--report-only``: only
that): per instance the medians, the ratio new / old with its paired bootstrap interval over the repeats
and its verdict (:func:`rlcv.games.versions.compare`), and issue 28's targets
(:func:`rlcv.games.versions.summarize`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir, positive_float, positive_int, require_summaries
from rlcv.bench.flags import flag, spec_of
from rlcv.bench.report import add_bench, fmt_interval, render, write_page
from rlcv.bench.runs import SummaryStore
from rlcv.errors import RlcvError
from rlcv.games.versions import (
    SLOWER,
    agrees_with_paper,
    code_identity,
    compare,
    git,
    is_2x20,
    load,
    measure_cells,
    plan,
    summarize,
)

SETS = ["2x10", "2x20", "2x40", "2x80", "3x10", "3x20", "ls2x10", "ls2x20"]
FOLDER = "ipg_versions"


@dataclass(kw_only=True)
class VersionsSpec:
    """`rlcv bench ipg-versions`'s flags."""

    old: str | None = flag(None, help="the commit whose code is the baseline (required unless --report-only)")
    new: str = flag("HEAD", help="the commit measured against it (default HEAD)")
    sets: list[str] = flag(SETS, help="instance sets (as rlcv bench ipg)")
    methods: list[str] = flag(["m-sgm", "sgm"], choices=["m-sgm", "sgm"])
    repeats: int = flag(9, type=positive_int, help="interleaved old/new pairs per instance")
    time_limit: float = flag(120.0, type=positive_float, help="wall seconds per solve")
    data: str = flag("../shared/ipg", help="the paper's files (knapsack/, lot_sizing/)")
    out: str = flag("results", type=out_dir)
    report_only: bool = flag(False, help="rebuild the page from OUT/ipg_versions/")
    confirm: bool = flag(False, help="re-measure the cells found slower, fresh pairs")


# -- measuring -----------------------------------------------------------------------------------------
Cell = tuple[str, str, str]  # (family, method, name)
Todo = list[tuple[SummaryStore, str, str, Path]]  # (store, method, name, file) of the cells to measure


def measure(spec: VersionsSpec, data: Path, out: Path) -> None:
    """Solve every instance without a summary, interleaved, writing each summary as it is measured;
    with ``--confirm``, then re-measure each cell found slower into ``OUT/ipg_versions/confirm/``."""
    if not spec.old:
        raise RlcvError("--old is required: the commit whose code is the baseline (e.g. --old 305583f).")
    repo = Path(git(Path(__file__).parent, "rev-parse", "--show-toplevel").decode().strip())
    old, new = code_identity(repo, spec.old), code_identity(repo, spec.new)
    params = {"old": old["games_tree"], "new": new["games_tree"], "repeats": spec.repeats}
    params["time_limit"] = spec.time_limit
    files = {(fam, method, name): path for fam, method, name, path in plan(data, spec.methods, spec.sets)}
    if todo := _missing(out / FOLDER, files, params):
        measure_cells(todo, repo, old, new, params)
    if spec.confirm:
        stored = {k: SummaryStore(out / FOLDER / k[0] / k[1]).get(k[2], params) for k in files}
        flagged = {k: files[k] for k, rec in stored.items() if rec and compare(rec)["verdict"] == SLOWER}
        if todo := _missing(out / FOLDER / "confirm", flagged, params):
            print(f"ipg-versions: confirming {len(todo)} cell(s) found slower, with fresh pairs", flush=True)
            measure_cells(todo, repo, old, new, params)


def _missing(folder: Path, files: dict[Cell, Path], params: dict[str, Any]) -> Todo:
    stores = {key: SummaryStore(folder / key[0] / key[1]) for key in files}
    return [(stores[k], k[1], k[2], path) for k, path in files.items() if stores[k].get(k[2], params) is None]


# -- the page ------------------------------------------------------------------------------------------
def _seconds(value: float, solved: bool) -> str:
    return f"{value:.3f}" if solved else f"t/o (≥ {value:.1f})"


def _ratio_cell(c: dict[str, Any]) -> str:
    if c["old_solved"] and c["new_solved"]:
        return fmt_interval(c["ratio"], ".2f")
    return f"{'≤' if c['new_solved'] else '≥'} {c['new_s'] / c['old_s']:.2f}"


def section(
    recs: list[dict[str, Any]], comps: list[dict[str, Any]], data: Path
) -> tuple[str, list, list, str]:
    """One set and method: (title, header, a row per instance, align); the paper's payoffs beside ours
    on m = 2, n = 20."""
    first, with_paper = recs[0], is_2x20(recs[0])
    header = ["ins", "old CPU s", "new CPU s", "new / old [95 %]", "verdict", "same NE as old"]
    rows = []
    for rec, c in zip(recs, comps, strict=True):
        verdict = c["verdict"]
        if again := c.get("confirm"):
            verdict += f"; again {_ratio_cell(again)}: {again['verdict'] or 'not shown'}"
        same = "–" if c["same_ne"] is None else "yes" if c["same_ne"] else "no"
        row = [rec["name"].rsplit("_", 1)[1], _seconds(c["old_s"], c["old_solved"])]
        row += [_seconds(c["new_s"], c["new_solved"]), _ratio_cell(c), verdict, same]
        rows.append(row + (["yes" if agrees_with_paper(data, rec, c) else "no"] if with_paper else []))
    _, m, n, _ = first["name"].split("_")
    size = f"T = {n}" if first["family"] == "lot_sizing" else f"n = {n}"
    title = f"{first['family']}: m = {m}, {size}, {first['method']}"
    return title, header + ["= paper's payoffs"] * with_paper, rows, "lrrrll" + "l" * with_paper


def _command(recs: list[dict[str, Any]], out: Path, confirm: bool) -> str:
    """The command that made the summaries (the first summary's commits: every summary of one tree is
    reused by any commit with that tree)."""
    repeats = " ".join(map(str, sorted({r["params"]["repeats"] for r in recs})))
    limits = " ".join(f"{v:g}" for v in sorted({r["params"]["time_limit"] for r in recs}))
    old, new = (recs[0][a]["commit"][:7] if recs else "REF" for a in ("old", "new"))
    return (
        f"rlcv bench ipg-versions --old {old} --new {new} --repeats {repeats} "
        f"--time-limit {limits}{' --confirm' if confirm else ''} --out {out}"
    )


def write_report(out: Path, data: Path) -> dict[str, Any]:
    """``OUT/ipg_versions.md`` and ``.json`` from the summaries."""
    recs = load(out / FOLDER)
    again = {(r["family"], r["method"], r["name"]): compare(r) for r in load(out / FOLDER / "confirm")}
    comps = [{**compare(r), "confirm": again.get((r["family"], r["method"], r["name"]))} for r in recs]
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault((r["family"], r["method"], r["name"].rsplit("_", 1)[0]), []).append(i)
    s = summarize(recs, comps, data) if recs else None
    if s is not None:
        s["worst_cell"] = _ratio_cell(comps[s["worst_index"]])
    code = [
        (a, *(", ".join(sorted({r[a][k][:7] for r in recs})) for k in ("games_tree", "commit")))
        for a in ("old", "new")
    ]
    command = _command(recs, out, bool(again))
    sections = [section([recs[i] for i in idx], [comps[i] for i in idx], data) for idx in groups.values()]
    page = render("ipg_versions.md.j2", command=command, code=code, s=s, sections=sections)
    record = {} if s is None else {k: s[k] for k in ("cells", "slower", "faster", "worst", "worst_ratio")}
    if s is not None:
        record |= {"median_ratio": s["pooled"], "equal_2x20": s["equal"]}
    keys = ("old_s", "new_s", "ratio", "verdict", "same_ne")
    pairs = zip(recs, comps, strict=True)
    cells = {f"{r['family']}/{r['method']}/{r['name']}": {k: c[k] for k in keys} for r, c in pairs}
    report = {"command": command, "summary": record, "cells": cells}
    write_page(out, "ipg_versions", page, report)
    return report


def register(sub: argparse._SubParsersAction) -> None:
    about = "integer programming games: old vs new code on the paper's files"
    add_bench(sub, "ipg-versions", VersionsSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    spec = spec_of(VersionsSpec, args)
    data, out = Path(spec.data), Path(spec.out)
    if not (data / "knapsack").is_dir():
        raise RlcvError(
            f"--data '{data}' has no knapsack/ folder: give the folder of the paper's instance files "
            "(github.com/mxmmargarida/IPG); this bench times those files."
        )
    if spec.report_only:
        require_summaries(out / FOLDER, "Game_*.json", "per-instance summaries")
    else:
        measure(spec, data, out)
    write_report(out, data)
    return 0

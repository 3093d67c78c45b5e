"""The page of `rlcv bench ipg-versions` (:mod:`rlcv.bench.ipg_versions`): per paper instance the old and
new code's median CPU seconds, the ratio new / old with its paired bootstrap interval over the repeats,
whether the equilibrium is the same, and issue 28's two targets on the paper's files read off them."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from rlcv.bench.report import fmt_interval, md_table, met, regenerate_block
from rlcv.bench.stats import Interval, median_bootstrap, median_ratio_bootstrap
from rlcv.games.paper_files import paper_result, same_payoffs

FOLDER = "ipg_versions"
SLOWER, FASTER = "slower", "faster"


def load(folder: Path) -> list[dict[str, Any]]:
    """Every summary under ``folder/FAMILY/METHOD/``, with its family, method and name."""
    rows = []
    for path in sorted(folder.glob("*/*/Game_*.json"), key=_order):
        stored = json.loads(path.read_text())
        rows.append(
            {
                **stored["result"],
                "family": path.parent.parent.name,
                "method": path.parent.name,
                "name": path.stem,
                "params": stored["params"],
            }
        )
    return rows


def _order(path: Path) -> tuple[str, str, int, int, int]:
    m, n, ins = (int(v) for v in path.stem.split("_")[1:])
    return path.parent.parent.name, path.parent.name, m, n, ins


def arm(rec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in rec["runs"] if r["arm"] == name]


def compare(rec: dict[str, Any]) -> dict[str, Any]:
    """One instance: medians, the ratio new / old with its interval, and its verdict, read off the
    interval (its side of 1). A time-out (wall clock) makes its arm's CPU seconds a lower bound: where
    only old timed out, 'faster' if new solved in fewer CPU seconds than old had used; where only new
    did, 'slower' if it had used more than old needed; else no verdict."""
    old, new = arm(rec, "old"), arm(rec, "new")
    old_cpu, new_cpu = [r["cpu_seconds"] for r in old], [r["cpu_seconds"] for r in new]
    old_ok, new_ok = all(r["solved"] for r in old), all(r["solved"] for r in new)
    iv = median_ratio_bootstrap(new_cpu, old_cpu, paired=True)
    verdict = ""
    if old_ok and new_ok:
        verdict = SLOWER if iv.low > 1 else FASTER if iv.high < 1 else ""
    elif new_ok or old_ok:
        new_s, old_s = statistics.median(new_cpu), statistics.median(old_cpu)
        verdict = FASTER if new_ok and new_s < old_s else SLOWER if old_ok and new_s > old_s else ""
    return {
        "old_s": statistics.median(old_cpu),
        "new_s": statistics.median(new_cpu),
        "old_solved": old_ok,
        "new_solved": new_ok,
        "ratio": iv,
        "verdict": verdict,
        "same_ne": same_payoffs(new[0]["payoffs"], old[0]["payoffs"]) if old_ok and new_ok else None,
        "payoffs": new[0]["payoffs"] if new_ok else None,
    }


def _seconds(value: float, solved: bool) -> str:
    return f"{value:.3f}" if solved else f"t/o (≥ {value:.1f})"


def _ratio_cell(c: dict[str, Any]) -> str:
    if c["old_solved"] and c["new_solved"]:
        return fmt_interval(c["ratio"], ".2f")
    bound = "≤" if c["new_solved"] else "≥"
    return f"{bound} {c['new_s'] / c['old_s']:.2f}"


def paper_payoffs(data: Path, rec: dict[str, Any]) -> list[float] | None:
    found = paper_result(data / rec["family"] / f"{rec['name']}.txt", rec["method"])
    return None if found is None else found["payoffs"]


def section(recs: list[dict[str, Any]], comps: list[dict[str, Any]], data: Path) -> list[str]:
    """One set and method: a row per instance; the paper's payoffs beside ours on m = 2, n = 20."""
    first = recs[0]
    with_paper = first["family"] == "knapsack" and first["name"].startswith("Game_2_20_")
    header = ["ins", "old CPU s", "new CPU s", "new / old [95 %]", "verdict", "same NE as old"]
    header += ["= paper's payoffs"] if with_paper else []
    rows = []
    for rec, c in zip(recs, comps, strict=True):
        same = "–" if c["same_ne"] is None else "yes" if c["same_ne"] else "no"
        row = [rec["name"].rsplit("_", 1)[1], _seconds(c["old_s"], c["old_solved"])]
        verdict = c["verdict"]
        if c.get("confirm"):
            again = c["confirm"]
            verdict += f"; again {_ratio_cell(again)}: {again['verdict'] or 'not shown'}"
        row += [_seconds(c["new_s"], c["new_solved"]), _ratio_cell(c), verdict, same]
        if with_paper:
            row.append("yes" if same_payoffs(c["payoffs"], paper_payoffs(data, rec)) else "no")
        rows.append(row)
    _, m, n, _ = first["name"].split("_")
    size = f"T = {n}" if first["family"] == "lot_sizing" else f"n = {n}"
    title = f"## {first['family']}: m = {m}, {size}, {first['method']}"
    return [title, "", *md_table(header, rows, align="lrrrll" + "l" * with_paper), ""]


def _summary(recs: list[dict[str, Any]], comps: list[dict[str, Any]], data: Path) -> tuple[list[str], dict]:
    """The counts, the worst ratio and the two targets' verdicts."""
    label = [f"{r['family']} {r['method']} {r['name']}" for r in recs]
    slower = [lab for lab, c in zip(label, comps, strict=True) if c["verdict"] == SLOWER]
    confirmed = [c["confirm"] for c in comps if c["verdict"] == SLOWER and c["confirm"] is not None]
    faster = sum(1 for c in comps if c["verdict"] == FASTER)
    points = [c["new_s"] / c["old_s"] for c in comps]
    worst = max(range(len(comps)), key=lambda i: points[i])
    pooled: Interval = median_bootstrap(points)
    twenty = [
        (r, c)
        for r, c in zip(recs, comps, strict=True)
        if r["family"] == "knapsack" and r["name"].startswith("Game_2_20_")
    ]
    equal = sum(1 for r, c in twenty if same_payoffs(c["payoffs"], paper_payoffs(data, r)))
    lines = [
        f"{len(comps)} instance × method cells. New code faster (median) on "
        f"{sum(1 for p in points if p < 1)}, slower on {sum(1 for p in points if p > 1)}; its interval "
        f"below 1 (faster) on {faster}, above 1 (slower) on {len(slower)}"
        + (f" ({', '.join(slower)})" if slower else "")
        + f". Worst ratio {_ratio_cell(comps[worst])} ({label[worst]}); median over the cells "
        f"{fmt_interval(pooled, '.2f')} (cell bootstrap). Same equilibrium payoffs as the old code on "
        f"{sum(1 for c in comps if c['same_ne'])} of {sum(1 for c in comps if c['same_ne'] is not None)} "
        "cells both solved.",
        "",
        *_target_lines(recs, slower, confirmed, twenty, equal),
    ]
    record = {
        "cells": len(comps),
        "slower": slower,
        "faster": faster,
        "worst": label[worst],
        "worst_ratio": points[worst],
        "median_ratio": pooled.as_tuple(),
        "equal_2x20": equal,
    }
    return [*lines, ""], record


def _target_lines(
    recs: list[dict[str, Any]], slower: list[str], confirmed: list[dict], twenty: list[Any], equal: int
) -> list[str]:
    """Issue 28's two targets on the paper's files; for an A/A run (both arms one tree) what it calibrates."""
    chance = f"about {0.025 * len(recs):.0f} of {len(recs)} cells (2.5 %)"
    if all(r["params"]["old"] == r["params"]["new"] for r in recs):
        return [
            f"A/A calibration: both arms run the same solver code, so each `slower` / `faster` verdict "
            f"here is a false positive of the method on this machine ({len(slower)} slower; a 95 % "
            f"interval alone would put {chance} above 1 by chance; re-measured with fresh pairs, "
            f"{sum(1 for c in confirmed if c['verdict'] == SLOWER)} of {len(confirmed)} again).",
        ]
    lines = [
        "Targets (issue 28, on the paper's instances):",
        "",
        f"- No paper instance slower than before (an instance is slower only where its interval lies "
        f"above 1, or the new code timed out where the old did not): {len(slower)} slower in the sweep: "
        f"{met(not slower)}. Were nothing changed, 95 % intervals would put {chance} above 1 by chance; "
        "the same bench with both arms at one commit (A/A, `results/ipg_versions_aa/ipg_versions.md`) "
        "measures that rate here.",
    ]
    if len(confirmed) == len(slower) and slower:
        still = sum(1 for c in confirmed if c["verdict"] == SLOWER)
        lines.append(
            f"- The same target with each cell found slower re-measured with fresh pairs (`--confirm`; "
            f"slower only where both intervals lie above 1): {still} of {len(slower)} again slower: "
            f"{met(still == 0)}."
        )
    if twenty:
        lines.append(
            f"- Every m = 2, n = 20 answer equal to the paper's (equilibrium payoffs, new code): {equal} of "
            f"{len(twenty)}: {met(equal == len(twenty))}."
        )
    return lines


def _command(recs: list[dict[str, Any]], out: Path, confirm: bool = False) -> str:
    """The command that made the summaries (the first summary's commits: every summary of one tree is
    reused by any commit with that tree, :func:`_code_line`)."""
    repeats = sorted({r["params"]["repeats"] for r in recs})
    limits = sorted({r["params"]["time_limit"] for r in recs})
    old, new = (recs[0][arm]["commit"][:7] if recs else "REF" for arm in ("old", "new"))
    return (
        f"rlcv bench ipg-versions --old {old} --new {new} --repeats {' '.join(map(str, repeats))} "
        f"--time-limit {' '.join(f'{v:g}' for v in limits)}{' --confirm' if confirm else ''} --out {out}"
    )


def _code_line(recs: list[dict[str, Any]]) -> str:
    parts = []
    for arm in ("old", "new"):
        trees = sorted({r[arm]["games_tree"][:7] for r in recs})
        commits = sorted({r[arm]["commit"][:7] for r in recs})
        parts.append(f"{arm}: `rlcv/games` tree {', '.join(trees)} (commit {', '.join(commits)})")
    return (
        "Code — "
        + "; ".join(parts)
        + ". Summaries are keyed by the tree: commits with the same tree run the same solver."
    )


def write_report(out: Path, data: Path) -> dict[str, Any]:
    """``OUT/ipg_versions.md`` and ``.json`` from the summaries."""
    recs = load(out / FOLDER)
    again = {(r["family"], r["method"], r["name"]): compare(r) for r in load(out / FOLDER / "confirm")}
    comps = [{**compare(r), "confirm": again.get((r["family"], r["method"], r["name"]))} for r in recs]
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault((r["family"], r["method"], r["name"].rsplit("_", 1)[0]), []).append(i)
    summary, record = _summary(recs, comps, data) if recs else ([], {})
    lines = [
        "# Integer programming games: SGM / m-SGM of two commits on the paper's instances (old vs new code)",
        "",
    ]
    lines += regenerate_block(f"{_command(recs, out, bool(again))}   (the page alone: add --report-only)")
    lines += [
        "Each of the paper's instance files solved by the code of two commits (old: the baseline, new: "
        "measured against it), each run by its own worker process on one thread, interleaved per "
        "instance (old/new pairs, the order alternating), on the shared 2-core machine while other jobs "
        "ran. Seconds: the solving process's CPU time, loading the file not counted; medians over the "
        "repeats. new / old: the ratio of medians with a paired bootstrap interval over the repeats "
        "(95 %); verdict `slower` / `faster` only where that interval excludes 1 (`again`: the cell "
        "re-measured by `--confirm`, fresh workers and pairs). t/o: a wall-clock "
        "time-out, its CPU seconds a lower bound.",
        "",
        _code_line(recs),
        "",
        *summary,
    ]
    for idx in groups.values():
        lines += section([recs[i] for i in idx], [comps[i] for i in idx], data)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipg_versions.md").write_text("\n".join(lines))
    cells = {
        f"{r['family']}/{r['method']}/{r['name']}": _json_cell(c) for r, c in zip(recs, comps, strict=True)
    }
    report = {"command": _command(recs, out, bool(again)), "summary": record, "cells": cells}
    (out / "ipg_versions.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'ipg_versions.md'}")
    return report


def _json_cell(c: dict[str, Any]) -> dict[str, Any]:
    iv = c["ratio"]
    ratio = [v if math.isfinite(v) else None for v in iv.as_tuple()]
    return {
        "old_s": c["old_s"],
        "new_s": c["new_s"],
        "ratio": ratio,
        "verdict": c["verdict"],
        "same_ne": c["same_ne"],
    }

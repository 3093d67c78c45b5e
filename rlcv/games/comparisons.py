"""Our IPG solves read against the paper's answers and against full enumeration, per instance set.

:func:`set_summary` (solved, mean CPU seconds and iterations, pure NE) serves both our records and the
paper's; :func:`paper_records` gives the paper's result per instance — only for its own instances — or,
for lot-sizing periods whose files the paper did not share, its table 07 rows for its own draws;
:func:`same_payoff` checks an equilibrium against the paper's; :func:`lot_sizing_target` reads the
lot-sizing target (every instance a pure NE within 2× the paper's time); :func:`enum_speed_ratio` the
speed of m-SGM against full enumeration + PNS (the paper's table 08 baseline); :func:`nash_conv_grade`
grades a learning agent's NashConv curve against the exact solution (`rlcv bench ipg-agents`) and
:func:`agent_summary` its runs; :func:`per_instance` counts wins and losses against the paper beside the
means; :func:`instances_source` says where a set's instances come from; :func:`fresh_summary` reads a
size of fresh games (`rlcv bench ipg --fresh`).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.games.paper_files import (
    GENERATED,
    GENERATED_PAPER,
    PAPER,
    PAPER_ENUM_2X10,
    PAPER_LIMIT_S,
    PAPER_MSGM_2X10,
    paper_lot_sizing_table,
    paper_result,
    same_payoffs,
)
from rlcv.games.records import cpu, record_source
from rlcv.games.sweep import Record
from rlcv.stats import median_bootstrap

Row = dict[str, float | int | None]  # one graded run


def set_summary(recs: list[Record]) -> dict[str, Any]:
    solved = [r for r in recs if r is not None and r.get("solved")]
    return {
        "run": sum(1 for r in recs if r is not None),
        "solved": len(solved),
        "mean_seconds": statistics.fmean(cpu(r) for r in solved) if solved else None,
        "mean_iterations": statistics.fmean(r["iterations"] for r in solved) if solved else None,
        "pure": sum(1 for r in solved if r["pure"]),
    }


def paper_records(
    data: Path | None, ours: list[Record], family: str, method: str, m: int, n: int
) -> tuple[list[Record], bool]:
    """The paper's result per instance (only for its own instances: none for a record of other draws,
    none at all without ``data``), or — for lot-sizing periods without shared files — table 07's rows
    for its own draws; whether those rows stand in."""
    if data is None:
        return [None] * len(ours), False
    if family == "lot_sizing" and not (data / family / f"Game_{m}_{n}_0.txt").exists():
        if (rows := paper_lot_sizing_table(data, m, n, method)) is not None:
            return [rows[ins] if ins < len(rows) else None for ins in range(len(ours))], True
    txt = [data / family / f"Game_{m}_{n}_{ins}.txt" for ins in range(len(ours))]
    return [
        paper_result(t, method) if rec is None or record_source(rec) != GENERATED else None
        for t, rec in zip(txt, ours, strict=True)
    ], False


def same_payoff(rec: Record, pap: Record) -> str:
    """'yes' / 'no': our solved equilibrium's payoffs equal the paper's; '–' when either is missing."""
    if rec is None or not rec.get("solved") or pap is None or not pap["solved"] or pap["payoffs"] is None:
        return "–"  # e.g. the paper's time-out on m = 2, n = 80 instance 4 (no equilibrium to compare)
    return "yes" if same_payoffs([pl["payoff"] for pl in rec["players"]], pap["payoffs"]) else "no"


def lot_sizing_target(ours: list[Record], paper: list[Record], other_draws: bool) -> dict[str, Any] | None:
    """The issue's lot-sizing target: every instance a pure NE within 2× the paper's time — per instance
    where the games are the paper's, against 2× the paper's mean (``bound``) where they are other draws."""
    solved = [r for r in ours if r is not None and r.get("solved")]
    times = [p["seconds"] for p in paper if p is not None]
    if not times:
        return None
    bound = 2 * statistics.fmean(times) if other_draws else None
    if bound is not None:
        within = sum(1 for r in solved if cpu(r) <= bound)
    else:
        pairs = [(r, p) for r, p in zip(ours, paper, strict=True) if r and r.get("solved") and p]
        within = sum(1 for r, p in pairs if cpu(r) <= 2 * cpu(p))
    return {"bound": bound, "pure": sum(1 for r in solved if r["pure"]), "within": within, "n": len(ours)}


def _set_ratios(enums: list[Record], msgms: list[Record]) -> list[tuple[float, bool] | None]:
    """Per instance: enum s / m-SGM s with whether it is exact (enum solved); None where not both ran."""
    out: list[tuple[float, bool] | None] = []
    for enum, msgm in zip(enums, msgms, strict=True):
        if enum is None or msgm is None or "seconds" not in enum or not msgm.get("solved"):
            out.append(None)
        else:
            out.append((cpu(enum) / max(cpu(msgm), 1e-9), bool(enum["solved"])))
    return out


def _why(enums: list[Record], msgms: list[Record], paper_2x10: bool) -> dict[str, Any] | None:
    """Why the ratio is what it is: the fixed cost of enumeration on the pure-NE instances."""
    pure_s = [cpu(r) for r in enums if r is not None and r.get("solved") and r.get("pure")]
    msgm_s = [cpu(r) for r in msgms if r is not None]
    paper_s = [v for v in PAPER_ENUM_2X10 if v is not None] if paper_2x10 else []
    if not (pure_s and msgm_s):
        return None
    spans = {"pure_s": pure_s, "msgm_s": msgm_s, "paper_s": paper_s}
    return {"pure": len(pure_s), **{k: (min(v), max(v)) if v else None for k, v in spans.items()}}


def enum_speed_ratio(enums: list[Record], msgms: list[Record], m: int, n: int) -> dict[str, Any] | None:
    """Full enumeration + PNS against m-SGM on one knapsack set: per instance with both run and m-SGM
    solved, r_i = CPU s(enum) / CPU s(m-SGM) and whether it is exact (a time-out of enum counts with its
    limit, so its ratio is a lower bound); their median, a lower bound too when it lands on such an
    instance; the paper's median (table 08, m = 2, n = 10) only where every record is of the paper's own
    file; the spans behind the ratio (``why``). None when no instance has a ratio."""
    per = _set_ratios(enums, msgms)
    ratios = [r for r in per if r is not None]
    if not ratios:
        return None
    med = statistics.median(r for r, _ in ratios)
    paper_2x10 = (m, n) == (2, 10) and all(record_source(r) != GENERATED for r in enums + msgms if r)
    paper = [
        (e if e is not None else PAPER_LIMIT_S) / q
        for e, q in zip(PAPER_ENUM_2X10, PAPER_MSGM_2X10, strict=True)
    ]
    return {
        "per_instance": per,
        "ratios": [r for r, _ in ratios],
        "enum_solved": [ok for _, ok in ratios],
        "median": med,
        "exact": all(ok for r, ok in ratios if r <= med),  # no time-out (a lower bound) at or below it
        "paper": statistics.median(paper) if paper_2x10 else None,
        "why": _why(enums, msgms, paper_2x10),
    }


def nash_conv_grade(nash_conv: list[float], calls: list[int], mean_ne_payoff: float) -> Row:
    """An equilibrium-finding run graded against an exact solution: its final NashConv (absolute and
    relative to ``mean_ne_payoff``, the exact equilibrium's mean payoff), and the oracle calls (or
    iterations) ``calls`` at the first update whose NashConv is ≤ 1 % of it (None if none)."""
    hit = next((c for c, v in zip(calls, nash_conv, strict=True) if v <= 0.01 * mean_ne_payoff), None)
    return {
        "mean_ne_payoff": mean_ne_payoff,
        "final_nash_conv": nash_conv[-1],
        "final_rel": nash_conv[-1] / mean_ne_payoff,
        "calls_to_1pct": hit,
        "calls": calls[-1],
    }


def upper_median(values: list[Any]) -> Any:
    """The upper median (the element at n // 2 of the sorted values), as the agents' page has always shown."""
    return sorted(values)[len(values) // 2]


def agent_summary(runs: list[Row]) -> dict[str, Any]:
    """One agent's graded runs: how many reached 1 %, the median calls to it (None: none did), the median
    final NashConv / payoff."""
    hits = [r["calls_to_1pct"] for r in runs if r["calls_to_1pct"] is not None]
    rel = upper_median([r["final_rel"] for r in runs])
    return {
        "reached": len(hits),
        "runs": len(runs),
        "calls": upper_median(hits) if hits else None,
        "rel": rel,
    }


def per_instance(ours: list[Record], paper: list[Record], sames: list[str]) -> dict[str, Any]:
    """Wins and losses per instance beside the means (a mean can rest on one slow instance): {"wins":
    faster / slower / n / ratio (median CPU ratio ours / paper, instance bootstrap)}; or, where the
    paper's answers cannot be of these files (no equilibrium payoff agrees, :func:`same_payoff`),
    {"not_comparable": instances compared}; {} with nothing to compare."""
    compared = [s for s in sames if s != "–"]
    if compared and "yes" not in compared:
        return {"not_comparable": len(compared)}
    pairs = [
        (cpu(r), cpu(p))
        for r, p in zip(ours, paper, strict=True)
        if r is not None and r.get("solved") and p is not None and p.get("solved")
    ]
    if not pairs:
        return {}
    ratio = median_bootstrap([a / b if b > 0 else math.inf for a, b in pairs])
    faster, slower = sum(1 for a, b in pairs if a < b), sum(1 for a, b in pairs if a > b)
    return {"wins": {"faster": faster, "slower": slower, "n": len(pairs), "ratio": ratio}}


def instances_source(by_ins: dict[int, str]) -> tuple[dict[str, Any], str]:
    """Where a set's instances come from, by instance → record source: {"kind", "partial" / "exact"} and
    a short phrase of it."""
    sources = set(by_ins.values())
    if sources == {PAPER}:
        return {"kind": PAPER}, "the paper's files"
    if sources <= {PAPER, GENERATED_PAPER}:
        short = "generated by the paper's generator, the paper's files bit for bit"
        return {"kind": GENERATED_PAPER, "partial": PAPER in sources}, short
    exact = [str(i) for i, src in sorted(by_ins.items()) if src != GENERATED]
    short = "generated (not the paper's files)"
    if exact:
        short += f"; instance{'s' if len(exact) > 1 else ''} {', '.join(exact)} the paper's"
    return {"kind": GENERATED, "exact": exact}, short


def quantile(values: list[float], q: float) -> float:
    """The q-quantile as an order statistic (numpy's inverted_cdf: a value that occurred)."""
    if not values:
        return math.nan
    return float(np.quantile(np.asarray(values), q, method="inverted_cdf"))


def fresh_summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size of fresh games. Unsolved games (over the cap) count in every CPU statistic with the CPU
    seconds they used: a quantile over solved games only would hide the tail."""
    cpu_s = [float(r["cpu_seconds"]) for r in recs]
    ncs = [r["nash_conv"] for r in recs if r.get("solved") and r.get("nash_conv") is not None]
    return {
        "games": len(recs),
        "solved": sum(1 for r in recs if r.get("solved")),
        "median_cpu_s": median_bootstrap(cpu_s),
        "p90_cpu_s": quantile(cpu_s, 0.9),
        "max_cpu_s": max(cpu_s) if cpu_s else math.nan,
        "worst_nash_conv": max(ncs) if ncs else None,
        "milp_games": sum(1 for r in recs if r.get("milp_solves", 0) > 0),
        "backtracking_games": sum(1 for r in recs if r.get("backtracks", 0) > 0),
        "cpu_limit_s": sorted({r["cpu_limit"] for r in recs}),
    }

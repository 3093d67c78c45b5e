"""`rlcv bench ipg`: Nash equilibria of integer programming (knapsack) games by SGM / m-SGM, against
Carvalho, Dragotto, Lodi, Pedroso, "Computing equilibria for integer programming games" (EJOR 2022).

Single instance (users and checks)::

    rlcv bench ipg --instance FILE.npy --method m-sgm|sgm --time-limit S --json OUT

writes OUT = {"solved", "seconds" (wall), "cpu_seconds", "nash_conv",
"players": [{"strategies", "probabilities", "payoff"}], "method", "instance", "iterations", "backtracks",
"sampled_sizes", "support_sizes", "pure", "reason"};
``nash_conv`` is the exact Σ_p regret of the returned profile (:mod:`rlcv.games.nash_conv`), computed
after the solve and not counted in ``seconds``. A time-out is ``"solved": false``; a malformed file or an
infeasible player is a one-line error (exit 2).

Table mode (no ``--instance``): the sets ``--sets`` (knapsack ``MxN``: the paper's 2x20 2x40 2x80 3x10
3x20; lot-sizing ``lsMxT``: ls2x10 ls2x20, the periods whose files are shared), one result per (set,
instance, method) in ``OUT/ipg/FAMILY/METHOD/Game_m_n_ins.json`` — an existing file is skipped, so an
interrupted sweep resumes — and the report ``OUT/ipg.md`` + ``OUT/ipg.json``. The paper ran Gurobi 9 on
2 threads with a 3600 s limit; here HiGHS on the shared 2-core machine, ``--time-limit`` per instance
(600 s default). Before solving, one line gives the solves left and a time estimate (:func:`estimate_line`).

Where the instances come from (:class:`~rlcv.games.paper_files.InstanceSource`; each record's
``source``, each report section's "Instances:" line): ``--data DIR`` (default ``../shared/ipg`` when that
folder is there) — the paper's files ``DIR/knapsack|lot_sizing/Game_m_n_ins.npy``, and its per-instance
``.txt`` results as the paper's columns (CPU s, iterations, sampled sizes |S^p|, support sizes, pure or
mixed, backtracks) beside ours; a ``--data`` that does not exist is a one-line error. Otherwise, and for
a file ``DIR`` lacks, the paper's generator draws them into a temporary folder (deterministic, so nothing
is kept; :mod:`rlcv.games.paper_files` says which draws are the paper's files bit for bit). Paper columns
appear only where the paper's results on those same instances are at hand (its ``.txt`` under
``--data``), never for other draws — except lot-sizing periods without shared files under ``--data``,
whose section shows the paper's table 07 rows for its own draws, said so, for a comparison of means only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir, out_file, positive_float, positive_int, seed_value
from rlcv.bench.flags import add_flags, flag, spec_of
from rlcv.bench.report import fmt_interval, md_table
from rlcv.bench.stats import median_bootstrap
from rlcv.errors import RlcvError
from rlcv.files import write_text
from rlcv.games.paper_files import (
    GENERATED,
    GENERATED_PAPER,
    KNAPSACK_SEED,
    PAPER,
    PAPER_ENUM_2X10,
    PAPER_LIMIT_S,
    PAPER_MSGM_2X10,
    InstanceSource,
    paper_lot_sizing_table,
    paper_result,
    same_payoffs,
)

DEFAULT_SETS = ["2x20", "2x40", "2x80", "3x10", "3x20", "ls2x10", "ls2x20", "ls2x50", "ls2x100"]
FAMILIES = {"": "knapsack", "ls": "lot_sizing"}
METHODS = ("m-sgm", "sgm", "enum")  # enum: full enumeration + PNS (:mod:`rlcv.games.enumeration`)
FRESH_SIZES = ("2x20", "2x40", "3x20", "3x10", "2x80")  # rlcv bench ipg --fresh (rlcv.bench.ipg_fresh)
DEFAULT_DATA = Path("../shared/ipg")  # the paper's files on the developers' machines (not in a clone)
# The committed run (a checkout's results/ipg/): its per-instance wall seconds estimate a sweep's time.
REFERENCE_OUT = Path(__file__).resolve().parents[2] / "results"
Record = dict[str, Any] | None  # a per-instance result (ours or the paper's); None where there is none


@dataclass(kw_only=True)
class IpgSpec:
    """`rlcv bench ipg`'s flags: one instance, the table, or fresh games (:mod:`rlcv.bench.ipg_fresh`)."""

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


def solve_instance(path: str | Path, method: str, time_limit: float) -> dict[str, Any]:
    """The single-instance JSON record (module docstring) of one solve."""
    from rlcv.games.records import graded
    from rlcv.games.instances import load_game
    from rlcv.games.lot_sizing import LotSizingGame
    from rlcv.games.sgm import solve

    if time_limit <= 0:
        raise RlcvError(f"--time-limit must be > 0 seconds, got {time_limit:g}.")
    game = load_game(path)
    feasible_sizes: list[int] | None = None
    if method == "enum":  # the paper's baseline: every feasible strategy listed, PNS on the full game
        from rlcv.games.enumeration import solve_enumeration

        res, feasible_sizes = solve_enumeration(game, time_limit=time_limit)
    else:
        res = solve(game, method=method, time_limit=time_limit)
    number = float if isinstance(game, LotSizingGame) else int
    rec: dict[str, Any] = {"instance": str(path), "method": method, "time_limit": time_limit}
    rec |= {"seconds": res.seconds, **graded(game, res, max(time_limit, 60.0))}
    rec["players"] = [
        {
            # knapsack: 0/1 items; lot-sizing: setups 0/1 and continuous quantities
            "strategies": [[number(v) for v in row] for row in res.strategies[p]],
            "probabilities": [float(q) for q in res.probs[p]] if res.probs else [],
            "payoff": res.payoffs[p] if res.payoffs else None,
        }
        for p in range(game.m)
    ]
    if feasible_sizes is not None:  # enum: sampled_sizes are the NE supports, these the full lists
        rec["feasible_sizes"] = feasible_sizes
    return rec


# -- table mode ---------------------------------------------------------------------------------------
def _parse_set(text: str) -> tuple[str, int, int]:
    """'2x20' → knapsack, 2 players, 20 items; 'ls2x10' → lot-sizing, 2 players, 10 periods."""
    match = re.fullmatch(r"(ls)?(\d+)x(\d+)", text)
    if not match:
        raise RlcvError(
            f"--sets entry '{text}' is not of the form MxN (knapsack: players x items, e.g. 2x20) "
            "or lsMxT (lot-sizing: players x periods, e.g. ls2x10)."
        )
    return FAMILIES[match.group(1) or ""], int(match.group(2)), int(match.group(3))


def result_path(out: Path, family: str, method: str, m: int, n: int, ins: int) -> Path:
    return out / "ipg" / family / method / f"Game_{m}_{n}_{ins}.json"


def _records(out: Path, family: str, method: str, m: int, n: int, instances: int) -> list[Record]:
    """Our record per instance 0..instances-1 (None where it is not there)."""
    paths = [result_path(out, family, method, m, n, ins) for ins in range(instances)]
    return [json.loads(path.read_text()) if path.exists() else None for path in paths]


def set_key(family: str, m: int, n: int) -> str:
    """'2x20', 'ls2x10': the set as ``--sets`` writes it."""
    return f"{'ls' if family == 'lot_sizing' else ''}{m}x{n}"


def run_table(spec: IpgSpec, data: Path | None) -> dict[str, Any]:
    """Solve every missing (set, instance, method), then write the report from the result files.
    ``data``: the paper's folder, or None (every instance generated, no paper columns)."""
    parsed = [_parse_set(s) for s in spec.sets]
    out = Path(spec.out)
    if spec.report_only:
        from rlcv.bench.checks import require_summaries

        require_summaries(out / "ipg", "Game_*.json", "per-instance results")
    else:
        line = estimate_line(parsed, spec.methods, out, spec.time_limit, spec.instances)
        if line:
            print(line, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = InstanceSource(data, Path(tmp))
            for family, m, n in parsed:
                for ins in range(spec.instances):
                    for method in spec.methods:
                        _solve_missing(source, spec, (family, method, m, n, ins))
    return write_report(parsed, spec.methods, data, out, spec.time_limit, spec.instances)


def _solve_missing(source: InstanceSource, spec: IpgSpec, cell: tuple[str, str, int, int, int]) -> None:
    """One (family, method, m, n, ins) solved and its record written, unless it is there."""
    family, method, m, n, ins = cell
    target = result_path(Path(spec.out), *cell)
    if target.exists():
        return
    inst, label, origin = source.get(family, m, n, ins, spec.instances)
    try:
        if inst is None:
            raise RlcvError(label)
        rec = solve_instance(inst, method, spec.time_limit)
        rec["instance"] = label
    except RlcvError as exc:  # e.g. an instance that does not exist
        rec = {"instance": label, "method": method, "solved": False, "error": str(exc)}
    rec["source"] = origin
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(rec) + "\n")
    shown = f"{rec['seconds']:.2f} s" if "seconds" in rec else rec.get("error", "")
    print(f"{family} {method} m={m} n={n} ins={ins}: solved={rec['solved']} {shown}", flush=True)


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _solved_seconds(paths: list[Path]) -> list[float]:
    """The wall seconds of the solved records among ``paths`` (unreadable ones skipped)."""
    seconds = []
    for path in paths:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("solved") and isinstance(rec.get("seconds"), int | float):
            seconds.append(float(rec["seconds"]))
    return seconds


def estimate_line(
    sets: list[tuple[str, int, int]], methods: list[str], out: Path, time_limit: float, instances: int
) -> str | None:
    """One line before a table run with solves left (None when there are none): their number, an
    estimate = Σ over (set, method) of a typical per-instance time × the instances left, and the worst
    case = solves left × ``--time-limit``. The typical time is the mean wall seconds over solved
    instances of this ``--out``'s own finished results of that set and method where it has some (this
    machine), else of the committed run (:data:`REFERENCE_OUT`, when this is a checkout), at most
    ``--time-limit``; a set and method with neither counts in the worst case only, named. Time-outs
    count in the worst case."""
    left: dict[str, int] = {}
    typical: dict[str, float | None] = {}
    for family, m, n in sets:
        for method in methods:
            key = f"{set_key(family, m, n)}/{method}"
            paths = [result_path(out, family, method, m, n, ins) for ins in range(instances)]
            todo = sum(1 for path in paths if not path.exists())
            if todo:
                ref = result_path(REFERENCE_OUT, family, method, m, n, 0).parent
                seconds = _solved_seconds(paths) or _solved_seconds(sorted(ref.glob(f"Game_{m}_{n}_*.json")))
                left[key] = left.get(key, 0) + todo
                typical[key] = min(statistics.fmean(seconds), time_limit) if seconds else None
    total = sum(left.values())
    if not total:
        return None
    known = sum(left[k] * t for k, t in typical.items() if t is not None)
    unknown = [k for k, t in typical.items() if t is None]
    parts = ", ".join(f"{k} {v}" for k, v in left.items())
    line = (
        f"ipg: {total} solve{'' if total == 1 else 's'} left ({parts}); "
        f"estimate ≈ {_duration(known)} at typical per-instance times (this --out's finished solves of a "
        "set, else the committed run's in results/ipg/, a shared 2-core machine), worst case "
        f"{_duration(total * time_limit)} ({total} × --time-limit {time_limit:g} s)"
    )
    if unknown:
        line += (
            f"; no typical time for {', '.join(unknown)} ({sum(left[k] for k in unknown)} solves): "
            "worst case only"
        )
    return line + "."


# -- the report ---------------------------------------------------------------------------------------
def cpu(rec: dict[str, Any]) -> float:
    """A record's CPU seconds (the paper's ``.txt`` report CPU time too); wall seconds for a record made
    before records held both."""
    return float(rec.get("cpu_seconds", rec["seconds"]))


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
    return [
        _fmt(v)
        for v in (cpu(rec), rec["iterations"], rec["sampled_sizes"], rec["support_sizes"], rec["pure"])
    ]


def _summary(recs: list[Record]) -> dict[str, Any]:
    done = [r for r in recs if r is not None]
    solved = [r for r in done if r.get("solved")]
    return {
        "run": len(done),
        "solved": len(solved),
        "mean_seconds": statistics.fmean(cpu(r) for r in solved) if solved else None,
        "mean_iterations": statistics.fmean(r["iterations"] for r in solved) if solved else None,
        "pure": sum(1 for r in solved if r["pure"]),
    }


def record_source(rec: dict[str, Any]) -> str:
    """A record's ``source``; records written before it was kept: from their instance label."""
    if "source" in rec:
        return str(rec["source"])
    return GENERATED if str(rec.get("instance", "")).startswith("generated") else PAPER


def _instances_line(family: str, by_ins: dict[int, str], has_paper: bool) -> tuple[str, str]:
    """(the report's "Instances:" sentence, its short form for ipg.json) from a section's sources."""
    sources = set(by_ins.values())
    if sources == {PAPER}:
        return "Instances: the paper's files (`--data`).", "the paper's files"
    lot_sizing = "`lot_sizing_instances()`, numpy seed 6"
    if sources <= {PAPER, GENERATED_PAPER}:
        how = (
            f"`paper_knapsack_instances()`, numpy seed {KNAPSACK_SEED}"
            if family == "knapsack"
            else lot_sizing
        )
        text = f"Instances: generated by the paper's generator ({how}), the paper's files bit for bit"
        text += " where `--data` lacks them" if PAPER in sources else ""
        if not has_paper:
            text += "; the paper's results on them are not at hand (no `--data`), so no paper columns"
        return text + ".", "generated by the paper's generator, the paper's files bit for bit"
    how = (
        f"`generate_knapsack(m, n, ins)` after `np.random.seed({KNAPSACK_SEED})`, ins 0..9 in order"
        if family == "knapsack"
        else f"{lot_sizing}, drawn in order"
    )
    short, text = "generated (not the paper's files)", f"Instances: generated (not the paper's files): {how}"
    exact = [str(i) for i, src in sorted(by_ins.items()) if src != GENERATED]
    if exact:
        which, s = (
            f"instance{'s' if len(exact) > 1 else ''} {', '.join(exact)}",
            "s" if len(exact) > 1 else "",
        )
        short += f"; {which} the paper's"
        text += f" — except {which}: the paper's file{s} bit for bit"
    if not has_paper:
        text += "; no paper columns (the paper's results are for its own instances)"
    return text + ".", short


def _intro_lines(time_limit: float) -> list[str]:
    sets = "2x10 2x20 2x40 2x80 3x10 3x20 ls2x10 ls2x20 ls2x50 ls2x100"
    return [
        "# Integer programming games: SGM / m-SGM on the knapsack and lot-sizing games",
        "",
        "Ours: HiGHS (scipy's MILP for best responses, highspy for the support LPs), one thread, on the "
        f"shared 2-core machine, per-instance wall-clock limit {time_limit:g} s (a section's own limit, "
        "where its records hold one, is named under it). Paper: Gurobi 9, 2 threads, 3600 s (its "
        "per-instance `.txt` results, from `--data`; a section shows them only where its instances are "
        "the paper's). Each section says where its instances come from (the paper's files, or its "
        "generator). `enum` = full enumeration of every feasible strategy + PNS on that game (the "
        "paper's table 08 baseline); its sizes/supp columns are the NE supports. Columns: CPU s (ours: "
        "the solving process's CPU seconds, so other jobs on the machine lengthen the wall time, not "
        "these; t/o = time-out), iterations, sampled sizes |S^p|, NE support sizes, pure/mixed. `nc` = "
        "our exact NashConv. Regenerate (each resumes, skipping instances already in `results/ipg/`; "
        f"`OMP_NUM_THREADS=1`): `rlcv bench ipg --sets {sets} --methods m-sgm`, `rlcv bench ipg --sets "
        "2x20 2x40 ls2x10 ls2x20 ls2x50 ls2x100 --methods sgm`, `rlcv bench ipg --sets 2x10 --methods "
        f"enum --time-limit 300`; then this report: `rlcv bench ipg --sets {sets} --methods m-sgm sgm "
        "enum --report-only`. The solver now against the code before issue 28 on these files, "
        "interleaved: `results/ipg_versions.md`.",
        "",
    ]


def _paper_records(
    data: Path | None, ours: list[Record], family: str, method: str, m: int, n: int
) -> tuple[list[Record], bool]:
    """The paper's result per instance (only for its own instances: none for a record of other draws,
    none at all without ``data``), or — for lot-sizing periods without shared files — table 07's rows
    for its own draws; whether those rows stand in."""
    if data is None:
        return [None] * len(ours), False
    if family == "lot_sizing" and not (data / family / f"Game_{m}_{n}_0.txt").exists():
        rows = paper_lot_sizing_table(data, m, n, method)
        if rows is not None:
            return [rows[ins] if ins < len(rows) else None for ins in range(len(ours))], True
    return [
        paper_result(data / family / f"Game_{m}_{n}_{ins}.txt", method)
        if rec is None or record_source(rec) != GENERATED
        else None
        for ins, rec in enumerate(ours)
    ], False


def _same_payoff(rec: Record, pap: Record) -> str:
    """'yes' / 'no': our solved equilibrium's payoffs equal the paper's; '–' when either is missing."""
    if rec is None or not rec.get("solved") or pap is None or not pap["solved"] or pap["payoffs"] is None:
        return "–"  # e.g. the paper's time-out on m = 2, n = 80 instance 4 (no equilibrium to compare)
    return "yes" if same_payoffs([pl["payoff"] for pl in rec["players"]], pap["payoffs"]) else "no"


def _instance_rows(ours: list[Record], paper: list[Record], has_paper: bool) -> tuple[list[str], list[str]]:
    """The section's table (ours, then the paper's columns where it has them) and the payoff checks."""
    head = ["ins", "s", "iter", "sizes", "supp", "NE", "nc"]
    head += ["paper s", "iter", "sizes", "supp", "NE", "=payoff"] if has_paper else []
    rows, sames = [], []
    for ins, (rec, pap) in enumerate(zip(ours, paper, strict=True)):
        nc = None if rec is None else rec.get("nash_conv")
        rows.append([str(ins), *_row_cells(rec), "–" if nc is None else f"{nc:.1e}"])
        if has_paper:
            sames.append(_same_payoff(rec, pap))
            rows[-1] += [*_row_cells(pap), sames[-1]]
    return md_table(head, rows), sames


def _set_section(
    data: Path | None, out: Path, family: str, method: str, m: int, n: int, instances: int
) -> tuple[list[str], dict[str, Any]]:
    """One set and method: its page section, and its record for ``ipg.json``."""
    ours = _records(out, family, method, m, n, instances)
    paper, table07 = _paper_records(data, ours, family, method, m, n)
    has_paper = any(p is not None for p in paper)
    source_text, source_short = _instances_line(
        family, {i: record_source(r) for i, r in enumerate(ours) if r is not None}, has_paper
    )
    size = f"T = {n}" if family == "lot_sizing" else f"n = {n}"
    lines = [f"## {family}: m = {m}, {size}, {method}", "", source_text, ""]
    rows, sames = _instance_rows(ours, paper, has_paper)
    so, sp = _summary(ours), _summary(paper)
    lines += [*rows, "", _summary_line(ours, so, sp if has_paper else None), ""]
    if has_paper and not table07:
        lines += _per_instance_lines(ours, paper, sames)
    if table07:
        lines += [
            "Instances generated by the paper's generator (numpy seed 6, drawn in order; "
            "`rlcv.games.instances.lot_sizing_instances`): the paper did not share its files for "
            f"T = {n}, so its columns are table 07's rows for its own draws (same index, not the "
            "same game; no payoff comparison). Compare the means and pure/mixed.",
            "",
        ]
    if family == "lot_sizing":
        lines += _lot_sizing_target(ours, paper, table07)
    return lines, {"instances": source_short, "ours": so, "paper": sp if has_paper else None}


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
    lines = _intro_lines(time_limit)
    for family, m, n in sets:
        for method in methods:
            if not any(result_path(out, family, method, m, n, 0).parent.glob(f"Game_{m}_{n}_*.json")):
                continue  # e.g. enum runs only on the small sets: no empty sections
            section, record = _set_section(data, out, family, method, m, n, instances)
            lines += section
            report["sets"][f"{set_key(family, m, n)}/{method}"] = record
    if "enum" in methods and "m-sgm" in methods:
        lines += _speed_ratio_section(sets, out, instances, report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ipg.md").write_text("\n".join(lines))
    (out / "ipg.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'ipg.md'}")
    return report


def _summary_line(ours: list[Record], so: dict[str, Any], sp: dict[str, Any] | None) -> str:
    limits = sorted({r["time_limit"] for r in ours if r is not None and "time_limit" in r})
    limit = f" (limit {', '.join(f'{v:g}' for v in limits)} s)" if limits else ""
    return " ".join(
        f"{who}: {s['solved']}/{s['run']} solved, mean {_fmt(s['mean_seconds'])} s, "
        f"mean {_fmt(s['mean_iterations'])} iterations, {s['pure']} pure."
        for who, s in [(f"Ours{limit}", so), *([("Paper", sp)] if sp is not None else [])]
    )


def _per_instance_lines(ours: list[Record], paper: list[Record], sames: list[str]) -> list[str]:
    """Wins and losses per instance beside the means (a mean can rest on one slow instance) — or, where
    the paper's answers cannot be of these files (no equilibrium payoff agrees), only that warning."""
    compared = [s for s in sames if s != "–"]
    if compared and "yes" not in compared:
        return [
            f"**Not comparable:** the paper's equilibrium payoffs agree with ours on 0 of {len(compared)} "
            "instances (on the m = 2 sets they agree on every instance), so the paper's `.txt` answers "
            "are most likely not of these instance files — its strategies are infeasible or score other "
            "payoffs on them; its time and iteration columns (and means) are not comparable with ours "
            "here, and no wins / losses are counted.",
            "",
        ]
    pairs = [
        (cpu(r), cpu(p))
        for r, p in zip(ours, paper, strict=True)
        if r is not None and r.get("solved") and p is not None and p.get("solved")
    ]
    if not pairs:
        return []
    faster = sum(1 for a, b in pairs if a < b)
    slower = sum(1 for a, b in pairs if a > b)
    ratio = median_bootstrap([a / b if b > 0 else math.inf for a, b in pairs])
    return [
        f"Per instance (both solved): ours faster on {faster}, slower on {slower} of {len(pairs)}; "
        f"median time ratio ours / paper {fmt_interval(ratio, '.2f')} (instance bootstrap, 95 %).",
        "",
    ]


def _lot_sizing_target(ours: list[Record], paper: list[Record], other_draws: bool) -> list[str]:
    """The issue's lot-sizing target: every instance a pure NE within 2× the paper's time — per instance
    where the games are the paper's, against 2× the paper's mean where they are other draws."""
    solved = [r for r in ours if r is not None and r.get("solved")]
    pure = sum(1 for r in solved if r["pure"])
    times = [p["seconds"] for p in paper if p is not None]
    if not times:
        return []
    if other_draws:
        bound = 2 * statistics.fmean(times)
        within = sum(1 for r in solved if cpu(r) <= bound)
        how = f"≤ 2 × the paper's mean = {bound:.2f} s"
    else:
        pairs = [(r, p) for r, p in zip(ours, paper, strict=True) if r and r.get("solved") and p]
        within = sum(1 for r, p in pairs if cpu(r) <= 2 * cpu(p))
        how = "≤ 2 × the paper's time on the same instance"
    n = len(ours)
    ok = pure == n and within == n
    return [
        f"Target (pure NE, {how}): {pure}/{n} pure, {within}/{n} within; {'met' if ok else 'missed'}.",
        "",
    ]


def _set_ratios(enums: list[Record], msgms: list[Record]) -> tuple[list[tuple[float, bool]], list[str]]:
    """Per instance: enum s / m-SGM s with whether it is exact (enum solved), and its cell."""
    ratios: list[tuple[float, bool]] = []
    cells = []
    for enum, msgm in zip(enums, msgms, strict=True):
        if enum is None or msgm is None or "seconds" not in enum or not msgm.get("solved"):
            cells.append("–")
            continue
        r = cpu(enum) / max(cpu(msgm), 1e-9)
        ratios.append((r, bool(enum["solved"])))
        cells.append(f"{r:.0f}" if enum["solved"] else f"≥{r:.0f}")
    return ratios, cells


def _paper_ratio_text() -> str:
    pr = sorted(
        (e if e is not None else PAPER_LIMIT_S) / q
        for e, q in zip(PAPER_ENUM_2X10, PAPER_MSGM_2X10, strict=True)
    )
    return (
        f" Paper (table 08, its 2 time-outs counted at 3600 s, both above the median): median ratio "
        f"{statistics.median(pr):.0f}× (m-SGM times rounded to 0.01 s there), enum 8/10 solved."
    )


def _why_lines(enums: list[Record], msgms: list[Record], paper_2x10: bool) -> list[str]:
    """Why the ratio is what it is: the fixed cost of enumeration on the pure-NE instances."""
    pure_s = [cpu(r) for r in enums if r is not None and r.get("solved") and r.get("pure")]
    msgm_s = [cpu(r) for r in msgms if r is not None]
    paper_s = [v for v in PAPER_ENUM_2X10 if v is not None] if paper_2x10 else []
    if not (pure_s and msgm_s):
        return []
    paper_part = (
        f"the paper's run of it took {min(paper_s):.1f}–{max(paper_s):.0f} s on the games it solved. "
        if paper_s
        else ""
    )
    return [
        f"Why the ratio is what it is: the enumerated game has a pure NE on {len(pure_s)} instances, "
        f"which PNS finds at the first support sizes (1, 1) in {min(pure_s):.2f}–{max(pure_s):.2f} s "
        "here (listing the 2^n strategies and the payoff matrices included); m-SGM itself takes "
        f"{min(msgm_s):.2f}–{max(msgm_s):.2f} s, so the ratio on those instances is bounded by the "
        "enumeration's fixed cost. The baseline is plain PNS with the same support tests, not "
        f"weakened; {paper_part}The mixed-NE instances are where enumeration blows up.",
        "",
    ]


def _speed_ratio_section(
    sets: list[tuple[str, int, int]], out: Path, instances: int, report: dict[str, Any]
) -> list[str]:
    """Per knapsack set: ratio r_i = seconds(enum) / seconds(m-sgm) per instance with both run and m-SGM
    solved, and its median. A time-out of enum counts with its limit, so its ratio is a lower bound
    (marked ≥); the median is then a lower bound too when it lands on such an instance. The paper's
    ratios (table 08, m = 2, n = 10) only where every instance here is the paper's file."""
    lines = ["## Full enumeration + PNS vs m-SGM (speed ratio enum s / m-SGM s)", ""]
    for family, m, n in sets:
        if family != "knapsack":
            continue
        enums, msgms = (_records(out, family, method, m, n, instances) for method in ("enum", "m-sgm"))
        ratios, cells = _set_ratios(enums, msgms)
        if not ratios:
            continue
        med = statistics.median(r for r, _ in ratios)
        exact = all(ok for r, ok in ratios if r <= med)  # no time-out (a lower bound) at or below it
        line = (
            f"m = {m}, n = {n}: per instance {', '.join(cells)}; median ratio "
            f"{'' if exact else '≥ '}{med:.0f}× over {len(ratios)} instances "
            f"({sum(ok for _, ok in ratios)} enum solved)."
        )
        # the paper's ratios only where every record of the set is of the paper's own file
        paper_2x10 = (m, n) == (2, 10) and all(record_source(r) != GENERATED for r in enums + msgms if r)
        lines += [line + (_paper_ratio_text() if paper_2x10 else ""), ""]
        lines += _why_lines(enums, msgms, paper_2x10)
        report.setdefault("speed_ratio", {})[f"{m}x{n}"] = {
            "ratios": [r for r, _ in ratios],
            "enum_solved": [ok for _, ok in ratios],
            "median": med,
            "median_is_lower_bound": not exact,
        }
    return lines


# -- CLI ----------------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench ipg`` to the bench subparsers."""
    p = sub.add_parser("ipg", help="integer programming games: SGM / m-SGM equilibria vs the paper")
    add_flags(p, IpgSpec)
    p.set_defaults(bench_run=run)


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
    if spec.fresh is not None:
        from rlcv.bench.ipg_fresh import run_fresh

        run_fresh(spec.sizes, spec.fresh, spec.seed, spec.cpu_limit, Path(spec.out), spec.report_only)
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
    run_table(spec, data)
    return 0

"""The IPG paper's published files (Carvalho, Dragotto, Lodi, Pedroso, EJOR 2022; MIT,
github.com/mxmmargarida/IPG) and the instance sets its generator draws where those files are absent.

Parsed results: :func:`paper_result` reads an instance's ``.txt`` (its m-SGM and SGM runs),
:func:`paper_lot_sizing_table` the lot-sizing table 07, whose rows stand for periods whose files were not
shared (the paper's own draws: same index, not the same game).

Drawn sets (:func:`draw_set`, :class:`InstanceSource`): knapsack m = 2, n = 20, 40, 80, 100 —
:func:`~rlcv.games.instances.paper_knapsack_instances`, numpy seed 1, the paper's files bit for bit
(instances 0..9); other knapsack sets (the paper's seed for them is not recorded) —
``generate_knapsack(m, n, ins)`` after ``np.random.seed(1)``, instances 0..9 drawn in order;
lot-sizing — :func:`~rlcv.games.instances.lot_sizing_instances`, numpy seed 6, drawn in order (T = 10
instance 0 is the paper's file bit for bit, the others new draws). Each drawn instance carries a label
saying how it was drawn and a source: :data:`PAPER` (the paper's file), :data:`GENERATED_PAPER` (a
generated file equal to it) or :data:`GENERATED` (other draws).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.games.instances import (
    LOT_SIZING_SEED,
    generate_knapsack,
    lot_sizing_instances,
    paper_knapsack_instances,
    save_game,
)

PAPER_LIMIT_S = 3600.0  # the paper's time limit per instance (Gurobi 9, 2 threads)
# The paper's table 08 (results/08KnapsackGeneralTable_only_PNS.txt), m = 2, n = 10, ins 0..9: CPU s of
# full enumeration + PNS (None = its 3600 s time-out) and of m-SGM.
PAPER_ENUM_2X10 = [57.03, 3.72, 1.28, None, 21.74, None, 88.04, 12.38, 685.00, 113.41]
PAPER_MSGM_2X10 = [0.01, 0.02, 0.01, 0.02, 0.01, 0.09, 0.01, 0.01, 0.01, 0.01]
PAPER_KNAPSACK_NS = (20, 40, 80, 100)  # m = 2: paper_knapsack_instances() gives these files bit for bit
KNAPSACK_SEED = 1  # numpy seed of the generated knapsack sets (the paper's own for its m = 2 files)
KNAPSACK_INSTANCES = 10  # the knapsack generator's numb_ins: b = ins / (numb_ins + 1) · ΣA, ins 0..9
PAPER_LOT_SIZING = {(2, 10, 0)}  # (m, T, ins) that lot_sizing_instances() gives bit for bit
PAPER, GENERATED_PAPER, GENERATED = "paper", "generated-paper", "generated"


def same_payoffs(a: list[float] | None, b: list[float] | None) -> bool:
    """Equal equilibrium payoffs, player by player (relative 1e-6): how an answer is checked against the
    paper's (or another solver's)."""
    if not a or not b or len(a) != len(b):
        return False
    return all(abs(x - y) <= 1e-6 * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))


def paper_result(txt: Path, method: str) -> dict[str, Any] | None:
    """The paper's run of ``method`` from an instance's ``.txt`` (None when absent): iterations, sizes,
    supports, payoffs, backtracks, CPU s; ``solved`` is CPU s < 3600 (its time limit)."""
    headers = {"m-sgm": "m-SGM results", "sgm": "SGM results"}
    if not txt.exists() or method not in headers:  # the .txt files hold no full-enumeration runs
        return None
    sections = re.split(r"^(.*results.*)$", txt.read_text(), flags=re.M)
    for head, body in zip(sections[1::2], sections[2::2], strict=True):
        if head.strip() == headers[method]:
            return _parse_run(dict(re.findall(r"^(\w+)=(.*)$", body, flags=re.M)))
    return None


def _parse_run(fields: dict[str, str]) -> dict[str, Any]:
    sizes = [len(s) for s in ast.literal_eval(fields["S"])]
    ne = ast.literal_eval(fields["ne"])
    starts = np.cumsum([0, *sizes])
    supports = [sum(1 for q in ne[a:b] if q > 1e-9) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    cpu = float(fields["cpu_time"])
    return {
        "solved": cpu < PAPER_LIMIT_S,
        "seconds": cpu,
        "iterations": int(fields["numb_iter"]),
        "backtracks": int(fields.get("numb_back", 0)),
        "sampled_sizes": sizes,
        "support_sizes": supports,
        "pure": all(s == 1 for s in supports),
        "payoffs": [float(v) for v in ast.literal_eval(fields["Profits"])],
    }


def paper_lot_sizing_table(data: Path, m: int, T: int, method: str) -> list[dict[str, Any]] | None:
    """The paper's table 07 rows (``results/07LS_table.txt``) for m players and T periods: per instance
    CPU s, iterations, sampled sizes, pure — m-SGM is the first block of a row, SGM the second. None when
    the table or the (m, T) section is absent."""
    table = data / "results" / "07LS_table.txt"
    if not table.exists() or method not in ("m-sgm", "sgm"):
        return None
    blocks = re.split(r"^m =(\d+) players, n = (\d+) items", table.read_text(), flags=re.M)
    block = r"([\d.]+) & (\d+) & (\d) & \d &(\[[\d, ]+\])"  # time, iter, pNE, mNE, sizes
    first = method == "m-sgm"
    for mm, tt, body in zip(blocks[1::3], blocks[2::3], blocks[3::3], strict=True):
        if (int(mm), int(tt)) == (m, T):
            return [
                _table_row(g[:4] if first else g[4:], m)
                for g in re.findall(rf"^&\d+ & {block} & \d+ & & {block}", body, flags=re.M)
            ]
    return None


def _table_row(cells: tuple[str, ...], m: int) -> dict[str, Any]:
    seconds, iterations, pne, sizes = cells
    return {
        "solved": True,
        "seconds": float(seconds),
        "iterations": int(iterations),
        "sampled_sizes": ast.literal_eval(sizes),
        "support_sizes": [1] * m if pne == "1" else None,
        "pure": pne == "1",
        "payoffs": None,
    }


@contextmanager
def numpy_seeded(seed: int) -> Iterator[None]:
    """numpy's legacy global RandomState (the paper generator's) seeded inside, its state restored after."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        yield
    finally:
        np.random.set_state(state)


def draw_set(family: str, m: int, n: int, count: int) -> dict[int, tuple[dict[str, np.ndarray], str, str]]:
    """A set's instances as the paper's generator draws them (module docstring): {ins: (arrays, label,
    source)}; lot-sizing draws max(10, count) instances, knapsack its ten."""
    if family == "lot_sizing":
        drawn = lot_sizing_instances(n, m=m, numb_ins=max(10, count))
        how = f"generated: lot_sizing_instances(T={n}, m={m}, seed={LOT_SIZING_SEED})"
        exact = {ins for ins in drawn if (m, n, ins) in PAPER_LOT_SIZING}
        labels = {ins: f"{how}[{ins}]" for ins in drawn}
    elif m == 2 and n in PAPER_KNAPSACK_NS:
        drawn = {i: a for (nn, i), a in paper_knapsack_instances(seed=KNAPSACK_SEED).items() if nn == n}
        exact = set(drawn)
        labels = {
            ins: f"generated: paper_knapsack_instances(seed={KNAPSACK_SEED})[({n}, {ins})]" for ins in drawn
        }
    else:
        with numpy_seeded(KNAPSACK_SEED):
            drawn = {i: generate_knapsack(m, n, i, KNAPSACK_INSTANCES) for i in range(KNAPSACK_INSTANCES)}
        how = f"generated: generate_knapsack(m={m}, n={n}) after np.random.seed({KNAPSACK_SEED})"
        exact = set()
        labels = {ins: f"{how}, instances drawn in order [{ins}]" for ins in drawn}
    return {
        ins: (
            arrays,
            labels[ins] + (" (the paper's file bit for bit)" if ins in exact else " (not the paper's file)"),
            GENERATED_PAPER if ins in exact else GENERATED,
        )
        for ins, arrays in drawn.items()
    }


class InstanceSource:
    """Instance files: ``data``'s (the paper's files) where it holds the file, else drawn by
    :func:`draw_set` into ``tmp``, a whole set at its first use. :meth:`get` gives (file, label, source);
    the file is None where the generator has no such instance (knapsack ins ≥ 10), the label then says
    why."""

    def __init__(self, data: Path | None, tmp: Path) -> None:
        self.data, self.tmp = data, tmp
        self._drawn: dict[tuple[str, int, int], dict[int, tuple[str, str]]] = {}

    def get(self, family: str, m: int, n: int, ins: int, count: int) -> tuple[Path | None, str, str]:
        name = f"Game_{m}_{n}_{ins}.npy"
        if self.data is not None and (self.data / family / name).exists():
            return self.data / family / name, str(self.data / family / name), PAPER
        key = (family, m, n)
        if key not in self._drawn:
            (self.tmp / family).mkdir(parents=True, exist_ok=True)
            self._drawn[key] = {}
            for i, (arrays, label, source) in draw_set(family, m, n, count).items():
                save_game(arrays, self.tmp / family / f"Game_{m}_{n}_{i}.npy")
                self._drawn[key][i] = (label, source)
        if ins not in self._drawn[key]:
            return None, f"no instance {ins}: the knapsack generator draws instances 0..9", GENERATED
        return self.tmp / family / name, *self._drawn[key][ins]

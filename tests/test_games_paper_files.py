"""rlcv.games.paper_files: the IPG paper's result files parsed, and the sets its generator draws (bit for
bit the paper's files where the paper's seed is known)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlcv.games.instances import game_bytes, lot_sizing_instances, paper_knapsack_instances
from rlcv.games.paper_files import (
    GENERATED,
    GENERATED_PAPER,
    InstanceSource,
    draw_set,
    numpy_seeded,
    paper_lot_sizing_table,
    paper_result,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "ipg"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")

RUN = """m-SGM results
ne=[0, 0.25, 0.75, 1.0]
Profits=[12.0, 7.5]
S=[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[0.0, 0.0]]]
numb_iter=4
numb_back=1
cpu_time={cpu}
max_iter=50
"""
TABLE = """m =2 players, n = 50 items

 & ins & time & iter & pNE & mNE & size S & numb_back & time & iter & pNE & mNE & size S \\\\
&0 & 0.26 & 16 & 1 & 0 &[9, 8] & 0 & & 0.23 & 15 & 0 & 1 &[9, 7]&   & 0.01  & \\\\
&1 & 0.28 & 17 & 1 & 0 &[9, 8] & 0 & & 0.24 & 16 & 1 & 0 &[9, 8]&   & 0.02  & \\\\
"""


def test_paper_result_and_table_07_parse(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text(RUN.format(cpu=0.5) + "\nSGM results\ncpu_time=1\n")
    rec = paper_result(tmp_path / "g.txt", "m-sgm")
    assert rec == {
        "solved": True,
        "seconds": 0.5,
        "iterations": 4,
        "backtracks": 1,
        "sampled_sizes": [3, 1],
        "support_sizes": [2, 1],
        "pure": False,
        "payoffs": [12.0, 7.5],
    }
    (tmp_path / "late.txt").write_text(RUN.format(cpu=3600.2))
    late = paper_result(tmp_path / "late.txt", "m-sgm")
    assert late is not None and late["solved"] is False  # its 3600 s time-out
    assert (
        paper_result(tmp_path / "late.txt", "sgm") is None
        and paper_result(tmp_path / "no.txt", "m-sgm") is None
    )
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "07LS_table.txt").write_text(TABLE)
    msgm, sgm = (paper_lot_sizing_table(tmp_path, 2, 50, m) for m in ("m-sgm", "sgm"))
    assert (
        msgm is not None
        and [r["iterations"] for r in msgm] == [16, 17]
        and msgm[0]["support_sizes"] == [1, 1]
    )
    assert (
        sgm is not None
        and sgm[0]["seconds"] == 0.23
        and not sgm[0]["pure"]
        and sgm[0]["sampled_sizes"] == [9, 7]
    )
    assert paper_lot_sizing_table(tmp_path, 2, 10, "m-sgm") is None


def test_draw_set_labels_and_numpys_state() -> None:
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    other = draw_set("knapsack", 3, 5, 10)
    assert np.array_equal(np.random.get_state()[1], before)
    assert sorted(other) == list(range(10)) and {src for _, _, src in other.values()} == {GENERATED}
    assert other[2][1] == (
        "generated: generate_knapsack(m=3, n=5) after np.random.seed(1), instances drawn in order [2] "
        "(not the paper's file)"
    )
    lots = draw_set("lot_sizing", 2, 10, 12)
    assert len(lots) == 12 and lots[0][2] == GENERATED_PAPER and lots[1][2] == GENERATED
    with numpy_seeded(3):
        first = np.random.randint(100)
    with numpy_seeded(3):
        assert np.random.randint(100) == first


@needs_data
def test_the_papers_files_parse() -> None:
    rec = paper_result(DATA / "knapsack" / "Game_2_20_0.txt", "m-sgm")
    assert rec is not None
    assert (rec["iterations"], rec["sampled_sizes"], rec["support_sizes"], rec["pure"]) == (
        10,
        [5, 6],
        [3, 3],
        False,
    )
    assert rec["payoffs"] == pytest.approx([149.0, 272.63235294117646])
    timed_out = paper_result(DATA / "knapsack" / "Game_2_80_4.txt", "m-sgm")
    assert timed_out is not None and timed_out["solved"] is False
    rows = paper_lot_sizing_table(DATA, 2, 50, "m-sgm")
    assert rows is not None and len(rows) == 10 and rows[5]["iterations"] == 17 and rows[5]["pure"]
    rows = paper_lot_sizing_table(DATA, 2, 100, "sgm")
    assert rows is not None and rows[0]["seconds"] == 0.49


@needs_data
def test_generated_instances_are_the_papers_files(tmp_path: Path) -> None:
    """The m = 2 knapsack files (n = 20, 40, 80, 100) and lot-sizing T = 10 instance 0, bit for bit, also
    as InstanceSource writes them when the paper's folder lacks them."""
    for (n, ins), arrays in paper_knapsack_instances().items():
        assert game_bytes(arrays) == (DATA / "knapsack" / f"Game_2_{n}_{ins}.npy").read_bytes(), (n, ins)
    assert game_bytes(lot_sizing_instances(10)[0]) == (DATA / "lot_sizing" / "Game_2_10_0.npy").read_bytes()
    source = InstanceSource(None, tmp_path)
    for n in (20, 80):
        path, label, origin = source.get("knapsack", 2, n, 7, 10)
        assert path is not None and origin == "generated-paper"
        assert path.read_bytes() == (DATA / "knapsack" / f"Game_2_{n}_7.npy").read_bytes()
    path, _, origin = source.get("lot_sizing", 2, 10, 0, 10)
    assert path is not None and origin == "generated-paper"
    assert path.read_bytes() == (DATA / "lot_sizing" / "Game_2_10_0.npy").read_bytes()
    assert source.get("lot_sizing", 2, 10, 1, 10)[2] == "generated"
    assert source.get("knapsack", 2, 20, 10, 11)[0] is None  # the paper's sets hold instances 0..9
    assert source.get("knapsack", 2, 20, 3, 10)[0] == tmp_path / "knapsack" / "Game_2_20_3.npy"

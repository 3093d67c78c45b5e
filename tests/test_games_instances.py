"""rlcv.games: the paper's .npy layout, its generator (bit-identical to the shared files) and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlcv.errors import RlcvError
from rlcv.games.instances import (
    FIELDS,
    game_bytes,
    game_from_arrays,
    generate_knapsack,
    load_game,
    paper_knapsack_instances,
    save_game,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "ipg" / "knapsack"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")


@needs_data
def test_generator_reproduces_the_papers_two_player_files_bit_for_bit() -> None:
    generated = paper_knapsack_instances()
    assert len(generated) == 40
    for (n, ins), arrays in generated.items():
        assert game_bytes(arrays) == (DATA / f"Game_2_{n}_{ins}.npy").read_bytes(), (n, ins)


def test_generator_restores_the_global_random_state() -> None:
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    paper_knapsack_instances(ns=(5,))
    assert np.random.random() == before


def test_save_load_round_trip(tmp_path: Path) -> None:
    np.random.seed(3)
    arrays = generate_knapsack(3, 6, ins=4)
    save_game(arrays, tmp_path / "g.npy")
    game = load_game(tmp_path / "g.npy")
    ref = game_from_arrays(arrays)
    assert (game.m, game.n, game.ins, game.numb_ins) == (3, 6, 4, 10)
    for name in ("c", "Q", "A", "b"):
        assert np.array_equal(getattr(game, name), getattr(ref, name))
    assert np.all(game.Q[[0, 1, 2], [0, 1, 2]] == 0)  # Q^p_p := 0
    assert game.b[1, 0] == int(4 / 11 * arrays["A"][1].sum())


@needs_data
def test_loader_reads_the_papers_three_player_file() -> None:
    game = load_game(DATA / "Game_3_20_2.npy")
    assert (game.m, game.n) == (3, 20) and game.Q.shape == (3, 3, 20, 20)


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not a numpy file at all")
    with pytest.raises(RlcvError, match="not a readable .npy game file"):
        load_game(junk)
    with pytest.raises(RlcvError, match="does not exist"):
        load_game(tmp_path / "missing.npy")
    np.random.seed(0)
    arrays = generate_knapsack(2, 4, ins=1)
    short = tmp_path / "short.npy"
    with open(short, "wb") as f:
        for name in FIELDS[:5]:
            np.save(f, arrays[name])
    with pytest.raises(RlcvError, match="ends before field 'Q'"):
        load_game(short)
    wrong = dict(arrays, A=np.zeros((2, 1, 5), dtype=np.int32))
    save_game(wrong, tmp_path / "wrong.npy")
    with pytest.raises(RlcvError, match=r"A has shape \(2, 1, 5\), expected \(2, r, 4\)"):
        load_game(tmp_path / "wrong.npy")
    kidney = dict(arrays, type=np.array("Kidney"))
    save_game(kidney, tmp_path / "kidney.npy")
    with pytest.raises(RlcvError, match="only types 'Knapsack' and 'LotSizing'"):
        load_game(tmp_path / "kidney.npy")
    lot = dict(arrays, type=np.array("LotSizing"))  # knapsack arrays are not a lot-sizing game
    save_game(lot, tmp_path / "lot.npy")
    with pytest.raises(RlcvError, match=r"n = 4 variables, expected 4T \+ 1 = 17"):
        load_game(tmp_path / "lot.npy")

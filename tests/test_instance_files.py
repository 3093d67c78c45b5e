"""Instance files are data: loading one never runs code (issue 27, item 1).

``np.save`` writes object arrays as pickles, and an unrestricted ``np.load(allow_pickle=True)`` runs
any callable a crafted file names. The loader reads plain arrays without unpickling and object arrays
through an unpickler that knows numpy's array reconstruction only.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rlcv.cli import main
from rlcv.errors import RlcvError
from rlcv.games.instances import FIELDS, _read_arrays, game_bytes, generate_knapsack, load_game


class _Payload:
    """Unpickling this writes the marker file: what an attacker's instance would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted(tmp_path: Path, field: str) -> tuple[Path, Path]:
    """A valid game file whose ``field`` is replaced by an object array carrying the payload."""
    np.random.seed(0)
    arrays = dict(generate_knapsack(2, 4, ins=1))
    marker = tmp_path / "executed"
    arrays[field] = np.array([_Payload(marker)], dtype=object)
    path = tmp_path / "evil.npy"
    path.write_bytes(game_bytes(arrays))
    return path, marker


@pytest.mark.parametrize("field", ["m", "c", "type"])
def test_crafted_file_runs_no_code_in_bench_ipg(
    tmp_path: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = _crafted(tmp_path, field)
    assert main(["bench", "ipg", "--instance", str(path)]) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the instance file ran code"
    assert err.count("\n") == 1 and "may not hold" in err and f"field '{field}'" in err, err


def test_crafted_file_runs_no_code_through_the_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = _crafted(tmp_path, "Q")
    kwargs = json.dumps({"instance": str(path)})
    run = str(tmp_path / "run")
    args = ["--steps", "1", "--env-kwargs", kwargs, "--run-dir", run, "--no-progress"]
    code = main(["train", "--algo", "ipg-sgm", "--env", "rlcv/KnapsackGame-v0", *args])
    assert code == 2 and not marker.exists() and not (tmp_path / "run").exists()
    assert "may not hold" in capsys.readouterr().err


def test_object_arrays_of_numbers_are_read(tmp_path: Path) -> None:
    """The paper code's layout may hold per-player arrays as an object array: numbers are accepted."""
    np.random.seed(0)
    arrays = dict(generate_knapsack(2, 4, ins=1))
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.arange(3), np.arange(4.0)
    arrays["n_constr"] = ragged
    path = tmp_path / "obj.npy"
    path.write_bytes(game_bytes(arrays))
    read = dict(zip(FIELDS, _read_arrays(path), strict=True))
    assert read["n_constr"].dtype == object and np.array_equal(read["n_constr"][1], np.arange(4.0))
    assert load_game(path).m == 2


def test_plain_files_read_bit_for_bit(tmp_path: Path) -> None:
    np.random.seed(3)
    arrays = generate_knapsack(2, 5, ins=2)
    path = tmp_path / "g.npy"
    path.write_bytes(game_bytes(arrays))
    for name, value in zip(FIELDS, _read_arrays(path), strict=True):
        assert value.dtype == np.asarray(arrays[name]).dtype and np.array_equal(value, arrays[name]), name


@pytest.mark.parametrize("cut", [3, 200, -5])
def test_truncated_files_are_one_line_errors(tmp_path: Path, cut: int) -> None:
    np.random.seed(3)
    path = tmp_path / "t.npy"
    path.write_bytes(game_bytes(generate_knapsack(2, 5, ins=2))[:cut])
    with pytest.raises(RlcvError, match="instance"):
        load_game(path)


def test_huge_shape_in_a_header_is_refused_before_allocating(tmp_path: Path) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (10**12,)
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    path = tmp_path / "huge.npy"
    path.write_bytes(out.getvalue() + bytes(8))
    with pytest.raises(RlcvError, match="ends inside field 'm'"):
        load_game(path)


def test_complex_numbers_are_refused_not_cast(tmp_path: Path) -> None:
    np.random.seed(0)
    arrays = dict(generate_knapsack(2, 4, ins=1))
    arrays["c"] = arrays["c"].astype(np.complex128)
    path = tmp_path / "complex.npy"
    path.write_bytes(game_bytes(arrays))
    with pytest.raises(RlcvError, match="field 'c': dtype complex128 is not a real number type"):
        load_game(path)

"""The paper's instance files and generator.

File layout (the paper code's ``Save_Game``): eleven arrays written one after another with ``np.save``
on one file handle: m, n_I, n_C, n_constr, c, Q, A, b, type, ins, numb_ins. For the knapsack game
n_I = (n, …, n) (integer variables), n_C = (0, …) (no continuous ones), n_constr = (1, …); c: (m, n)
int32, Q: (m, m, n, n) float64, A: (m, 1, n) int32, b: (m, 1) int32, type = 'Knapsack'.

Generator (numpy's legacy global RandomState, in this order, for a given ins ∈ 0..numb_ins-1):

    c^p   = randint(−50, 50, n)                     for p = 0..m−1
    Q^p_k = diag(randint(−100, 100, n))             for p, then k = 0..m−1;  then Q^p_p := 0
    A^p   = randint(−100, 100, (1, n))              for p = 0..m−1
    b^p   = int(ins / (numb_ins + 1) · ΣA^p)

The paper's m = 2 files come from ``np.random.seed(1)`` followed by n = 20, 40, 80, 100 and ins = 0..9
for each n (:func:`paper_knapsack_instances`); b = 0 on ins 0 is the paper's choice, kept.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat

from rlcv.errors import RlcvError
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.lot_sizing import LotSizingGame

LOT_SIZING_SEED = 6  # the seed of the paper code's main script (Compute_NE.py)
FIELDS = ("m", "n_I", "n_C", "n_constr", "c", "Q", "A", "b", "type", "ins", "numb_ins")


# What an object-array field's pickle may name: numpy's own array and scalar reconstruction, nothing
# else. np.save writes an object array as a pickle, and an unrestricted unpickler runs whatever
# callable the file names (an instance file must never run code); these four only rebuild data.
_SAFE_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype")}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which an instance file may not hold")
        return super().find_class(module, name)


def _is_numeric(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf" or (value.dtype.kind == "O" and all(map(_is_numeric, value.flat)))
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _read_field(f: Any) -> np.ndarray:
    """One ``np.save`` record: plain arrays without any unpickling; an object array (the paper code's
    layout of per-player numeric arrays) through :class:`_ArrayUnpickler`, then checked to hold
    numbers only."""
    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if not dtype.hasobject:
        if dtype.kind not in "biufU":  # complex, bytes, datetimes, structured: not a game's numbers
            raise ValueError(f"dtype {dtype} is not a real number type")
        count = int(np.prod(shape, dtype=np.int64))
        size = count * dtype.itemsize
        if size > os.fstat(f.fileno()).st_size - f.tell():  # checked before reading: no huge allocation
            raise EOFError
        data = np.frombuffer(f.read(size), dtype=dtype) if count else np.empty(0, dtype)
        return data.reshape(shape, order="F" if fortran else "C")
    array = _ArrayUnpickler(f).load()
    if not isinstance(array, np.ndarray) or not _is_numeric(array):
        raise ValueError("an object field holds something other than numeric arrays")
    return array


def _read_arrays(path: Path) -> list[np.ndarray]:
    try:
        with open(path, "rb") as f:
            arrays = []
            for name in FIELDS:
                if not f.peek(1):
                    raise RlcvError(
                        f"instance '{path}' ends before field '{name}'; it is not in the paper's layout "
                        f"({', '.join(FIELDS)} saved one after another with np.save)."
                    )
                try:
                    arrays.append(_read_field(f))
                except EOFError:
                    raise RlcvError(
                        f"instance '{path}' ends inside field '{name}'; the file is truncated."
                    ) from None
                except (ValueError, pickle.UnpicklingError) as exc:
                    first = (str(exc).strip().splitlines() or [""])[0]
                    raise RlcvError(
                        f"instance '{path}' is not a readable .npy game file (field '{name}': {first}); "
                        "only numeric arrays in the paper's layout are read."
                    ) from None
            return arrays
    except FileNotFoundError:
        raise RlcvError(f"instance '{path}' does not exist; give the path of a .npy instance file.") from None
    except IsADirectoryError:
        raise RlcvError(f"instance '{path}' is a folder; give a .npy instance file.") from None
    except OSError as exc:
        raise RlcvError(f"instance '{path}' cannot be read ({exc.strerror or exc}).") from None


def load_game(path: str | Path) -> KnapsackGame:
    """Read a knapsack (or lot-sizing: :class:`LotSizingGame`) game in the paper's layout; a malformed or
    wrongly shaped file → :class:`RlcvError`."""
    path = Path(path)
    m_, n_i, n_c, n_constr, c, Q, A, b, kind, ins, numb_ins = _read_arrays(path)
    kind_s = str(kind)
    if kind_s not in ("Knapsack", "LotSizing"):
        raise RlcvError(
            f"instance '{path}' is a '{kind_s}' game; only types 'Knapsack' and 'LotSizing' are supported."
        )
    try:
        m = int(m_)
        n_i = np.asarray(n_i, dtype=np.int64).reshape(-1)
        n_c = np.asarray(n_c, dtype=np.int64).reshape(-1)
        n = int(n_i[0])
        arrays = [np.asarray(a, dtype=np.float64) for a in (c, Q, A, b)]
    except (TypeError, ValueError, IndexError) as exc:
        raise RlcvError(f"instance '{path}' has fields of the wrong type ({exc}).") from None
    lot = kind_s == "LotSizing"
    if m < 1 or len(n_i) != m or np.any(n_i != n) or (not lot and np.any(n_c != 0)) or len(n_c) != m:
        raise RlcvError(
            f"instance '{path}': m = {m}, n_I = {n_i.tolist()}, n_C = {n_c.tolist()}; a knapsack game needs "
            "m ≥ 1 players with the same number of binary items and no continuous variables."
        )
    c_, Q_, A_, b_ = arrays
    width = n + int(n_c[0]) if lot else n
    if c_.shape != (m, width):
        raise RlcvError(
            f"instance '{path}': c has shape {c_.shape}, expected {(m, width)} from m, n_I and n_C."
        )
    if b_.ndim == 3:  # the lot-sizing files store b as (m, rows, 1)
        b_ = b_[..., 0]
    try:
        if lot:
            return LotSizingGame(c=c_, Q=Q_, A=A_, b=b_, ins=int(ins), numb_ins=int(numb_ins), T=n)
        return KnapsackGame(c=c_, Q=Q_, A=A_, b=b_, ins=int(ins), numb_ins=int(numb_ins))
    except RlcvError as exc:
        raise RlcvError(f"instance '{path}': {exc}") from None


def generate_knapsack(m: int, n: int, ins: int, numb_ins: int = 10) -> dict[str, np.ndarray]:
    """Draw one instance from numpy's global legacy RandomState (seed it first), as the paper did.

    Returns the arrays of the file layout with the file's dtypes (int32 / float64), so that
    :func:`save_game` writes the paper's bytes.
    """
    c = [np.random.randint(-50, 50, n) for _ in range(m)]
    Q: list[list[np.ndarray]] = [
        [np.diag(np.random.randint(-100, 100, n)) for _ in range(m)] for _ in range(m)
    ]
    for p in range(m):
        Q[p][p] = np.zeros((n, n))
    A = [np.random.randint(-100, 100, (1, n)) for _ in range(m)]
    b = [[int(ins / (numb_ins + 1) * np.sum(A[p]))] for p in range(m)]
    i32 = np.int32
    return {
        "m": np.array(m, dtype=i32),
        "n_I": np.full(m, n, dtype=i32),
        "n_C": np.zeros(m, dtype=i32),
        "n_constr": np.ones(m, dtype=i32),
        "c": np.array(c, dtype=i32),
        "Q": np.array(Q, dtype=np.float64),
        "A": np.array(A, dtype=i32),
        "b": np.array(b, dtype=i32),
        "type": np.array("Knapsack"),
        "ins": np.array(ins, dtype=i32),
        "numb_ins": np.array(numb_ins, dtype=i32),
    }


def generate_lot_sizing(m: int, T: int, ins: int = 0, numb_ins: int = 10) -> dict[str, np.ndarray]:
    """Draw one lot-sizing game from numpy's global legacy RandomState, in the paper code's order:

        β_t = randint(1, 3), a_t = randint(20, 30)           (market slope and size, t = 0..T−1)
        F^p_t = randint(10, 20), C^p_t = randint(5, 10)       (setup and unit production costs, p-major)
        H^p_t = 0,  M_t = Σ_t a_t / β_t                        (no holding cost; a capacity that never binds)

    Layout (:mod:`rlcv.games.lot_sizing`, n_I = T setups, n_C = 3T + 1): c^p = (−F^p, −C^p, a, 0, −H^p),
    Q^p_k = diag(0, 0, −β, 0) for k ≠ p and Q^p_p = diag(0, 0, 2β, 0); rows of A^p x ≤ 0: the flow balance
    h_t + x_t − q_t − h_{t+1} = 0 as two inequalities, x_t − M_t y_t ≤ 0, h_0 ≤ 0, h_T ≤ 0 (b = 0).
    The paper's generator takes no instance number (``ins`` and ``numb_ins`` are only recorded).
    """
    beta = [np.random.randint(1, 3) for _ in range(T)]
    size = [np.random.randint(20, 30) for _ in range(T)]
    F = [[-np.random.randint(10, 20) for _ in range(T)] for _ in range(m)]
    C = [[-np.random.randint(5, 10) for _ in range(T)] for _ in range(m)]
    H = [[0] * T for _ in range(m)]
    M = -sum(a / b for a, b in zip(size, beta, strict=True))  # stored negated: M_t y_t + x_t ≤ 0
    n = 4 * T + 1
    c = [np.array(F[p] + C[p] + size + [0] + H[p]) for p in range(m)]
    slope = np.diag([0] * (2 * T) + [-b for b in beta] + [0] * (T + 1))
    Q = [[2 * -slope if k == p else slope for k in range(m)] for p in range(m)]
    eye = np.eye(T)
    # np.diag(−1) rather than −eye: the file's zeros are +0.0 there (−eye would store −0.0)
    stock = np.hstack([eye, np.zeros((T, 1))]) - np.hstack([np.zeros((T, 1)), eye])
    balance = np.hstack([np.zeros((T, T)), eye, np.diag([-1.0] * T), stock])
    capacity = np.hstack([np.diag([M] * T), eye, np.zeros((T, 2 * T + 1))])  # +0.0 off the diagonal
    ends = np.zeros((2, n))
    ends[0, 3 * T] = ends[1, 4 * T] = 1.0
    A = np.vstack([balance, -balance, capacity, ends])
    i32 = np.int32
    return {
        "m": np.array(m, dtype=i32),
        "n_I": np.full(m, T, dtype=i32),
        "n_C": np.full(m, 3 * T + 1, dtype=i32),
        "n_constr": np.full(m, 3 * T + 2, dtype=i32),
        "c": np.array(c, dtype=i32),
        "Q": np.array(Q, dtype=i32),
        "A": np.array([A] * m, dtype=np.float64),
        "b": np.zeros((m, 3 * T + 2, 1)),
        "type": np.array("LotSizing"),
        "ins": np.array(ins, dtype=i32),
        "numb_ins": np.array(numb_ins, dtype=i32),
    }


def lot_sizing_instances(
    T: int, m: int = 2, seed: int = LOT_SIZING_SEED, numb_ins: int = 10
) -> dict[int, dict[str, np.ndarray]]:
    """Lot-sizing instances {ins: arrays} for the periods the paper's files do not cover: numpy's global
    RandomState seeded once with ``seed``, then ins = 0..numb_ins−1 drawn one after another. Seed 6 (the
    paper code's own ``np.random.seed(6)``) reproduces its T = 10 instance 0 bit for bit; its other
    files came from draws the code does not record, so instances 1.. here are new draws of the same
    generator. The previous global state is restored afterwards."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return {ins: generate_lot_sizing(m, T, ins, numb_ins) for ins in range(numb_ins)}
    finally:
        np.random.set_state(state)


def paper_knapsack_instances(
    ns: tuple[int, ...] = (20, 40, 80, 100), seed: int = 1, numb_ins: int = 10
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """The paper's m = 2 knapsack instances {(n, ins): arrays}: seed once, then n-major, ins-minor.

    Note it reseeds numpy's *global* RandomState (the paper's generator is defined by it); the previous
    state is restored afterwards.
    """
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return {(n, ins): generate_knapsack(2, n, ins, numb_ins) for n in ns for ins in range(numb_ins)}
    finally:
        np.random.set_state(state)


def game_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The file's bytes: each field with ``np.save``, in :data:`FIELDS` order."""
    buf = io.BytesIO()
    for name in FIELDS:
        np.save(buf, arrays[name], allow_pickle=True)
    return buf.getvalue()


def save_game(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    """Write an instance in the paper's layout."""
    Path(path).write_bytes(game_bytes(arrays))


def game_from_arrays(arrays: dict[str, np.ndarray]) -> KnapsackGame:
    """The :class:`KnapsackGame` of generated arrays (no file round trip)."""
    f = np.float64
    return KnapsackGame(
        c=arrays["c"].astype(f),
        Q=arrays["Q"].astype(f),
        A=arrays["A"].astype(f),
        b=arrays["b"].astype(f),
        ins=int(arrays["ins"]),
        numb_ins=int(arrays["numb_ins"]),
    )

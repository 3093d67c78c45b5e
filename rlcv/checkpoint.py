"""Plain checkpoints: ``torch.save`` of state dicts and tensors, loaded with ``weights_only=True``.

Numpy arrays (normaliser statistics) are stored as tensors so no pickled objects are needed, and
files are written atomically (temp file + rename) so a run killed mid-save never leaves a
truncated checkpoint behind.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcv.errors import RlcvError


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_plain(v) for v in obj)
    return obj


def save(obj: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(_to_plain(obj), f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as exc:
        # torch reports a full disk as a RuntimeError ("PytorchStreamWriter failed writing file"): an
        # OSError here lets the caller print its one-line "cannot write" error; no partial file stays.
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise
        first = (str(exc).strip().splitlines() or ["write failed"])[0]
        raise OSError(errno.EIO, f"writing '{tmp}' failed ({first})") from exc
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RlcvError(f"checkpoint '{path}' not found; check the run directory (its checkpoints/ folder).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip / pickle stream
        raise RlcvError(
            f"checkpoint '{path}' is corrupt or not an rlcv checkpoint ({type(exc).__name__}); resume "
            f"from another file in checkpoints/ (`--from step_N.pt`) or start a new run."
        ) from exc
    if not isinstance(state, dict):
        raise RlcvError(
            f"checkpoint '{path}' holds a {type(state).__name__}, not an rlcv checkpoint; resume from "
            f"another file in checkpoints/ (`--from step_N.pt`) or start a new run."
        )
    return state

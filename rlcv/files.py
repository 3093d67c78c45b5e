"""Writing a user-facing output file (a figure, a JSON record) so that a failure leaves nothing.

A full disk or a killed process during a plain write leaves a truncated or 0-byte file at the
path the user asked for, which reads as a result. Here the content goes to a hidden sibling,
is fsynced and renamed over the target; on any error the sibling is removed and the error raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a hidden sibling of ``path``, then rename it to ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """``fig.savefig`` through :func:`write_atomically` (the format named by the path's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return write_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))


def write_text(path: str | Path, text: str) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_text(text))

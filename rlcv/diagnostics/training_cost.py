"""Where a training run's time goes: cProfile's cumulative seconds of the training loop's phases
(:data:`PHASES`) for one ``rlcv train``, in this process. The profiler slows Python-heavy code more than
torch kernels, so read the shares between phases, not the absolute seconds (`rlcv bench cost-profile`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# (label, file suffix, function name): the phases of one update of the training loop; an indented
# label is a part of the row above it (cumulative times nest), not an addition to it.
PHASES = [
    ("training loop", "rlcv/loop.py", "train"),
    ("collect (env + policy)", "rlcv/collector.py", "collect"),
    ("policy/value epochs (PPO learn)", "agents/ppo.py", "learn"),
    ("  of which pathwise loss", "rlcv/estimators/mbmf.py", "pathwise_loss"),
    ("CV features (imagined D, gate, held-out error)", "rlcv/estimators/mbmf.py", "prepare"),
    ("  of which held-out model error", "rlcv/estimators/mbmf.py", "held_out_error"),
    ("model training", "rlcv/dynamics.py", "train_dynamics"),
]


def phase_seconds(stats: Mapping[tuple[str, int, str], tuple[Any, ...]]) -> dict[str, float]:
    """Each phase's cumulative seconds (field 3 of a ``pstats`` entry), summed over matching functions."""
    return {
        label: sum(v[3] for (f, _, fn), v in stats.items() if f.endswith(suffix) and fn == name)
        for label, suffix, name in PHASES
    }


def profile_training(train_args: list[str], run_dir: Path) -> dict[str, float]:
    """Each phase's cumulative seconds of ``rlcv train`` with ``train_args`` (run folder ``run_dir``)."""
    import cProfile
    import pstats

    from rlcv.cli import main

    prof = cProfile.Profile()
    prof.runcall(main, [*train_args, "--run-dir", str(run_dir)])
    return phase_seconds(pstats.Stats(prof).stats)  # type: ignore[attr-defined]

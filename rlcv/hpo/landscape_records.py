"""How the landscape benches' run records are named and grouped: read by `rlcv bench walk` /
`rlcv bench sharpness` for their tables and by the report layer for their figures (a light module, no
torch: building the CLI parser imports every bench)."""

from __future__ import annotations

from typing import Any

# The two points of a sharpness run at which λ_max and test accuracy are read: at a matched training
# loss, and at a fixed budget of steps (the snapshots of rlcv.hpo.landscape_runs.sharp_run).
SNAPSHOT_PROTOCOLS = ("matched", "fixed")


def group_runs(results: dict[str, dict[str, Any]], prefix: str) -> dict[float, list[dict[str, Any]]]:
    """The runs whose name starts with ``prefix``, by setting (the batch size for ``dist_``, else the
    learning rate), settings in increasing order."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for name, r in results.items():
        if name.startswith(prefix):
            key = float(r["batch_size"]) if prefix == "dist_" else float(r["lr"])
            groups.setdefault(key, []).append(r)
    return dict(sorted(groups.items()))

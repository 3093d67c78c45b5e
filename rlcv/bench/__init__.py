"""Benchmarks behind ``rlcv bench``; each writes its tables and figures to results/.

Every module in :data:`BENCH_MODULES` defines ``register(sub)``, which adds its parser(s) to the
``rlcv bench`` subparsers ``sub`` and sets ``bench_run`` (a function ``args -> exit code``) as their
default; ``rlcv.cli`` loops over this tuple. Adding a bench is one new module and one line here.
Modules keep heavy imports (torch, matplotlib, sb3, ray, optuna) inside functions, since building
the parser imports all of them.
"""

from __future__ import annotations

BENCH_MODULES: tuple[str, ...] = (
    "rlcv.bench.speed",
    "rlcv.bench.learn",
    "rlcv.bench.compare",
    "rlcv.bench.gate",
    "rlcv.bench.gradcheck",
    "rlcv.bench.variance",
    "rlcv.bench.mbmf_cost",
    "rlcv.bench.model_diag",
    "rlcv.bench.seeded_runs",
    "rlcv.bench.bgan",
    "rlcv.bench.bgan_checks",
    "rlcv.bench.bgan_collapse",
    "rlcv.bench.hpo_budget",
    "rlcv.bench.dualcutout",
    "rlcv.bench.oracle",
    "rlcv.bench.tuning",
    "rlcv.bench.ipg",
    "rlcv.bench.ipg_agents",
    "rlcv.bench.ipg_versions",
    "rlcv.bench.walk",
    "rlcv.bench.sharpness",
    "rlcv.bench.ldf",
    "rlcv.bench.ldf_lower",
)

"""`rlcv bench model-diag`: how well a learned model serves MBMF's control variate, from one checkpoint
(issue 11; the reading is results/variance_v2.md).

Setup (seeded, so every invocation sees the same data): the checkpoint ``--checkpoint`` of the run
``--run`` is loaded with `rlcv bench variance`'s session; 30k fresh transitions are collected to fit
on and 21 evaluation batches of the run's ``n_steps``. Two diagnostics:

* variants (``NAME:TD_WEIGHT:UNROLL:STEPS[:WIDTH[:LR[:MEMBERS[:STRUCTURE]]]]``; defaults 0, 3, 3000,
  128, 1e-3, 5, mlp; STRUCTURE mlp or affine, :mod:`rlcv.dynamics`): per variant, an ensemble of
  MEMBERS fitted with those settings (torch seed 0), then the
  λ-matched CV with split η at k = 16: on each evaluation batch after the first, the score-term
  ratio Var(Â − η_a D_a − η_τ D_τ) / Var(Â) with η fitted on the previous batch, corr(Â, D_a + D_τ),
  the η's, and the model's 1- and 16-step state errors on 5 batches. Finished variants already in
  ``--json`` are kept (a rerun adds the new ones).
* ``--blocks UNROLL STEPS``: one model; the features of k = 1, 2, 4, 8, 16 as regressors — each k's
  pair alone, the differences between consecutive horizons as separate blocks, and all D_τ with
  D_a at 16 — least squares on batch t, the held-out ratio on batch t + 1.

Writes ``--json`` and the page beside it (same name, ``.md``); ``--report-only`` rebuilds the page.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rlcv.bench.checks import out_file, positive_int
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.diagnostics.cv_regression import KS
from rlcv.dynamics import STRUCTURES
from rlcv.errors import RlcvError

FIT_STEPS = 30_000
DEFAULTS = ("", "0", "3", "3000", "128", "1e-3", "5", "mlp", "0", "1")  # name:td_weight:horizon:steps[:...]
VARIANT_SYNTAX = "NAME:TD_WEIGHT:UNROLL:STEPS[:WIDTH[:LR[:MEMBERS[:STRUCTURE[:SMOOTH[:LR_FINAL]]]]]]"


def parse_variant(text: str) -> dict[str, Any]:
    """:data:`VARIANT_SYNTAX` (trailing fields default to :data:`DEFAULTS`)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= len(DEFAULTS) or not parts[0]:
        raise RlcvError(f"variant {text!r}: expected {VARIANT_SYNTAX}, e.g. e2:0:3:3000:128:3e-3:2.")
    name, w, h, n, width, lr, members, structure, smooth, lr_final = [*parts, *DEFAULTS[len(parts) :]]
    try:
        sizes = {"horizon": int(h), "steps": int(n), "hidden": int(width), "members": int(members)}
        rates = {"td_weight": float(w), "lr": float(lr), "smooth": float(smooth), "lr_final": float(lr_final)}
    except ValueError as exc:
        raise RlcvError(f"variant {text!r}: {exc}; expected {VARIANT_SYNTAX} with numbers.") from exc
    if (
        min(sizes.values()) < 1
        or not 0 < rates["lr"] < 1
        or min(rates["td_weight"], rates["smooth"]) < 0
        or not 0 < rates["lr_final"] <= 1
    ):
        raise RlcvError(
            f"variant {text!r}: UNROLL, STEPS, WIDTH and MEMBERS must be >= 1, LR in (0, 1), "
            "TD_WEIGHT and SMOOTH >= 0, LR_FINAL in (0, 1]."
        )
    if structure not in STRUCTURES:
        raise RlcvError(f"variant {text!r}: STRUCTURE must be one of {', '.join(STRUCTURES)}.")
    v: dict[str, Any] = {"name": name, "td_weight": rates["td_weight"], **sizes, "lr": rates["lr"]}
    return {**v, "structure": structure, "smooth": rates["smooth"], "lr_final": rates["lr_final"]}


# ---------------------------------------------------------------------------- the checkpoint's data
def _setup(run: str, checkpoint: str) -> tuple[Any, list, list]:
    import torch

    from rlcv.diagnostics.checkpoint import collect_batches, load_session

    torch.set_num_threads(1)
    _, session = load_session(Path(run), checkpoint, 0)
    steps = cast(Any, session.config).n_steps  # the on-policy configs all have it
    return session, collect_batches(session, FIT_STEPS // steps, steps), collect_batches(session, 21, steps)


def _fitted(session: Any, fit: list, v: Mapping[str, Any]) -> Any:
    import torch

    from rlcv.diagnostics.checkpoint import fit_model
    from rlcv.estimators.mbmf import MBMFSettings

    torch.manual_seed(0)
    settings = MBMFSettings(
        model_hidden_sizes=[v["hidden"], v["hidden"]],
        model_lr=v["lr"],
        model_ensemble_size=v.get("members", 5),
        model_structure=v.get("structure", "mlp"),
        model_action_smooth=v.get("smooth", 0.0),
        model_lr_final=v.get("lr_final", 1.0),
    )
    model, _ = fit_model(
        session,
        settings,
        lambda: fit,
        capacity=FIT_STEPS,
        model_steps=v["steps"],
        model_horizon=v["horizon"],
        model_td_weight=v["td_weight"],
    )
    return model


def run_variants(
    run: str, checkpoint: str, variants: list[dict[str, Any]], saved: dict[str, Any], path: Path
) -> None:
    """Each variant not in ``saved`` yet: fitted, scored at k = 16
    (:func:`rlcv.diagnostics.cv_regression.split_eta_scores`) and written to ``path`` at once."""
    import numpy as np

    from rlcv.diagnostics.checkpoint import model_errors
    from rlcv.diagnostics.cv_regression import split_cv, split_eta_scores

    session, fit_batches, evals = _setup(run, checkpoint)
    for v in variants:
        if v["name"] in saved:
            continue
        t0 = time.perf_counter()
        model = _fitted(session, fit_batches, v)
        t_fit = time.perf_counter() - t0
        r = split_eta_scores(
            split_cv(session, model, 16), evals, session.agent.policy, session.agent.value_fn
        )
        saved[v["name"]] = {
            **{key: v[key] for key in ("td_weight", "horizon", "steps", "hidden", "lr", "members")},
            **({"structure": v["structure"]} if v.get("structure", "mlp") != "mlp" else {}),
            **({"smooth": v["smooth"]} if v.get("smooth", 0.0) > 0 else {}),
            **({"lr_final": v["lr_final"]} if v.get("lr_final", 1.0) < 1 else {}),
            "fit_seconds": t_fit,
            "score_var_ratio": float(r[:, 0].mean()),
            "score_var_ratio_se": float(r[:, 0].std(ddof=1) / np.sqrt(len(r))),
            "corr": float(r[:, 1].mean()),
            "eta_a": float(r[:, 2].mean()),
            "eta_tau": float(r[:, 3].mean()),
            **model_errors(model, evals[:5], 16),
        }
        print(v["name"], json.dumps(saved[v["name"]]), flush=True)
        path.write_text(json.dumps(saved, indent=1))


def run_blocks(run: str, checkpoint: str, horizon: int, steps: int) -> dict[str, Any]:
    from rlcv.diagnostics.cv_regression import block_features, block_ratios, split_cv

    session, fit_batches, evals = _setup(run, checkpoint)
    v = {"td_weight": 0.0, "horizon": horizon, "steps": steps, "hidden": 128, "lr": 1e-3}
    model = _fitted(session, fit_batches, v)
    ests = {k: split_cv(session, model, k) for k in KS}
    feats = block_features(ests, evals, session.agent.policy, session.agent.value_fn)
    return {"model_horizon": horizon, "model_steps": steps, "ratios": block_ratios(feats)}


# ---------------------------------------------------------------------------- the pages
def render_page(saved: Mapping[str, Any], command: str) -> str:
    """The blocks page (a result with ``ratios``) or the variants page, from templates/model_diag_*.md.j2;
    the model's structure gets its own column once a variant has another than the MLP, the action-smoothness
    weight once a variant has one, the final step-size fraction likewise (older pages keep their columns)."""
    from rlcv.bench.report import render

    if "ratios" in saved:
        return render("model_diag_blocks.md.j2", saved=saved, ks=", ".join(map(str, KS)), command=command)
    structured = any(r.get("structure", "mlp") != "mlp" for r in saved.values())
    smoothed = any(r.get("smooth", 0.0) > 0 for r in saved.values())
    decayed = any(r.get("lr_final", 1.0) < 1 for r in saved.values())
    rows = [_variant_cells(name, r, structured, smoothed, decayed) for name, r in saved.items()]
    flags = {"structured": structured, "smoothed": smoothed, "decayed": decayed}
    return render("model_diag_variants.md.j2", rows=rows, command=command, **flags)


def _variant_cells(
    name: str, r: Mapping[str, Any], structured: bool, smoothed: bool, decayed: bool
) -> list[str]:
    return [
        name, *([r.get("structure", "mlp")] if structured else []), str(r.get("members", 5)),
        str(r.get("hidden", 128)), f"{r.get('lr', 1e-3):g}",
        *([f"{r.get('lr_final', 1.0):g}"] if decayed else []), str(r["horizon"]), str(r["steps"]),
        f"{r['td_weight']:g}", *([f"{r.get('smooth', 0.0):g}"] if smoothed else []),
        f"{r['score_var_ratio']:.2f} ± {r['score_var_ratio_se']:.2f}",
        f"{r['corr']:.2f}", f"{r['eta_a']:.2f} / {r['eta_tau']:.2f}",
        f"{r['model_error_1step']:.3f} / {r['model_error_16step']:.2f}", f"{r['fit_seconds']:.0f}",
    ]  # fmt: skip


@dataclass(kw_only=True)
class ModelDiagSpec:
    """`rlcv bench model-diag`'s options, each with its flag (the variants are its positional arguments)."""

    run: str | None = flag(None, help="a run folder of `rlcv train` with checkpoints")
    checkpoint: str | None = flag(None, help="the checkpoint's file name in the run's checkpoints/")
    blocks: list[int] | None = flag(
        None, nargs=2, type=positive_int, metavar=("UNROLL", "STEPS"), help="the block diagnostic"
    )
    json: str = flag(
        "results/variance/v2/model_diag/hc100k.json",
        type=out_file,
        help="results file (the page is written beside it)",
    )
    report_only: bool = flag(False, command=False, help="rebuild the page from --json")

    def page_command(self) -> str:
        """What the page names to regenerate itself: its ``--json`` with ``--report-only``."""
        return command_line("rlcv bench model-diag", ModelDiagSpec(json=self.json)) + " --report-only"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model-diag", help="how well learned models serve MBMF's CV, at one checkpoint")
    p.add_argument("variants", nargs="*", help=VARIANT_SYNTAX)
    add_flags(p, ModelDiagSpec)
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    spec: ModelDiagSpec = spec_of(ModelDiagSpec, args)
    path = Path(spec.json)
    page = path.with_suffix(".md")
    if spec.report_only:
        from rlcv.bench.checks import require_report_input

        require_report_input(path, "model-diag")
        page.write_text(render_page(json.loads(path.read_text()), spec.page_command()))
        print(f"wrote {page}")
        return 0
    if not spec.run or not spec.checkpoint or bool(spec.blocks) == bool(args.variants):
        raise RlcvError("bench model-diag: give --run, --checkpoint and either variants or --blocks.")
    if spec.blocks:
        saved = run_blocks(spec.run, spec.checkpoint, *spec.blocks)
        path.write_text(json.dumps(saved, indent=1))
    else:
        saved = json.loads(path.read_text()) if path.is_file() else {}
        run_variants(spec.run, spec.checkpoint, [parse_variant(text) for text in args.variants], saved, path)
    page.write_text(render_page(saved, spec.page_command()))
    print(f"wrote {path} and {page}")
    return 0

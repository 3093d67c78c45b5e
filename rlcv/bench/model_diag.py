"""`rlcv bench model-diag`: how well a learned model serves MBMF's control variate, from one checkpoint
(issue 11; the reading is results/variance_v2.md).

The measurement is :mod:`rlcv.diagnostics.model_fit` (the checkpoint's seeded data, 30k transitions to
fit on, 21 evaluation batches). Three diagnostics:

* variants (:data:`VARIANT_SYNTAX`; defaults :data:`DEFAULTS`; STRUCTURE mlp or affine,
  :mod:`rlcv.dynamics`): per variant an ensemble of MEMBERS fitted with those settings, scored by the
  λ-matched CV with split η at k = 16 (:func:`~rlcv.diagnostics.model_fit.score_variant`). Finished
  variants already in ``--json`` are kept (a rerun adds the new ones).
* ``--direct``: no model; a network of (s, a, K future noises) fitted to Â directly, scored like the
  variants (:mod:`rlcv.diagnostics.direct_cv`).
* ``--blocks UNROLL STEPS``: one model; the features of k = 1, 2, 4, 8, 16 as regressors — each k's
  pair alone, the differences between consecutive horizons as separate blocks, and all D_τ with
  D_a at 16 — least squares on batch t, the held-out ratio on batch t + 1.

Writes ``--json`` and the page beside it (same name, ``.md``); ``--report-only`` rebuilds the page.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_file, positive_int, require_report_input
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.report import render
from rlcv.diagnostics import model_fit
from rlcv.diagnostics.cv_regression import KS
from rlcv.dynamics import STRUCTURES
from rlcv.errors import RlcvError

# name:td_weight:horizon:steps[:...]
DEFAULTS = ("", "0", "3", "3000", "128", "1e-3", "5", "mlp", "0", "1", "0", "0")
_OPTIONAL = "[:WIDTH[:LR[:MEMBERS[:STRUCTURE[:SMOOTH[:LR_FINAL[:CV_STEPS[:CV_WEIGHT]]]]]]]]"
VARIANT_SYNTAX = "NAME:TD_WEIGHT:UNROLL:STEPS" + _OPTIONAL


def parse_variant(text: str) -> dict[str, Any]:
    """:data:`VARIANT_SYNTAX` (trailing fields default to :data:`DEFAULTS`)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= len(DEFAULTS) or not parts[0]:
        raise RlcvError(f"variant {text!r}: expected {VARIANT_SYNTAX}, e.g. e2:0:3:3000:128:3e-3:2.")
    name, w, h, n, width, lr, members, structure, smooth, lr_final, cv_steps, cv_w = [
        *parts,
        *DEFAULTS[len(parts) :],
    ]
    try:
        sizes = {"horizon": int(h), "steps": int(n), "hidden": int(width), "members": int(members)}
        rates = {"td_weight": float(w), "lr": float(lr), "smooth": float(smooth), "lr_final": float(lr_final)}
        cv = {"cv_steps": int(cv_steps), "cv_weight": float(cv_w)}
    except ValueError as exc:
        raise RlcvError(f"variant {text!r}: {exc}; expected {VARIANT_SYNTAX} with numbers.") from exc
    if (
        min(sizes.values()) < 1
        or not 0 < rates["lr"] < 1
        or min(rates["td_weight"], rates["smooth"], cv["cv_steps"], cv["cv_weight"]) < 0
        or not 0 < rates["lr_final"] <= 1
    ):
        raise RlcvError(
            f"variant {text!r}: UNROLL, STEPS, WIDTH and MEMBERS must be >= 1, LR in (0, 1), "
            "TD_WEIGHT, SMOOTH, CV_STEPS and CV_WEIGHT >= 0, LR_FINAL in (0, 1]."
        )
    if structure not in STRUCTURES:
        raise RlcvError(f"variant {text!r}: STRUCTURE must be one of {', '.join(STRUCTURES)}.")
    v: dict[str, Any] = {"name": name, "td_weight": rates["td_weight"], **sizes, "lr": rates["lr"]}
    return {**v, "structure": structure, "smooth": rates["smooth"], "lr_final": rates["lr_final"], **cv}


# ---------------------------------------------------------------------------- the pages
def render_page(saved: Mapping[str, Any], command: str) -> str:
    """The blocks page (a result with ``ratios``) or the variants page, from templates/model_diag_*.md.j2."""
    if "direct_steps" in saved:
        return render("model_diag_direct.md.j2", saved=saved, command=command)
    if "ratios" in saved:
        return render("model_diag_blocks.md.j2", saved=saved, ks=", ".join(map(str, KS)), command=command)
    paired = paired_with_control(saved)
    return render("model_diag_variants.md.j2", saved=saved, paired=paired, command=command)


FIT_KEYS = ("td_weight", "horizon", "steps", "hidden", "lr", "members", "structure", "smooth", "lr_final")


def paired_with_control(saved: Mapping[str, Any]) -> dict[str, str]:
    """Per fine-tuned variant with a CV weight: its score-term ratio minus its control's, paired over the
    evaluation batches ('−0.035 [−0.059, −0.011]'); the control is the variant with the same fit and the
    same fine-tune steps at CV weight 0."""
    from rlcv.stats import paired_t

    out = {}
    for name, r in saved.items():
        if r.get("cv_weight", 0) > 0 and "score_var_ratios" in r:
            for c in saved.values():
                same_fit = all(c.get(key) == r.get(key) for key in FIT_KEYS)
                if same_fit and c.get("cv_steps") == r["cv_steps"] and c.get("cv_weight") == 0:
                    out[name] = paired_t(r["score_var_ratios"], c["score_var_ratios"]).fmt("+.3f")
    return out


@dataclass(kw_only=True)
class ModelDiagSpec:
    """`rlcv bench model-diag`'s options, each with its flag (the variants are its positional arguments)."""

    run: str | None = flag(None, help="a run folder of `rlcv train` with checkpoints")
    checkpoint: str | None = flag(None, help="the checkpoint's file name in the run's checkpoints/")
    blocks: list[int] | None = flag(
        None, nargs=2, type=positive_int, metavar=("UNROLL", "STEPS"), help="the block diagnostic"
    )
    direct: bool = flag(False, help="the CV without a model: G(s, a, K future noises), K = 0, 4, 16")
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
    chosen = sum(bool(x) for x in (spec.blocks, spec.direct, args.variants))  # exactly one diagnostic
    if spec.report_only:
        require_report_input(path, "model-diag")
        saved = json.loads(path.read_text())
    elif not spec.run or not spec.checkpoint or chosen != 1:
        raise RlcvError("bench model-diag: give --run, --checkpoint and one of variants, --blocks, --direct.")
    elif spec.direct:
        from rlcv.diagnostics.direct_cv import direct_ratios_at

        saved = direct_ratios_at(spec.run, spec.checkpoint)
        path.write_text(json.dumps(saved, indent=1))
    elif spec.blocks:
        saved = model_fit.block_ratios_at(spec.run, spec.checkpoint, *spec.blocks)
        path.write_text(json.dumps(saved, indent=1))
    else:
        saved = json.loads(path.read_text()) if path.is_file() else {}
        variants = [parse_variant(text) for text in args.variants]
        model_fit.score_variants(
            spec.run, spec.checkpoint, variants, saved, lambda: path.write_text(json.dumps(saved, indent=1))
        )
    page.write_text(render_page(saved, spec.page_command()))
    print(f"wrote {page}" if spec.report_only else f"wrote {path} and {page}")
    return 0

"""How well a learned dynamics model serves MBMF's control variate at one frozen checkpoint (issue 11;
`rlcv bench model-diag` is its protocol, results/variance_v2.md its reading).

Seeded, so every call sees the same data: the checkpoint is loaded as a session (:mod:`.checkpoint`),
:data:`FIT_STEPS` fresh transitions are collected to fit on and 21 evaluation batches of the run's
``n_steps``. A *variant* is a dict of model-fit settings (``td_weight``, ``horizon``, ``steps``,
``hidden``, ``lr``; optional ``members``, ``structure``, ``smooth``, ``lr_final``, and ``cv_steps`` /
``cv_weight``: a fine-tune on the CV's own residual after the fit, :mod:`.cv_finetune`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from rlcv.diagnostics.cv_regression import KS

FIT_STEPS = 30_000


def checkpoint_data(run: str, checkpoint: str) -> tuple[Any, list, list]:
    """(session, fit batches, evaluation batches) of checkpoint ``checkpoint`` of run ``run``."""
    import torch

    from rlcv.diagnostics.checkpoint import collect_batches, load_session

    torch.set_num_threads(1)
    _, session = load_session(Path(run), checkpoint, 0)
    steps = cast(Any, session.config).n_steps  # the on-policy configs all have it
    return session, collect_batches(session, FIT_STEPS // steps, steps), collect_batches(session, 21, steps)


def fit_variant(session: Any, fit: list, v: Mapping[str, Any]) -> Any:
    """An ensemble fitted with variant ``v``'s settings on the ``fit`` batches (torch seed 0), then its
    ``cv_steps`` fine-tune steps (:func:`~rlcv.diagnostics.cv_finetune.finetune`) if it has any."""
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
    if v.get("cv_steps", 0) > 0:
        from rlcv.diagnostics.cv_finetune import finetune

        finetune(session, model, fit, steps=v["cv_steps"], weight=v["cv_weight"], horizon=v["horizon"])
    return model


def score_variant(session: Any, fit: list, evals: list, v: Mapping[str, Any]) -> dict[str, Any]:
    """Variant ``v`` fitted, then the λ-matched CV with split η at k = 16 on each evaluation batch after
    the first (η fitted on the previous batch, :func:`~rlcv.diagnostics.cv_regression.split_eta_scores`):
    the mean score-term ratio with its standard error, corr(Â, D), the η's, the model's 1- and 16-step
    state errors on 5 batches, and the fit's seconds."""
    import numpy as np

    from rlcv.diagnostics.checkpoint import model_errors
    from rlcv.diagnostics.cv_regression import batch_parts, part_scores, split_cv, split_eta_scores

    t0 = time.perf_counter()
    model = fit_variant(session, fit, v)
    t_fit = time.perf_counter() - t0
    est = split_cv(session, model, 16)
    batches = batch_parts(est, evals, session.agent.policy, session.agent.value_fn)
    r, parts = split_eta_scores(batches), part_scores(batches)
    return {
        **{key: v[key] for key in ("td_weight", "horizon", "steps", "hidden", "lr", "members")},
        **({"structure": v["structure"]} if v.get("structure", "mlp") != "mlp" else {}),
        **({"smooth": v["smooth"]} if v.get("smooth", 0.0) > 0 else {}),
        **({"lr_final": v["lr_final"]} if v.get("lr_final", 1.0) < 1 else {}),
        **({"cv_steps": v["cv_steps"], "cv_weight": v["cv_weight"]} if v.get("cv_steps", 0) > 0 else {}),
        "fit_seconds": t_fit,
        "score_var_ratio": float(r[:, 0].mean()),
        "score_var_ratio_se": float(r[:, 0].std(ddof=1) / np.sqrt(len(r))),
        "score_var_ratios": r[:, 0].tolist(),  # per batch: variants on the same data pair by batch
        "tau_only_ratio": float(parts[:, 0].mean()),  # D_τ alone (no pathwise term needed)
        "a_only_ratio": float(parts[:, 1].mean()),  # D_a alone
        "corr": float(r[:, 1].mean()),
        "eta_a": float(r[:, 2].mean()),
        "eta_tau": float(r[:, 3].mean()),
        **model_errors(model, evals[:5], 16),
    }


def score_variants(
    run: str, checkpoint: str, variants: list[dict[str, Any]], saved: dict[str, Any], save: Callable[[], Any]
) -> None:
    """Each variant not in ``saved`` yet (by name): scored (:func:`score_variant`), added to ``saved``,
    printed and ``save()``d at once (a long sweep keeps what it finished)."""
    session, fit, evals = checkpoint_data(run, checkpoint)
    for v in variants:
        if v["name"] not in saved:
            saved[v["name"]] = score_variant(session, fit, evals, v)
            print(v["name"], json.dumps(saved[v["name"]]), flush=True)
            save()


def block_ratios_at(run: str, checkpoint: str, horizon: int, steps: int) -> dict[str, Any]:
    """One model (``horizon``-step unroll, ``steps`` Adam steps); the features of k in :data:`KS` as
    regressors, least squares on batch t, the held-out ratio on batch t + 1 per regressor set."""
    from rlcv.diagnostics.cv_regression import block_features, block_ratios, split_cv

    session, fit, evals = checkpoint_data(run, checkpoint)
    model = fit_variant(
        session, fit, {"td_weight": 0.0, "horizon": horizon, "steps": steps, "hidden": 128, "lr": 1e-3}
    )
    ests = {k: split_cv(session, model, k) for k in KS}
    feats = block_features(ests, evals, session.agent.policy, session.agent.value_fn)
    return {"model_horizon": horizon, "model_steps": steps, "ratios": block_ratios(feats)}

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from rlcv.dynamics import STRUCTURES
from rlcv.errors import RlcvError

FIT_STEPS = 30_000
KS = (1, 2, 4, 8, 16)
DEFAULTS = ("", "0", "3", "3000", "128", "1e-3", "5", "mlp")  # name:td_weight:horizon:steps[:hidden[...]]
VARIANT_SYNTAX = "NAME:TD_WEIGHT:UNROLL:STEPS[:WIDTH[:LR[:MEMBERS[:STRUCTURE]]]]"


def parse_variant(text: str) -> dict[str, Any]:
    """:data:`VARIANT_SYNTAX` (trailing fields default to :data:`DEFAULTS`)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= len(DEFAULTS) or not parts[0]:
        raise RlcvError(f"variant {text!r}: expected {VARIANT_SYNTAX}, e.g. e2:0:3:3000:128:3e-3:2.")
    name, w, h, n, width, lr, members, structure = [*parts, *DEFAULTS[len(parts) :]]
    try:
        sizes = {"horizon": int(h), "steps": int(n), "hidden": int(width), "members": int(members)}
        rates = {"td_weight": float(w), "lr": float(lr)}
    except ValueError as exc:
        raise RlcvError(f"variant {text!r}: {exc}; expected {VARIANT_SYNTAX} with numbers.") from exc
    if min(sizes.values()) < 1 or not 0 < rates["lr"] < 1 or rates["td_weight"] < 0:
        raise RlcvError(
            f"variant {text!r}: UNROLL, STEPS, WIDTH and MEMBERS must be >= 1, LR in (0, 1), TD_WEIGHT >= 0."
        )
    if structure not in STRUCTURES:
        raise RlcvError(f"variant {text!r}: STRUCTURE must be one of {', '.join(STRUCTURES)}.")
    v: dict[str, Any] = {"name": name, "td_weight": rates["td_weight"], **sizes, "lr": rates["lr"]}
    return {**v, "structure": structure}


def held_out_ratio(
    feats: Sequence[tuple[np.ndarray, np.ndarray]], columns: Callable[[np.ndarray], np.ndarray]
) -> tuple[float, float]:
    """Mean and standard error over consecutive batch pairs of Var(a₁ − X₁ β₀) / Var(a₁), β₀ the least
    squares fit of the centred a₀ on the centred columns of batch 0."""
    rs = []
    for (a0, x0), (a1, x1) in zip(feats[:-1], feats[1:], strict=True):
        x = columns(x0)
        coef = np.linalg.lstsq(x - x.mean(0), a0 - a0.mean(), rcond=None)[0]
        rs.append(np.var(a1 - columns(x1) @ coef, ddof=1) / np.var(a1, ddof=1))
    r = np.asarray(rs)
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))


def block_columns(x: np.ndarray, upto: int) -> np.ndarray:
    """The first horizon's (D_a, D_τ), then the differences of consecutive horizons' D up to ``upto``
    (x holds the pairs of :data:`KS` side by side)."""
    cols = [x[:, 0], x[:, 1]]
    for j in range(1, upto):
        cols += [x[:, 2 * j] - x[:, 2 * j - 2], x[:, 2 * j + 1] - x[:, 2 * j - 1]]
    return np.stack(cols, 1)


def block_ratios(feats: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[float, float]]:
    def pair(i: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: x[:, 2 * i : 2 * i + 2]

    def blocks(upto: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: block_columns(x, upto)

    res = {f"k{k}_split": held_out_ratio(feats, pair(i)) for i, k in enumerate(KS)}
    for u in range(2, len(KS) + 1):
        res[f"blocks_to_k{KS[u - 1]}"] = held_out_ratio(feats, blocks(u))
    tau_only = [2 * j + 1 for j in range(len(KS))]
    res["all_ks_tau_only_plus_a16"] = held_out_ratio(feats, lambda x: x[:, [2 * (len(KS) - 1), *tau_only]])
    return res


# ---------------------------------------------------------------------------- the checkpoint's data
def _setup(run: str, checkpoint: str) -> tuple[Any, list, list]:
    import torch

    from rlcv.bench.variance import collect_batches, load_session

    torch.set_num_threads(1)
    _, session = load_session(Path(run), checkpoint, 0)
    steps = cast(Any, session.config).n_steps  # the on-policy configs all have it
    return session, collect_batches(session, FIT_STEPS // steps, steps), collect_batches(session, 21, steps)


def _fitted(session: Any, fit: list, v: Mapping[str, Any]) -> Any:
    import torch

    from rlcv.bench.variance import fit_model
    from rlcv.estimators.mbmf import MBMFSettings

    torch.manual_seed(0)
    settings = MBMFSettings(
        model_hidden_sizes=[v["hidden"], v["hidden"]],
        model_lr=v["lr"],
        model_ensemble_size=v.get("members", 5),
        model_structure=v.get("structure", "mlp"),
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


def _estimator(session: Any, model: Any, k: int) -> Any:
    """The λ-matched CV with split η at horizon k, bound to the checkpoint's frozen normalisers."""
    from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings

    cfg = session.config
    est = MBMFControlVariate(
        MBMFSettings(k=k, eta_mode="split", trust_gate=False),
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        normalize_advantage=False,
        model=model,
    )
    norm, scale = session.obs_normalizer.torch_transform(), session.reward_scaler.scale()
    est.obs_transform = lambda: norm
    est.reward_scale = lambda: scale
    return est


def run_variants(
    run: str, checkpoint: str, variants: list[dict[str, Any]], saved: dict[str, Any], path: Path
) -> None:
    import torch

    from rlcv.bench.variance import model_errors
    from rlcv.estimators.mbmf import fit_split_eta

    session, fit_batches, evals = _setup(run, checkpoint)
    policy, value_fn = session.agent.policy, session.agent.value_fn
    for v in variants:
        if v["name"] in saved:
            continue
        t0 = time.perf_counter()
        model = _fitted(session, fit_batches, v)
        t_fit = time.perf_counter() - t0
        est = _estimator(session, model, 16)
        rows, prev = [], None
        for b in evals:
            adv, _, values = est.baseline.gae(b, value_fn)
            d_a, d_tau, _ = est.features(b, policy, value_fn, values)
            a, da, dt = adv.reshape(-1), d_a.reshape(-1), d_tau.reshape(-1)
            if prev is not None:
                ea, et = prev
                r = ((a - ea * da - et * dt).var() / a.var()).item()
                corr = torch.corrcoef(torch.stack([a, da + dt]))[0, 1].item()
                rows.append((r, corr, ea, et))
            prev = fit_split_eta(a, da, dt)
        r = np.array(rows)
        saved[v["name"]] = {
            **{key: v[key] for key in ("td_weight", "horizon", "steps", "hidden", "lr", "members")},
            **({"structure": v["structure"]} if v.get("structure", "mlp") != "mlp" else {}),
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
    import torch

    session, fit_batches, evals = _setup(run, checkpoint)
    policy, value_fn = session.agent.policy, session.agent.value_fn
    v = {"td_weight": 0.0, "horizon": horizon, "steps": steps, "hidden": 128, "lr": 1e-3}
    model = _fitted(session, fit_batches, v)
    ests = {k: _estimator(session, model, k) for k in KS}
    feats = []
    for b in evals:
        adv, _, values = ests[16].baseline.gae(b, value_fn)
        cols = []
        for k in KS:
            d_a, d_tau, _ = ests[k].features(b, policy, value_fn, values)
            cols += [d_a.reshape(-1), d_tau.reshape(-1)]
        feats.append((adv.reshape(-1).double().numpy(), torch.stack(cols, 1).double().numpy()))
    return {"model_horizon": horizon, "model_steps": steps, "ratios": block_ratios(feats)}


# ---------------------------------------------------------------------------- the pages
def render_variants(saved: Mapping[str, Mapping[str, Any]], command: str) -> str:
    lines = [
        "# Model diagnostic: the score-term ratio per model fit (one checkpoint)",
        "",
        "Each row: the same 30k fresh transitions and the same 20 evaluation batches, seeded; η_a, η_τ "
        "fitted on the previous batch; ± the standard error over batches; state errors on 5 batches. "
        "Fit seconds depend on the machine's load when the row ran. Reading: `results/variance_v2.md`.",
        "",
        "| variant | members | width | lr | unroll | Adam steps | TD weight | score var ratio | corr(Â, D) "
        "| η_a / η_τ | 1-step / 16-step state error | fit s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    # the model's structure, in its own column once a row has another than the MLP (older pages keep
    # their columns)
    structured = any(r.get("structure", "mlp") != "mlp" for r in saved.values())
    if structured:
        lines[-2:] = [lines[-2].replace("| members |", "| structure | members |"), "|---" + lines[-1]]
    for name, r in saved.items():
        cell = f" {r.get('structure', 'mlp')} |" if structured else ""
        lines.append(
            f"| {name} |{cell} {r.get('members', 5)} | {r.get('hidden', 128)} | {r.get('lr', 1e-3):g} | "
            f"{r['horizon']} | {r['steps']} | "
            f"{r['td_weight']:g} | {r['score_var_ratio']:.2f} ± {r['score_var_ratio_se']:.2f} | "
            f"{r['corr']:.2f} | {r['eta_a']:.2f} / {r['eta_tau']:.2f} | "
            f"{r['model_error_1step']:.3f} / {r['model_error_16step']:.2f} | {r['fit_seconds']:.0f} |"
        )
    lines += ["", f"Regenerate: `{command}`."]
    return "\n".join(lines) + "\n"


def render_blocks(saved: Mapping[str, Any], command: str) -> str:
    lines = [
        "# Model diagnostic: one η per horizon block (one checkpoint)",
        "",
        f"One model ({saved['model_horizon']}-step unroll, {saved['model_steps']} Adam steps); "
        f"the features of k = {', '.join(map(str, KS))} as regressors, fitted by least squares on batch t; "
        "the ratio Var(Â − fit) / Var(Â) on batch t + 1, mean ± standard error over the batch pairs. "
        "Reading: "
        "`results/variance_v2.md`.",
        "",
        "| regressors | ratio |",
        "|---|---:|",
        *(f"| {key} | {m:.3f} ± {se:.3f} |" for key, (m, se) in saved["ratios"].items()),
        "",
        f"Regenerate: `{command}`.",
    ]
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_file, positive_int

    p = sub.add_parser("model-diag", help="how well learned models serve MBMF's CV, at one checkpoint")
    p.add_argument("variants", nargs="*", help=VARIANT_SYNTAX)
    p.add_argument("--run", help="a run folder of `rlcv train` with checkpoints")
    p.add_argument("--checkpoint", help="the checkpoint's file name in the run's checkpoints/")
    p.add_argument(
        "--blocks", nargs=2, type=positive_int, metavar=("UNROLL", "STEPS"), help="the block diagnostic"
    )
    p.add_argument(
        "--json",
        type=out_file,
        default="results/variance/v2/model_diag/hc100k.json",
        help="results file (the page is written beside it)",
    )
    p.add_argument("--report-only", action="store_true", help="rebuild the page from --json")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.json)
    page = path.with_suffix(".md")
    if args.report_only:
        from rlcv.bench.checks import require_report_input

        require_report_input(path, "model-diag")
        saved = json.loads(path.read_text())
        command = f"rlcv bench model-diag --json {args.json} --report-only"
        page.write_text(
            render_blocks(saved, command) if "ratios" in saved else render_variants(saved, command)
        )
        print(f"wrote {page}")
        return 0
    if not args.run or not args.checkpoint or bool(args.blocks) == bool(args.variants):
        raise RlcvError("bench model-diag: give --run, --checkpoint and either variants or --blocks.")
    command = f"rlcv bench model-diag --json {args.json} --report-only"
    if args.blocks:
        blocks = run_blocks(args.run, args.checkpoint, *args.blocks)
        path.write_text(json.dumps(blocks, indent=1))
        page.write_text(render_blocks(blocks, command))
    else:
        variants = [parse_variant(text) for text in args.variants]
        saved = json.loads(path.read_text()) if path.is_file() else {}
        run_variants(args.run, args.checkpoint, variants, saved, path)
        page.write_text(render_variants(saved, command))
    print(f"wrote {path} and {page}")
    return 0

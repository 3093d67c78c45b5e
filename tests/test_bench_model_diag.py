"""`rlcv bench model-diag`: its pure parts and its regressions (rlcv/diagnostics/cv_regression.py) on
hand-made inputs (the committed pages' drift tests are in tests/test_reports_regenerate.py; the
diagnostics themselves load a checkpoint and fit models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench import model_diag
from rlcv.cli import main
from rlcv.diagnostics import cv_regression
from rlcv.errors import RlcvError


def test_parse_variant_fills_defaults() -> None:
    assert model_diag.parse_variant("s10k:0:3:10000") == {
        "name": "s10k",
        "td_weight": 0.0,
        "horizon": 3,
        "steps": 10000,
        "hidden": 128,
        "lr": 1e-3,
        "members": 5,
        "structure": "mlp",
        "smooth": 0.0,
        "lr_final": 1.0,
        "cv_steps": 0,
        "cv_weight": 0.0,
    }
    assert model_diag.parse_variant("w:1:1:5:64:3e-3")["lr"] == 3e-3
    assert model_diag.parse_variant("s:0:3:3000:128:3e-3:1:mlp:0.5")["smooth"] == 0.5
    assert model_diag.parse_variant("a:0:3:3000:128:3e-3:1:affine")["structure"] == "affine"
    with pytest.raises(RlcvError, match="STRUCTURE must be one of mlp, affine"):
        model_diag.parse_variant("a:0:3:3000:128:3e-3:1:linear")
    assert model_diag.parse_variant("e2:0:3:3000:128:3e-3:2")["members"] == 2
    with pytest.raises(RlcvError, match="expected NAME"):
        model_diag.parse_variant("a:1:2:3:4:5:6:mlp:8:9:1:0:1")
    with pytest.raises(RlcvError, match="MEMBERS must be >= 1"):
        model_diag.parse_variant("e0:0:3:3000:128:3e-3:0")
    with pytest.raises(RlcvError, match="with numbers"):
        model_diag.parse_variant("x:0:three")
    assert model_diag.parse_variant("d:0:3:3000:128:3e-3:1:mlp:0:0.05")["lr_final"] == 0.05
    with pytest.raises(RlcvError, match="LR_FINAL in"):
        model_diag.parse_variant("d:0:3:3000:128:3e-3:1:mlp:0:0")
    with pytest.raises(RlcvError, match="SMOOTH, CV_STEPS and CV_WEIGHT >= 0"):
        model_diag.parse_variant("s:0:3:3000:128:3e-3:1:mlp:-1")
    tuned = model_diag.parse_variant("c:0:3:3000:128:3e-3:5:mlp:0:1:300:1")
    assert (tuned["cv_steps"], tuned["cv_weight"]) == (300, 1.0)
    with pytest.raises(RlcvError, match="CV_WEIGHT >= 0"):
        model_diag.parse_variant("c:0:3:3000:128:3e-3:5:mlp:0:1:300:-1")


def test_a_cv_fine_tune_is_paired_with_its_control_over_the_batches() -> None:
    fit = {"td_weight": 0.0, "horizon": 3, "steps": 3000, "hidden": 128, "lr": 3e-3, "members": 5}
    control = {**fit, "cv_steps": 300, "cv_weight": 0.0, "score_var_ratios": [0.5, 0.6, 0.4, 0.5]}
    tuned = {**fit, "cv_steps": 300, "cv_weight": 1.0, "score_var_ratios": [0.45, 0.56, 0.36, 0.43]}
    other = {**tuned, "lr": 1e-3}  # another fit: no control on the page
    paired = model_diag.paired_with_control({"c0": control, "c1": tuned, "x": other})
    # differences -0.05, -0.04, -0.04, -0.07: mean -0.05, sd 0.01414, t(3) 3.182 -> ±0.0225
    assert paired == {"c1": "-0.050 [-0.073, -0.027]"}


def test_held_out_ratio_is_zero_for_an_exact_linear_fit_and_one_for_noise() -> None:
    rng = np.random.default_rng(0)
    exact = []
    for _ in range(3):
        x = rng.standard_normal((200, 2))
        exact.append((x @ np.array([2.0, -1.0]) + 5.0, x))
    assert cv_regression.held_out_ratio(exact, lambda x: x)[0] == pytest.approx(0.0, abs=1e-20)
    noise = [(rng.standard_normal(5000), rng.standard_normal((5000, 2))) for _ in range(3)]
    mean, se = cv_regression.held_out_ratio(noise, lambda x: x)
    assert mean == pytest.approx(1.0, abs=0.01) and se < 0.01


def test_block_columns_difference_consecutive_horizons() -> None:
    x = np.arange(10.0)[None, :] ** 2  # (D_a, D_τ) for k = 1, 2, 4, 8, 16 side by side
    assert cv_regression.block_columns(x, 3).tolist() == [[0.0, 1.0, 4.0, 8.0, 12.0, 16.0]]


def test_block_ratios_names() -> None:
    rng = np.random.default_rng(1)
    feats = [(rng.standard_normal(50), rng.standard_normal((50, 10))) for _ in range(3)]
    assert list(cv_regression.block_ratios(feats)) == [
        *(f"k{k}_split" for k in cv_regression.KS),
        *(f"blocks_to_k{k}" for k in cv_regression.KS[1:]),
        "all_ks_tau_only_plus_a16",
    ]


def test_report_only_pages(tmp_path: Path) -> None:
    row = {
        "td_weight": 0.0,
        "horizon": 3,
        "steps": 3000,
        "fit_seconds": 12.4,
        "score_var_ratio": 0.5608,
        "score_var_ratio_se": 0.0601,
        "corr": 0.6509,
        "eta_a": 0.9079,
        "eta_tau": 0.8489,
        "model_error_1step": 0.01787,
        "model_error_16step": 0.7345,
    }
    (tmp_path / "v.json").write_text(json.dumps({"base": row, "w64": {**row, "hidden": 64, "lr": 3e-3}}))
    assert main(["bench", "model-diag", "--json", str(tmp_path / "v.json"), "--report-only"]) == 0
    page = (tmp_path / "v.md").read_text()
    assert (
        "| base | 5 | 128 | 0.001 | 3 | 3000 | 0 | 0.56 ± 0.06 | 0.65 | 0.91 / 0.85 | 0.018 / 0.73 | 12 |"
        in page
    )
    assert "| w64 | 5 | 64 | 0.003 |" in page
    blocks = {"model_horizon": 3, "model_steps": 3000, "ratios": {"k1_split": [0.8896, 0.0212]}}
    (tmp_path / "b.json").write_text(json.dumps(blocks))
    assert main(["bench", "model-diag", "--json", str(tmp_path / "b.json"), "--report-only"]) == 0
    assert "| k1_split | 0.890 ± 0.021 |" in (tmp_path / "b.md").read_text()


def test_a_run_needs_its_checkpoint_and_one_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["bench", "model-diag", "--json", str(tmp_path / "x.json"), "--run", "r", "--checkpoint", "c"])
        == 2
    )
    assert "one of variants, --blocks, --direct" in capsys.readouterr().err
    assert main(["bench", "model-diag", "--json", str(tmp_path / "x.json"), "--report-only"]) == 2


@pytest.mark.expensive
def test_the_direct_cv_learns_a_noise_driven_advantage_and_not_pure_noise() -> None:
    import torch

    from rlcv.diagnostics import direct_cv

    gen = torch.Generator().manual_seed(0)

    def batches(signal: bool, count: int) -> list[tuple[torch.Tensor, ...]]:
        out = []
        for _ in range(count):
            obs, act, fut = (torch.randn(256, d, generator=gen) for d in (3, 2, 4))
            adv = act[:, 0] - fut[:, 1] if signal else torch.randn(256, generator=gen)
            out.append((obs, act, torch.zeros_like(act), fut, adv))
        return out

    learnt = direct_cv.fit_direct(batches(True, 8), steps=300, width=32)
    assert direct_cv.score_batches(learnt, batches(True, 4))[0] < 0.2
    noise = direct_cv.fit_direct(batches(False, 8), steps=300, width=32)
    assert direct_cv.score_batches(noise, batches(False, 4))[0] > 0.9


def test_direct_cv_inputs_mask_the_noises_past_the_batch_end() -> None:
    from types import SimpleNamespace

    import torch

    from rlcv.diagnostics import direct_cv

    T, A = 5, 2
    noise = torch.arange(T * A, dtype=torch.float32).view(T, 1, 1, A)
    batch = SimpleNamespace(n_steps=T, n_envs=1, noise=noise, obs=torch.zeros(T, 1, 3), actions=noise)
    policy = SimpleNamespace(action_from_noise=lambda obs, xi: xi)
    _, _, _, fut, adv = direct_cv.inputs(batch, 3, policy, None, lambda b, v: (torch.ones(T, 1), None, None))
    assert fut.shape == (T, 3 * A + 3) and adv.shape == (T,)
    assert fut[0, :A].tolist() == noise[1, 0, 0].tolist()  # ξ_{t+1} first
    assert fut[3, -3:].tolist() == [1.0, 0.0, 0.0] and fut[4, -3:].tolist() == [0.0, 0.0, 0.0]
    assert fut[3, :A].tolist() == noise[4, 0, 0].tolist() and fut[3, A : 3 * A].abs().sum() == 0


def test_the_direct_page_renders_from_its_json(tmp_path: Path) -> None:
    saved = {
        "direct_steps": 3000,
        "direct_width": 256,
        "ratios": {"K = 0": [0.93, 0.02], "K = 16": [0.87, 0.06]},
    }
    (tmp_path / "d.json").write_text(json.dumps(saved))
    assert main(["bench", "model-diag", "--json", str(tmp_path / "d.json"), "--report-only"]) == 0
    page = (tmp_path / "d.md").read_text()
    assert "| K = 16 | 0.870 ± 0.060 |" in page and "two SiLU layers of 256, 3000 Adam steps" in page


def test_part_scores_tell_which_part_of_d_carries_the_advantage() -> None:
    from types import SimpleNamespace

    import torch

    from rlcv.diagnostics import cv_regression

    gen = torch.Generator().manual_seed(0)
    feats = []
    for _ in range(4):
        d_tau, d_a = torch.randn(500, 1, generator=gen), torch.randn(500, 1, generator=gen)
        adv = 2 * d_tau + 0.1 * torch.randn(500, 1, generator=gen)  # the future-noise part only
        feats.append((adv, d_a, d_tau))
    it = iter(feats)
    state: dict = {}

    def gae(b, v):
        state["f"] = next(it)
        return state["f"][0], None, None

    est = SimpleNamespace(
        baseline=SimpleNamespace(gae=gae),
        features=lambda b, p, v, values: (state["f"][1], state["f"][2], None),
    )
    r = cv_regression.part_scores(cv_regression.batch_parts(est, [0, 1, 2, 3], None, None))
    assert r.shape == (3, 2)
    assert (r[:, 0] < 0.01).all() and (r[:, 1] > 0.95).all()  # D_τ alone removes it, D_a alone nothing

"""`rlcv bench bgan-collapse`: run arguments, argument errors and the page built from summaries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rlcv.bench import bgan_collapse as bc
from rlcv.errors import RlcvError
from rlcv.gan.collapse import CollapseThresholds


def _args(**kw: object) -> argparse.Namespace:
    base = {"env": "rlcv/BGAN-Digits4-v0", "variants": ["base", "ent"], "baseline": "base", "steps": 640}
    return argparse.Namespace(**{**base, **kw})


def test_train_args_carry_the_variant_overrides_and_env_kwargs() -> None:
    args = _args()
    ent = bc.train_args(args, "ent", 3)
    assert ent[ent.index("--set") + 1 :] == ["ent_coef=0.05", "checkpoint_freq=640"]
    sn = bc.train_args(args, "sn", 3)
    assert json.loads(sn[sn.index("--env-kwargs") + 1]) == {
        "disc_batch_size": 128,
        "disc_spectral_norm": True,
    }
    assert bc.train_args(args, "gumbel", 0)[:3] == ["train", "--algo", "bgan-gumbel"]


def test_bad_arguments_are_one_clear_error() -> None:
    with pytest.raises(RlcvError, match="--baseline sn must be one of --variants"):
        bc._check(_args(baseline="sn"))
    with pytest.raises(RlcvError, match="multiple of 64"):
        bc._check(_args(steps=100))


def test_report_only_without_its_json_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlcv.cli import main

    assert main(["bench", "bgan-collapse", "--report-only", "--out", str(tmp_path), "--name", "x"]) == 2
    assert (
        "x.json is missing; run `rlcv bench bgan-collapse` without --report-only" in capsys.readouterr().err
    )


def _record(variant: str, seed: int, c2st: float, within: float, fired: list[str]) -> dict[str, object]:
    final = {k: 0.5 for k, _ in bc.METRICS}
    final.update(c2st_accuracy=c2st, within_latent_distance=within, glyphs=600.0, label_tv=0.1)
    final["collapse"] = {"flags": {f: True for f in fired}, "fired": fired, "collapsed": bool(fired)}
    return {
        "variant": variant,
        "seed": seed,
        "final": final,
        "train": {"ess": 6.0, "entropy": 5.0},
        "wall_seconds": 10.0,
    }


def test_report_pairs_seeds_and_names_every_fired_symptom(tmp_path: Path) -> None:
    th = CollapseThresholds(
        radius=3.0,
        real_glyphs=700,
        two_rarest_share=0.2,
        n=1000,
        min_glyphs=560,
        max_label_tv=0.2,
        min_within_latent=3.0,
    )
    runs = [_record("base", s, 0.9 + 0.01 * s, 2.0, ["low_within_latent"]) for s in (0, 1, 2)]
    runs += [_record("ent", s, 0.8 + 0.01 * s, 5.0, []) for s in (0, 1, 2)]
    payload = _payload("rlcv bench bgan-collapse", th, runs)
    text = bc.write_report(payload, tmp_path, "page")
    assert "| `ent` | -0.100 [-0.100, -0.100] * |" in text  # same seeds: a constant difference
    assert "| `base` | 2 | 0.920 | 600 | 0.100 | 2.00 | 6.00 | 5.00 | low_within_latent |" in text
    assert "3/3" in text and "0/3" in text
    assert "- `base`: no collapsed seed: **missed** (s0: low_within_latent;" in text
    assert "- `ent`: no collapsed seed: **met** (s0: none; s1: none; s2: none)." in text
    assert "![ent s2](page/ent_s2.png)" in text
    assert (tmp_path / "page.md").read_text() == text


def test_the_grid_c2st_gets_a_column_and_a_target_only_where_the_records_hold_it(tmp_path: Path) -> None:
    th = CollapseThresholds(
        radius=3.0, real_glyphs=700, two_rarest_share=0.2, n=1000, min_glyphs=560, max_label_tv=0.2,
        min_within_latent=3.0,
    )  # fmt: skip
    runs = [_record(n, s, 0.9, 5.0, []) for n in ("base", "ent") for s in (0, 1, 2)]
    old = bc.write_report(_payload("rlcv bench bgan-collapse", th, runs), tmp_path, "page")
    assert "grid C2ST" not in old  # a page scored before the key existed renders as it did
    for r in runs:
        r["final"]["c2st_grid_accuracy"] = 0.8 if r["variant"] == "ent" else 0.85
    payload = _payload("rlcv bench bgan-collapse", th, runs)
    payload["references"] = {
        "rows": {"independent": [{"seed": s, "final": r["final"]} for s, r in enumerate(runs[:3])]}
    }
    text = bc.write_report(payload, tmp_path, "page")
    assert "| row | C2ST ↓ | grid C2ST ↓ | 1-NN ↓ |" in text
    assert "| `ent` | 0 | 0.900 | 0.800 | 600 |" in text
    assert "- `ent` ahead of independent pixels on grid C2ST (interval below 0): **met**" in text


def _payload(command: str, th: CollapseThresholds, runs: list) -> dict:
    """A bench JSON of variants base and ent on seeds 0-2 (Digits4, 640 steps, against train)."""
    return {
        "command": command,
        "env": "rlcv/BGAN-Digits4-v0",
        "steps": 640,
        "seeds": [0, 1, 2],
        "against": "train",
        "baseline": "base",
        "thresholds": th.as_dict(),
        "variants": {n: {"label": n, "train_args": ["train"]} for n in ("base", "ent")},
        "runs": runs,
    }


def test_a_variant_missing_seeds_is_marked_incomplete_and_its_targets_open(tmp_path: Path) -> None:
    th = CollapseThresholds(
        radius=3.0, real_glyphs=700, two_rarest_share=0.2, n=1000, min_glyphs=560, max_label_tv=0.2,
        min_within_latent=3.0,
    )  # fmt: skip
    runs = [_record("base", s, 0.9, 2.0, ["low_within_latent"]) for s in (0, 1, 2)]
    runs += [_record("ent", s, 0.8, 5.0, []) for s in (0, 1)]  # seed 2 still training
    payload = _payload("rlcv bench bgan-collapse --score-finished", th, runs)
    text = bc.write_report(payload, tmp_path, "page")
    assert "**`ent` is incomplete**: seeds 0, 1 of 0, 1, 2" in text
    assert "- `ent`: no collapsed seed: **open** (2 of 3 seeds) (s0: none; s1: none)." in text
    assert "- `base`: no collapsed seed: **missed**" in text  # complete rows keep their verdicts
    assert "| `ent` | ![ent s0](page/ent_s0.png) | ![ent s1](page/ent_s1.png) | — |" in text
    assert "is incomplete" not in text.replace("**`ent` is incomplete**", "")


def test_reference_rows_are_computed_once_per_settings(tmp_path: Path) -> None:
    calls = []

    def compute(levels: int, against: str, seeds: range, latent_dim: int, grids: Path) -> dict[str, object]:
        calls.append((against, list(seeds), latent_dim))
        return {"k": levels, "rows": {}}

    args = _args(seeds=2, first_seed=0, against="held-out")
    assert bc._references(args, 4, tmp_path, compute) == {"k": 4, "rows": {}}
    assert bc._references(args, 4, tmp_path, compute) == {"k": 4, "rows": {}}
    assert calls == [("held-out", [0, 1], 32)]  # the second call read references.json
    bc._references(_args(seeds=3, first_seed=0, against="held-out"), 4, tmp_path, compute)
    assert len(calls) == 2  # other seeds: recomputed


@pytest.mark.expensive  # two envs and generators built: ~1-2 s of CPU
def test_init_spread_grows_with_the_output_gain() -> None:
    """At the default init every latent has one near-uniform distribution (across-latent L1 at the
    Monte-Carlo floor, far below within-latent); gain 10 moves the latents apart."""
    from rlcv.gan.init_spread import init_spread

    default = init_spread("rlcv/BGAN-Digits-v0", 0.0, latents=12)
    apart = init_spread("rlcv/BGAN-Digits-v0", 10.0, latents=12)
    assert default["across"] < 0.2 * default["within"]
    assert apart["across"] > 3 * default["across"] and apart["within"] < default["within"]


def test_score_finished_scores_the_finished_runs_and_reuses_their_summaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlcv.bench import bgan

    spec = bc.CollapseSpec(
        variants=["base", "ent"], seeds=1, out=str(tmp_path), name="x", score_finished=True
    )
    monkeypatch.setattr(bgan.RunJob, "is_finished", lambda job: job.run_dir.parent.name == "base")

    def sweep(score: object, args: list[str]) -> dict:
        root, steps = tmp_path / "runs", 640
        return bgan.scored_sweep(
            spec,
            spec.variants,
            root=root,
            train_args=lambda r, s: args,
            steps=steps,
            score=score,
            against="train",
        )

    found = sweep(lambda row, seed, job: {"variant": row, "seed": seed}, ["train", "a"])
    assert list(found) == [("base", 0)] and found["base", 0]["train_args"] == ["train", "a"]
    assert "ent seed 0: not finished, left out" in capsys.readouterr().out
    assert (tmp_path / "x" / "summaries" / "base_s0.json").is_file()
    found = sweep(lambda *a: pytest.fail("a scored run was scored again"), ["train", "a"])
    assert found["base", 0]["variant"] == "base" and "reusing 1 scored run(s)" in capsys.readouterr().out
    with pytest.raises(RlcvError, match="made with other settings"):
        sweep(lambda *a: {}, ["train", "b"])

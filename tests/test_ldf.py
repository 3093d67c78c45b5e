"""Locally disentangled two-level generators: patch geometry, the BiGAN patch env, the code env,
``bgan-bigan`` / ``bgan-hier`` through the CLI at tiny budgets, and the bench's pure helpers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rlcv import checkpoint
from rlcv.agents import agent_class
from rlcv.cli import main
from rlcv.env_factory import make_env
from rlcv.gan.ldf_eval import wall_checkpoint
from rlcv.gan.ldf_metrics import locality_ratio, resample_one_patch, seam_discontinuity
from rlcv.gan.patches import LowerStage, from_patches, load_lower_stage, lower_spec, patch_mask, to_patches
from rlcv.logger import COMMON_METRICS, WALL_CLOCK_METRICS

CODES, PATCHES = "rlcv/BGAN-DigitCodes-v0", "rlcv/BGAN-DigitPatches-v0"
D = 4  # code_dim of the tiny runs
TINY_ENV = {"disc_hidden_sizes": [16], "disc_batch_size": 16, "eval_samples": 60, "code_dim": D}
TINY_HIER = [
    "n_steps=16",
    "n_samples=4",
    "hidden_sizes=[16]",
    "lower_n_steps=16",
    "lower_n_samples=4",
    "lower_hidden_sizes=[16]",
    "encoder_hidden_sizes=[16]",
    "lower_updates=2",
    "lower_env_kwargs={disc_hidden_sizes: [16], disc_batch_size: 16}",
]


def _spec(code_dim: int = D) -> dict:
    return lower_spec(
        code_dim=code_dim, generator_hidden_sizes=[16], encoder_hidden_sizes=[16], activation="relu"
    )


def _hier(
    run: Path, *, steps: int = 64, seed: int = 0, sets: list[str] | None = None, env: dict | None = None
) -> int:
    return main(
        [
            "train",
            "--algo",
            "bgan-hier",
            "--env",
            CODES,
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            "--env-kwargs",
            json.dumps({**TINY_ENV, **(env or {})}),
            "--set",
            *TINY_HIER,
            *(sets or []),
            "--no-progress",
            "--run-dir",
            str(run),
        ]
    )


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


# -- geometry and the decoder ----------------------------------------------------------------------
def test_patches_cut_the_image_into_four_4x4_quadrants() -> None:
    image = torch.arange(64).reshape(1, 64)
    patches = to_patches(image)
    assert patches.shape == (1, 4, 16)
    for r in range(8):
        for c in range(8):  # pixel (r, c) is pixel (r % 4, c % 4) of patch (r // 4, c // 4)
            assert patches[0, (r // 4) * 2 + c // 4, (r % 4) * 4 + c % 4] == r * 8 + c
    assert torch.equal(from_patches(patches), image)
    assert [int(patch_mask(k).sum()) for k in range(4)] == [16] * 4
    assert patch_mask(1).reshape(8, 8)[:4, 4:].all() and not patch_mask(1).reshape(8, 8)[4:].any()


def test_a_patch_code_only_touches_its_patch() -> None:
    torch.manual_seed(0)
    lower = LowerStage.from_spec(_spec())
    codes = torch.rand(32, 4 * D) * 2 - 1
    uniforms = torch.rand(32, 64)
    before = lower.decode(codes, uniforms)
    for k in range(4):
        changed_codes = codes.clone()
        changed_codes[:, k * D : (k + 1) * D] = torch.rand(32, D) * 2 - 1
        after = lower.decode(changed_codes, uniforms)
        assert torch.equal(
            before[:, ~torch.from_numpy(patch_mask(k))], after[:, ~torch.from_numpy(patch_mask(k))]
        )
    new, k = resample_one_patch(codes, D)
    assert list(k[:5]) == [0, 1, 2, 3, 0]
    assert torch.equal(new.reshape(32, 4, D)[0, 1:], codes.reshape(32, 4, D)[0, 1:])
    assert torch.equal(new.reshape(32, 4, D)[0, 0], codes.reshape(32, 4, D)[1, 0])
    loc = locality_ratio(lower, codes, seed=0)
    assert loc["locality_ratio"] == 0.0 and loc["locality_changed_outside"] == 0.0
    assert loc["locality_changed_inside"] > 0.0


def test_seam_discontinuity_counts_only_pairs_across_seams() -> None:
    left_right = np.zeros((1, 64), np.float32)
    left_right[0, [r * 8 + c for r in range(8) for c in range(4)]] = 1.0  # a vertical edge on the seam
    assert seam_discontinuity(left_right) == pytest.approx(0.5)  # 8 of the 16 seam pairs differ
    stripes = np.zeros((1, 64), np.float32)
    stripes[0, [r * 8 + c for r in range(8) for c in (1, 6)]] = 1.0  # edges away from both seams
    assert seam_discontinuity(stripes) == 0.0


# -- the envs --------------------------------------------------------------------------------------
def test_env_spaces_and_the_encoder_gradient() -> None:
    patch_env = make_env(PATCHES, {"code_dim": D, "disc_hidden_sizes": [16], "disc_batch_size": 8}).unwrapped
    assert patch_env.observation_space.shape == (D,) and patch_env.action_space.n == 16
    code_env = make_env(CODES, {"code_dim": D}).unwrapped
    assert code_env.action_space.shape == (4 * D,) and code_env.observation_space.shape == (32,)
    # Without a lower stage the code env is inactive: reward 0, nothing stored for its discriminator.
    code_env.reset(seed=0)
    assert code_env.step(np.zeros(4 * D, np.float32))[1] == 0.0 and code_env.disc.buffered == 0
    # The encoder objective back-propagates into E only, never into the discriminator.
    patch_env.reset(seed=0)
    lower = LowerStage.from_spec(_spec())
    loss = patch_env.encoder_loss(lower.encode)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lower.encoder.parameters())
    assert all(p.grad is None for p in patch_env.disc.net.parameters())
    with pytest.raises(Exception, match="needs the agent's patch encoder"):
        for _ in range(3):  # the discriminator trains once 8 pairs are buffered, and needs the encoder
            patch_env.group_rewards(np.zeros(D, np.float32), np.zeros((4, 16), np.int64))
            patch_env.step(np.zeros(16, np.int64))


def test_the_code_discriminator_takes_instance_noise_off_by_default() -> None:
    """`disc_instance_noise` reaches the higher stage's code discriminator (issue 29's remedy there); the
    default leaves it without noise, as every committed run had it."""
    assert make_env(CODES, {"code_dim": D}).unwrapped.disc.instance_noise == 0.0
    assert make_env(CODES, {"code_dim": D, "disc_instance_noise": 0.3}).unwrapped.disc.instance_noise == 0.3
    with pytest.raises(Exception, match="disc_instance_noise must be >= 0"):
        make_env(CODES, {"code_dim": D, "disc_instance_noise": -0.1})


# -- bgan-hier and bgan-bigan through the CLI --------------------------------------------------------
@pytest.fixture(scope="module")
def decoupled_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ldf") / "D"
    assert _hier(run) == 0  # 4 updates: 2 of the lower stage, then 2 of the higher one
    return run


def test_decoupled_trains_the_lower_stage_then_freezes_it(decoupled_run: Path) -> None:
    header = (decoupled_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == (*COMMON_METRICS, *agent_class("bgan-hier").metric_names)
    rows = _rows(decoupled_run)
    assert [float(r["stage"]) for r in rows] == [1, 1, 2, 2]
    assert rows[0]["lower_encoder_loss"] and not rows[0]["generator_loss"]
    assert rows[3]["generator_loss"] and not rows[3]["lower_encoder_loss"]
    state = checkpoint.load(decoupled_run / "checkpoints" / "last.pt")
    trained = state["agent"]["lower"]["state"]
    in_env = state["collector"]["env_states"][0]["lower"]["state"]
    for k, v in trained.items():  # what the code env decodes with is the lower stage as trained
        assert torch.equal(v, in_env[k])
    final = checkpoint.load(decoupled_run / "policy.pt")["env_state"]["lower"]["state"]
    for k, v in final.items():
        assert torch.equal(v, trained[k])


def test_the_frozen_lower_stage_does_not_move_in_stage_two(tmp_path: Path) -> None:
    from rlcv.config import build_config, preset
    from rlcv.loop import new_trainer

    values = {**preset("bgan-hier", CODES), "env_kwargs": TINY_ENV}
    for item in TINY_HIER:
        key, value = item.split("=", 1)
        import yaml

        values[key] = yaml.safe_load(value)
    config = build_config(agent_class("bgan-hier").config_cls, values)
    trainer = new_trainer(algo="bgan-hier", env_id=CODES, config=config, seed=0)
    agent, env = trainer.agent, trainer.envs.envs[0].unwrapped
    for _ in range(2):
        agent.update(trainer.collector.collect(agent.n_steps))
    assert agent.stage == 2 and env.lower is not agent.lower_trainer.lower
    assert not any(p.requires_grad for p in env.lower.parameters())
    frozen = {k: v.clone() for k, v in env.lower.state_dict().items()}
    higher = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    for _ in range(3):
        agent.update(trainer.collector.collect(agent.n_steps))
    assert all(torch.equal(v, env.lower.state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, agent.policy.state_dict()[k]) for k, v in higher.items())  # stage 2 trains
    trainer.envs.close()


def test_same_seed_same_run(decoupled_run: Path, tmp_path: Path) -> None:
    assert _hier(tmp_path / "A") == 0

    def strip(run: Path) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in _rows(run)]

    assert strip(tmp_path / "A") == strip(decoupled_run)


def test_a_saved_lower_stage_is_reused_unchanged(decoupled_run: Path, tmp_path: Path, capsys) -> None:
    saved = load_lower_stage(decoupled_run)
    assert not any(p.requires_grad for p in saved.parameters())
    assert _hier(tmp_path / "R", steps=32, seed=1, env={"lower": str(decoupled_run)}) == 0
    assert [float(r["stage"]) for r in _rows(tmp_path / "R")] == [2, 2]  # no lower stage of its own
    reused = checkpoint.load(tmp_path / "R" / "policy.pt")["env_state"]["lower"]["state"]
    for k, v in saved.state_dict().items():
        assert torch.equal(v, reused[k])
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "R"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    # Nothing outside the resampled patch moves (the ratio itself is NaN if nothing inside moved either,
    # as with this barely trained patch generator).
    assert metrics["locality_changed_outside"] == 0.0 and 0.0 <= metrics["confident_share"] <= 1.0
    assert 0.0 <= metrics["c2st_accuracy"] <= 1.0 and 0 <= metrics["class_coverage"] <= 10


def test_joint_trains_both_and_resumes(tmp_path: Path) -> None:
    run = tmp_path / "J"
    assert _hier(run, steps=32, sets=["mode=joint"]) == 0
    assert main(["train", "--resume", str(run), "--steps", "64", "--no-progress"]) == 0
    rows = _rows(run)
    assert [float(r["stage"]) for r in rows] == [3, 3, 3, 3]
    assert all(r["generator_loss"] and r["lower_encoder_loss"] for r in rows)
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["agent"]["lower_trainer"]["agent"]["updates"] == 4  # the lower stage resumed too


def test_bigan_agent_trains_on_the_patch_env(tmp_path: Path, capsys) -> None:
    args = ["train", "--algo", "bgan-bigan", "--env", PATCHES, "--steps", "32", "--no-progress"]
    args += ["--env-kwargs", json.dumps({"code_dim": D, "disc_hidden_sizes": [16], "disc_batch_size": 16})]
    args += ["--set", "n_steps=16", "n_samples=4", "hidden_sizes=[16]", "encoder_hidden_sizes=[16]"]
    assert main([*args, "--run-dir", str(tmp_path / "B")]) == 0
    assert all(r["encoder_loss"] and r["generator_loss"] for r in _rows(tmp_path / "B"))
    assert load_lower_stage(tmp_path / "B").code_dim == D  # a bgan-bigan run serves as a lower stage


@pytest.mark.parametrize(
    ("algo", "env", "sets", "env_kwargs", "message"),
    [
        ("bgan-hier", "rlcv/BGAN-Digits-v0", [], {}, "use --env rlcv/BGAN-DigitCodes-v0"),
        ("bgan-bigan", CODES, [], {}, f"use --env {PATCHES}"),
        ("bgan-hier", CODES, ["mode=both"], {}, "mode must be one of decoupled, joint"),
        ("bgan-hier", CODES, [], {"lower": "no/such/run"}, "is not a run directory"),
    ],
)
def test_bad_input_is_one_clear_error(algo, env, sets, env_kwargs, message, tmp_path: Path, capsys) -> None:
    args = ["train", "--algo", algo, "--env", env, "--steps", "32", "--run-dir", str(tmp_path / "X")]
    if env_kwargs:
        args += ["--env-kwargs", json.dumps(env_kwargs)]
    if sets:
        args += ["--set", *sets]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "X").exists()


def test_reuse_errors_name_the_fix(decoupled_run: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert _hier(tmp_path / "X", sets=["mode=joint"], env={"lower": str(decoupled_run)}) == 2
    assert "mode=joint trains the lower stage itself" in capsys.readouterr().err
    assert _hier(tmp_path / "X", env={"lower": str(decoupled_run), "code_dim": 3}) == 2
    assert "the lower stage has code_dim 4" in capsys.readouterr().err
    assert not (tmp_path / "X").exists()


# -- the bench's helpers ---------------------------------------------------------------------------------
def test_wall_checkpoint_takes_the_last_one_within_budget(tmp_path: Path) -> None:
    from rlcv.errors import RlcvError
    from rlcv.run_dir import RunDir

    times = [(16, 1.0), (32, 2.0), (48, 3.0), (64, 4.0)]
    for step in (16, 48):  # checkpoints written every 32 steps
        RunDir(tmp_path).step_checkpoint(step).parent.mkdir(exist_ok=True)
        RunDir(tmp_path).step_checkpoint(step).touch()
    assert wall_checkpoint(tmp_path, times, 10.0) == (64, None)  # the final policy
    assert wall_checkpoint(tmp_path, times, 3.5) == (48, RunDir(tmp_path).step_checkpoint(48))
    assert wall_checkpoint(tmp_path, times, 2.5) == (16, RunDir(tmp_path).step_checkpoint(16))
    with pytest.raises(RlcvError, match="raise --checkpoints"):
        wall_checkpoint(tmp_path, times, 0.5)


def test_report_labels_a_pilot_and_judges_the_targets(tmp_path: Path) -> None:
    from rlcv.bench.ldf import write_report

    def metrics(c2st: float, seam: float, conf: float, loc: float | None) -> dict:
        out = {"c2st_accuracy": c2st, "nn1_accuracy": c2st - 0.05, "mmd2": c2st / 10, "unique_fraction": 0.9}
        out |= {"confident_coverage": 9.0 if c2st < 0.93 else 5.0, "confident_share": conf}
        out |= {"seam_discontinuity": seam}
        return out if loc is None else {**out, "locality_ratio": loc}

    def runs(method: str, values: list[tuple[float, float, float]], loc: float | None, seeds: range) -> list:
        return [
            {
                "seed": s,
                "run_dir": f"r/{method}/s{s}",
                "times": [[64, 10.0]],
                "summary": {"wall_seconds": 12.0},
                "final": metrics(*v, loc),
            }
            for s, v in zip(seeds, values, strict=True)
        ]

    flat_rows = [{"seed": s, **metrics(0.9, 0.27, 0.5, None)} for s in range(2)]
    payload = {
        "command": "rlcv bench ldf --seeds 2",
        "seeds": 2,
        "updates": 100,
        "overrides": [],
        "runs_root": "r",
        "results": {
            "flat": runs("flat", [(0.90, 0.27, 0.50), (0.92, 0.27, 0.52)], None, range(2)),
            "decoupled": runs("decoupled", [(0.95, 0.40, 0.30), (0.97, 0.41, 0.31)], 0.0, range(2)),
            "reuse": runs("reuse", [(0.95, 0.40, 0.30)], 0.0, range(1, 2)),
        },
        "wall": {  # at equal wall-clock decoupled seed 0 was still training its lower stage
            "flat": [{**r, "budget_seconds": 9.0, "step": 64} for r in flat_rows],
            "decoupled": [
                {"seed": 0, "budget_seconds": 9.0, "step": 64, "no_samples": True},
                {"seed": 1, "budget_seconds": 9.0, "step": 64, **metrics(0.97, 0.41, 0.31, 0.0)},
            ],
        },
        "params": {
            "flat": 1000,
            "flat_generator": 600,
            "flat_discriminator": 400,
            "lower_generator": 100,
            "lower_encoder": 100,
            "lower_discriminator": 100,
            "higher_generator": 150,
            "higher_discriminator": 150,
            "stage1": 300,
            "stage2": 300,
            "joint": 600,
        },
        "real_reference": {**metrics(0.5, 0.25, 0.99, None), "held_out": metrics(0.5, 0.27, 0.74, None)},
        "grids": {"flat": ["flat_s0.png"], "decoupled": ["decoupled_s0.png", "decoupled_s0_resample.png"]},
    }
    text = write_report(payload, tmp_path, "ldf")
    assert (tmp_path / "ldf.md").read_text() == text and "**PILOT**" in text
    assert "## Samples of every seed" not in text  # a JSON from before per-seed grids still renders
    payload["seed_grids"] = {
        "seeds": [0, 1],
        "rows": {"flat": ["flat_s0.png", "flat_s1.png"], "reuse": ["", "reuse_s1.png"]},
    }
    per_seed = write_report(payload, tmp_path, "ldf")
    assert "| method | seed 0 | seed 1 |\n|---|---|---|\n" in per_seed
    assert "| flat | ![flat](ldf/flat_s0.png) | ![flat](ldf/flat_s1.png) |\n" in per_seed
    assert "| reuse |  | ![reuse](ldf/reuse_s1.png) |\n" in per_seed  # reuse has no seed 0
    del payload["seed_grids"]
    assert (
        "equal updates: decoupled at least as good as flat on two-sample (C2ST) accuracy: **missed (worse"
        in text
    )
    assert "flat on confident class coverage: **missed (worse" in text  # 5 vs 9 classes on both seeds
    assert "on confident class coverage: **" in text and "| real held-out digits" in text
    # the yardstick of seam and confidence is the held-out digits (0.27, 0.74), not the training ones
    assert "(0.405 vs 0.270, 50 % off)" in text and "(0.305 vs 0.740)" in text
    assert "≤ 50 % of flat G + D: **met** (300 = 30 %; joint training holds 60 %)" in text
    assert "reused unchanged by ≥ 2 higher-level seeds: **met**" in text
    assert "seam discontinuity within 20 % of real **missed**" in text and "ratio ≤ 0.05 **met**" in text
    assert "![decoupled resampled](ldf/decoupled_s0_resample.png)" in text
    assert "decoupled 1 (lower stage only: no samples yet) / 1" in text
    assert (
        "equal wall-clock: decoupled at least as good as flat on 1-NN accuracy: **undetermined (one seed)**"
        in text
    )


def test_in_lower_stage_reads_the_stage_column(decoupled_run: Path) -> None:
    from rlcv.gan.ldf_eval import in_lower_stage

    rows = _rows(decoupled_run)
    assert {float(r["stage"]) for r in rows} == {1.0, 2.0}
    for r in rows:
        assert in_lower_stage(decoupled_run, int(float(r["step"]))) == (float(r["stage"]) == 1)


def test_image_metrics_are_the_bgan_issues_metrics() -> None:
    """Flat and two-level generators are scored by the BGAN issue's one code path (score_digits)."""
    from rlcv.envs.bgan_digits import digits, score_digits
    from rlcv.gan.ldf_metrics import image_metrics

    x = digits(2)["x_train"][:200]
    got = image_metrics(x, seed=3)
    want = score_digits(x, levels=2, seed=3)
    assert {k: got[k] for k in want} == want
    assert got["seam_discontinuity"] == seam_discontinuity(x)
    assert {"confident_coverage", "confident_share", "unique_fraction", "mmd2"} <= set(got)


def test_lower_stage_ceiling_scores_decoded_real_digits() -> None:
    """The ceiling is image_metrics of training digits passed through encode → decode."""
    from rlcv.envs.bgan_digits import digits
    from rlcv.gan.ldf_metrics import image_metrics, lower_stage_ceiling

    torch.manual_seed(0)
    lower = LowerStage.from_spec(_spec())
    got = lower_stage_ceiling(lower, n=100, seed=1)
    x = digits(2)["x_train"]
    sample = torch.from_numpy(x[np.random.default_rng(1).permutation(len(x))[:100]])
    uniforms = torch.rand(100, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = image_metrics(lower.decode(lower.encode_images(sample), uniforms).numpy(), seed=1)
    assert got == {
        f"ceiling_{k}": want[k]
        for k in (
            "c2st_accuracy",
            "nn1_accuracy",
            "confident_coverage",
            "confident_share",
            "seam_discontinuity",
        )
    }
    assert got["ceiling_c2st_accuracy"] > 0.9  # an untrained lower stage decodes noise


def test_evaluations_are_redone_for_other_train_args(tmp_path: Path) -> None:
    from rlcv.gan.ldf_eval import cached_evaluation

    calls: list[int] = []

    def compute() -> dict:
        calls.append(1)
        return {"c2st_accuracy": float(len(calls))}

    path = tmp_path / "e.json"
    assert cached_evaluation(path, ["a"], compute) == {"c2st_accuracy": 1.0}
    assert cached_evaluation(path, ["a"], compute) == {"c2st_accuracy": 1.0} and len(calls) == 1  # reused
    assert cached_evaluation(path, ["b"], compute) == {"c2st_accuracy": 2.0}  # another run: evaluated again
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "eval_version": "older metric code"}))
    # other metric code: evaluated again
    assert cached_evaluation(path, ["b"], compute) == {"c2st_accuracy": 3.0}
    path.write_text("{not json")
    assert cached_evaluation(path, ["b"], compute) == {"c2st_accuracy": 4.0}


def test_bench_jobs_pair_seeds_at_equal_generator_updates(tmp_path: Path) -> None:
    import argparse

    from rlcv.bench.ldf import _jobs

    args = argparse.Namespace(
        methods=["flat", "decoupled", "joint", "reuse"],
        seeds=3,
        updates=100,
        checkpoints=10,
        overrides=["learning_rate=0.001"],
        hier_overrides=["recon_weight=1.0"],
    )
    jobs = _jobs(args, tmp_path / "runs", tmp_path / "sum")
    steps = {m: {j.steps for j in js} for m, js in jobs.items()}
    assert steps == {"flat": {6400}, "decoupled": {6400}, "joint": {3200}, "reuse": {3200}}
    assert [j.name for j in jobs["reuse"]] == ["reuse_s1", "reuse_s2"]  # seed 0 trained the lower stage
    flat, decoupled = jobs["flat"][0], jobs["decoupled"][0]
    assert "recon_weight=1.0" not in flat.train_args and flat.run_dir == tmp_path / "runs" / "flat" / "s0"
    assert {"lower_updates=50", "recon_weight=1.0", "learning_rate=0.001"} <= set(decoupled.train_args)
    assert decoupled.run_dir == tmp_path / "runs" / "decoupled+recon_weight=1.0" / "s0"
    lower = json.loads(jobs["reuse"][0].train_args[jobs["reuse"][0].train_args.index("--env-kwargs") + 1])
    assert lower == {"lower": str(decoupled.run_dir)}


def test_decoupled_resumes_across_the_stage_switch(tmp_path: Path) -> None:
    run = tmp_path / "D"
    assert _hier(run, steps=16) == 0  # stopped inside the lower stage
    assert main(["train", "--resume", str(run), "--steps", "48", "--no-progress"]) == 0  # switches
    assert main(["train", "--resume", str(run), "--steps", "64", "--no-progress"]) == 0  # after it
    assert [float(r["stage"]) for r in _rows(run)] == [1, 1, 2, 2]
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["agent"]["installed"] and state["agent"]["lower_trainer"]["agent"]["updates"] == 2
    trained = state["agent"]["lower"]["state"]
    for k, v in state["collector"]["env_states"][0]["lower"]["state"].items():
        assert torch.equal(v, trained[k])  # the code env still decodes with the frozen lower stage


def test_an_unfinished_lower_stage_is_not_reused(tmp_path: Path) -> None:
    from rlcv.errors import RlcvError

    assert _hier(tmp_path / "D", steps=16) == 0  # 1 of the 2 lower-stage updates
    with pytest.raises(RlcvError, match="holds no trained lower stage"):
        load_lower_stage(tmp_path / "D")


def test_trivial_target_reads_decoupled_against_independent_pixels() -> None:
    from rlcv.gan.rows import vs_fixed

    decoupled = [{"seed": s, "c2st_accuracy": v} for s, v in enumerate((0.80, 0.82, 0.84))]
    ci = vs_fixed(decoupled, "c2st_accuracy", 0.93)  # independent pixels: one fixed sample
    assert ci.point == pytest.approx(-0.11) and ci.high < 0 and ci.n == 3

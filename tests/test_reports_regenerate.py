"""Every generated page under results/ regenerates byte for byte from its committed inputs (issue 25,
item 5): each case copies the page's committed inputs (per-run summaries, the bench's JSON, notes) to
the same paths under a temporary root, runs the page's own command there with ``--report-only`` (the
CLI in-process), and compares the written page — and the JSON / CSV written beside it, where those are
deterministic — with the committed bytes.

Pages that cannot be regenerated from committed data are listed in :data:`NOT_REGENERABLE` with the
reason; pages of benches being reworked elsewhere that drift today are strict xfails
(:data:`KNOWN_DRIFT`): the day one regenerates identically the xfail fails, and it moves to
:data:`CASES`. ``test_every_page_is_accounted_for`` fails on a page under results/ that is in none of
these lists (nor hand-written, nor a page tests/test_bench_compare.py regenerates). Figures (PNG) are
not compared: their bytes depend on the matplotlib / FreeType build.
"""

from __future__ import annotations

import difflib
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_bench_compare import PAGES as COMPARE_PAGES  # compare / gate pages: their drift test is there

import rlcv.bench.ipg
import rlcv.bench.sharpness
import rlcv.bench.walk
from rlcv.cli import main

REPO = Path(__file__).resolve().parent.parent
PAPER_DATA = (REPO / ".." / "shared" / "ipg").resolve()  # the IPG paper's instances and results


@dataclass(frozen=True)
class Report:
    """One command and the committed files it reads and writes (paths from the repository root)."""

    pages: tuple[str, ...]  # what it writes, compared byte for byte; the first is the page
    inputs: tuple[str, ...]  # committed files and folders it reads
    argv: tuple[str, ...] | None = None  # rlcv arguments; None: the page's own command + --report-only
    paper_data: bool = False  # reads the IPG paper's files (../shared/ipg, outside the repository)

    @property
    def id(self) -> str:
        return self.pages[0]


def bgan(name: str, out: str = "results", notes: bool = False) -> Report:
    argv = ["bench", "bgan", "--report-only", "--out", out, "--name", name]
    inputs = [f"{out}/{name}.json"]
    if notes:
        argv += ["--notes", f"{out}/{name}_notes.md"]
        inputs.append(f"{out}/{name}_notes.md")
    return Report(pages=(f"{out}/{name}.md",), inputs=tuple(inputs), argv=tuple(argv))


def ldf(name: str, reading: bool = False) -> Report:
    inputs = (f"results/{name}.json", *([f"results/{name}/reading.md"] if reading else []))
    argv = ("bench", "ldf", "--report-only", "--out", "results", "--name", name)
    return Report(pages=(f"results/{name}.md",), inputs=inputs, argv=argv)


def learn(out: str) -> Report:
    return Report(
        pages=(f"{out}/learn.md", f"{out}/learn.json", f"{out}/evaluations.csv"), inputs=(f"{out}/summaries",)
    )


def folder(out: str, page: str, inputs: tuple[str, ...], also: tuple[str, ...] = ()) -> Report:
    return Report(
        pages=tuple(f"{out}/{p}" for p in (page, *also)), inputs=tuple(f"{out}/{i}" for i in inputs)
    )


BGAN_SCHEDULES = ["A_lr1e-3_d5", "B_lr3e-4_d5", "C_lr1e-3_d10", "D_lr1e-3_n32"]
CONT_SCHEDULES = [
    "A_logstd0",
    "B_logstd-2",
    "C_logstd-3",
    "D_squash_logstd0",
    "E_squash_logstd-2",
    "F_squash_logstd-3",
]
IPG_SETS = ["2x10", "2x20", "2x40", "2x80", "3x10", "3x20", "ls2x10", "ls2x20", "ls2x50", "ls2x100"]
IPG_FRESH_SIZES = ["2x20", "2x40", "3x20", "3x10", "2x80"]

CASES = [
    Report(pages=("results/speed.md",), inputs=("results/speed.json",)),
    folder("results/oracle", "oracle.md", ("summaries",), also=("oracle.json",)),
    folder("results/oracle", "spent_HalfCheetah-v5.md", ("summaries",), also=("spent_HalfCheetah-v5.json",)),
    folder("results/tuned_pair", "HalfCheetah-v5.md", ("summaries",), also=("HalfCheetah-v5.json",)),
    folder("results/tuned_hopper_ppo", "Hopper-v5.md", ("summaries",), also=("Hopper-v5.json",)),
    Report(
        pages=("results/ipg.md", "results/ipg.json"),
        inputs=("results/ipg",),
        argv=(
            "bench",
            "ipg",
            "--sets",
            *IPG_SETS,
            "--methods",
            "m-sgm",
            "sgm",
            "enum",
            "--report-only",
            "--data",
            str(PAPER_DATA),
        ),
        paper_data=True,
    ),
    Report(
        pages=("results/ipg_fresh.md", "results/ipg_fresh.json"),
        inputs=("results/ipg_fresh",),
        argv=("bench", "ipg", "--fresh", "50", "--sizes", *IPG_FRESH_SIZES, "--seed", "28", "--report-only"),
    ),
    Report(
        pages=("results/ipg_versions.md", "results/ipg_versions.json"),
        inputs=("results/ipg_versions",),
        argv=("bench", "ipg-versions", "--report-only", "--out", "results", "--data", str(PAPER_DATA)),
        paper_data=True,
    ),
    Report(
        pages=("results/ipg_versions_aa/ipg_versions.md", "results/ipg_versions_aa/ipg_versions.json"),
        inputs=("results/ipg_versions_aa/ipg_versions",),
        argv=(
            "bench",
            "ipg-versions",
            "--report-only",
            "--out",
            "results/ipg_versions_aa",
            "--data",
            str(PAPER_DATA),
        ),
        paper_data=True,
    ),
    Report(
        pages=("results/ipg_agents.md",),
        inputs=("results/ipg_agents/summary.json",),
        argv=("bench", "ipg-agents", "--report-only"),
    ),
    # BGAN: the bench's JSON (+ the reading under '## Reading'), the per-schedule pilots, and the
    # pages of bgan-schedule / bgan-update-cost / bgan-capacity (their timings / distillations committed).
    bgan("bgan", notes=True),
    bgan("bgan-600", notes=True),
    bgan("bgan-6000"),
    bgan("bgan-digits4", notes=True),
    bgan("bgan-digits4-6000", notes=True),
    bgan("bgan-digitscont", notes=True),
    bgan("bgan-digitscont-6000", notes=True),
    *(bgan(name, out="results/bgan_schedule") for name in BGAN_SCHEDULES),
    *(bgan(name, out="results/bgan-digitscont_schedule") for name in CONT_SCHEDULES),
    Report(
        pages=("results/bgan_schedule.md",),
        inputs=(
            "results/bgan_schedule_notes.md",
            *(f"results/bgan_schedule/{name}.json" for name in BGAN_SCHEDULES),
        ),
        argv=("bench", "bgan-schedule", "--pilot", "binary", "--report-only"),
    ),
    Report(
        pages=("results/bgan_update_cost.md",),
        inputs=("results/bgan.json", "results/bgan_update_cost.json"),
        argv=("bench", "bgan-update-cost", "--report-only"),
    ),
    Report(
        pages=("results/bgan_capacity.md",),
        inputs=("results/bgan.json", "results/bgan_capacity"),
        argv=("bench", "bgan-capacity", "--report-only"),
    ),
    ldf("ldf", reading=True),
    ldf("ldf_init30", reading=True),
    ldf("ldf_higher", reading=True),
    ldf("ldf_long"),
    ldf("ldf_nocycle"),
    Report(
        pages=("results/ldf_cycle.md",),
        inputs=("results/ldf.json", "results/ldf_nocycle.json"),
        argv=("bench", "ldf-cycle", "--report-only"),
    ),
    # HPO: hpo-budget / dualcutout reports from per_run/.
    *(
        folder(f"results/hpo_budget/{task}", "report.md", ("per_run",), also=("summary.json",))
        for task in ("digits", "mnist1d_mlp", "mnist1d_cnn")
    ),
    # Issue 30's tuning-seed sweeps (one hpo-budget folder per setting; round 3 in its own root, seeds
    # 100–109, round 4 seeds 100–139) and their table.
    *(
        folder(str(d.relative_to(REPO)), "report.md", ("per_run",), also=("summary.json",))
        for root in ("hpo_tuning", "hpo_tuning_r3", "hpo_tuning_r4")
        for d in sorted((REPO / "results" / root).glob("*/*"))
        if (d / "per_run").is_dir()
    ),
    Report(
        pages=("results/hpo_tuning.md",),
        inputs=("results/hpo_tuning", "results/hpo_tuning_r3", "results/hpo_tuning_r4"),
        argv=(
            "bench",
            "hpo-tuning",
            "--dir",
            "results/hpo_tuning",
            "results/hpo_tuning_r3",
            "results/hpo_tuning_r4",
        ),
    ),
    *(
        folder(
            f"results/dualcutout/{task}", "report.md", ("per_run", "step_cost.json"), also=("summary.json",)
        )
        for task in ("digits_mlp", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_w10")
    ),
    # Learning sweeps: the committed per-run summaries (paired numbers: tests/test_bench_compare.py).
    learn("results/learn_mujoco"),
    learn("results/learn_mujoco_v3"),
    learn("results/learn_mujoco_trpo_v3"),
    learn("results/learn_mujoco_hopper_l095"),
    learn("results/learn_ant_v4"),
    learn("results/learn_hopper_v4"),
    learn("results/learn_hc_lr_v4"),
    learn("results/learn_hc_tau_v4"),
    learn("results/learn_walker_v4"),
    learn("results/learn_hc_tau_fresh"),
    # MBMF-PPO vs PPO throughput: the page beside each JSON (its input, rewritten from its own fps).
    *(
        Report(
            pages=(str(Path(j).with_suffix(".md")),),
            inputs=(j,),
            argv=("bench", "mbmf-speed", "--json", j, "--report-only"),
        )
        for j in (
            "results/variance/v2_speed.json",
            "results/variance/v2_speed_40step_cap.json",
            "results/learn_mujoco_v3/speed.json",
            "results/learn_mujoco/pilot_model50/speed.json",
            "results/learn_mujoco/pilot_model50/speed_default.json",
            "results/mbmf_v4/speed_e2.json",
            "results/mbmf_v4/speed_e5.json",
            "results/mbmf_v4/speed_e2_v2.json",
            "results/mbmf_v4/speed_e5_v2.json",
            "results/mbmf_v4/speed_e5_v3.json",
            "results/mbmf_v4/speed_tau.json",
            "results/mbmf_v4/speed_tau_v2.json",
        )
    ),
    # BGAN collapse remedies (issue 29): the page from the bench's JSON, the grids it links committed beside.
    *(
        Report(
            pages=(f"results/{name}.md",),
            inputs=(
                f"results/{name}.json",
                f"results/{name}",
                *([f"results/{name}_notes.md"] if notes else []),
            ),
            argv=(
                "bench",
                "bgan-collapse",
                "--report-only",
                "--out",
                "results",
                "--name",
                name,
                *(["--notes", f"results/{name}_notes.md"] if notes else []),
            ),
        )
        for name, notes in (
            ("bgan_collapse_digits4", True),
            ("bgan_collapse_pilot_binary", False),
            ("bgan_collapse_pilot_digits4", True),
            ("bgan_collapse_pilot_digits4_mbd", True),
            ("bgan_collapse_pilot_digits4_init", True),
            ("bgan_collapse_pilot_digits4_init2", True),
            ("bgan_collapse_digits4_init", True),
            ("bgan_collapse_pilot_binary_init", True),
            ("bgan_collapse_pilot_digitscont_init", True),
            ("bgan_collapse_pilot_digitscont_weights", True),
            ("bgan_collapse_digitscont_weights", True),
            ("bgan_collapse_pilot_digitscont_weights2", True),
            ("bgan_collapse_pilot_digitscont_disc", True),
            ("bgan_collapse_digitscont_disc", True),
            ("bgan_collapse_digitscont_grid", True),
            ("bgan_collapse_binary_init", True),
            ("bgan_collapse_pilot_digits4_balance", True),
            ("bgan_collapse_digits4_balance", True),
            ("bgan_collapse_pilot_digits4_long", True),
            ("bgan_collapse_digits4_long", True),
            ("bgan_collapse_pilot_binary_ahead", True),
            ("bgan_collapse_binary_ahead", True),
            ("bgan_collapse_pilot_digits4_m50", True),
            ("bgan_collapse_digits4_m50", True),
        )
    ),
    # The LDF lower stage alone (issue 29).
    *(
        Report(
            pages=(f"results/{name}.md",),
            inputs=(f"results/{name}.json", f"results/{name}_notes.md"),
            argv=("bench", "ldf-lower", "--report-only", "--out", "results", "--name", name)
            + ("--notes", f"results/{name}_notes.md"),
        )
        for name in ("ldf_lower", "ldf_lower_pilot", "ldf_full_pilot", "ldf_higher_pilot")
    ),
    # The model diagnostic at one checkpoint (its runs need the checkpoint, not committed).
    *(
        Report(
            pages=(f"results/variance/v2/model_diag/{name}.md",),
            inputs=(f"results/variance/v2/model_diag/{name}.json",),
            argv=(
                "bench",
                "model-diag",
                "--json",
                f"results/variance/v2/model_diag/{name}.json",
                "--report-only",
            ),
        )
        for name in ("hc100k", "blocks_hc100k")
    ),
    *(
        Report(
            pages=(f"results/mbmf_v4/model_diag_{name}.md",),
            inputs=(f"results/mbmf_v4/model_diag_{name}.json",),
            argv=("bench", "model-diag", "--json", f"results/mbmf_v4/model_diag_{name}.json")
            + ("--report-only",),
        )
        for name in (
            "hc100k",
            "cvloss_hc100k_s0",
            "cvloss_hc100k_s1",
            "direct_hc100k_s0",
            "direct_hc100k_s1",
            "parts_hc100k_s0",
            "parts_hc100k_s1",
        )
    ),
    Report(
        pages=("results/learn_mujoco_v3/cost_profile.md",),
        inputs=("results/learn_mujoco_v3/cost_profile.json",),
        argv=("bench", "cost-profile", "--report-only"),
    ),
    Report(
        pages=("results/mbmf_v4/cost_profile_v2.md",),
        inputs=("results/mbmf_v4/cost_profile_v2.json",),
        argv=("bench", "cost-profile", "--json", "results/mbmf_v4/cost_profile_v2.json", "--report-only"),
    ),
    # Landscape benches: their JSON beside the page holds the report's own wall time, so only the page.
    Report(pages=("results/walk.md",), inputs=("results/walk",)),
    Report(pages=("results/sharpness.md",), inputs=("results/sharpness",)),
    # Gradient checks and variance harness: their tables from the result JSONs of each folder.
    Report(
        pages=("results/gradcheck/table.md",),
        inputs=("results/gradcheck",),
        argv=("bench", "gradcheck-report", "--dir", "results/gradcheck"),
    ),
    *(
        Report(pages=(f"{d}/table.md",), inputs=(d,), argv=("bench", "variance-report", "--dir", d))
        for d in ("results/variance", "results/variance/v2")
    ),
]

# Pages whose inputs were never committed (or that only older code can rebuild): not regenerable here.
NOT_REGENERABLE = {
    "results/ldf_pilot.md": "made by commit 190b120's metrics: its JSON lacks mmd2 / unique_fraction / "
    "confident_coverage, so `--report-only` refuses it (test below); the page says to regenerate it there",
    "results/ldf_recon.md": "as ldf_pilot.md: commit 190b120's metrics (the page says so)",
    **{
        f"results/bgan_init_spread_{env}.md": "`bench bgan-collapse --init-spread` computes it from "
        "untrained generators (no runs, no JSON to report from): its own command, seeded, ~5 s of CPU"
        for env in ("binary", "digits4", "digitscont")
    },
    "results/bgan-digitscont_schedule.md": "`bench bgan-schedule --pilot cont` reads the runs' final "
    "policies (runs/schedule-cont-*, not committed) for the generator-mode columns",
    "results/learn/learn.md": "its runs predate committed summaries/: only the run folders held them",
    "results/sanity/learn.md": "its runs predate committed summaries/: only the run folders held them",
    "results/learn_mujoco/v1_100k/learn.md": "its runs predate committed summaries/ (run folders only)",
    **{
        f"results/{sweep}/gate.md": "`bench gate --from-runs` reads the runs' metrics.csv, not committed"
        for sweep in ("learn_mujoco", "learn_mujoco_v3", "learn_mujoco_trpo_v3", "learn_mujoco_hopper_l095")
    },
    "results/learn_mujoco_trpo/gate.md": "made by an early script (since replaced by `bench gate`) from "
    "run folders, not committed",
    "results/variance/v1/table.md": "made by the first variance harness: `bench variance-report` refuses "
    "its JSONs (no trace_ratio; tests/test_benches.py checks that refusal)",
    **{
        f"results/{out}/hpo.md": "superseded history: `rlcv bench hpo` (v1) was retired; the page and its "
        "hpo.json are static, labelled so (`rlcv bench hpo-budget` is the current bench)"
        for out in ("hpo_v1", "hpo_floor", "mnist1d_models/mlp", "mnist1d_models/cnn")
    },
}

# Regenerable pages that drift today, of benches reworked elsewhere: strict xfails, so that a fix shows
# up here as a failure to move them to CASES. (None today.)
KNOWN_DRIFT: dict[str, tuple[Report, str]] = {}

# Readings, notes and indexes written by hand (a generated page's notes are among its inputs above).
HAND_WRITTEN = {
    "results/bgan_collapse_digits4_notes.md",
    "results/bgan_collapse_pilot_digits4_notes.md",
    "results/bgan_collapse_pilot_digits4_mbd_notes.md",
    "results/bgan_collapse_pilot_digits4_init_notes.md",
    "results/bgan_collapse_pilot_digits4_init2_notes.md",
    "results/bgan_collapse_digits4_init_notes.md",
    "results/ldf_lower_pilot_notes.md",
    "results/ldf_lower_notes.md",
    "results/ldf_full_pilot_notes.md",
    "results/ldf_higher_pilot_notes.md",
    "results/bgan_collapse_pilot_binary_init_notes.md",
    "results/bgan_collapse_pilot_digitscont_init_notes.md",
    "results/bgan_collapse_pilot_digitscont_weights_notes.md",
    "results/bgan_collapse_digitscont_weights_notes.md",
    "results/bgan_collapse_pilot_digitscont_weights2_notes.md",
    "results/bgan_collapse_pilot_digitscont_disc_notes.md",
    "results/bgan_collapse_digitscont_disc_notes.md",
    "results/bgan_collapse_digitscont_grid_notes.md",
    "results/bgan_collapse_binary_init_notes.md",
    "results/bgan_collapse_pilot_digits4_balance_notes.md",
    "results/bgan_collapse_digits4_balance_notes.md",
    "results/bgan_collapse_pilot_digits4_long_notes.md",
    "results/bgan_collapse_digits4_long_notes.md",
    "results/bgan_collapse_pilot_binary_ahead_notes.md",
    "results/bgan_collapse_binary_ahead_notes.md",
    "results/bgan_collapse_pilot_digits4_m50_notes.md",
    "results/bgan_collapse_digits4_m50_notes.md",
    "results/oracle.md",
    "results/mbmf_v4.md",
    "results/hpo.md",
    "results/dualcutout.md",
    "results/variance.md",
    "results/variance_v2.md",
    "results/variance/v1/variance.md",
    "results/refactor/README.md",
    "results/gradcheck/README.md",
    "results/learn_mujoco/pilot_model50/README.md",
    "results/ldf/reading.md",
    "results/ldf_init30/reading.md",
    "results/ldf_higher/reading.md",
    "results/ldf_pilot/reading.md",
    "results/ldf_recon/reading.md",
    "results/learn_mujoco/reading.md",
    "results/learn_mujoco/v1_100k/reading.md",
    "results/learn_mujoco_v3/reading.md",
    "results/learn_mujoco_trpo_v3/reading.md",
    "results/learn_mujoco_hopper_l095/reading.md",
    "results/bgan_notes.md",
    "results/bgan-600_notes.md",
    "results/bgan-digits4_notes.md",
    "results/bgan-digits4-6000_notes.md",
    "results/bgan-digitscont_notes.md",
    "results/bgan-digitscont-6000_notes.md",
    "results/bgan_schedule_notes.md",
    "results/bgan-digitscont_schedule_notes.md",
    "results/learn_hc_lr_v4/reading.md",
    "results/learn_hc_tau_v4/reading.md",
    "results/learn_hopper_v4/reading.md",
    "results/learn_walker_v4/reading.md",
    "results/learn_hc_tau_fresh/reading.md",
}


def page_command(page: str) -> list[str]:
    """The `rlcv bench ...` command a page names at its top ('Regenerate with:' and the command two
    lines below, or 'Regenerate: `...`' / 'Regenerate with `...`'), as CLI arguments + --report-only."""
    lines = (REPO / page).read_text().splitlines()[:8]
    for i, line in enumerate(lines):
        if line == "Regenerate with:":
            command = lines[i + 2].strip()
            break
        found = re.match(r"Regenerate(?: with)?:? `([^`]+)`", line)
        if found:
            command = found.group(1)
            break
    else:
        raise AssertionError(f"{page} names no regenerating command in its first lines")
    argv = shlex.split(command)
    assert argv[:2] == ["rlcv", "bench"], f"{page}: not a bench command: {command}"
    return [*argv[1:], *([] if "--report-only" in argv else ["--report-only"])]


def regenerate(report: Report, root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Copy the inputs under ``root``, run the report's command there; its exit code."""
    for rel in report.inputs:
        src, dst = REPO / rel, root / rel
        assert src.exists(), f"{rel}: a committed input of {report.id} is missing"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
    for rel in report.pages:  # an input folder may hold the page itself: it must be written anew
        (root / rel).unlink(missing_ok=True)
    monkeypatch.chdir(root)  # the commands name their paths from the repository root
    argv = list(report.argv) if report.argv is not None else page_command(report.pages[0])
    return main(argv)


def assert_identical(report: Report, root: Path) -> None:
    for rel in report.pages:
        made, committed = root / rel, REPO / rel
        assert made.is_file(), f"{rel} was not written"
        if made.read_bytes() != committed.read_bytes():
            diff = difflib.unified_diff(
                committed.read_text().splitlines(),
                made.read_text().splitlines(),
                "committed",
                "regenerated",
                n=0,
            )
            shown = "\n".join(list(diff)[:40])
            pytest.fail(
                f"{rel} drifted from its committed inputs: fix the bench or rerun its command\n{shown}"
            )


# Figures are not compared, and drawing them was most of the two slowest cases' time: their benches'
# plot functions are skipped here (tests/test_bench_landscape.py draws them).
NO_FIGURES = {
    "results/walk.md": rlcv.bench.walk,
    "results/sharpness.md": rlcv.bench.sharpness,
    "results/ipg_fresh.md": rlcv.bench.ipg,
}


# Each case takes 0.1-4 s (the slowest: hpo-budget), all about 20 s of CPU: none is marked expensive.
@pytest.mark.parametrize("report", CASES, ids=[r.id for r in CASES])
def test_report_regenerates_identically(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if report.paper_data and not PAPER_DATA.is_dir():
        pytest.skip(f"{report.id} shows the IPG paper's results, read from {PAPER_DATA} (absent here)")
    if report.id in NO_FIGURES:
        monkeypatch.setattr(NO_FIGURES[report.id], "plot", lambda *args: None)
    assert regenerate(report, tmp_path, monkeypatch) == 0
    assert_identical(report, tmp_path)


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(r, id=page, marks=pytest.mark.xfail(strict=True, reason=why))
        for page, (r, why) in KNOWN_DRIFT.items()
    ],
)
def test_known_drift(report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert regenerate(report, tmp_path, monkeypatch) == 0
    assert_identical(report, tmp_path)


@pytest.mark.parametrize("name", ["ldf_pilot", "ldf_recon"])
def test_ldf_pilots_are_refused_not_misreported(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pilots' JSONs hold commit 190b120's metrics: one error line, no page."""
    report = ldf(name)
    assert regenerate(report, tmp_path, monkeypatch) == 2
    assert "was written by an older `rlcv bench ldf`" in capsys.readouterr().err
    assert not (tmp_path / report.pages[0]).exists()


def test_every_page_is_accounted_for() -> None:
    """Each markdown file under results/ is regenerated here or by tests/test_bench_compare.py, listed
    as not regenerable or drifting (with the reason), or hand-written; none twice, none stale."""
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "results").rglob("*.md")}
    groups = {
        "CASES": {r.pages[0] for r in CASES},
        "test_bench_compare": {str(page.relative_to(REPO)) for page, _ in COMPARE_PAGES},
        "NOT_REGENERABLE": set(NOT_REGENERABLE),
        "KNOWN_DRIFT": set(KNOWN_DRIFT),
        "HAND_WRITTEN": HAND_WRITTEN,
    }
    listed = [page for pages in groups.values() for page in pages]
    assert len(listed) == len(set(listed)), "a page is in two lists"
    assert not on_disk - set(listed), f"pages in no list (add each to one): {sorted(on_disk - set(listed))}"
    assert not set(listed) - on_disk, f"listed pages that do not exist: {sorted(set(listed) - on_disk)}"
    assert len(CASES) == len({r.id for r in CASES})

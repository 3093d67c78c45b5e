"""The headline numbers of the README's "## Results" table, of the docs pages and of CHANGELOG.md against
the files they cite (issue 25 item 5, issue 31): each row of :data:`NUMBERS` is a phrase of those texts,
the file it cites, and where that file holds the same number(s) — an exact substring of the page (every
number of the phrase must be in it), a regular expression whose groups are the numbers, or a JSON path
into the bench's output — with the text's rounding (``fmt``). Signs are compared as numbers: the texts'
'−' is the pages' '-'.

Readings written by hand (results/variance.md, results/variance_v2.md) are checked only where a phrase
quotes them; derived figures the cited file does not state (e.g. a ratio of two of its numbers) are not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
_START = README.index("\n## Results\n")
_END = README.find("\n## ", _START + 1)
# Where a checked phrase may stand: the README's Results section, every docs page, the changelog.
TEXTS = {
    "README.md (Results)": README[_START : _END if _END != -1 else None],
    **{str(p.relative_to(REPO)): p.read_text() for p in sorted((REPO / "docs").rglob("*.md"))},
    "CHANGELOG.md": (REPO / "CHANGELOG.md").read_text(),
}
RESULTS = "\n".join(TEXTS.values())
# A number, not a digit of a name: not after a letter, a dot or 'letter-' (C2ST, v5, TPE-20), not
# before '-letter' (1-NN); thousands commas allowed (1,178).
NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z][-−])[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![-−][A-Za-z])")


@dataclass(frozen=True)
class Number:
    readme: str  # an exact phrase of the README's Results table, a docs page or the changelog
    file: str  # the file it cites
    # an exact substring of the file / a regex whose groups are the numbers / a JSON path (or several)
    where: str | re.Pattern[str] | tuple[str, ...] | tuple[tuple[str, ...], ...]
    fmt: str | None = None  # the README's rounding of the value(s) (regex groups, JSON values)
    agg: str | None = None  # "range": the README gives min–max of the values; "max": their maximum
    scale: float = 1.0  # e.g. 100 for a fraction the README gives in %


def _norm(number: str) -> str:
    return number.replace("−", "-").replace(",", "").lstrip("+")


def numbers(text: str) -> set[str]:
    return {_norm(n) for n in NUMBER.findall(text)}


def _minus(text: str) -> str:
    return text.replace("−", "-")


def R(pattern: str) -> re.Pattern[str]:
    """A regex over the whole file ('^' at each line, '.' across lines); NUM: a group holding a number."""
    return re.compile(pattern.replace("NUM", r"([-+]?\d+(?:\.\d+)?)"), re.M | re.S)


SPEED = "results/speed.json"
PAIR = "results/tuned_pair/HalfCheetah-v5"
V3, V2, TRPO, L095 = (
    "results/learn_mujoco_v3",
    "results/learn_mujoco",
    "results/learn_mujoco_trpo_v3",
    "results/learn_mujoco_hopper_l095",
)
HC, HOP = "HalfCheetah-v5", "Hopper-v5"


def final_mean(env: str, algo: str) -> tuple[str, ...]:
    return ("results", env, "algos", algo, "final_mean")


NUMBERS = [
    # -- the README's table and its sentence on MBMF ------------------------------------------------------
    Number(
        "max \\|z\\| 2.3 vs",
        "results/gradcheck/table.md",
        R(r"^\| \d+ \| (?:exact|learned) \| correct \| 1\.0 / 1\.0 \|(?:[^|\n]*\|){6} NUM \|"),
        ".1f",
        agg="max",
    ),
    Number("vs threshold 3.34", "results/gradcheck/table.md", "| 3.34 |"),
    Number("| 2.35× [1.26, 3.69] | met |", f"{PAIR}.md", "| 2.35× [1.26, 3.69] |"),
    Number(
        "in\n2.35× fewer steps (interval [1.26, 3.69], 10 seeds)",
        f"{PAIR}.md",
        "clip_range=0.2 | 10 | 2.35× [1.26, 3.69] |",
    ),
    Number("| −606 [−1,421, +208] | not shown |", f"{PAIR}.md", "| -606 [-1,421, +208] |"),
    Number(
        "(final +71 [−53, +196])",
        "results/learn_ant_v4/compare.md",
        "mbmf-ppo − ppo, 95 % paired t: +71 [-53, +196]",
    ),
    Number(
        "final +761 [−290, +1,813]",
        "results/learn_hopper_v4/compare.md",
        "mbmf-ppo − ppo, 95 % paired t: +761 [-290, +1813]",
    ),
    Number(
        "the CV leaves 0.68 [0.60, 0.82] of the score variance",
        "results/learn_hopper_v4/gate_Hopper-v5_mbmf-ppo.md",
        "each run's median score-term variance ratio: 0.68 [0.60, 0.82]",
    ),
    Number(
        "final return +761\n  [−290, +1,813], steps to PPO's 100k return 1.14× [0.86, 2.76]",
        "results/learn_hopper_v4/compare.md",
        R(
            r"95 % paired t: NUM \[NUM, NUM\].*?"
            r"to ppo's 100k return \(398\): speed-up ppo / mbmf-ppo NUM× \[NUM, NUM\]"
        ),
    ),
    Number(
        "label TV 0.126 against 0.142, but\n  mean C2ST 0.913 against 0.882",
        "results/bgan_collapse_pilot_digits4_m50.md",
        R(
            r"^\| `init10_ent_noise` \| NUM \[(?:[^|\n]*\|){4} NUM \[[^\n]*\n"
            r"\| `init10_ent_noise_m50` \| NUM \[(?:[^|\n]*\|){4} NUM \["
        ),
    ),
    Number(
        "seed 1 (label TV 0.153 and 0.217): paired label TV −0.002 [−0.068, +0.064]",
        "results/bgan_collapse_digits4_m50.md",
        R(
            r"## Paired differences.*?^\| `init10_ent_noise_m50` \|(?:[^|\n]*\|){4} NUM \[NUM, NUM\] \|.*?"
            r"^\| `init10_ent_noise_m50` \| 0 \|(?:[^|\n]*\|){2} NUM \|.*?"
            r"^\| `init10_ent_noise_m50` \| 1 \|(?:[^|\n]*\|){2} NUM \|"
        ),
    ),
    Number(
        "tuning seeds: no seed flagged, but mean C2ST 0.913 against 0.882",
        "results/bgan_collapse_pilot_digits4_m50.md",
        R(r"^\| `init10_ent_noise` \| NUM \[[^\n]*\n\| `init10_ent_noise_m50` \| NUM \["),
    ),
    Number(
        "2.23× [0.00, inf] fewer steps, final +681 [−576, +1,937]",
        "results/learn_hc_tau_fresh/compare.md",
        R(
            r"95 % paired t: NUM \[NUM, NUM\].*?"
            r"to ppo's final return \(4198\): speed-up ppo / mbmf-ppo NUM× \[NUM, inf\]"
        ),
    ),
    Number(
        "final +462 [−1,350, +2,273]",
        "results/learn_walker_v4/compare.md",
        "mbmf-ppo − ppo, 95 % paired t: +462 [-1350, +2273]",
    ),
    Number(
        "the CV leaves 0.94 [0.83, 0.95] of the\nscore variance",
        "results/learn_walker_v4/gate_Walker2d-v5_mbmf-ppo.md",
        "each run's median score-term variance ratio: 0.94 [0.83, 0.95]",
    ),
    Number(
        "steps to PPO's 100k return 1.35× [0.75, 3.60]",
        "results/learn_walker_v4/compare.md",
        "to ppo's 100k return (401): speed-up ppo / mbmf-ppo 1.35× [0.75, 3.60]",
    ),
    Number(
        "steps to PPO's 100k return\n1.14× [0.86, 2.76]",
        "results/learn_hopper_v4/compare.md",
        "to ppo's 100k return (398): speed-up ppo / mbmf-ppo 1.14× [0.86, 2.76]",
    ),
    Number(
        "its CV leaves\n0.88 [0.86, 0.90] of the score variance",
        "results/learn_ant_v4/gate_Ant-v5_mbmf-ppo.md",
        "each run's median score-term variance ratio: 0.88 [0.86, 0.90]",
    ),
    Number(
        "return in 2.00× [1.07, inf] fewer steps",
        "results/learn_hc_tau_v4/compare.md",
        "to ppo's 300k return (4164): speed-up ppo / mbmf-ppo 2.00× [1.07, inf]",
    ),
    Number(
        "final +34 [−816, +883]",
        "results/learn_hc_tau_v4/compare.md",
        "mbmf-ppo − ppo, 95 % paired t: +34 [-816, +883]",
    ),
    Number(
        "final +40 [−819, +898]",
        "results/learn_hc_tau_v4/compare_vs_g2.md",
        "mbmf-ppo − mbmf-ppo-g2, 95 % paired t: +40 [-819, +898]",
    ),
    Number(
        "leaves 0.61 [0.58, 0.68] of the score variance",
        "results/learn_hc_lr_v4/gate_HalfCheetah-v5_mbmf-ppo.md",
        "each run's median score-term variance ratio: 0.61 [0.58, 0.68]",
    ),
    Number(
        "ends −397 [−1,813, +1,020] against g2",
        "results/learn_hc_lr_v4/compare_vs_g2.md",
        "mbmf-ppo − mbmf-ppo-g2, 95 % paired t: -397 [-1813, +1020]",
    ),
    Number(
        "2.33×\n  [1.20, inf] fewer steps",
        "results/learn_hc_lr_v4/compare.md",
        "to ppo's 300k return (4164): speed-up ppo / mbmf-ppo 2.33× [1.20, inf]",
    ),
    Number(
        "final −402 [−1,818, +1,013]",
        "results/learn_hc_lr_v4/compare.md",
        "mbmf-ppo − ppo, 95 % paired t: -402 [-1818, +1013]",
    ),
    Number("| 0.84× [0.53, 1.38] | not shown |", f"{PAIR}.md", "| 0.84× [0.53, 1.38] |"),
    Number("at 0.41× PPO's throughput (interval [0.39,\n0.46]", f"{PAIR}.md", "| 0.41× [0.39, 0.46] |"),
    Number(
        "| 0.61 [0.61, 0.63] | missed |",
        "results/tuned_pair/gate_HalfCheetah-v5_mbmf-ppo-g2.md",
        "variance ratio: 0.61 [0.61, 0.63]",
    ),
    Number(
        "2.35× [1.26, 3.69] fewer steps to the target, wall-clock speed-up 0.84× [0.53, 1.38], "
        "final\n−606 [−1,421, +208]",
        f"{PAIR}.md",
        "| 2.35× [1.26, 3.69] | 3,548 [2,867, 4,396] | -606 [-1,421, +208] | 541 s [306, 869] | "
        "0.84× [0.53, 1.38] |",
    ),
    Number("(−1,034 [−1,963, −106])", f"{PAIR}.md", "| -1,034 [-1,963, -106] |"),
    Number("throughput is 0.41× [0.39, 0.46]", f"{PAIR}.md", "| 0.41× [0.39, 0.46] |"),
    Number(
        "left 0.61 [0.61, 0.63] of the score-term variance",
        "results/tuned_pair/gate_HalfCheetah-v5_mbmf-ppo-g2.md",
        "variance ratio: 0.61 [0.61, 0.63]",
    ),
    Number(
        "| 2.00× [1.11, 3.92] | shown |",
        f"{TRPO}/compare.md",
        "speed-up trpo / mbmf-trpo 2.00× [1.11, 3.92]: mbmf-trpo faster",
    ),
    Number("| 1.95× [1.92, 1.99] | faster |", "results/speed.md", "| ppo/sb3-ppo | 1.95× [1.92, 1.99] |"),
    Number(
        "| +0.114 [+0.097, +0.132] | missed |",
        "results/bgan-6000.md",
        "| `mixture` | +0.114 [+0.097, +0.132] *",
    ),
    Number(
        "| −0.061 [−0.096, −0.026] / −0.036 [−0.104, +0.033] | met / not shown |",
        "results/ldf_higher.md",
        R(
            r"^\| decoupled \| NUM \[NUM, NUM\] \|.*?"
            r"\(decoupled − independent NUM \[NUM, NUM\]; independent pixels 0\.943\)"
        ),
    ),
    Number(
        "| 1.50× [1.28, 1.66] | shown |",
        "results/oracle/oracle.md",
        "| 4 | 5 | 5/5 | 68,301 [60,416, 80,179] | 1.50× [1.28, 1.66] |",
    ),
    Number(
        "| median 1.25 [0.30, 3.51] | not shown |",
        "results/ipg.md",
        "median time ratio ours / paper 1.25 [0.30, 3.51] (instance bootstrap, 95 %)",
    ),
    Number(
        "| −1 in both sweeps | met |",
        "results/sharpness.md",
        "| matched | η sweep -1 (per seed -0.90, -1.00, -1.00); S sweep -1 ",
    ),
    # -- speed ---------------------------------------------------------------------------------------------
    Number("rlcv PPO 4986 env-steps/s", SPEED, ("median_fps", "ppo"), ".0f"),
    Number("**1.95×** SB3 PPO", SPEED, ("ratios", "ppo/sb3-ppo"), ".2f"),
    Number("(1.93× SB3's bare `learn()`)", SPEED, ("ratios", "ppo/sb3-ppo-raw"), ".2f"),
    Number("rlcv TRPO **2.15×** sb3-contrib TRPO", SPEED, ("ratios", "trpo/sb3-trpo"), ".2f"),
    Number("**0.28×** rlcv PPO, model training included", SPEED, ("ratios", "mbmf-ppo/ppo"), ".2f"),
    # -- learning sanity, gradient check -------------------------------------------------------------------
    Number(
        "eval return 1000 (≥ 900 target) by 20k steps, 3/3 seeds",
        "results/sanity/learn.md",
        R(r"^\| ppo \| (3) \| (1000)\.0 \[1000\.0, 1000\.0\] \| (20)480 \|"),  # 20480 steps: "20k"
    ),
    Number("Bonferroni threshold of 3.34", "results/gradcheck/table.md", "| 3.34 |"),
    Number(
        "max \\|z\\| ≤ 2.3 against",
        "results/gradcheck/table.md",
        R(r"^\| \d+ \| (?:exact|learned) \| correct \| 1\.0 / 1\.0 \|(?:[^|\n]*\|){6} NUM \|"),
        ".1f",
        agg="max",
    ),
    Number(
        "rejected at \\|z\\| = 66",
        "results/gradcheck/table.md",
        R(r"^\| 3 \| exact \| broken \| 1\.0 / 1\.0 \|(?:[^|\n]*\|){6} NUM \|"),
        ".0f",
    ),
    Number(
        "rel. tr Cov from 5.0 (k = 0)",
        "results/gradcheck/table.md",
        R(r"^\| 0 \| exact \| correct \| 1\.0 / 1\.0 \|(?:[^|\n]*\|){9} NUM \|"),
        ".1f",
    ),
    Number(
        "to 1.33 (k = 10)",
        "results/gradcheck/table.md",
        R(r"^\| 10 \| exact \| correct \| 1\.0 / 1\.0 \|(?:[^|\n]*\|){9} NUM \|"),
    ),
    # -- the oracle ----------------------------------------------------------------------------------------
    Number(
        "1.31× [1.14, 1.48] fewer at r = 2",
        "results/oracle/oracle.md",
        "| 2 | 5 | 5/5 | 78,131 [68,096, 88,166] | 1.31× [1.14, 1.48] |",
    ),
    Number(
        "1.50× [1.28, 1.66] at r = 4",
        "results/oracle/oracle.md",
        "| 4 | 5 | 5/5 | 68,301 [60,416, 80,179] | 1.50× [1.28, 1.66] |",
    ),
    Number("final return +959", "results/oracle/oracle.md", "| 959 [505, 1,413] |"),
    Number("/ +1,178 /", "results/oracle/oracle.md", "| 1,178 [1,093, 1,262] |"),
    Number("1.70× [1.55, 1.81]", "results/oracle/oracle.md", "| 1.70× [1.55, 1.81] |"),
    Number("/ +1,503 (paired", "results/oracle/oracle.md", "| 1,503 [1,118, 1,888] |"),
    Number("2.02× [1.84, 2.17]", "results/oracle/oracle.md", "| 2.02× [1.84, 2.17] |"),
    Number("+2,092\n  [+1,742, +2,433]", "results/oracle/oracle.md", "| 2,092 [1,742, 2,433] |"),
    Number(
        "late medians 0.52 → 0.42 and 0.41 → 0.43",
        "results/mbmf_v4/ledger_halfcheetah_buffer.md",
        R(
            r"seed 100 \| 76k–102k \| [\d.]+ / NUM .*?replay 20k, seed 100 \| 76k–102k \| [\d.]+ / NUM .*?"
            r"seed 101 \| 76k–102k \| [\d.]+ / NUM .*?replay 20k, seed 101 \| 76k–102k \| [\d.]+ / NUM "
        ),
        fmt=".2f",
    ),
    # -- MBMF-PPO v3 ---------------------------------------------------------------------------------------
    Number("final 4869 vs 4240", f"{V3}/reading.md", "4240 [4085, 4370] | 4869 [4482, 5191]"),
    Number("paired +629 [+183, +1076]", f"{V3}/reading.md", "**+629 [+183, +1076]**"),
    Number(
        "**4667 vs 4271, paired +396 [−104, +896]",
        f"{V3}/compare.md",
        "| mean | 4271 | 4667 | +396 |\n\n- final return, mbmf-ppo - ppo, 95 % paired t: +396 [-104, +896]",
    ),
    Number(
        "1.46× [1.00, 2.48] by seed medians (65k vs 95k",
        f"{V3}/compare.md",
        R(
            r"^\| 100k \| 2800 \(90k\) \|[^\n]*\| (95)k / (65)k \|"
            r".*?speed-up ppo / mbmf-ppo NUM× \[NUM, NUM\]"
        ),
    ),
    Number(
        "to PPO's 200k return 1.75× [1.17, 2.43]",
        f"{V3}/compare.md",
        "to ppo's 200k return (3492): speed-up ppo / mbmf-ppo 1.75× [1.17, 2.43]",
    ),
    Number(
        "in-training score-term variance ratio 0.56–0.60", f"{V3}/reading.md", "| – | 0.56–0.60 / 0.50–0.57 |"
    ),
    Number(
        "with the gate open 91–94 % of updates",
        f"{V3}/reading.md",
        R(r"^\| trust gate, mean over updates \| – \| NUM–NUM \|"),
        ".0f",
        scale=100,
    ),
    Number("(v2: 0.80–0.87)", f"{V3}/reading.md", "ratio 0.80–0.87"),
    Number("clip_fraction within 1.12×", f"{V3}/reading.md", "clip_fraction within 1.12×"),
    Number("(gate 0.79–0.94", f"{V3}/reading.md", "| trust gate, mean over updates | – | 0.79–0.94 |"),
    Number("score-term ratio 0.50–0.74)", f"{V3}/reading.md", "(`gate.md`) | – | 0.59–0.92 / 0.50–0.74 |"),
    Number(
        "plateau: +70 [−44, +184]",
        f"{V3}/compare.md",
        "95 % paired t: +70 [-44, +184]",
    ),
    Number(
        "the CV leaves 0.17–0.21 of the score-term variance",
        f"{L095}/reading.md",
        "score-term variance left is 0.17–0.21",
    ),
    Number(
        "the returns still do not move (+34 [−103, +171])",
        f"{L095}/compare.md",
        "95 % paired t: +34 [-103, +171]",
    ),
    Number(
        "SB3 PPO, same preset, 3 seeds: 4389 (HalfCheetah)",
        f"{V3}/learn.json",
        final_mean(HC, "sb3-ppo"),
        ".0f",
    ),
    Number("757 (Hopper)", f"{V3}/learn.json", final_mean(HOP, "sb3-ppo"), ".0f"),
    Number("**0.29×** rlcv PPO's throughput", f"{V3}/reading.md", "Ratio of medians 0.29×"),
    Number("model training 59 % of the extra time", f"{V3}/reading.md", "| – | 9.9 | 59 % |"),
    Number("the CV's imagined features 30 %", f"{V3}/reading.md", "| – | 5.0 | 30 % (of which"),
    # -- MBMF-TRPO v3 --------------------------------------------------------------------------------------
    Number("the v3 gate opens under TRPO (80–93 % of updates", f"{TRPO}/reading.md", "open 80–93 % of"),
    Number(
        "medians 60k vs 81k (HalfCheetah, 1.34× [0.54, 2.93])",
        f"{TRPO}/compare.md",
        R(
            r"## HalfCheetah-v5.*?^\| 100k \|[^\n]*\| (81)k / (60)k \|"
            r".*?speed-up trpo / mbmf-trpo NUM× \[NUM, NUM\]"
        ),
    ),
    Number(
        "60k vs 121k (Hopper",
        f"{TRPO}/compare.md",
        R(r"## Hopper-v5.*?^\| 100k \|[^\n]*\| (121)k / (60)k \|"),
    ),
    Number(
        "(Hopper, 2.0×",
        f"{TRPO}/compare.md",
        R(r"## Hopper-v5.*?to trpo's 100k return [^\n]*speed-up trpo / mbmf-trpo NUM×"),
        ".1f",
    ),
    Number(
        "[1.11, 3.92], earlier on every seed",
        f"{TRPO}/compare.md",
        R(r"## Hopper-v5.*?to trpo's 100k return [^\n]*speed-up trpo / mbmf-trpo [\d.]+× \[NUM, NUM\]"),
    ),
    Number("(HalfCheetah +146 [−1532, +1824]", f"{TRPO}/compare.md", "95 % paired t: +146 [-1532, +1824]"),
    Number("Hopper −464 [−1709, +781]", f"{TRPO}/compare.md", "95 % paired t: -464 [-1709, +781]"),
    Number("KL within 1.2×", f"{TRPO}/reading.md", "within 1.2× on every seed"),
    Number("SB3 TRPO (3 seeds): 1057", f"{TRPO}/learn.json", final_mean(HC, "sb3-trpo"), ".0f"),
    Number("1057 / 2265", f"{TRPO}/learn.json", final_mean(HOP, "sb3-trpo"), ".0f"),
    Number("below rlcv TRPO's 1890", f"{TRPO}/learn.json", final_mean(HC, "trpo"), ".0f"),
    Number("1890 / 3400", f"{TRPO}/learn.json", final_mean(HOP, "trpo"), ".0f"),
    # -- MBMF-PPO v2, v1 -----------------------------------------------------------------------------------
    Number(
        "HalfCheetah-v5 final 4486 vs 4240, paired +247 [−645, +1138]",
        f"{V2}/compare.md",
        "| mean | 4240 | 4486 | +247 |\n\n- final return, mbmf-ppo - ppo, 95 % paired t: +247 [-645, +1138]",
    ),
    Number(
        "Hopper-v5 1018 vs 702, +316 [−192, +823]",
        f"{V2}/compare.md",
        "| mean | 702 | 1018 | +316 |\n\n- final return, mbmf-ppo - ppo, 95 % paired t: +316 [-192, +823]",
    ),
    Number(
        "1.12× [0.89, 1.66] (median 80k vs 90k",
        f"{V2}/compare.md",
        R(
            r"^\| 100k \| 2629 \(90k\) \|[^\n]*\| (90)k / (80)k \|"
            r".*?speed-up ppo / mbmf-ppo NUM× \[NUM, NUM\]"
        ),
    ),
    Number("approx_kl / clip_fraction within 1.5× of PPO's", f"{V2}/reading.md", "within 1.5× of PPO's"),
    Number("SB3 PPO rows (3 seeds): 4389", f"{V2}/learn.json", final_mean(HC, "sb3-ppo"), ".0f"),
    Number("4389 / 757", f"{V2}/learn.json", final_mean(HOP, "sb3-ppo"), ".0f"),
    Number("(1637 vs 2775", f"{V2}/v1_100k/learn.json", final_mean(HC, "mbmf-ppo"), ".0f"),
    Number("1637 vs 2775;", f"{V2}/v1_100k/learn.json", final_mean(HC, "sb3-ppo"), ".0f"),
    Number("rlcv PPO 3155)", f"{V2}/v1_100k/learn.json", final_mean(HC, "ppo"), ".0f"),
    # -- integer programming games -------------------------------------------------------------------------
    Number(
        "10/10 solved, mean 0.65 s (paper 1.61 s",
        "results/ipg.md",
        "10/10 solved, mean 0.65 s, mean 14.70 iterations, 0 pure. Paper: 10/10 solved, mean 1.61 s",
    ),
    Number(
        "faster on 5, slower on 5 (median time ratio 1.25",
        "results/ipg.md",
        R(
            r"## knapsack: m = 2, n = 40, m-sgm"
            r".*?ours faster on (5), slower on (5) of 10; median time ratio ours / paper NUM"
        ),
    ),
    Number(
        "slower on 10/10 (median ratio 4.4)",
        "results/ipg.md",
        R(r"## knapsack: m = 2, n = 20, m-sgm.*?median time ratio ours / paper NUM"),
        ".1f",
    ),
    Number(
        "10/10, mean 2.31 s (paper 9/10, 5.69 s",
        "results/ipg.md",
        "10/10 solved, mean 2.31 s, mean 19.30 iterations, 0 pure. Paper: 9/10 solved, mean 5.69 s",
    ),
    Number("10/10, 0.07 s", "results/ipg.md", "Ours (limit 600 s): 10/10 solved, mean 0.07 s"),
    Number("agree with ours on 0/10 payoffs", "results/ipg.md", "agree with ours on 0 of 10 instances"),
    Number(
        "10/10, mean 0.20 s (paper 0.21 s)",
        "results/ipg.md",
        "10/10 solved, mean 0.20 s, mean 10.10 iterations, 3 pure. Paper: 10/10 solved, mean 0.21 s",
    ),
    Number("median 23× faster", "results/ipg.md", "median ratio 23× over 10 instances"),
    Number(
        "median new/old 1.01 [1.00, 1.01]",
        "results/ipg_versions.md",
        "median over the cells 1.01 [1.00, 1.01] (cell bootstrap)",
    ),
    Number("4 cells flagged slower", "results/ipg_versions.md", "above 1 (slower) on 4"),
    Number("the paper's ratio is 7254×", "results/ipg.md", "median ratio 7254×"),
    Number(
        "`ipg-psro` (REINFORCE oracle) 10/10 instances (median 8 calls",
        "results/ipg_agents.md",
        "| `ipg-psro` | 10/10 | 8 | 0 |",
    ),
    Number(
        "`ipg-fp` 0/10 in 25 iterations (median 4.7 %)",
        "results/ipg_agents.md",
        R(r"^\| `ipg-fp` \| 0/10 \| — \| NUM \|"),
        ".1f",
        scale=100,
    ),
    Number("`ipg-pg` self-play 3/10", "results/ipg_agents.md", "| `ipg-pg` | 3/10 |"),
    # -- BGAN ----------------------------------------------------------------------------------------------
    Number("C2ST BGAN 0.723", "results/bgan-6000.md", "| `bgan` — BGAN (self-normalised weights) | 0.723 ["),
    Number(
        "Gumbel-ST 0.676",
        "results/bgan-6000.md",
        "| `bgan-gumbel` — Gumbel-softmax, straight-through | 0.676 [",
    ),
    Number("mixture 0.609 — BGAN", "results/bgan-6000.md", "| `mixture` — product mixture (EM) | 0.609 ["),
    Number(
        "BGAN − mixture +0.114 [+0.097, +0.132] (missed)",
        "results/bgan-6000.md",
        "(BGAN - mixture +0.114 [+0.097, +0.132] *)",
    ),
    Number(
        "unique fraction 0.79–0.88",
        "results/bgan-6000.md",
        R(r"No collapsed seed [^\n]*\(NUM, NUM, NUM, NUM, NUM\)"),
        ".2f",
        agg="range",
    ),
    Number("C2ST BGAN 0.810", "results/bgan.md", "| `bgan` — BGAN (self-normalised weights) | 0.810 ["),
    Number(
        "Gumbel-ST 0.730, REINFORCE",
        "results/bgan.md",
        "| `bgan-gumbel` — Gumbel-softmax, straight-through | 0.730 [",
    ),
    Number(
        "REINFORCE 0.977 (collapsed)",
        "results/bgan.md",
        "| `bgan-reinforce` — REINFORCE + moving-average baseline | 0.977 [",
    ),
    Number(
        "Bernoulli mixture 0.609 (targets", "results/bgan.md", "| `mixture` — product mixture (EM) | 0.609 ["
    ),
    Number(
        "10/10 confident classes — missed, 6–8",
        "results/bgan.md",
        R(r"^- Confident coverage 10/10 [^\n]*classes per seed (\d+), (\d+), (\d+), (\d+), (\d+);"),
        agg="range",
    ),
    Number(
        "BGAN C2ST 0.969 [0.944, 0.994]",
        "results/bgan-digits4-6000.md",
        "| `bgan` — BGAN (self-normalised weights) | 0.969 [0.944, 0.994] |",
    ),
    Number(
        "vs categorical mixture 0.646 (missed)",
        "results/bgan-digits4-6000.md",
        "| `mixture` — product mixture (EM) | 0.646 [",
    ),
    Number(
        "1–5 confident classes",
        "results/bgan-digits4-6000.md",
        R(r"^- Confident coverage 10/10 [^\n]*classes per seed (\d+), (\d+), (\d+), (\d+), (\d+);"),
        agg="range",
    ),
    Number(
        "seed 0 collapsed (unique 0.690)",
        "results/bgan-digits4-6000.md",
        R(r"^\| `bgan` \| 0 \|(?:[^|\n]*\|){5} NUM \|"),
    ),
    Number(
        "Gumbel-ST collapses on every seed (1.000)",
        "results/bgan-digits4-6000.md",
        "| `bgan-gumbel` — Gumbel-softmax, straight-through | 1.000 [1.000, 1.000] |",
    ),
    Number(
        "no better than independent pixels** (0.958;",
        "results/bgan-digits4-6000.md",
        "| `independent` — independent pixels | 0.958 [",
    ),
    Number(
        "BGAN − independent +0.011 [−0.021, +0.042]",
        "results/bgan-digits4-6000.md",
        "| `independent` | +0.011 [-0.021, +0.042] |",
    ),
    Number(
        "BGAN − Gumbel-ST −0.031 [−0.056, −0.006]",
        "results/bgan-digits4-6000.md",
        "| `bgan-gumbel` | -0.031 [-0.056, -0.006] *",
    ),
    Number(
        "1-NN plateau 0.876 [0.864, 0.889]",
        "results/bgan-digitscont-6000.md",
        "| `bgan` — BGAN (self-normalised weights) | 0.998 [0.996, 1.001] | 0.876 [0.864, 0.889] |",
    ),
    Number(
        "ahead of independent Gaussians on 1-NN (−0.079 [−0.093, −0.065])",
        "results/bgan-digitscont-6000.md",
        "| `independent` | +0.001 [-0.002, +0.004] | -0.079 [-0.093, -0.065] *",
    ),
    Number(
        "(0.066 vs 0.023",
        "results/bgan-digitscont-6000.md",
        R(
            r"^\| `bgan` — [^|\n]*\|(?:[^|\n]*\|){2} (\d+\.\d+) \[.*?"
            r"^\| `independent` — [^|\n]*\|(?:[^|\n]*\|){2} (\d+\.\d+) \["
        ),
    ),
    Number(
        ": +0.043 [+0.020, +0.066])",
        "results/bgan-digitscont-6000.md",
        "| `independent` | +0.001 [-0.002, +0.004] | -0.079 [-0.093, -0.065] * | +0.043 [+0.020, +0.066] *",
    ),
    Number(
        "behind the mixture on both (1-NN 0.730)",
        "results/bgan-digitscont-6000.md",
        "| `mixture` — product mixture (EM) | 0.998 [0.997, 0.998] | 0.730 [",
    ),
    Number(
        "unique fraction 1.000 (says little",
        "results/bgan-digitscont-6000.md",
        R(r"^- No collapsed seed [^\n]*\(NUM, NUM, NUM, NUM, NUM\)"),
        agg="range",
    ),
    Number(
        "seed 0, label TV 0.218 against the threshold 0.193",
        "results/bgan_collapse_digits4_long.md",
        R(r"label TV > NUM \(class histogram.*?^\| `init10_ent_noise` \| 0 \|[^|\n]*\|[^|\n]*\| NUM \|"),
    ),
    Number(
        "metric: C2ST −0.073 [−0.091, −0.056]",
        "results/bgan_collapse_digits4_long.md",
        "(init10_ent_noise − independent -0.073 [-0.091, -0.056])",
    ),
    Number(
        "1-NN −0.087 [−0.104, −0.069]",
        "results/bgan_collapse_digits4_long.md",
        "(init10_ent_noise − independent -0.087 [-0.104, -0.069])",
    ),
    Number(
        "MMD² −0.003 [−0.005, −0.001].\n  Confident",
        "results/bgan_collapse_digits4_long.md",
        "(init10_ent_noise − independent -0.003 [-0.005, -0.001])",
    ),
    Number(
        "Confident classes rise by +2.0 [+0.2, +3.8]",
        "results/bgan_collapse_digits4_long_notes.md",
        "confident classes +2.0 [+0.2, +3.8]",
    ),
    Number(
        "C2ST was worse by +0.070 [+0.017, +0.123]",
        "results/bgan_collapse_digits4_balance.md",
        "| `init10_ent02_noise` | +0.070 [+0.017, +0.123] *",
    ),
    Number(
        "BGAN on C2ST (−0.023 [−0.041, −0.006])",
        "results/bgan_collapse_binary_init.md",
        "| `gumbel_init10_ent_noise` | -0.023 [-0.041, -0.006] *",
    ),
    Number(
        "REINFORCE ties (+0.002 [−0.035, +0.040])",
        "results/bgan_collapse_binary_init.md",
        "| `reinforce_init10_ent_noise` | +0.002 [-0.035, +0.040] |",
    ),
    Number(
        "Gumbel-ST − BGAN is −0.017 [−0.036, +0.001]",
        "results/bgan_collapse_binary_ahead.md",
        "| `gumbel_init10_ent_noise_m50` | -0.017 [-0.036, +0.001] |",
    ),
    Number(
        "REINFORCE − BGAN is −0.019 [−0.041, +0.002]",
        "results/bgan_collapse_binary_ahead.md",
        "| `reinforce_init10_ent_noise_m50` | -0.019 [-0.041, +0.002] |",
    ),
    Number(
        "ahead of BGAN (−0.082 [−0.098, −0.066])",
        "results/bgan_collapse_binary_ahead.md",
        "| `mixture` | -0.082 [-0.098, -0.066] *",
    ),
    Number(
        "(ESS 36.7 of",
        "results/bgan_collapse_binary_ahead.md",
        R(r"^\| `init10_ent_noise_m50` \|(?:[^|\n]*\|){7} NUM \["),
        ".1f",
    ),
    Number(
        "Gaussians on 1-NN (−0.242 [−0.276, −0.209])",
        "results/bgan_collapse_digitscont_disc.md",
        "(w_init10_noise − independent -0.242 [-0.276, -0.209])",
    ),
    Number(
        "MMD² (−0.015 [−0.016, −0.014])",
        "results/bgan_collapse_digitscont_disc.md",
        "(w_init10_noise − independent -0.015 [-0.016, -0.014])",
    ),
    Number(
        "C2ST is missed (+0.003 [+0.002, +0.003])",
        "results/bgan_collapse_digitscont_disc.md",
        "(w_init10_noise − independent +0.003 [+0.002, +0.003])",
    ),
    Number(
        "label TV 0.14–0.19",
        "results/bgan_collapse_digitscont_disc.md",
        R(r"^\| `w_init10_noise` \| \d+ \|[^|\n]*\|[^|\n]*\| NUM \|"),
        ".2f",
        agg="range",
    ),
    Number(
        "ESS rises from 3.2 to 16.5 of 20",
        "results/bgan_collapse_digitscont_disc.md",
        R(
            r"^\| `w_init10` \|(?:[^|\n]*\|){7} NUM \[[^|\n]*\|[^|\n]*\|\n"
            r"^\| `w_init10_noise` \|(?:[^|\n]*\|){7} NUM \["
        ),
        ".1f",
    ),
    Number(
        "mixture on MMD² (0.008 against 0.002)",
        "results/bgan_collapse_digitscont_disc.md",
        R(
            r"^\| `w_init10_noise` \|(?:[^|\n]*\|){2} NUM \[.*?"
            r"^\| `mixture` \|(?:[^|\n]*\|){2} NUM \["
        ),
    ),
    Number(
        "Grid C2ST 0.911 [0.897, 0.925], against\n  independent Gaussians 0.992 and the 60-component "
        "mixture 0.950",
        "results/bgan_collapse_digitscont_grid.md",
        R(
            r"^\| `w_init10_noise` \|[^|\n]*\| NUM \[NUM, NUM\] \|.*?"
            r"^\| `independent` \|[^|\n]*\| NUM \[.*?"
            r"^\| `mixture` \|[^|\n]*\| NUM \["
        ),
    ),
    Number(
        "paired, −0.081 [−0.095, −0.066] and\n  −0.039 [−0.054, −0.025]",
        "results/bgan_collapse_digitscont_grid.md",
        R(
            r"on grid C2ST [^\n]*\(w_init10_noise − independent NUM \[NUM, NUM\]\).*?"
            r"w_init10_noise − mixture (−0\.\d+) \[(−0\.\d+), (−0\.\d+)\]"
        ),
    ),
    Number(
        "0.911 [0.897, 0.925] against independent Gaussians' 0.992 and the mixture's 0.950",
        "results/bgan_collapse_digitscont_grid.md",
        R(
            r"^\| `w_init10_noise` \|[^|\n]*\| NUM \[NUM, NUM\] \|.*?"
            r"^\| `independent` \|[^|\n]*\| NUM \[.*?"
            r"^\| `mixture` \|[^|\n]*\| NUM \["
        ),
    ),
    Number(
        "ahead of independent Gaussians (−0.081 [−0.095, −0.066])",
        "results/bgan_collapse_digitscont_grid.md",
        "(w_init10_noise − independent -0.081 [-0.095, -0.066])",
    ),
    Number(
        "of the mixture\n  (−0.039 [−0.054, −0.025])",
        "results/bgan_collapse_digitscont_grid.md",
        "w_init10_noise − mixture −0.039 [−0.054, −0.025]",  # the page's reading (its table: mixture − it)
    ),
    Number(
        "its ceiling is\n  0.743 ± 0.071",
        "results/ldf_init30.md",
        "| decoupled | 0.743 ± 0.071 |",
    ),
    Number(
        "on C2ST\n  (+0.014 [−0.047, +0.075];",
        "results/ldf_init30.md",
        "| decoupled | +0.014 [-0.047, +0.075] |",
    ),
    Number(
        "(−2.400 [−4.283, −0.517])",
        "results/ldf_init30.md",
        "(Δ decoupled − flat -2.400 [-4.283, -0.517])",
    ),
    Number(
        "independent pixels is missed: −0.011 [−0.057, +0.034]",
        "results/ldf_init30.md",
        "(decoupled − independent -0.011 [-0.057, +0.034]; independent pixels 0.943)",
    ),
    # -- LDF's higher stage (issue 29): docs/methods/ldf.md and CHANGELOG.md
    Number(
        "Decoupled vs independent pixels: C2ST −0.061 [−0.096, −0.026]",
        "results/ldf_higher.md",
        "(decoupled − independent -0.061 [-0.096, -0.026]",
    ),
    Number("(was −0.011)", "results/ldf_init30.md", "(decoupled − independent -0.011 ["),
    Number(
        "Decoupled vs flat BGAN: C2ST −0.036 [−0.104, +0.033] (not behind), confident classes −2.400 "
        "[−4.283, −0.517] (behind). The lower stages",
        "results/ldf_higher.md",
        R(
            r"^\| decoupled \| NUM \[NUM, NUM\] \|.*?"
            r"equal updates: [^\n]*confident class coverage[^\n]*\(Δ decoupled − flat NUM \[NUM, NUM\]\)"
        ),
    ),
    Number("at most 34 % of flat G + D's parameters", "results/ldf_higher.md", "(59,289 = 34 %"),
    Number(
        "(C2ST 0.949 against 0.927)",
        "results/ldf_higher_pilot.md",
        R(
            r"samples \(1000, scored.*?^\| `init30_hi3` \| NUM \[[^\n]*\n"
            r"^\| `init30_hi3_ent_noise` \| NUM \["
        ),
    ),
    Number(
        "C2ST: −0.061 [−0.096, −0.026] (met; was\n  −0.011)",
        "results/ldf_higher.md",
        R(r"\(decoupled − independent NUM \[NUM, NUM\]; independent pixels 0\.943\)"),
    ),
    Number(
        "Decoupled − flat BGAN: C2ST −0.036 [−0.104, +0.033] (not behind), confident classes\n  −2.400",
        "results/ldf_higher.md",
        R(r"^\| decoupled \| NUM \[NUM, NUM\] \|[^|\n]*\|[^|\n]*\| NUM \["),
    ),
    # -- docs/methods/bgan.md, reading -----------------------------------------------------------------------
    Number(
        "0.723 / 0.702 against 0.609 / 0.593",
        "results/bgan-6000.md",
        R(
            r"^\| `bgan` — [^|\n]*\| NUM \[[^|\n]*\| NUM \[.*?"
            r"^\| `mixture` — [^|\n]*\| NUM \[[^|\n]*\| NUM \["
        ),
    ),
    Number(
        "BGAN − Gumbel-ST +0.047 [−0.021, +0.115]",
        "results/bgan-6000.md",
        "| `bgan-gumbel` | +0.047 [-0.021, +0.115] |",
    ),
    Number(
        "BGAN reaches 0.969 against the",
        "results/bgan-digits4-6000.md",
        R(r"^\| `bgan` — [^|\n]*\| NUM \["),
    ),
    # -- locally disentangled factors ----------------------------------------------------------------------
    Number("either stage ≤ 34 % of flat G + D's parameters", "results/ldf.md", "(59,289 = 34 %;"),
    Number(
        "independent pixels score C2ST 0.932 [0.923, 0.941] on the same digits",
        "results/bgan.md",
        "| `independent` — independent pixels | 0.932 [0.923, 0.941] |",
    ),
    Number(
        "so decoupled LDF (0.994)",
        "results/ldf.md",
        "| decoupled two-level (`bgan-hier`, mode=decoupled) | 0.994 ± ",
    ),
    Number(
        "decoupled vs flat C2ST +0.076 [+0.038, +0.113], 1-NN +0.112",
        "results/ldf.md",
        "| decoupled | +0.076 [+0.038, +0.113] | +0.112 [+0.066, +0.157] |",
    ),
    Number(
        "confident classes −3.0 (0.6 vs 3.6)",
        "results/ldf.md",
        R(
            r"^\| flat BGAN \(`bgan`, BGAN-Digits-v0\) \|(?: [-\d.]+ ± [\d.]+ \|){3} NUM ±.*?"
            r"^\| decoupled two-level \(`bgan-hier`, mode=decoupled\) \|(?: [-\d.]+ ± [\d.]+ \|){3} NUM ±.*?"
            r"^\| decoupled \|(?:[^|\n]*\|){3} NUM \["
        ),
        ".1f",
    ),
    Number(
        "confident share 0.021 vs real 0.769, seams 25 % off",
        "results/ldf.md",
        "missed** (0.341 vs 0.272, 25 % off); confident share within 10 points of real **missed** "
        "(0.021 vs 0.769)",
    ),
    Number("would reach only C2ST 0.973 through it", "results/ldf.md", "| decoupled | 0.973 ± 0.031 |"),
    Number(
        "flat improves to 0.799", "results/ldf_long.md", "| flat BGAN (`bgan`, BGAN-Digits-v0) | 0.799 ± "
    ),
    Number(
        "two-level stays at 1.000",
        "results/ldf_long.md",
        "| decoupled two-level (`bgan-hier`, mode=decoupled) | 1.000 ± 0.000 |",
    ),
    # -- online HPO ----------------------------------------------------------------------------------------
    Number(
        "fixed lr 1.0 97.91 % vs TPE-20 97.83 % (+0.08 [−0.25, +0.40] points, 16 paired seeds)",
        "results/hpo_budget/digits/report.md",
        R(
            r"^\| fixed-lr1 \|(?:[^|\n]*\|){4} NUM \| NUM \[NUM, NUM\] \|.*?"
            r"^\| tpe-20 \|(?:[^|\n]*\|){4} NUM \|.*?over (16) paired seeds"
        ),
    ),
    Number(
        "`hpo-forward` 97.58 %, short of TPE-20 (−0.25 [−0.50, −0.00])",
        "results/hpo_budget/digits/report.md",
        "| hpo-forward | 1.00 | 1.00 | 3.25 | 4.03 | 97.58 | -0.25 [-0.50, -0.00] |",
    ),
    Number(
        "DualCutout 4.87 % test error vs Cutout 2.70 % vs none 2.09 %",
        "results/dualcutout/digits_mlp/report.md",
        R(r"^\| none \| NUM \|[^\n]*\n\| cutout \| NUM \|[^\n]*\n\| dualcutout \| NUM \|"),
    ),
    Number(
        "a DualCutout step costs 1.76× a Cutout step (≤ 2.2×: met)",
        "results/dualcutout/digits_mlp/report.md",
        "**1.76×** (bound 2.2×: met",
    ),
    Number(
        "+1.0 [−0.2, +2.2] points (MLP, `ppo-x`",
        "results/hpo_budget/mnist1d_mlp/summary.json",
        tuple(("verdicts", "reaches_tpe20", "ci", key) for key in ("point", "low", "high")),
        ".1f",
        scale=100,
    ),
    Number(
        "−1.6 [−3.7, +0.5] (CNN, `hpo-sweep-fit-c1`",
        "results/hpo_budget/mnist1d_cnn/summary.json",
        tuple(("verdicts", "reaches_tpe20", "ci", key) for key in ("point", "low", "high")),
        ".1f",
        scale=100,
    ),
    Number("(MLP, `ppo-x`", "results/hpo_budget/mnist1d_mlp/summary.json", ("verdicts", "best_online")),
    Number(
        "(CNN, `hpo-sweep-fit-c1`", "results/hpo_budget/mnist1d_cnn/summary.json", ("verdicts", "best_online")
    ),
    Number(
        "(on the CNN the best is behind it: −1.61 [−2.92, −0.30] points)",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "`hpo-sweep-fit-c1` − `cosine-lr0.45` = -1.61 [-2.92, -0.30] → **missed**",
    ),
    Number(
        "on its held-out CNN (−4.31 [−9.05, +0.42], missed)",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "`ppo-res` − `hpo-sweep-fit-c1` = -4.31 [-9.05, +0.42] → **missed**",
    ),
    Number(
        "`ppo-x`'s gap (−23.40 [−27.25, −19.55])",
        "results/hpo.md",
        "`ppo-x` − `hpo-sweep-fit` −23.40 [−27.25, −19.55]",
    ),
    Number(
        "it is −4.31",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "`ppo-res` − `hpo-sweep-fit-c1` = -4.31 [-9.05, +0.42] → **missed**",
    ),
    Number(
        "[−9.05, +0.42] points against the best hand-designed controller",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "`ppo-res` − `hpo-sweep-fit-c1` = -4.31 [-9.05, +0.42] → **missed**",
    ),
    Number(
        "run (−1.61 [−2.92, −0.30])",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "`hpo-sweep-fit-c1` − `cosine-lr0.45` = -1.61 [-2.92, -0.30] → **missed**",
    ),
    Number("gain only +0.20 [−0.16, +0.56]", "results/hpo.md", "only +0.20 [−0.16, +0.56] points ahead"),
    Number("vary by 8–10 points per seed", "results/hpo.md", "controllers is 8–10 points"),
    Number("needs ~250 seeds", "results/hpo.md", "or ~250 seeds at 8 points"),
    # round 3's hpo-sweep-fit, superseded as the CNN's pick by round 4's hpo-sweep-fit-c1: its row of the
    # report's every-method table (columns cosine-lr0.45, cosine-lr0.3, tpe-20, sh-2-b32, …)
    Number(
        "−3.29 [−6.84, +0.27] points against the tuned cosine run",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "| hpo-sweep-fit | -3.29 [-6.84, +0.27] |",
    ),
    Number(
        "−3.2 [−7.3, +0.8] against TPE-20",
        "results/hpo_budget/mnist1d_cnn/report.md",
        R(r"^\| hpo-sweep-fit \| [^|\n]+ \| [^|\n]+ \| NUM \[NUM, NUM\] \|"),
        ".1f",
    ),
    Number(
        "successive halving (+11.93 [+1.79, +22.07]",
        "results/hpo_budget/mnist1d_cnn/report.md",
        "| hpo-sweep-fit | -3.29 [-6.84, +0.27] | -0.82 [-4.89, +3.25] | -3.25 [-7.30, +0.81] | "
        "+11.93 [+1.79, +22.07] |",
    ),
    Number(
        "ties the tuned cosine run (−0.02 [−0.76, +0.73]",
        "results/hpo_budget/mnist1d_mlp/report.md",
        "| hpo-sweep-fit | -0.02 [-0.76, +0.73] |",
    ),
    # -- landscape -----------------------------------------------------------------------------------------
    Number("GD 0–1 % of steps", "results/walk.md", "| GD lr 3: floor inside ≤ 5% of steps | 0%, 1%, 1% |"),
    Number(
        "SGD b32 33–38 % at lr 1",
        "results/walk.md",
        "| SGD batch 32 lr 1: floor inside ≥ 25% | 36%, 33%, 38% |",
    ),
    Number(
        "71–76 % at lr 10", "results/walk.md", "| SGD batch 32 lr 10: floor inside ≥ 50% | 76%, 73%, 71% |"
    ),
    Number(
        "isotropic noise of the same norm 0 %",
        "results/walk.md",
        R(r"^\| isotropic b32 \| 1 \| NUM% \|"),
        ".0f",
    ),
    Number("Spearman(η, height) = 1", "results/walk.md", "| 1, 1, 1 (seed means: 1) |"),
    Number("Spearman(S, distance) = −1", "results/walk.md", "lr 0.3 | -1, -1, -1 |"),
    Number(
        "landscape observations +16 % CPU per episode",
        "results/walk.md",
        "digits mlp, landscape_every 2 | median +16% (",
    ),
    Number(
        "Spearman(η/S, λ_max) = −1 in both sweeps",
        "results/sharpness.md",
        "| matched | η sweep -1 (per seed -0.90, -1.00, -1.00); S sweep -1 ",
    ),
    Number(
        "equal η/S ⇒ equal λ_max (±25 %",
        "results/sharpness.md",
        "λ_max within ±25%, accuracy within 1.5 points | matched",
    ),
    Number(
        "10× η/S ⇒ 2.2× λ_max (met)",
        "results/sharpness.md",
        R(r"^\| (10)× lower η/S raises λ_max ≥ 2× \| matched \| NUM× \|"),
        ".2g",
    ),
    Number(
        "the largest deviation 24.8 %",
        "results/sharpness.md",
        "| matched | λ_max 1.55, 1.4, 1.05 (max deviation from median 24.8%)",
    ),
    Number("test accuracy falls with η/S (−0.94", "results/sharpness.md", "(pooled Spearman -0.94)"),
    Number(
        "(equal η/S ⇒ λ_max within 27.9 %, accuracy spread 3.3 points",
        "results/sharpness.md",
        "| fixed | λ_max 1.79, 1.63, 1.17 (max deviation from median 27.9%); accuracy 55.0, 54.0, 51.8 "
        "(spread 3.3)",
    ),
    Number(
        "10× η/S ⇒ 1.45× λ_max", "results/sharpness.md", "| 10× lower η/S raises λ_max ≥ 2× | fixed | 1.45× |"
    ),
    Number(
        "Throughput: 0.38× [0.37, 0.40] of PPO's",
        "results/mbmf_v4/speed_tau_v2.md",
        "MBMF-PPO / PPO (ratio of medians): 0.38× [0.37, 0.40]",
    ),
    Number(
        "against the split preset's 0.33× [0.31, 0.33]",
        "results/mbmf_v4/speed_e5_v3.md",
        "MBMF-PPO / PPO (ratio of medians): 0.33× [0.31, 0.33]",
    ),
    Number(
        "reverses on a fresh one (+0.090 [+0.038, +0.143]",
        "results/mbmf_v4/model_diag_cvloss_hc100k_s1.md",
        "| 0.66 ± 0.06 | +0.090 [+0.038, +0.143] |",
    ),
    Number(
        "accuracy −0.21)",
        "results/sharpness.md",
        R(r"^\| Spearman\(η/S, test accuracy\) ≥ 0\.7 \(both sweeps pooled\) \| fixed \| NUM "),
        ".2f",
    ),
    Number(
        "only Spearman(η/S, λ_max) −0.9 holds",
        "results/sharpness.md",
        "| fixed | η sweep -0.9 (per seed -0.90, -0.90, -0.90); S sweep -0.9 ",
    ),
    Number(
        "test accuracy falls with η/S (−0.94, target +0.7 missed)",
        "results/sharpness.md",
        R(r"^\| Spearman\(η/S, test accuracy\) ≥ (0\.7) \(both sweeps pooled\) \| matched \| NUM "),
        ".2g",
    ),
]


def _json_value(path: Path, keys: tuple[str, ...]) -> Any:
    value: Any = json.loads(path.read_text())
    for key in keys:
        value = value[key]
    return value


def _found(n: Number) -> set[str]:
    """The number(s) the cited file holds, as the README should write them."""
    path = REPO / n.file
    assert path.is_file(), f"{n.file}: cited by the README, not in the repository"
    if isinstance(n.where, tuple):
        paths = n.where if isinstance(n.where[0], tuple) else (n.where,)
        raw: list[Any] = [_json_value(path, keys) for keys in paths]
    elif n.agg is not None:  # a value per matching row
        raw = [group for match in n.where.finditer(path.read_text()) for group in match.groups()]
    else:
        match = n.where.search(path.read_text())
        assert match, f"{n.file} no longer matches {n.where.pattern!r}"
        raw = list(match.groups())
    assert raw, f"{n.file}: nothing found at {n.where!r}"
    if n.fmt is None and n.scale == 1.0:  # the file's own digits
        values = [_norm(str(v)) for v in raw]
    else:
        values = [_norm(format(float(_norm(str(v))) * n.scale, n.fmt or "g")) for v in raw]
    if n.agg == "range":
        values = [min(values, key=float), max(values, key=float)]
    elif n.agg == "max":
        values = [max(values, key=float)]
    return set(values)


@pytest.mark.parametrize("n", NUMBERS, ids=[f"{n.file}: {n.readme}" for n in NUMBERS])
def test_readme_number_is_in_the_file_it_cites(n: Number) -> None:
    assert n.readme in RESULTS, f"neither the README's Results, docs/ nor CHANGELOG.md says {n.readme!r}"
    said = numbers(n.readme)
    if isinstance(n.where, str):
        text = _minus((REPO / n.file).read_text())
        assert _minus(n.where) in text, f"{n.file} no longer says {n.where!r}"
        missing = said - numbers(n.where)
        assert not missing, f"README {n.readme!r}: {sorted(missing)} not in {n.file} ({n.where!r})"
    elif (
        isinstance(n.where, tuple)
        and isinstance(n.where[0], str)
        and isinstance(name := _json_value(REPO / n.file, n.where), str)
    ):
        assert name in n.readme, f"README {n.readme!r} vs {n.file}: the file names {name!r}"
    else:
        found = _found(n)
        assert found <= said, f"README {n.readme!r} vs {n.file}: the file gives {sorted(found)}"


def test_every_cited_results_file_exists() -> None:
    """Every `results/...` path the README's Results, docs/ and CHANGELOG.md name is in the repository."""
    cited = set(re.findall(r"`(results/[^`{}*\s]+)`", RESULTS))
    assert cited, "no results/ path found in the README's Results table"
    missing = sorted(p for p in cited if not (REPO / p.rstrip("/")).exists())
    assert not missing, f"the README cites missing files: {missing}"

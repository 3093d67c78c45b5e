#!/bin/bash
# Schedule pilot for rlcv bench bgan on rlcv/BGAN-DigitsCont-v0, scored against 450 *training* images
# only (--against train): BGAN (continuous objective), seed 100 (not a benchmark seed), 600 generator
# updates, three initial widths of the Gaussian generator (log sigma on pixels in [0, 1]), first with the
# clipped Gaussian (A-C), then with the tanh-squashed Gaussian rescaled to [0, 1] (squash_output, D-F).
set -e
common=(--env rlcv/BGAN-DigitsCont-v0 --algos bgan --seeds 1 --first-seed 100 --curve-points 1 --against train
        --workers 1 --steps 38400 --env-kwargs '{"disc_batch_size": 128}' --out results/bgan-digitscont_schedule)
rlcv bench bgan "${common[@]}" --name A_logstd0 --runs runs/schedule-cont-A --set log_std_init=0.0
rlcv bench bgan "${common[@]}" --name B_logstd-2 --runs runs/schedule-cont-B --set log_std_init=-2.0
rlcv bench bgan "${common[@]}" --name C_logstd-3 --runs runs/schedule-cont-C --set log_std_init=-3.0
sq=(--set squash_output=true)
rlcv bench bgan "${common[@]}" --name D_squash_logstd0 --runs runs/schedule-cont-D "${sq[@]}" --set log_std_init=0.0
rlcv bench bgan "${common[@]}" --name E_squash_logstd-2 --runs runs/schedule-cont-E "${sq[@]}" --set log_std_init=-2.0
rlcv bench bgan "${common[@]}" --name F_squash_logstd-3 --runs runs/schedule-cont-F "${sq[@]}" --set log_std_init=-3.0
# The table of results/bgan-digitscont_schedule.md, from the six JSONs above.
python - <<'PY'
import json
from pathlib import Path

import numpy as np
import torch

from rlcv.evaluation import load_policy

out = Path("results/bgan-digitscont_schedule")
rows = []
names = ("A_logstd0", "B_logstd-2", "C_logstd-3", "D_squash_logstd0", "E_squash_logstd-2", "F_squash_logstd-3")
for name in names:
    p = json.loads((out / f"{name}.json").read_text())
    r = p["runs"][0]
    f = r["final"]
    # Where the generator's mode sits on the evaluation latents: the Gaussian mean itself (clipped by
    # the env) or, squashed, c + h tanh(mean); pixels at or past 0 or 1 are clipped or saturated.
    meta, policy, _ = load_policy(Path(r["run_dir"]))
    z = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1000, 32)).astype(np.float32))
    with torch.no_grad():
        mu = policy.mode(z)
    inside = float(((mu > 0) & (mu < 1)).float().mean())
    rows.append(
        f"| {name} | {' '.join(p['overrides'])} | {f['updates']} | {f['wall_seconds']:.0f} | "
        f"{f['c2st_accuracy']:.3f} | {f['nn1_accuracy']:.3f} | {f['mmd2']:.4f} | {f['confident_coverage']:.0f} | "
        f"{f['confident_share']:.3f} | {f['unique_fraction']:.3f} | {f['across_latent_distance']:.2f} | {r['train']['entropy']:.1f} | "
        f"{float(mu.min()):.3g} .. {float(mu.max()):.3g} | {inside:.3f} |"
    )
head = [
    "# Choosing the BGAN-DigitsCont schedule on the training split",
    "",
    "BGAN (continuous objective), seed 100 (not a benchmark seed), every metric of `score_digits` computed",
    "against 450 *training* images (`--against train`); the held-out images are not used. 64 latents x",
    "M = 20 images per update, lr 1e-3, disc_batch_size 128 (the binary schedule); only the Gaussian",
    "generator's parameterisation (A-C: Gaussian clipped to [0, 1] by the env; D-F: `squash_output=true`,",
    "a tanh-squashed Gaussian rescaled to [0, 1]) and its initial log sigma vary. Criterion fixed before",
    "the runs: lowest 1-NN accuracy (the random-forest C2ST cannot rank continuous models here, see",
    "`bgan-digitscont.md`), MMD² to break ties. Real training digits against the 450 compared: L1 across",
    "latents 15.5, unique fraction 1.000 (the `real` rows of the JSONs).",
    "",
    "| schedule | overrides | updates | wall (s) | C2ST | 1-NN ↓ | MMD² ↓ | confident classes | confident share | unique fraction | L1 across latents | entropy of g | generator mode (min .. max) | share of mode pixels in (0, 1) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]
tail = [
    "",
    "A-C (clipped Gaussian) collapse on the training split: every latent gives the same image (L1",
    "across latents 0, unique fraction 0.001; the sample grids in `bgan-digitscont_schedule/*/` show one",
    "glyph repeated) whose pixels are all 0 or 1: the Gaussian means have left [0, 1] (none inside,",
    "magnitudes up to 1e5), the env's clip maps every draw to the same image and its straight-through",
    "gradient cannot pull the means back, whatever the initial sigma.",
    "",
    "The squashed generator (D-F) removes that failure: its mode stays in [0, 1] and no two latents give",
    "the same image (unique fraction 1.000). **D (`squash_output=true`, log sigma 0) is chosen** by the",
    "criterion (1-NN 0.982, the only one below 0.999); its images vary across latents almost as much",
    "as real digits (L1 13.5 against 15.5), yet its grid shows a few shapes only (mostly 3-like",
    "glyphs). E and F, started narrower, still collapse across latents",
    "(L1 1.7 and 1.0 summed over 64 pixels: near-identical images). D is far from the",
    "data even on the training split: 2 confident classes, MMD² 0.091 (the independent-pixel model",
    "scores 0.025 and the mixture 0.002 against the same images, rows in `D_squash_logstd0.md`).",
    "`squash_output: true` is now the preset for `rlcv/BGAN-DigitsCont-v0` (`rlcv/presets/bgan.yaml`);",
    "log sigma 0 was already the default.",
    "",
    "Regenerate: `bash results/bgan-digitscont_schedule_commands.sh`.",
]
Path("results/bgan-digitscont_schedule.md").write_text("\n".join(head + rows + tail) + "\n")
PY

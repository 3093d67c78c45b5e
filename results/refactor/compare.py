"""Compare two record.sh outputs: every metrics.csv column but the wall-clock ones must be equal."""

import csv
import sys
from pathlib import Path

WALL = {"time_elapsed", "fps"}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in WALL} for r in csv.DictReader(f)]


a, b = Path(sys.argv[1]), Path(sys.argv[2])
bad = 0
for run in sorted(p.name for p in a.iterdir() if (p / "metrics.csv").is_file()):
    ra, rb = rows(a / run / "metrics.csv"), rows(b / run / "metrics.csv")
    same = ra == rb
    bad += not same
    print(f"{run:12s} {len(ra)} rows: {'identical' if same else 'DIFFERENT'}")
    if not same:
        for x, y in zip(ra, rb, strict=False):  # unequal lengths are reported above
            diff = {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
            if diff:
                print("   first difference:", diff)
                break
sys.exit(1 if bad else 0)

"""Small formatting helpers for the generated results pages: markdown tables, intervals with a unit, and
one verdict line per interval, worded by where the interval lies relative to its null value.

Everything here returns plain strings (ASCII minus, Python's float formatting), so a regenerated page
is byte-identical to the committed one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_file, require_report_input
from rlcv.bench.flags import add_flags
from rlcv.stats import Interval, from_jsonable, jsonable

__all__ = [
    "render",
    "md_table",
    "fmt_interval",
    "verdict_line",
    "met",
    "fmt_steps",
    "figure",
    "write_json",
    "write_page",
    "saved_or_measured",
    "results_in",
    "add_bench",
    "add_result_benches",
]


_TEMPLATES = Path(__file__).parent / "templates"


def render(template: str, /, **data: Any) -> str:
    """A page from ``rlcv/bench/templates/<template>`` (Jinja2) and ``data``: the bench computes numbers,
    the template holds the prose. Blocks trim their own line ends; an undefined name is an error (a
    typo must not print an empty cell). Filters: ``interval(iv, spec, unit)``, ``steps``, ``verdict(iv,
    ...)``, ``met(ok, *values)``, ``table(header, rows, align)`` (:func:`md_table`, as lines joined)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    )
    env.filters.update(
        interval=fmt_interval,
        steps=fmt_steps,
        verdict=lambda iv, label, **kw: verdict_line(label, iv, **kw),
        met=met,
        table=lambda rows, header, align="": "\n".join(md_table(header, rows, align)),
    )
    return env.get_template(template).render(**data)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A markdown table as lines: ``align`` has one letter per column, 'l' (left, the default for
    missing letters) or 'r' (right). A '|' inside a cell is replaced by '/' so it cannot split the row."""

    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"

    rule = "|" + "|".join("---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))) + "|"
    for r in rows:
        if len(r) != len(header):
            raise ValueError(f"a row has {len(r)} cells, the header {len(header)}")
    return [row(header), rule, *(row(r) for r in rows)]


def fmt_interval(iv: Interval | dict[str, Any], spec: str, unit: str = "") -> str:
    """'1.46× [1.00, 2.48]' for spec '.2f', unit '×'; the point alone (with its unit) when there is no
    interval, '—' when there is no point. ``iv`` may be an interval's JSON
    (:func:`~rlcv.stats.jsonable`)."""
    if isinstance(iv, dict):
        iv = from_jsonable(iv)
    if math.isnan(iv.point):
        return "—"
    if math.isnan(iv.low):
        return f"{iv.point:{spec}}{unit}"
    return f"{iv.point:{spec}}{unit} [{iv.low:{spec}}, {iv.high:{spec}}]"


def verdict_line(
    label: str, iv: Interval, *, null: float, spec: str, unit: str = "", above: str, below: str
) -> str:
    """'<label> <point> [<low>, <high>]: <verdict>'. The verdict is ``above`` when the interval lies
    strictly above ``null``, ``below`` when strictly below, 'not shown (interval contains <null>)'
    otherwise; without an interval (fewer than 2 pairs, or too many undefined replicates) it says so
    and draws no conclusion (with 2 or more pairs the interval is undefined only when too many bootstrap
    replicates are, see :mod:`rlcv.stats`)."""
    text = f"{label} {fmt_interval(iv, spec, unit)}"
    if math.isnan(iv.point):
        return f"{text}: no value, no verdict"
    if math.isnan(iv.low):
        why = f"{iv.n} usable pair{'' if iv.n == 1 else 's'}"
        if iv.n >= 2:
            why = f"the {iv.method} is undefined on its {iv.n} pairs"
        return f"{text}: no interval ({why}), no verdict"
    if iv.low > null:
        return f"{text}: {above} (interval above {null:g})"
    if iv.high < null:
        return f"{text}: {below} (interval below {null:g})"
    return f"{text}: not shown (interval contains {null:g})"


def met(ok: bool, *values: float) -> str:
    """A target's verdict in bold: '**met**' or '**missed**'; '**not measured**' when a value it rests on
    is not finite (a point never reached, an undefined statistic)."""
    if any(not math.isfinite(v) for v in values):
        return "**not measured**"
    return "**met**" if ok else "**missed**"


def fmt_steps(steps: float | None) -> str:
    """Env steps in thousands ('95k'; below 10k three significant digits, '2.5k'); None or +inf (a target
    never reached) is 'never'."""
    if steps is None or math.isinf(steps):
        return "never"
    if math.isnan(steps):
        return "—"
    return f"{steps / 1000:.0f}k" if steps >= 10_000 else f"{steps / 1000:.3g}k"


@contextmanager
def figure(path: str | Path, *grid: int, dpi: int = 110, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``with figure(path, rows, cols, figsize=...) as (fig, axes):`` draw, and on leaving the figure is
    laid out, written to ``path`` (PNG) and closed. matplotlib's non-interactive backend, imported here
    only (building the CLI parser imports every bench)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*grid, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


# -- where a page's data comes from -----------------------------------------------------------------
def write_json(path: str | Path, data: Any) -> None:
    """``data`` as indented JSON with a final newline at ``path`` (its folder made)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def write_page(out: Path, name: str, page: str, data: Any = None) -> None:
    """A bench's page ``OUT/NAME.md`` and, with ``data``, its numbers ``OUT/NAME.json`` (strict JSON,
    :func:`~rlcv.stats.jsonable`); then one line naming the page."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(page)
    if data is not None:
        (out / f"{name}.json").write_text(json.dumps(jsonable(data), indent=1) + "\n")
    print(f"wrote {out / name}.md")


def saved_or_measured(
    path: Path, bench: str, report_only: bool, measure: Callable[[], Any], *, save: bool = True
) -> Any:
    """A page's data: with ``--report-only`` the JSON at ``path`` (one error line when it is missing),
    else ``measure()``, written to ``path`` first when ``save`` (a bench that writes a derived record
    there itself passes False)."""
    if report_only:
        require_report_input(path, bench)
        return json.loads(path.read_text())
    data = measure()
    if save:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def results_in(
    directory: Path, key: Callable[[dict[str, Any]], Any], keep: Callable[[Any], bool] = lambda _: True
) -> list[dict[str, Any]]:
    """The result JSONs of a folder that ``keep`` accepts, sorted by ``key`` (a table's row order)."""
    loaded = (json.loads(p.read_text()) for p in directory.glob("*.json"))
    return sorted((r for r in loaded if keep(r)), key=key)


def _print_report(write: Callable[[Path], Path], args: Any) -> int:
    print(write(Path(args.dir)))
    return 0


def add_bench(
    sub: Any,
    name: str,
    spec: type,
    run: Callable[[Any], int],
    *,
    help: str,  # noqa: A002 (argparse's word)
) -> Any:
    """``rlcv bench NAME`` with the flags of ``spec`` (:mod:`rlcv.bench.flags`) and ``run(args)`` (its exit
    code) as ``bench_run``; returns the parser, for arguments of its own."""
    parser = sub.add_parser(name, help=help)
    add_flags(parser, spec)
    parser.set_defaults(bench_run=run)
    return parser


def add_result_benches(
    sub: Any,
    name: str,
    spec: type,
    run: Callable[[Any], int],
    write: Callable[[Path], Path],
    *,
    help: str,  # noqa: A002 (argparse's word)
    json_help: str,
    json_required: bool,
    report_help: str,
    default_dir: str,
) -> None:
    """A bench that writes one result JSON per call (``rlcv bench NAME``: the spec's flags and ``--json
    OUT``) and its table page, rebuilt from every result JSON of a folder (``rlcv bench NAME-report
    --dir DIR``: ``write(DIR)`` returns the page's path, printed)."""
    bench = add_bench(sub, name, spec, run, help=help)
    bench.add_argument("--json", type=out_file, required=json_required, metavar="OUT", help=json_help)
    report = sub.add_parser(f"{name}-report", help=report_help)
    report.add_argument("--dir", default=default_dir)
    report.set_defaults(bench_run=partial(_print_report, write))

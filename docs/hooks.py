"""MkDocs hook: the site shows the repository's results pages, their figures and the changelog where
they live, instead of copies that would drift. ``results/**`` (pages, figures) and ``CHANGELOG.md`` are
added to the site's files under the same paths, so a docs page links to ``../results/oracle.md`` and
shows ``../results/learn_mujoco_v3/curve_HalfCheetah-v5.png``, and ``mkdocs build --strict`` checks
those links like any other.

The results pages themselves are the benches' output, written for the repository: a link of theirs to
a file the site does not hold (a per-run summary, a source file) is shown as its text instead of
failing the build, so a new bench page cannot break the docs; the docs pages' own links stay strict."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
# Per-run folders hold thousands of summaries and metrics files that no page shows.
SKIP_PARTS = {"runs", "summaries", "evals"}
SUFFIXES = {".md", ".png", ".txt", ".json"}
# Docstrings cross-reference in Sphinx's roles (:class:`X`); the Markdown renderer keeps the role's
# name in front of the code span, which the API reference drops.
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):(?=<code>)")
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s#]*)(#[^)\s]*)?\)")


def _results_files() -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "results").rglob("*")
        if p.is_file() and p.suffix in SUFFIXES and not SKIP_PARTS & set(p.relative_to(ROOT).parts)
    )


def _changelog() -> str:
    """CHANGELOG.md, its links made relative to the site's root (where docs/ pages live) instead of the
    repository's."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return text.replace("](docs/", "](").replace("](README.md)", "](index.md)")


def _results_page(path: Path, in_site: set[Path]) -> str:
    """A results page with each relative link or image of a file outside the site reduced to its text."""

    def keep(match: re.Match[str]) -> str:
        target = match.group(3)
        if not target or "://" in target or target.startswith("mailto:"):
            return match.group(0)
        resolved = (path.parent / target).resolve()
        return match.group(0) if resolved in in_site else match.group(2)

    return LINK.sub(keep, path.read_text(encoding="utf-8"))


def on_files(files: Files, config: Any) -> Files:
    results = _results_files()
    in_site = {p.resolve() for p in results}
    for path in results:
        uri = path.relative_to(ROOT).as_posix()
        if path.suffix == ".md":
            files.append(File.generated(config, uri, content=_results_page(path, in_site)))
        else:
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    files.append(File.generated(config, "changelog.md", content=_changelog()))
    return files


def on_page_content(html: str, **kwargs: Any) -> str:
    return SPHINX_ROLE.sub("", html)

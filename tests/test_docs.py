"""Every code block of the README, the docs site (docs/**/*.md) and CHANGELOG.md runs, or says why not
(issue 31).

A fenced block's language says what it is; an HTML comment on the line above it may say how it is
tested: ``<!-- docs-test: KIND (REASON) -->``.

- ``python``: executed in a fresh folder (fast set), unless marked;
- ``bash``: every line is a plain ``rlcv ...`` command, run in-process through :func:`rlcv.cli.main`
  in a fresh folder (fast set), unless marked;
- ``text``: not code (a synopsis, an equation, a printed result). The CLI synopsis is checked against
  the parser; a block marked ``output`` must appear, line by line, in what the block above it prints.

Kinds: ``expensive`` (runs in the full suite only: a bash block through ``bash -euo pipefail`` with
``.venv/bin`` first on PATH), ``skip`` (long-running; the reason says why), ``elsewhere`` (another test
runs it, named in the reason), ``quickstart`` (the README's two set-up commands: the test command is
.ci/run's, the main job runs in the expensive set). Whatever its mark, every ``rlcv`` command of every
bash block parses with the real parser, and a ``rlcv train`` command's config resolves (algo, env id,
``--set`` keys), in the fast set.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from rlcv.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARK = re.compile(r"<!-- docs-test: (\w+) \((.+)\) -->")
KINDS = {"expensive", "skip", "elsewhere", "quickstart", "output"}
FENCE = re.compile(r"^```(\S*)\n(.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    kind: str | None  # None: runs in the fast set
    reason: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(path: Path) -> Iterator[Block]:
    text = path.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.fullmatch(before.strip())
        yield Block(
            str(path.relative_to(ROOT)),
            line,
            match.group(1),
            match.group(2),
            mark.group(1) if mark else None,
            mark.group(2) if mark else "",
        )


BLOCKS = [b for page in PAGES for b in _blocks(page)]
BY_LANG = {lang: [b for b in BLOCKS if b.lang == lang] for lang in ("python", "bash", "text")}


@cache
def _parser() -> argparse.ArgumentParser:
    """The CLI's parser, built once: building it imports every bench module."""
    return build_parser()


def _commands(block: Block) -> list[list[str]]:
    """The ``rlcv`` commands of a bash block, as argv lists without the program name (``&&`` chains
    split, ``# ...`` comments dropped, ``$R`` given a value)."""
    commands = []
    for line in block.code.replace("$R", "runs/quickstart").splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words and Path(words[0]).name == "rlcv":
                commands.append(words[1:])
    return commands


def test_every_block_is_labelled_and_every_mark_is_known() -> None:
    assert len(BLOCKS) > 10
    for block in BLOCKS:
        assert block.lang in BY_LANG, (
            f"{block.id}: a code block needs python, bash or text, not {block.lang!r}"
        )
        assert block.kind is None or block.kind in KINDS, f"{block.id}: unknown mark {block.kind!r}"
        if block.kind == "output":
            assert block.lang == "text", f"{block.id}: an output block is text"
    for path in PAGES:  # a mark that labels no block (a typo, a blank line in between) is an error
        text = path.read_text(encoding="utf-8")
        for mark in re.finditer(r"<!-- docs-test:.*?-->", text):
            after = text[mark.end() :].lstrip(" ")
            assert MARK.fullmatch(mark.group(0)) and after.startswith("\n```"), (
                f"{path.relative_to(ROOT)}: {mark.group(0)!r} must stand on the line above a code block"
            )


@pytest.mark.parametrize("block", BY_LANG["bash"], ids=lambda b: b.id)
def test_bash_commands_parse_and_resolve(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `rlcv` command of the docs is one the parser accepts; a `rlcv train` command's algo,
    env id and `--set` keys resolve into a config (nothing runs, nothing is written)."""
    from rlcv.config import parse_overrides
    from rlcv.env_factory import check_env_id
    from rlcv.launch import check_algo, resolve

    monkeypatch.chdir(tmp_path)
    commands = _commands(block)
    assert commands or block.kind in {"quickstart", "skip"}, f"{block.id}: a bash block holds rlcv commands"
    for argv in commands:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # argparse's error, already printed on stderr
            raise AssertionError(f"{block.id}: `rlcv {shlex.join(argv)}` does not parse") from exc
        if args.command == "train" and not args.resume:
            check_algo(args.algo)
            check_env_id(args.env)
            resolve(args.algo, args.env, args.config_file, parse_overrides(args.overrides))
    assert list(tmp_path.iterdir()) == []


def _run_in_process(block: Block, capsys: pytest.CaptureFixture[str]) -> str:
    out = []
    for argv in _commands(block):
        assert main(argv) == 0, f"{block.id}: `rlcv {shlex.join(argv)}` failed"
        out.append(capsys.readouterr().out)
    return "".join(out)


FAST_BASH = [b for b in BY_LANG["bash"] if b.kind is None]


@pytest.mark.parametrize("block", FAST_BASH, ids=lambda b: b.id)
def test_bash_block_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short bash block: plain `rlcv` commands only, each exits 0; a text block marked `output`
    below it shows lines it prints."""
    plain = [line for line in block.code.splitlines() if line.strip()]
    assert len(plain) == len(_commands(block)), f"{block.id}: a fast bash block holds plain rlcv commands"
    monkeypatch.chdir(tmp_path)
    printed = _run_in_process(block, capsys)
    shown = _output_block_after(block)
    if shown is not None:
        for line in shown.code.splitlines():
            assert line in printed.splitlines(), f"{shown.id}: {line!r} is not what {block.id} prints"


def _output_block_after(block: Block) -> Block | None:
    later = [b for b in BLOCKS if b.page == block.page and b.line > block.line]
    return later[0] if later and later[0].kind == "output" else None


def test_every_output_block_follows_a_block_that_runs() -> None:
    for block in BLOCKS:
        if block.kind == "output":
            earlier = [b for b in BLOCKS if b.page == block.page and b.line < block.line]
            assert earlier and earlier[-1] in FAST_BASH, f"{block.id}: shows the output of no fast block"


FAST_PYTHON = [b for b in BY_LANG["python"] if b.kind is None]


@pytest.mark.parametrize("block", FAST_PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(block.code, block.id, "exec"), {"__name__": "docs_example"})


EXPENSIVE = [b for b in BLOCKS if b.kind == "expensive"]


@pytest.mark.expensive
@pytest.mark.parametrize("block", EXPENSIVE, ids=lambda b: b.id)
def test_expensive_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if block.lang == "python":
        exec(compile(block.code, block.id, "exec"), {"__name__": "docs_example"})
    else:
        _bash(block.code, tmp_path)


def _bash(code: str, cwd: Path) -> None:
    """Run shell code as a user would, with this interpreter's `rlcv` first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env, check=True)


QUICKSTART = [b for b in BLOCKS if b.kind == "quickstart"]


def test_quickstart_blocks_are_the_readmes_and_the_test_command_is_ci() -> None:
    """The README's two set-up commands, on every page that shows them, byte for byte; the second one
    (set up, run the tests) is what .ci/run does, in that order."""
    readme = [b.code for b in QUICKSTART if b.page == "README.md"]
    assert len(readme) == 2, "the README shows two quick-start commands"
    assert all(b.code in readme for b in QUICKSTART), "a quick-start copy differs from the README's"
    ci_lines = (ROOT / ".ci/run").read_text().splitlines()
    ci = [" ".join(w for w in shlex.split(line, comments=True) if w != "-q") for line in ci_lines]
    steps = [" ".join(w for w in shlex.split(part) if w != "-q") for part in readme[1].strip().split("&&")]
    positions = [ci.index(step) for step in steps]  # ValueError names a step .ci/run lacks
    assert positions == sorted(positions)


@pytest.mark.expensive
def test_quickstart_main_job_runs(tmp_path: Path) -> None:
    """The main job, after its set-up part (the venv this test runs in): the MBMF-PPO run and its
    evaluation, exactly as written."""
    main_job = [b for b in QUICKSTART if b.page == "README.md"][0].code.strip()
    setup, job = main_job.split(' -e ".[dev]" && ', 1)
    assert setup.endswith("pip install")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the job calls .venv/bin/rlcv
    _bash(job, tmp_path)
    assert len(list((tmp_path / "runs").glob("quickstart-*/policy.pt"))) == 1


def test_skipped_and_elsewhere_blocks_say_why() -> None:
    for block in BLOCKS:
        if block.kind == "skip":
            assert block.reason.startswith("long-running:") and len(block.reason) > 20, block.id
        if block.kind == "elsewhere":
            test_file = block.reason.split()[0]
            assert (ROOT / test_file).is_file(), f"{block.id}: {test_file} does not exist"


def test_the_api_page_shows_the_readmes_example() -> None:
    """tests/test_api.py runs the README's example; the docs page shows the same block."""
    readme = [b.code for b in BY_LANG["python"] if b.page == "README.md"]
    api = [b.code for b in BY_LANG["python"] if b.page == "docs/api.md"]
    assert len(readme) == 1 and api[:1] == readme


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_cli_synopsis_names_real_commands_and_flags() -> None:
    """Each line `rlcv CMD [SUB] ...` of the CLI page's synopsis names a real (sub)command, and every
    `--flag` on it is one of that command's."""
    synopsis = next(b for b in BY_LANG["text"] if b.page == "docs/cli.md")
    top = _subcommands(_parser())
    lines = [line for line in synopsis.code.splitlines() if line.startswith("rlcv ")]
    assert len(lines) > 10
    for line in lines:
        words = line.split()
        parser = top[words[1]]
        if _subcommands(parser):
            parser = _subcommands(parser)[words[2]]
        known = {o for a in parser._actions for o in a.option_strings}
        # flags of the line and of its continuation lines, up to the next command
        block = synopsis.code[synopsis.code.index(line) :].split("\nrlcv ", 1)[0].split("#", 1)[0]
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", block))
        assert flags <= known, f"`{' '.join(words[:3])}`: {sorted(flags - known)} are not its flags"


def test_bench_table_names_real_benches() -> None:
    """Each bench the CLI page's table names is a `rlcv bench` subcommand. (Not the converse: a bench
    added by concurrent work would fail every CI run until someone documents it.)"""
    text = (ROOT / "docs/cli.md").read_text()
    table = text[text.index("| bench | measures | page |") :]
    named = {
        n
        for row in table.splitlines()[2:]
        if row.startswith("| ")
        for n in re.findall(r"`([a-z-]+)`", row.split("|")[1])
    }
    benches = set(_subcommands(_subcommands(_parser())["bench"]))
    assert len(named) > 20 and named <= benches, f"not benches: {sorted(named - benches)}"


LINK = re.compile(r"(?:\]\(|<img src=\")([^)\"#\s]+)")


@pytest.mark.parametrize("page", ["README.md", "CHANGELOG.md"])
def test_links_resolve(page: str) -> None:
    """Relative links and images of the two top-level pages point at files (mkdocs checks docs/)."""
    targets = [t for t in LINK.findall((ROOT / page).read_text()) if "://" not in t]
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"{page} links to missing files: {missing}"


def test_readme_is_short() -> None:
    """A page read in five minutes: ≤ 150 lines, a results table of ≤ 12 rows whose cells fit a line."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    assert 0 < len(rows) <= 12
    for row in rows:
        for cell in re.split(r"(?<!\\)\|", row)[1:-1]:
            shown = re.sub(r"\]\([^)]*\)", "]", cell).replace("\\|", "|").strip()
            assert len(shown) <= 60, f"README cell longer than a line: {shown!r}"

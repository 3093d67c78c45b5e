"""A bench's settings declared once, beside their flags.

A settings dataclass whose fields are made by :func:`flag` carries each field's argparse options, so
the parser (:func:`add_flags`), the settings read back from the parsed arguments (:func:`spec_of`) and
the command line a generated page names to regenerate itself (:func:`command_line`) all come from that
one declaration: a default or a flag name cannot drift between the three.

    @dataclass(kw_only=True)
    class WalkSpec:
        seeds: int = flag(3, type=seed_count)
        sgd_lrs: list[float] = flag([0.1, 1.0], type=positive_float)   # a list: nargs="+"
        report_only: bool = flag(False, command=False, help="...")     # a bool: store_true
        task: str = "digits"                                           # no flag: fixed by the bench

A bool field is a switch (``--x`` when it defaults to False, ``--no-x`` when to True), written only when
flipped. In a command line a float is written with ``:g``, a dict as JSON, a list item by item; a flag
whose value is None or an empty dict is left out (unless its ``show`` says otherwise), as is one declared
``command=False``.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields
from typing import Any

__all__ = ["flag", "add_flags", "spec_of", "command_line"]


def flag(
    default: Any,
    *,
    name: str | None = None,
    old: str | None = None,
    command: bool = True,
    show: Callable[[Any], bool] | None = None,
    cli_default: Any = MISSING,
    **options: Any,
) -> Any:
    """A dataclass field with a flag: ``--field-name`` (or ``name``), argparse ``options`` (type, choices,
    help, metavar ...), ``old``: a former spelling that still works (:func:`rlcv.cli_args.add_renamed_flag`);
    ``command``: whether :func:`command_line` writes it; ``show(spec)``: whether it does for these
    settings (e.g. only when another flag asks for what it sets); ``cli_default``: the flag's default where
    it differs from the field's (a Python caller's)."""
    if cli_default is not MISSING:
        options["default"] = cli_default
    meta = {"flag": {"name": name, "old": old, "command": command, "show": show, "options": options}}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def _flags(spec_cls: Any) -> list[tuple[Field[Any], dict[str, Any]]]:
    return [(f, f.metadata["flag"]) for f in fields(spec_cls) if "flag" in f.metadata]


def _name(f: Field[Any], meta: dict[str, Any]) -> str:
    return meta["name"] or "--" + f.name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser, spec_cls: Any) -> None:
    """One argument per flagged field of ``spec_cls``, in field order."""
    from rlcv.cli_args import add_renamed_flag

    for f, meta in _flags(spec_cls):
        default = f.default if f.default_factory is MISSING else f.default_factory()
        options = {"dest": f.name, **meta["options"]}
        if meta["name"] and not isinstance(default, bool) and "choices" not in options:  # --env: metavar ENV
            options.setdefault("metavar", meta["name"].lstrip("-").upper().replace("-", "_"))
        if isinstance(default, bool):  # a switch: '--no-x' for a field that defaults to True
            options.setdefault("action", "store_false" if default else "store_true")
        else:
            options.setdefault("default", default)  # a CLI default of its own may differ from the field's
            if isinstance(default, list):
                options.setdefault("nargs", "+")
        if meta["old"]:
            add_renamed_flag(parser, _name(f, meta), meta["old"], **options)
        else:
            parser.add_argument(_name(f, meta), **options)


def spec_of(spec_cls: Any, args: argparse.Namespace, **fixed: Any) -> Any:
    """``spec_cls`` from the parsed flags (and ``fixed`` values of fields without one)."""
    return spec_cls(**{f.name: getattr(args, f.name) for f, _ in _flags(spec_cls)}, **fixed)


def _words(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [
        json.dumps(v) if isinstance(v, dict) else f"{v:g}" if isinstance(v, float) else str(v) for v in items
    ]


def command_line(prog: str, spec: Any) -> str:
    """``prog`` (e.g. 'rlcv bench walk') and every flag of ``spec`` that :func:`flag` lets it write."""
    words = shlex.split(prog)
    for f, meta in _flags(type(spec)):
        value = getattr(spec, f.name)
        if not meta["command"] or (meta["show"] is not None and not meta["show"](spec)):
            continue
        if isinstance(value, bool):  # a switch is written when it is flipped
            if value != f.default:
                words.append(_name(f, meta))
        elif meta["show"] is not None or (value is not None and value != {}):
            words += [_name(f, meta), *_words(value)]
    return shlex.join(words)

"""docs/cli.md documents every command and option as the program has them, and every
command's help is plain text with every option explained."""

from __future__ import annotations

import re
from typing import Any

import typer.main
from cli_reference import PAGE, page_with_reference

from sathub.cli import app

REST = re.compile(r"``|:(class|func|meth|mod|data|attr):`")


def _leaves(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, cmd in group.commands.items():
        if getattr(cmd, "commands", None):
            out += [((*path, name), cmd)] + _leaves(cmd, (*path, name))
        else:
            out.append(((*path, name), cmd))
    return out


def test_the_reference_is_the_program() -> None:
    """Regenerate with ``python tests/cli_reference.py --write`` after changing a command."""
    assert PAGE.read_text() == page_with_reference()


def test_help_is_plain_text_and_every_option_explained() -> None:
    for path, cmd in _leaves(typer.main.get_command(app)):
        assert cmd.help and not REST.search(cmd.help), (path, cmd.help)
        for p in getattr(cmd, "params", []):
            if "--help" in getattr(p, "opts", []):
                continue
            assert p.help, (path, p.name)
            assert not REST.search(p.help), (path, p.name, p.help)

"""The commands shown in README.md and docs/*.md, as tests/test_docs_commands.py runs them.

Conventions (docs/cli.md, "The examples are tested"):

- every line of a fenced code block that starts with ``sathub `` (or ``$ sathub ``) is a
  command; a line ending with ``\\`` continues on the next one;
- a trailing comment may carry markers: ``→ NAME`` binds the command's output (stdout, stripped)
  to NAME, which later commands of the same page use in its place; ``exit N`` (the comment starts
  with it): the command is expected to fail with exit status N; ``long-running`` (``serve``, ``demo``): started, probed
  over HTTP and stopped; ``needs: WHAT`` (the comment starts with it): the command needs a
  service the tests do not have (a production database, a bucket): its command and options are
  checked against the program, it is not run;
- ``> FILE`` at the end writes stdout to FILE.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^\s*```")
BIND = re.compile(r"→\s*([A-Z][A-Z0-9_]*)")
EXIT = re.compile(r"^exit (\d+)\b")  # the comment starts with it
NEEDS = re.compile(r"^needs:\s*(\S.*)")  # the comment starts with it


@dataclass
class Command:
    page: str
    line: int
    text: str  # as written (continuations joined)
    args: list[str]  # after "sathub", before any redirect
    binds: str | None = None
    exit_code: int = 0
    long_running: bool = False
    stdout_to: str | None = None
    comment: str = ""
    needs: str | None = None  # a service the tests do not have: checked, not run
    names: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _split_comment(text: str) -> tuple[str, str]:
    """``command  # comment`` → (command, comment); a ``#`` inside quotes is not a comment."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip(), text[i + 1:].strip()
    return text.rstrip(), ""


def commands(page: Path) -> list[Command]:
    """The commands of one page, in order."""
    out: list[Command] = []
    inside = False
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(page.read_text().splitlines(), 1):
        if FENCE.match(raw):
            inside = not inside
            pending = None
            continue
        if not inside:
            continue
        if pending is not None:
            start, text = pending
            text = text + " " + raw.strip()
        else:
            start, text = n, raw.strip()
            if text.startswith("$ "):
                text = text[2:]
            if not text.startswith("sathub "):
                continue
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        out.append(parse(page.name, start, text))
    return out


def parse(page: str, line: int, text: str) -> Command:
    command, comment = _split_comment(text)
    args = shlex.split(command)[1:]
    stdout_to = None
    if len(args) >= 2 and args[-2] == ">":
        stdout_to, args = args[-1], args[:-2]
    bind = BIND.search(comment)
    code = EXIT.search(comment)
    return Command(page, line, text, args, binds=bind.group(1) if bind else None,
                   exit_code=int(code.group(1)) if code else 0,
                   long_running="long-running" in comment, stdout_to=stdout_to, comment=comment,
                   needs=needs.group(1) if (needs := NEEDS.search(comment)) else None)  # fmt: skip


def substitute(args: list[str], bound: dict[str, str]) -> list[str]:
    """Each bound NAME in the arguments (as a whole word) by its value."""
    if not bound:
        return args
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, bound)) + r")\b")
    return [pattern.sub(lambda m: bound[m.group(1)], a) for a in args]


def test_support_module_parses_the_conventions() -> None:
    c = parse("x.md", 1, 'sathub orgs add "Uni A" --kind university   # prints its id → ORG')
    assert c.args == ["orgs", "add", "Uni A", "--kind", "university"] and c.binds == "ORG"
    c = parse("x.md", 2, "sathub search --format geojson > out.geojson  # a file")
    assert c.args == ["search", "--format", "geojson"] and c.stdout_to == "out.geojson"
    c = parse("x.md", 3, "sathub collections restrict nope   # exit 2: no such collection")
    assert c.exit_code == 2 and not c.long_running
    assert parse("x.md", 3, "sathub verify   # status 1 on problems, exit 1 too").exit_code == 0
    assert parse("x.md", 5, "sathub init /srv/d   # needs: PostgreSQL").needs == "PostgreSQL"
    assert parse("x.md", 5, "sathub init d   # it needs: nothing").needs is None
    c = parse("x.md", 4, "sathub serve --data demo-data --port 8080   # long-running")
    assert c.long_running
    assert substitute(["--to", "agreement:AGR", "AGRX"], {"AGR": "7"}) == ["--to", "agreement:7", "AGRX"]

"""What every ``sathub`` command shares: its options, its output and one exit-code convention.

Exit status (docs/cli.md):

- 0: done.
- 2: bad input or usage — an unknown option or a malformed value (typer's usage errors), a
  value sathub refuses (:class:`~sathub.errors.InvalidInput` and its children, naming the
  field), a named thing that does not exist (:class:`~sathub.errors.NotFound`: a collection,
  agreement, organisation, order…), an id that is taken (Conflict), an action refused
  (Forbidden), an element file that cannot be read (OrbitError), a ``--data`` that is not a
  data directory.
- 1: an operation that was tried and failed — scenes that did not ingest, a file that did not
  load, a tampered audit log, an unreachable Dask scheduler, a job with no result, an output
  file that cannot be written.

Output: ``--format`` chooses a table for people (whole ids and paths, never cut at the
terminal's width; numbers with their unit and a sensible precision) or JSON / CSV for scripts
(every field, full precision, ISO 8601 times, null for missing numbers). Messages go to stderr,
results to stdout.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import inspect
import io
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import orjson
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from sathub.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OrbitError,
    PayloadTooLarge,
    SathubError,
    SettingError,
    Unauthorized,
    missing_schema,
)

if TYPE_CHECKING:
    from sathub.app import Installation

EXIT_FAILED = 1  # an operation was tried and failed
EXIT_USAGE = 2  # bad input or usage (typer's usage errors exit 2 too)
#: SathubError classes that mean "the input was wrong" (exit 2); every other one exits 1.
USAGE_ERRORS: tuple[type[SathubError], ...] = (InvalidInput, NotFound, Conflict, Forbidden,
                                               OrbitError, PayloadTooLarge, Unauthorized,
                                               SettingError)  # fmt: skip
DEFAULT_DATA = Path("sathub-data")
MAX_WARNINGS = 5

err = Console(stderr=True, highlight=False, soft_wrap=True)

# ------------------------------------------------------------------------ options
DataOpt = Annotated[Path, typer.Option(
    "--data", "-d", envvar="SATHUB_DATA", show_default=False,
    help="The data directory (default: $SATHUB_DATA, else ./sathub-data).")]  # fmt: skip
ListFormat = Literal["table", "json", "csv"]
FormatOpt = Annotated[ListFormat, typer.Option(
    "--format", "-f", help="table (for people), json or csv (for scripts).")]  # fmt: skip
DocFormat = Literal["table", "json"]
DocFormatOpt = Annotated[DocFormat, typer.Option("--format", "-f", help="table or json.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file (default: stdout).")]  # fmt: skip


# ------------------------------------------------------------------- exit codes
def exit_code(exc: SathubError) -> int:
    return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED


def message(exc: SathubError) -> str:
    """The error's message, prefixed with its field when the message does not name it."""
    if exc.field and exc.field not in exc.message:
        return f"{exc.field}: {exc.message}"
    return exc.message


def fail(text: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: text`` on stderr and exit with ``code`` (default 2: bad input)."""
    err.print(Text.assemble(("error: ", "bold red"), text))
    raise typer.Exit(code)


def failed(text: str) -> NoReturn:
    """An operation that failed: ``error: text``, exit 1."""
    fail(text, EXIT_FAILED)


def warn(text: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), text))


class SathubGroup(TyperGroup):
    """The root command group: every command runs inside :meth:`invoke`, which turns a
    SathubError into ``error: …`` and its exit status, and prints each distinct Python warning
    once as ``warning: …`` (at most :data:`MAX_WARNINGS`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _short_helps(self)

    def invoke(self, ctx: Any) -> Any:
        seen: set[str] = set()

        def show(msg: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
            text = str(msg)
            if text in seen:
                return
            seen.add(text)
            if len(seen) <= MAX_WARNINGS:
                warn(text)
            elif len(seen) == MAX_WARNINGS + 1:
                warn("more warnings not shown")

        with warnings.catch_warnings():  # Python's filters as they are; only the display changes
            warnings.showwarning = show  # type: ignore[assignment]
            try:
                return super().invoke(ctx)
            except SathubError as exc:
                exc = missing_schema(exc) or exc  # a store's wrapper around a missing table
                fail(message(exc), exit_code(exc))
            except OSError as exc:  # a file that cannot be read or written, a full disk
                failed(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
            except Exception as exc:
                missing = missing_schema(exc)  # sathub's tables dropped while it ran
                if missing is None:
                    raise
                fail(message(missing), exit_code(missing))


def _short_helps(group: Any) -> None:
    """Each command's line in its group's listing: the first paragraph of its help, on one line."""
    for cmd in getattr(group, "commands", {}).values():
        if cmd.help and not cmd.short_help:
            cmd.short_help = " ".join(inspect.cleandoc(cmd.help).split("\n\n")[0].split())
        _short_helps(cmd)


def sub_app(help: str) -> typer.Typer:
    """A command group (``sathub orgs …``): help on no arguments, no completion options."""
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False)


# ---------------------------------------------------------------- installation
@contextmanager
def installation(data: Path, **settings: Any) -> Iterator[Installation]:
    """The installation of ``--data``; exit 2 when it is not a data directory (make one with
    ``sathub init``) or a setting cannot be used."""
    from sathub.app import Installation
    from sathub.config import load_settings

    inst = Installation.open(load_settings(data=data, **settings))
    try:
        yield inst
    finally:
        inst.close()


def who(actor: str | None = None) -> str:
    """Who is acting, for the audit: ``actor`` if given, else ``cli:<login>``."""
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def split(value: str | None) -> list[str] | None:
    """``a,b, c`` → ``["a", "b", "c"]``; None stays None."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


# ---------------------------------------------------------------------- output
@dataclass(frozen=True)
class Col:
    """A table column: the row's ``key``, a header (default: the key), the unit shown in the
    header, the decimals of floats (None: up to 6 significant digits), or ``show``, a function
    that formats the cell."""

    key: str
    header: str | None = None
    unit: str = ""
    digits: int | None = None
    show: Callable[[Any], str] | None = None

    @property
    def title(self) -> str:
        head = self.header or self.key
        return f"{head} ({self.unit})" if self.unit else head


Column = Col | str


def _col(c: Column) -> Col:
    return c if isinstance(c, Col) else Col(c)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (Path, dt.date)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(doc: Any, *, indent: bool = True) -> str:
    """JSON text: ISO 8601 times, decimals as strings, NaN and infinities as null."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(doc, default=_json_default, option=option | orjson.OPT_NON_STR_KEYS).decode()


def instant(value: Any) -> str:
    """An ISO 8601 instant for a table: ``2025-10-04 12:34:56`` (UTC, to the second)."""
    text = str(value)
    if len(text) >= 19 and text[10] in "Tt":
        return f"{text[:10]} {text[11:19]}"
    return text


def print_json(doc: Any) -> None:
    sys.stdout.write(to_json(doc) + "\n")


def number(value: float | int | None, unit: str = "", digits: int | None = None) -> str:
    """A number for people: thousands separated, ``digits`` decimals (default: 6 significant
    digits), its unit after a space; empty for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        text = f"{value:,}"
    elif digits is not None:
        text = f"{value:,.{digits}f}"
    else:
        text = f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    return f"{text} {unit}" if unit else text


def size(nbytes: float | int | None) -> str:
    """Bytes for people: ``1.5 MB`` (SI units, as disks are sold)."""
    if nbytes is None:
        return ""
    value = float(nbytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return ""  # pragma: no cover


def cell(value: Any, col: Col | None = None) -> str:
    """One table cell: no Python reprs (lists joined, mappings as JSON, None empty)."""
    col = col or Col("")
    if value is None:
        return ""
    if col.show is not None:
        return col.show(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value, "", col.digits)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return to_json(value, indent=False)
    if isinstance(value, (dt.datetime, dt.date)):
        from sathub.timeutil import iso

        return str(iso(value)) if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return to_json(value if not isinstance(value, (set, frozenset)) else sorted(value), indent=False)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[Column] = ()) -> str:
    """CSV with a header: every key of the rows (first seen first), or ``columns`` when there
    are no rows; nested values as JSON."""
    keys = list(dict.fromkeys(k for r in rows for k in r)) or [_col(c).key for c in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: csv_value(r.get(k)) for k in keys})
    return buf.getvalue()


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column], *, title: str | None = None) -> Table:
    cols = [_col(c) for c in columns]
    t = Table(title=title, title_justify="left")
    for c in cols:
        numeric = c.unit != "" or c.digits is not None
        t.add_column(c.title, no_wrap=True, justify="right" if numeric else "left")
    for r in rows:
        t.add_row(*(cell(r.get(c.key), c) for c in cols))
    return t


def print_table(t: Table) -> None:
    """Print a table at its natural width: ids and paths are never cut or folded (a terminal
    narrower than the table wraps its lines instead)."""
    probe = Console(width=100_000)
    width = Measurement.get(probe, probe.options, t).maximum
    out = Console(width=max(width, 20), highlight=False)
    out.print(t, crop=False)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, *,
         title: str | None = None) -> None:  # fmt: skip
    """Rows as a table (``columns`` only), JSON (a list of objects, every key) or CSV."""
    if fmt == "json":
        print_json(list(rows))
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows, columns))
    elif fmt == "table":
        print_table(table(rows, columns, title=title))
    else:  # the options' Literal types keep other values out
        fail(f"--format: {fmt!r} is not one of table, json, csv")


def write_output(payload: bytes | str, output: Path | None) -> None:
    """``payload`` to ``output`` (a message on stderr says where), or to stdout."""
    data = payload.encode() if isinstance(payload, str) else payload
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"--output: cannot write {output}: {exc.strerror or exc}")
    err.print(f"wrote {output} ({size(len(data))})")

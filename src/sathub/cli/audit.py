"""``sathub audit verify`` and ``sathub usage``: the audit log and what agreements used."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from sathub.cli.common import (
    DEFAULT_DATA,
    DataOpt,
    DocFormatOpt,
    OutputOpt,
    err,
    failed,
    installation,
    print_json,
    sub_app,
    write_output,
)
from sathub.errors import AuditUnavailable, InvalidInput

audit_app = sub_app("The audit log.")


@audit_app.command("verify")
def audit_verify(
    data: DataOpt = DEFAULT_DATA,
    anchor_file: Annotated[list[Path] | None, typer.Option(
        "--anchor-file", help="An exported copy of anchor lines (e.g. from syslog); repeatable.")] = None,
    format: DocFormatOpt = "table",
) -> None:
    """Check the audit log: hash chain, head, anchors, quota counters, access rows and pending
    tile uses; say what could not be checked. Exit 1 when something was tampered with."""
    for f in anchor_file or []:
        if not f.is_file():
            raise InvalidInput(f"--anchor-file {f}: no such file", field="anchor_file")
    with installation(data) as inst:
        log = inst.access.audit
        try:
            log.flush_tiles()  # finished hours to the chain (a tampered row becomes evidence)
        except AuditUnavailable:
            pass  # this process cannot write: verify says why
        result = log.verify(anchor_file or [])
    if format == "json":
        print_json(result.as_dict())
    else:
        for line in result.checked:
            err.print(f"[green]checked:[/] {line}")
        for line in result.not_checked:
            err.print(f"[yellow]not checked:[/] {line}")
        for line in result.problems:
            err.print(f"[red]tampered:[/] {line}")
        if result.ok:
            err.print(f"[green]ok:[/] {result.records:,} records, chain intact")
    if not result.ok:
        failed(f"the audit log was tampered with ({len(result.problems)} problem(s))")


def usage(
    agreement: Annotated[int, typer.Option(help="Agreement id.")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    format: Annotated[Literal["json", "csv", "png"], typer.Option(
        "--format", "-f", help="json, csv or png (png needs --output).")] = "json",
    output: OutputOpt = None,
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """Usage report of an agreement for a month: downloads, bytes and quota, per day."""
    from sathub.access import reports
    from sathub.access.dates import month_of
    from sathub.cli.common import to_json

    if format == "png" and output is None:
        raise InvalidInput("--format png needs --output FILE", field="output")
    with installation(data) as inst:
        s = inst.access
        report = reports.usage(s.store, s.audit, agreement, month or month_of(time.time()))
    if format == "json":
        payload: bytes | str = to_json(report) + "\n"
    elif format == "csv":
        payload = reports.to_csv(report)
    else:
        payload = reports.to_png(report)
    write_output(payload, output)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.command()(usage)

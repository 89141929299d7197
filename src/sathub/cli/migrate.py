"""``sathub migrate``: move an installation (embedded ↔ PostgreSQL/pgstac + S3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sathub.cli.common import DocFormatOpt, err, failed, print_json, print_table
from sathub.errors import InvalidInput

#: The settings that say where an installation keeps things: each side takes them from its
#: own --source-env / --target-env file only (never from the process environment, which
#: would otherwise give both sides the same database and bucket).
SIDE_FIELDS = ("pg_dsn", "pg_reader_dsn", "s3_bucket", "s3_prefix", "s3_endpoint", "s3_region",
               "s3_access_key_id", "s3_secret_access_key", "s3_virtual_hosting", "audit_key",
               "audit_key_file", "audit_anchor")  # fmt: skip


def read_env_file(path: Path, option: str) -> dict[str, str]:
    """``SATHUB_NAME=value`` lines (``#`` comments, blank lines); InvalidInput names the line."""
    from sathub.config import Settings

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{option} {path}: {exc.strerror or exc}", field=option.lstrip("-")) from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        field = name.lower().removeprefix("sathub_")
        if not sep or not name.upper().startswith("SATHUB_") or field not in Settings.model_fields:
            raise InvalidInput(f"{option} {path} line {n}: not a SATHUB_ setting (NAME=value)",
                               field=option.lstrip("-"))  # fmt: skip
        if field == "data":
            raise InvalidInput(f"{option} {path} line {n}: the data directory is the argument, "
                               "not a setting of the file", field=option.lstrip("-"))  # fmt: skip
        out[field] = value.strip().strip('"').strip("'")
    return out


def side_settings(data: Path, env_file: Path | None, option: str) -> Any:
    from sathub.config import Settings, load_settings

    values: dict[str, Any] = {f: Settings.model_fields[f].default for f in SIDE_FIELDS}
    if env_file is not None:
        values.update(read_env_file(env_file, option))
    return load_settings(data=data, **values)


def migrate(
    source: Annotated[Path, typer.Argument(help="The source's data directory.")],
    target: Annotated[Path, typer.Argument(help="The target's data directory (created if absent).")],
    source_env: Annotated[Path | None, typer.Option(
        help="SATHUB_ settings of the source (PostgreSQL, S3, audit key and anchors); "
             "none: embedded.")] = None,
    target_env: Annotated[Path | None, typer.Option(
        help="SATHUB_ settings of the target (e.g. SATHUB_PG_DSN, SATHUB_S3_BUCKET…); "
             "none: embedded.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would be copied and what is already there; write nothing.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Items per catalog commit.")] = 500,
    format: DocFormatOpt = "table",
) -> None:
    """Copy an installation into another one: catalog, assets (checksums verified), access
    data and the audit chain, budget, jobs, satellites and orders. A re-run continues after a
    crash. Exit 1 when something did not arrive intact or the audit chain does not verify."""
    from sathub.app import Installation
    from sathub.app.installation import is_data_directory
    from sathub.app.migrate import migrate as run

    s_settings = side_settings(source, source_env, "--source-env")
    t_settings = side_settings(target, target_env, "--target-env")
    src = Installation.open(s_settings)
    with src:
        if dry_run and not is_data_directory(target, t_settings):
            dst = _blank_target(s_settings, t_settings)
        else:
            dst = _target(s_settings, t_settings)
        with dst:
            report = run(src, dst, dry_run=dry_run, batch=batch, target=t_settings,
                         say=lambda m: err.print(f"[dim]{m}[/]"))  # fmt: skip
    if format == "json":
        print_json(report.to_dict())
    else:
        _table(report)
    if not report.ok:
        failed("the migration is not complete: " + "; ".join(report.problems or ["the audit chain does not verify"]))


def _blank_target(src_settings: Any, settings: Any) -> Any:
    """A dry run into a directory that does not exist yet: an empty embedded installation in
    a temporary directory (removed at exit) stands for it; nothing is written to the target."""
    import atexit
    import shutil
    import tempfile

    from sathub.config import load_settings

    tmp = Path(tempfile.mkdtemp(prefix="sathub-migrate-dry-"))
    atexit.register(shutil.rmtree, tmp, True)
    values = {f: getattr(settings, f) for f in SIDE_FIELDS}
    values["pg_dsn"] = values["pg_reader_dsn"] = values["s3_bucket"] = None
    return _target(src_settings, load_settings(data=tmp / "data", **values))


def _target(src_settings: Any, settings: Any) -> Any:
    """The target installation, made (or completed, after a crash while it was being made:
    ``Installation.create`` is idempotent) with the source's secret files first (the audit
    key), so that the chain verifies. A key the target already has is kept (a different audit
    key is refused before anything is copied). The signing key is not a file here: it is state,
    carried through its store (a file, or PostgreSQL) like the rest."""
    import shutil

    from sathub.app import Installation

    layout = settings.layout
    layout.create()
    for f in sorted(src_settings.layout.secrets.glob("*.key")):
        if f.name == "signing.key":  # state: migrate_state carries it through the stores
            continue
        dest = layout.secrets / f.name
        if not dest.exists():
            shutil.copy2(f, dest)
    Installation.create(settings).close()
    return Installation.open(settings)


def _table(report: Any) -> None:
    from rich.table import Table

    t = Table(title="dry run: nothing written" if report.dry_run else "migrated")
    for col in ("kind", "source", "in target", "to copy" if report.dry_run else "copied",
                "target after", "target store"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("kind", "target store") else "right")
    for r in report.rows:
        todo = max(0, r.source - r.present) if report.dry_run else r.copied
        t.add_row(r.kind, f"{r.source:,}", f"{r.present:,}", f"{todo:,}",
                  "" if r.target is None else f"{r.target:,}", r.store)  # fmt: skip
    print_table(t)
    for line in report.audit:
        err.print(f"audit: {line}")
    for p in report.problems:
        err.print(f"[red]problem:[/] {p}")
    err.print(f"{'ok' if report.ok else 'NOT OK'} in {report.seconds:.1f} s")


def register(app: typer.Typer) -> None:
    app.command()(migrate)

"""``DATA/budget.db``: the embedded :class:`~sathub.budget.store.BudgetStore` (SQLite, WAL).

Amounts are INTEGER minor units, rates TEXT decimals, dates ISO TEXT. A write is one
``BEGIN IMMEDIATE`` transaction: it holds the database's write lock from its first statement,
so a balance read inside it cannot change before the transaction commits, across threads and
processes alike. The schema is a numbered list of migrations (``PRAGMA user_version``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sathub.budget.model import (
    Approval,
    Category,
    FiscalYear,
    FundingSource,
    Line,
    Link,
    Position,
    Price,
    Project,
    Rate,
    Station,
    Transaction,
    Version,
)
from sathub.errors import Conflict, NotFound
from sathub.sqlitedb import ThreadConnections

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE years (code TEXT PRIMARY KEY, start TEXT NOT NULL, "end" TEXT NOT NULL,
        closed_at REAL, closed_by TEXT);
    CREATE TABLE projects (code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
        programme TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
    CREATE TABLE categories (code TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE fundings (code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);
    CREATE TABLE lines (id INTEGER PRIMARY KEY, year TEXT NOT NULL REFERENCES years(code),
        project TEXT NOT NULL REFERENCES projects(code),
        category TEXT NOT NULL REFERENCES categories(code),
        funding TEXT NOT NULL REFERENCES fundings(code), currency TEXT NOT NULL,
        control_commitment TEXT NOT NULL, control_expenditure TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL,
        UNIQUE (year, project, category, funding));
    CREATE TABLE versions (id INTEGER PRIMARY KEY, year TEXT NOT NULL REFERENCES years(code),
        number INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('draft', 'approved')),
        reason TEXT NOT NULL, created_by TEXT NOT NULL, created_at REAL NOT NULL,
        approved_by TEXT, approved_at REAL, UNIQUE (year, number));
    CREATE TABLE amounts (version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
        line_id INTEGER NOT NULL REFERENCES lines(id), minor INTEGER NOT NULL CHECK (minor >= 0),
        PRIMARY KEY (version_id, line_id)) WITHOUT ROWID;
    CREATE TABLE transactions (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, year TEXT NOT NULL
        REFERENCES years(code), project TEXT NOT NULL REFERENCES projects(code),
        funding TEXT NOT NULL REFERENCES fundings(code), line_id INTEGER REFERENCES lines(id),
        currency TEXT NOT NULL, amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
        value_date TEXT NOT NULL, line_currency TEXT NOT NULL, rate TEXT NOT NULL,
        rate_date TEXT, amount_line_minor INTEGER NOT NULL CHECK (amount_line_minor >= 0),
        commitment_id INTEGER REFERENCES transactions(id), counterparty TEXT NOT NULL,
        reference TEXT NOT NULL, description TEXT NOT NULL, status TEXT NOT NULL,
        created_by TEXT NOT NULL, created_at REAL NOT NULL, overrun_minor INTEGER NOT NULL);
    CREATE INDEX transactions_line ON transactions (line_id, kind, status);
    CREATE INDEX transactions_commitment ON transactions (commitment_id);
    CREATE TABLE approvals (transaction_id INTEGER NOT NULL REFERENCES transactions(id),
        approver TEXT NOT NULL, decision TEXT NOT NULL, at REAL NOT NULL,
        note TEXT NOT NULL DEFAULT '', PRIMARY KEY (transaction_id, approver));
    CREATE TABLE rates (day TEXT NOT NULL, base TEXT NOT NULL, quote TEXT NOT NULL,
        rate TEXT NOT NULL, PRIMARY KEY (base, quote, day)) WITHOUT ROWID;
    CREATE TABLE links (owner TEXT NOT NULL, owner_id TEXT NOT NULL, kind TEXT NOT NULL,
        ref TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (owner, owner_id, kind, ref));
    CREATE INDEX links_target ON links (kind, ref);
    CREATE TABLE stations (code TEXT PRIMARY KEY, name TEXT NOT NULL, lat REAL NOT NULL,
        lon REAL NOT NULL);
    CREATE TABLE prices (agreement_id INTEGER PRIMARY KEY, unit TEXT NOT NULL, price TEXT NOT NULL,
        currency TEXT NOT NULL, project TEXT NOT NULL REFERENCES projects(code),
        funding TEXT NOT NULL REFERENCES fundings(code));
    CREATE TABLE bookings (agreement_id INTEGER NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
        transaction_id INTEGER NOT NULL REFERENCES transactions(id));
    """,
)

_TX_COLS = ("id, kind, year, project, funding, line_id, currency, amount_minor, value_date, "
            "line_currency, rate, rate_date, amount_line_minor, commitment_id, counterparty, "
            "reference, description, status, created_by, created_at, overrun_minor")  # fmt: skip
_VERSION_COLS = "id, year, number, status, reason, created_by, created_at, approved_by, approved_at"
_LINE_COLS = ("id, year, project, category, funding, currency, control_commitment, "
              "control_expenditure, description, created_by")  # fmt: skip
# what an INSERT names: every column but the id the database assigns
_TX_NEW, _LINE_NEW = _TX_COLS.removeprefix("id, "), _LINE_COLS.removeprefix("id, ")


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _tx(row: tuple[Any, ...]) -> Transaction:
    r = list(row)
    r[8] = dt.date.fromisoformat(r[8])
    r[11] = _date(r[11])
    return Transaction(*r)


def _year(row: tuple[Any, ...]) -> FiscalYear:
    return FiscalYear(row[0], dt.date.fromisoformat(row[1]), dt.date.fromisoformat(row[2]), row[3], row[4])


class _Ops:
    """Every query of the store, on the connection ``conn()`` returns."""

    def __init__(self, conn: Callable[[], sqlite3.Connection]) -> None:
        self._conn = conn

    def _one(self, sql: str, params: tuple[Any, ...], what: str, field: str) -> tuple[Any, ...]:
        try:
            row = self._conn().execute(sql, params).fetchone()
        except OverflowError:  # an id past SQLite's 64-bit integers names nothing
            row = None
        if row is None:
            raise NotFound(f"{what} not found", field=field)
        return tuple(row)

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._conn().execute(sql, params)]
        except OverflowError:  # a filter on an id past 64-bit integers matches nothing
            return []

    # ------------------------------------------------------------------- reads
    def year(self, code: str) -> FiscalYear:
        return _year(self._one('SELECT code, start, "end", closed_at, closed_by FROM years WHERE code = ?',
                               (code,), f"fiscal year {code!r}", "fiscal_year"))  # fmt: skip

    def years(self) -> list[FiscalYear]:
        return [_year(r) for r in self._all('SELECT code, start, "end", closed_at, closed_by FROM years ORDER BY start')]

    def project(self, code: str) -> Project:
        return Project(*self._one("SELECT code, name, kind, programme, description FROM projects WHERE code = ?",
                                  (code,), f"project {code!r}", "project"))  # fmt: skip

    def projects(self) -> list[Project]:
        return [Project(*r) for r in self._all("SELECT code, name, kind, programme, description FROM projects ORDER BY code")]

    def category(self, code: str) -> Category:
        return Category(*self._one("SELECT code, name FROM categories WHERE code = ?", (code,),
                                   f"category {code!r}", "category"))  # fmt: skip

    def categories(self) -> list[Category]:
        return [Category(*r) for r in self._all("SELECT code, name FROM categories ORDER BY code")]

    def funding(self, code: str) -> FundingSource:
        return FundingSource(*self._one("SELECT code, name, kind FROM fundings WHERE code = ?", (code,),
                                        f"funding source {code!r}", "funding"))  # fmt: skip

    def fundings(self) -> list[FundingSource]:
        return [FundingSource(*r) for r in self._all("SELECT code, name, kind FROM fundings ORDER BY code")]

    def line(self, line_id: int) -> Line:
        return Line(*self._one(f"SELECT {_LINE_COLS} FROM lines WHERE id = ?", (line_id,),
                               f"budget line {line_id}", "line"))  # fmt: skip

    def lines(self, *, year: str | None = None, project: str | None = None) -> list[Line]:
        sql, params = f"SELECT {_LINE_COLS} FROM lines WHERE 1 = 1", []
        if year is not None:
            sql += " AND year = ?"
            params.append(year)
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        return [Line(*r) for r in self._all(sql + " ORDER BY id", tuple(params))]

    def find_line(self, year: str, project: str, category: str, funding: str) -> Line | None:
        rows = self._all(f"SELECT {_LINE_COLS} FROM lines WHERE year = ? AND project = ? AND "
                         "category = ? AND funding = ?", (year, project, category, funding))  # fmt: skip
        return Line(*rows[0]) if rows else None

    def versions(self, year: str) -> list[Version]:
        return [Version(*r) for r in self._all(f"SELECT {_VERSION_COLS} FROM versions WHERE year = ? "
                                               "ORDER BY number", (year,))]  # fmt: skip

    def amounts(self, version_id: int) -> dict[int, int]:
        return {int(a): int(b) for a, b in self._all(
            "SELECT line_id, minor FROM amounts WHERE version_id = ?", (version_id,))}  # fmt: skip

    def transaction(self, tx_id: int) -> Transaction:
        return _tx(self._one(f"SELECT {_TX_COLS} FROM transactions WHERE id = ?", (tx_id,),
                             f"transaction {tx_id}", "transaction"))  # fmt: skip

    def transactions(self, *, year: str | None = None, line_id: int | None = None,
                     kind: str | None = None, commitment_id: int | None = None,
                     project: str | None = None) -> list[Transaction]:  # fmt: skip
        sql, params = f"SELECT {_TX_COLS} FROM transactions WHERE 1 = 1", []
        for col, value in (("year", year), ("line_id", line_id), ("kind", kind),
                           ("commitment_id", commitment_id), ("project", project)):  # fmt: skip
            if value is not None:
                sql += f" AND {col} = ?"
                params.append(value)
        return [_tx(r) for r in self._all(sql + " ORDER BY id", tuple(params))]

    def approvals(self, tx_id: int) -> list[Approval]:
        return [Approval(*r) for r in self._all(
            "SELECT transaction_id, approver, decision, at, note FROM approvals WHERE transaction_id = ? "
            "ORDER BY at", (tx_id,))]  # fmt: skip

    def position(self, line_id: int) -> Position:
        row = self._one(
            """SELECT
                 (SELECT a.minor FROM amounts a JOIN versions v ON v.id = a.version_id
                   WHERE a.line_id = l.id AND v.status = 'approved' ORDER BY v.number DESC LIMIT 1),
                 (SELECT coalesce(sum(amount_line_minor), 0) FROM transactions WHERE line_id = l.id
                   AND kind = 'commitment' AND status = 'approved'),
                 (SELECT coalesce(sum(amount_line_minor), 0) FROM transactions WHERE line_id = l.id
                   AND kind = 'commitment' AND status = 'pending'),
                 (SELECT coalesce(sum(amount_line_minor), 0) FROM transactions WHERE line_id = l.id
                   AND kind IN ('disbursement', 'expenditure')),
                 (SELECT coalesce(sum(amount_line_minor), 0) FROM transactions WHERE line_id = l.id
                   AND kind IN ('disbursement', 'expenditure') AND commitment_id IS NULL)
               FROM lines l WHERE l.id = ?""", (line_id,), f"budget line {line_id}", "line")  # fmt: skip
        revised, committed, pending, spent, direct = (int(v or 0) for v in row)
        return Position(line_id, revised, committed, pending, spent, direct)

    def spent_on(self, commitment_id: int) -> int:
        rows = self._all("SELECT coalesce(sum(amount_minor), 0) FROM transactions WHERE commitment_id = ?", (commitment_id,))
        return int(rows[0][0] or 0) if rows else 0

    def rates_between(self, a: str, b: str, first: dt.date, last: dt.date) -> list[Rate]:
        """Quotes of the pair a/b or b/a dated within [first, last], newest first."""
        return [Rate(dt.date.fromisoformat(d), x, y, r) for d, x, y, r in self._all(
            "SELECT day, base, quote, rate FROM rates WHERE ((base = ? AND quote = ?) OR "
            "(base = ? AND quote = ?)) AND day BETWEEN ? AND ? ORDER BY day DESC, base = ? DESC",
            (a, b, b, a, first.isoformat(), last.isoformat(), a))]  # fmt: skip

    def rates(self) -> list[Rate]:
        return [Rate(dt.date.fromisoformat(d), x, y, r) for d, x, y, r in self._all(
            "SELECT day, base, quote, rate FROM rates ORDER BY day, base, quote")]  # fmt: skip

    def links(self, *, owner: str | None = None, owner_id: str | None = None,
              kind: str | None = None, ref: str | None = None) -> list[Link]:  # fmt: skip
        sql, params = "SELECT owner, owner_id, kind, ref, note FROM links WHERE 1 = 1", []
        for col, value in (("owner", owner), ("owner_id", owner_id), ("kind", kind), ("ref", ref)):
            if value is not None:
                sql += f" AND {col} = ?"
                params.append(value)
        return [Link(*r) for r in self._all(sql + " ORDER BY owner, owner_id, kind, ref", tuple(params))]

    def station(self, code: str) -> Station:
        return Station(*self._one("SELECT code, name, lat, lon FROM stations WHERE code = ?", (code,),
                                  f"ground station {code!r}", "station"))  # fmt: skip

    def stations(self) -> list[Station]:
        return [Station(*r) for r in self._all("SELECT code, name, lat, lon FROM stations ORDER BY code")]

    def price(self, agreement_id: int) -> Price:
        return Price(*self._one("SELECT agreement_id, unit, price, currency, project, funding FROM prices "
                                "WHERE agreement_id = ?", (agreement_id,),
                                f"price of agreement {agreement_id}", "agreement"))  # fmt: skip

    def prices(self) -> list[Price]:
        return [Price(*r) for r in self._all(
            "SELECT agreement_id, unit, price, currency, project, funding FROM prices ORDER BY agreement_id")]

    def bookings(self, agreement_id: int) -> list[tuple[dt.date, dt.date, int]]:
        return [(dt.date.fromisoformat(a), dt.date.fromisoformat(b), int(t)) for a, b, t in self._all(
            'SELECT start, "end", transaction_id FROM bookings WHERE agreement_id = ? ORDER BY start',
            (agreement_id,))]  # fmt: skip

    # ------------------------------------------------------------------ writes
    def _exec(self, sql: str, params: tuple[Any, ...], conflict: str | None = None,
              field: str | None = None) -> Any:  # fmt: skip
        try:
            return self._conn().execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if conflict is None:
                raise
            raise Conflict(conflict, field=field) from exc

    def _insert(self, sql: str, params: tuple[Any, ...], conflict: str | None = None,
                field: str | None = None) -> int:  # fmt: skip
        """An INSERT of one row; the id the database gave it."""
        return int(self._exec(sql, params, conflict, field).lastrowid or 0)

    def lock_line(self, line_id: int) -> None:
        """SQLite: the write transaction holds the database lock already."""

    def insert_year(self, year: FiscalYear) -> None:
        self._exec('INSERT INTO years (code, start, "end") VALUES (?, ?, ?)',
                   (year.code, year.start.isoformat(), year.end.isoformat()),
                   f"fiscal year {year.code!r} already exists", "fiscal_year")  # fmt: skip

    def close_year(self, code: str, at: float, by: str) -> None:
        self._exec("UPDATE years SET closed_at = ?, closed_by = ? WHERE code = ?", (at, by, code))

    def insert_project(self, project: Project) -> None:
        self._exec("INSERT INTO projects VALUES (?, ?, ?, ?, ?)",
                   (project.code, project.name, project.kind, project.programme, project.description),
                   f"project {project.code!r} already exists", "project")  # fmt: skip

    def insert_category(self, category: Category) -> None:
        self._exec("INSERT INTO categories VALUES (?, ?)", (category.code, category.name),
                   f"category {category.code!r} already exists", "category")  # fmt: skip

    def insert_funding(self, source: FundingSource) -> None:
        self._exec("INSERT INTO fundings VALUES (?, ?, ?)", (source.code, source.name, source.kind),
                   f"funding source {source.code!r} already exists", "funding")  # fmt: skip

    def insert_line(self, line: Line) -> int:
        return self._insert(
            f"INSERT INTO lines ({_LINE_NEW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (line.year, line.project, line.category, line.funding, line.currency,
             line.control_commitment, line.control_expenditure, line.description, line.created_by),
            f"a line for {line.project} × {line.category} × {line.year} × {line.funding} already exists",
            "line")  # fmt: skip

    def set_controls(self, line_id: int, commitment: str, expenditure: str) -> None:
        self._exec("UPDATE lines SET control_commitment = ?, control_expenditure = ? WHERE id = ?",
                   (commitment, expenditure, line_id))  # fmt: skip

    def insert_version(self, year: str, number: int, reason: str, by: str, at: float) -> int:
        return self._insert("INSERT INTO versions (year, number, status, reason, created_by, created_at) "
                            "VALUES (?, ?, 'draft', ?, ?, ?)", (year, number, reason, by, at),
                            f"version {number} of {year} already exists", "version")  # fmt: skip

    def approve_version(self, version_id: int, by: str, at: float) -> None:
        self._exec("UPDATE versions SET status = 'approved', approved_by = ?, approved_at = ? WHERE id = ?",
                   (by, at, version_id))  # fmt: skip

    def delete_version(self, version_id: int) -> None:
        self._exec("DELETE FROM amounts WHERE version_id = ?", (version_id,))
        self._exec("DELETE FROM versions WHERE id = ?", (version_id,))

    def set_amount(self, version_id: int, line_id: int, minor: int) -> None:
        self._exec("INSERT INTO amounts VALUES (?, ?, ?) ON CONFLICT (version_id, line_id) "
                   "DO UPDATE SET minor = excluded.minor", (version_id, line_id, int(minor)))  # fmt: skip

    def insert_transaction(self, tx: Transaction) -> int:
        values = list(tx.__dict__.values())
        values[8] = tx.value_date.isoformat()
        values[11] = tx.rate_date.isoformat() if tx.rate_date else None
        return self._insert(f"INSERT INTO transactions ({_TX_NEW}) VALUES (?{', ?' * 19})",
                            tuple(values[1:]))  # fmt: skip

    def set_status(self, tx_id: int, status: str) -> None:
        self._exec("UPDATE transactions SET status = ? WHERE id = ?", (status, tx_id))

    def insert_approval(self, approval: Approval) -> None:
        self._exec("INSERT INTO approvals VALUES (?, ?, ?, ?, ?)",
                   (approval.transaction_id, approval.approver, approval.decision, approval.at,
                    approval.note),
                   f"{approval.approver} has already decided on transaction {approval.transaction_id}",
                   "approver")  # fmt: skip

    def upsert_rates(self, rates: list[Rate]) -> int:
        self._conn().executemany("INSERT INTO rates VALUES (?, ?, ?, ?) ON CONFLICT (base, quote, day) "
                      "DO UPDATE SET rate = excluded.rate",
                      [(r.day.isoformat(), r.base, r.quote, r.rate) for r in rates])  # fmt: skip
        return len(rates)

    def insert_link(self, link: Link) -> None:
        self._exec("INSERT INTO links VALUES (?, ?, ?, ?, ?)",
                   (link.owner, link.owner_id, link.kind, link.ref, link.note),
                   f"{link.owner} {link.owner_id} is already linked to {link.kind} {link.ref}", "ref")

    def insert_station(self, station: Station) -> None:
        self._exec("INSERT INTO stations VALUES (?, ?, ?, ?)",
                   (station.code, station.name, station.lat_deg, station.lon_deg),
                   f"ground station {station.code!r} already exists", "station")  # fmt: skip

    def upsert_price(self, price: Price) -> None:
        self._exec("INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agreement_id) DO UPDATE "
                   "SET unit = excluded.unit, price = excluded.price, currency = excluded.currency, "
                   "project = excluded.project, funding = excluded.funding",
                   (price.agreement_id, price.unit, price.price, price.currency, price.project,
                    price.funding))  # fmt: skip

    def insert_booking(self, agreement_id: int, start: dt.date, end: dt.date, tx_id: int) -> None:
        self._exec("INSERT INTO bookings VALUES (?, ?, ?, ?)",
                   (agreement_id, start.isoformat(), end.isoformat(), tx_id))  # fmt: skip


class SQLiteBudgetStore(_Ops):
    """The budget on one SQLite file; one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conns = ThreadConnections(self.path, timeout=60.0, pragmas=("foreign_keys=ON",))
        self._lock = threading.Lock()  # in-process writers queue here instead of busy-waiting
        super().__init__(self.conn)
        with self._lock:
            self._migrate()

    def conn(self) -> sqlite3.Connection:
        return self._conns.get()

    def _migrate(self) -> None:
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            current = c.execute("PRAGMA user_version").fetchone()[0]
            for number, sql in enumerate(MIGRATIONS[current:], current + 1):
                for statement in sql.split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(f"PRAGMA user_version = {number}")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[_Ops]:
        """One write transaction (``BEGIN IMMEDIATE``): committed when the block ends, rolled
        back (nothing written) when it raises."""
        c = self.conn()
        with self._lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield _Ops(lambda: c)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._conns.close()

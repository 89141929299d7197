"""The budget service: controls, maker–checker, versions and revisions, bad input (nothing
written), and every change in the audit chain."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from budget_support import CHECKER, MAKER, Env, make_env, small_year

from sathub.errors import Conflict, Forbidden, InvalidInput, NotFound, SathubError


@pytest.fixture()
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path / "data")


def _snapshot(env: Env) -> tuple[object, ...]:
    s = env.service.store
    return (s.years(), s.projects(), s.lines(), [s.versions(y.code) for y in s.years()],
            s.transactions(), s.rates(), s.links(), len(env.access.audit.records()))  # fmt: skip


def test_over_commitment_is_refused_under_stop(env: Env) -> None:
    s = env.service
    line = small_year(s, amount="1000.00")
    s.commit(MAKER, line, "700", "USD", "2025-03-01", counterparty="Antenna Co")
    before = _snapshot(env)
    with pytest.raises(Conflict) as e:
        s.commit(MAKER, line, "300.01", "USD", "2025-03-02", counterparty="Antenna Co")
    assert e.value.field == "amount" and "300.01 USD" in e.value.message and "300.00 USD" in e.value.message
    assert _snapshot(env) == before  # nothing written, not even an audit record
    s.commit(MAKER, line, "300.00", "USD", "2025-03-02", counterparty="Antenna Co")  # exactly the rest
    assert s.store.position(line).available == 0


def test_warn_records_the_overrun_and_ignore_does_not(env: Env) -> None:
    s = env.service
    line = small_year(s, amount="1000.00", control="warn")
    out = s.commit(MAKER, line, "1200", "USD", "2025-03-01", counterparty="Launch Co")
    assert out.warnings and "200.00 USD" in out.warnings[0]
    tx = s.store.transaction(int(out.id))
    assert tx.overrun_minor == 20000 and s.store.position(line).available == -20000
    rec = env.access.audit.records()[-1]
    assert rec["action"] == "budget.commitment.add" and rec["detail"]["overrun"] == "200.00"
    # a direct expenditure on an overdrawn line: its whole amount is overrun
    out = s.spend(MAKER, "expenditure", "10", "USD", "2025-03-05", line_id=line, counterparty="Shop")
    assert s.store.transaction(int(out.id)).overrun_minor == 1000
    s.set_controls(MAKER, line, "ignore", "ignore")
    out = s.commit(MAKER, line, "5", "USD", "2025-03-06", counterparty="Shop")
    assert not out.warnings and s.store.transaction(int(out.id)).overrun_minor == 0


def test_stages_are_controlled_separately(env: Env) -> None:
    s = env.service
    line = small_year(s, amount="100.00")
    s.set_controls(MAKER, line, "stop", "warn")
    with pytest.raises(Conflict):
        s.commit(MAKER, line, "150", "USD", "2025-03-01", counterparty="X")
    out = s.spend(MAKER, "expenditure", "150", "USD", "2025-03-01", line_id=line, counterparty="X")
    assert out.warnings and s.store.transaction(int(out.id)).overrun_minor == 5000


def test_spending_against_a_commitment(env: Env) -> None:
    s = env.service
    line = small_year(s, amount="1000.00")
    c = int(s.commit(MAKER, line, "500", "EUR", "2025-03-01", counterparty="Antenna GmbH").id)
    assert s.store.transaction(c).amount_line_minor == 54000  # 500 EUR at 1.08
    s.spend(MAKER, "disbursement", "100", "EUR", "2025-03-10", commitment_id=c)
    s.spend(MAKER, "expenditure", "300", "EUR", "2025-07-10", commitment_id=c)
    before = _snapshot(env)
    with pytest.raises(InvalidInput) as e:  # above what is left of the commitment (100 EUR)
        s.spend(MAKER, "expenditure", "100.01", "EUR", "2025-07-11", commitment_id=c)
    assert e.value.field == "amount" and "100.00 EUR" in e.value.message
    with pytest.raises(InvalidInput) as e:
        s.spend(MAKER, "expenditure", "10", "USD", "2025-07-11", commitment_id=c)
    assert e.value.field == "currency"
    assert _snapshot(env) == before
    p = s.store.position(line)
    # spending under a commitment does not reduce the available balance a second time
    assert (p.committed, p.spent, p.direct_spent, p.available) == (54000, 10800 + 33000, 0, 100000 - 54000)
    assert s.store.transaction(c + 2).rate == "1.10"  # July's EUR/USD


def test_maker_checker(env: Env) -> None:
    s = env.service  # threshold 50,000 USD
    line = small_year(s, amount="200000.00")
    small = s.commit(MAKER, line, "50000.00", "USD", "2025-03-01", counterparty="A")
    assert s.store.transaction(int(small.id)).status == "approved"  # not above the threshold
    big = int(s.commit(MAKER, line, "50000.01", "USD", "2025-03-01", counterparty="B").id)
    assert s.store.transaction(big).status == "pending"
    assert s.store.position(line).pending == 5000001  # reserved while it waits
    with pytest.raises(Conflict) as e:  # nothing can be spent against it yet
        s.spend(MAKER, "expenditure", "1", "USD", "2025-03-02", commitment_id=big)
    assert e.value.field == "commitment"
    before = _snapshot(env)
    with pytest.raises(Forbidden) as f:
        s.decide(MAKER, big, "approved")
    assert f.value.field == "approver"
    assert _snapshot(env) == before
    s.decide(CHECKER, big, "approved", "contract checked")
    with pytest.raises(Conflict) as e:  # the same person a second time
        s.decide(CHECKER, big, "approved")
    assert e.value.field == "approver"
    with pytest.raises(Conflict):  # anyone else: it is no longer pending
        s.decide("approver:second", big, "approved")
    assert [a.approver for a in s.store.approvals(big)] == [CHECKER]
    # in another currency the threshold applies to the reporting-currency value
    mmk = int(s.commit(MAKER, line, "105000021", "MMK", "2025-03-03", counterparty="C").id)
    assert s.store.transaction(mmk).status == "pending"  # 105,000,021 MMK / 2100 = 50,000.01 USD
    s.decide(CHECKER, mmk, "rejected", "no")
    assert s.store.position(line).pending == 0


def test_versions_and_revision_history(env: Env) -> None:
    s = env.service
    line = small_year(s, amount="1000.00")
    s.commit(MAKER, line, "600", "USD", "2025-03-01", counterparty="X")
    with pytest.raises(Conflict):  # no open draft after approval
        s.set_amount(MAKER, line, "2000")
    v2 = s.start_revision(MAKER, "FY2025", "launch slipped; antenna costs more")
    assert v2.number == 2 and v2.status == "draft"
    s.set_amount(MAKER, line, "1500")
    with pytest.raises(Forbidden):  # the drafter does not approve
        s.approve_version(MAKER, "FY2025")
    s.approve_version(CHECKER, "FY2025")
    assert s.store.position(line).revised == 150000
    s.start_revision(MAKER, "FY2025", "savings")
    s.set_amount(MAKER, line, "500")  # below the 600 committed
    with pytest.raises(InvalidInput) as e:
        s.approve_version(CHECKER, "FY2025")
    assert e.value.field == "amount" and "600.00 USD" in e.value.message
    assert s.discard_revision(MAKER, "FY2025") == 3
    hist = s.history("FY2025")
    assert [(h["number"], h["kind"], h["status"], h["amounts"][str(line)]) for h in hist] == [
        (1, "original", "approved", "1000.00"), (2, "revision", "approved", "1500.00")]
    assert hist[1]["reason"] == "launch slipped; antenna costs more"
    assert (hist[1]["created_by"], hist[1]["approved_by"]) == (MAKER, CHECKER)
    s.close_year(CHECKER, "FY2025")
    before = _snapshot(env)
    for call in (lambda: s.start_revision(MAKER, "FY2025", "too late"),
                 lambda: s.commit(MAKER, line, "1", "USD", "2025-03-01", counterparty="X")):  # fmt: skip
        with pytest.raises(Conflict) as e:
            call()
        assert e.value.field == "fiscal_year" and "closed" in e.value.message
    assert _snapshot(env) == before


BAD_INPUT = [
    ("unknown line", lambda s, ln: s.commit(MAKER, 999, "1", "USD", "2025-03-01", counterparty="X"), NotFound, "line"),
    ("unknown currency", lambda s, ln: s.commit(MAKER, ln, "1", "XYZ", "2025-03-01", counterparty="X"), InvalidInput, "currency"),
    ("lower-case currency", lambda s, ln: s.commit(MAKER, ln, "1", "usd", "2025-03-01", counterparty="X"), InvalidInput, "currency"),
    ("negative", lambda s, ln: s.commit(MAKER, ln, "-5", "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("malformed", lambda s, ln: s.commit(MAKER, ln, "12,5", "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("float", lambda s, ln: s.commit(MAKER, ln, 12.5, "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("too precise", lambda s, ln: s.commit(MAKER, ln, "1.005", "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("yen cents", lambda s, ln: s.commit(MAKER, ln, "1.5", "JPY", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("nan", lambda s, ln: s.commit(MAKER, ln, "NaN", "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("zero", lambda s, ln: s.commit(MAKER, ln, "0", "USD", "2025-03-01", counterparty="X"), InvalidInput, "amount"),
    ("bad date", lambda s, ln: s.commit(MAKER, ln, "1", "USD", "2025-02-30", counterparty="X"), InvalidInput, "value_date"),
    ("outside year", lambda s, ln: s.commit(MAKER, ln, "1", "USD", "2026-01-01", counterparty="X"), InvalidInput, "value_date"),
    ("no rate", lambda s, ln: s.commit(MAKER, ln, "1", "GBP", "2025-03-01", counterparty="X"), InvalidInput, "value_date"),
    ("rate too old", lambda s, ln: s.commit(MAKER, ln, "1", "EUR", "2024-12-31", counterparty="X"), InvalidInput, "value_date"),
    ("no counterparty", lambda s, ln: s.commit(MAKER, ln, "1", "USD", "2025-03-01", counterparty=""), InvalidInput, "counterparty"),
    ("unknown project", lambda s, ln: s.add_line(MAKER, "FY2025", "NOPE", "equipment", "GOV", "USD"), NotFound, "project"),
    ("unknown category", lambda s, ln: s.add_line(MAKER, "FY2025", "SAT1", "nope", "GOV", "USD"), NotFound, "category"),
    ("unknown year", lambda s, ln: s.add_line(MAKER, "FY1999", "SAT1", "equipment", "GOV", "USD"), NotFound, "fiscal_year"),
    ("duplicate line", lambda s, ln: s.add_line(MAKER, "FY2025", "SAT1", "equipment", "GOV", "USD"), Conflict, "line"),
    ("bad link", lambda s, ln: s.commit(MAKER, ln, "1", "USD", "2025-03-01", counterparty="X", links=[("satellite", "abc")]), NotFound, "ref"),
    ("overlapping year", lambda s, ln: s.add_year(MAKER, "FY2025b", "2025-06-01"), InvalidInput, "start"),
    ("bad rates file", lambda s, ln: s.load_rates(MAKER, "date,base,quote,rate\n2025-01-01,USD,MMK,-3\n"), InvalidInput, "rate"),
    ("empty actor", lambda s, ln: s.commit(" ", ln, "1", "USD", "2025-03-01", counterparty="X"), InvalidInput, "actor"),
]  # fmt: skip


@pytest.mark.parametrize("name, call, exc, field", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_names_the_field_and_writes_nothing(env: Env, name: str, call, exc, field: str) -> None:  # type: ignore[no-untyped-def]
    line = small_year(env.service)
    before = _snapshot(env)
    with pytest.raises(exc) as e:
        call(env.service, line)
    assert isinstance(e.value, SathubError) and e.value.field == field, (e.value.field, e.value.message)
    assert _snapshot(env) == before


def test_every_change_is_in_the_audit_chain(env: Env) -> None:
    s = env.service
    line = small_year(s)
    c = int(s.commit(MAKER, line, "100", "USD", "2025-03-01", counterparty="X", links=[("satellite", "62345")]).id)
    s.spend(MAKER, "expenditure", "40", "USD", "2025-03-02", commitment_id=c)
    s.receive(MAKER, "incoming_funds", "FY2025", "SAT1", "GOV", "1000", "USD", "2025-01-15", counterparty="MOPF")
    actions = [r["action"] for r in env.access.audit.records() if r["action"] != "state.baseline"]
    assert actions == ["budget.rates.load", "budget.year.add", "budget.project.add", "budget.funding.add",
                       "budget.line.add", "budget.version.approve", "budget.commitment.add",
                       "budget.expenditure.add", "budget.incoming_funds.add"]  # fmt: skip
    last = env.access.audit.records()[-3]
    assert last["resource"] == f"budget:tx:{c}" and last["actor"] == MAKER
    assert last["detail"]["links"] == [{"kind": "satellite", "ref": "62345"}]
    assert env.access.audit.verify().ok


def test_money_stays_decimal_in_the_database(env: Env) -> None:
    import sqlite3

    s = env.service
    line = small_year(s, amount="0.10")
    s.commit(MAKER, line, "0.10", "USD", "2025-03-01", counterparty="X")
    db = sqlite3.connect(env.root / "budget.db")
    types = {r[0] for r in db.execute("SELECT DISTINCT typeof(amount_minor) || typeof(amount_line_minor) "
                                      "FROM transactions UNION SELECT typeof(minor) FROM amounts")}  # fmt: skip
    assert types <= {"integerinteger", "integer"}
    assert {r[0] for r in db.execute("SELECT DISTINCT typeof(rate) FROM rates")} == {"text"}
    assert s.store.position(line).available == 0 and Decimal("0.10") * 3 == Decimal("0.30")


def test_ids_past_64_bits_name_nothing(env: Env) -> None:
    """Found by schemathesis: such an id used to reach SQLite and raise OverflowError (a 500)."""
    s = env.service
    line = small_year(s)
    for call in (lambda: s.store.transaction(2**64), lambda: s.store.line(2**64),
                 lambda: s.commit(MAKER, 2**64, "1", "USD", "2025-03-01", counterparty="x"),
                 lambda: s.spend(MAKER, "expenditure", "1", "USD", "2025-03-01", commitment_id=2**70)):  # fmt: skip
        with pytest.raises(NotFound):
            call()
    assert s.store.transactions(line_id=2**64) == [] and s.store.spent_on(2**64) == 0
    assert s.store.position(line).revised == 100000

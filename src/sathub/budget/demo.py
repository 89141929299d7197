"""The demo installation's programme budget: a small Earth-observation satellite (MMSAT-1)
with its launch, a ground station near Yangon, the national EO data centre, training and
administration, over fiscal years 2024-25 (executed and closed), 2025-26 (approved, revised
once, being executed) and 2026-27 (drafted), in MMK and USD with an antenna bought in EUR.

Myanmar's fiscal year runs from 1 April to 31 March. The amounts are plausible, not real; the
organisations are fictional. docs/budget.md walks through these numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from sathub.budget.service import BudgetService

if TYPE_CHECKING:
    from sathub.orbits.store import OrbitStore

FINANCE = "demo:finance-officer"
APPROVER = "demo:budget-approver"
DIRECTOR = "demo:director"
SATELLITE_NORAD = 89001  # a placeholder catalogue number (the analyst range) until launch
EUR_USD = ["1.07", "1.08", "1.07", "1.09", "1.10", "1.11", "1.09", "1.06", "1.04", "1.04", "1.05", "1.08",
           "1.12", "1.13", "1.15", "1.17", "1.16", "1.17", "1.16", "1.15", "1.16", "1.17", "1.17", "1.16",
           "1.16", "1.16", "1.16"]  # first of each month from April 2024  # fmt: skip


def rates_csv() -> str:
    rows = ["date,base,quote,rate"]
    for i, eur in enumerate(EUR_USD):
        day = dt.date(2024 + (3 + i) // 12, (3 + i) % 12 + 1, 1)
        rows += [f"{day},USD,MMK,2100", f"{day},EUR,USD,{eur}"]
    return "\n".join(rows) + "\n"


PROJECTS = [
    ("MMSAT1", "MMSAT-1 small Earth-observation satellite", "satellite",
     "100 kg optical satellite, 5 m multispectral imager, for agriculture and disaster response"),
    ("LAUNCH", "MMSAT-1 launch", "launch", "Rideshare launch to a 550 km sun-synchronous orbit"),
    ("GS-YGN", "Yangon ground station", "ground_station", "X-band receiving antenna, S-band TT&C, site works"),
    ("DC", "National EO data centre", "data_centre", "Archive, catalogue and distribution (sathub)"),
    ("TRAIN", "Capacity building", "training", "Engineers and analysts trained abroad and at home"),
    ("ADMIN", "Programme administration", "administration", "Programme office staff and running costs"),
]  # fmt: skip
FUNDING = [("UNION", "Union budget appropriation", "government"),
           ("DONOR", "Partner cooperation grant", "donor"),
           ("LOAN", "Export credit loan", "loan"),
           ("REVENUE", "Data sales and services", "own_revenue")]  # fmt: skip
# (project, category, funding, currency, FY2024, FY2025, FY2026 draft); None: no line that year
LINES = [
    ("MMSAT1", "equipment", "LOAN", "USD", "2400000", "6800000", "2100000"),
    ("MMSAT1", "technology", "UNION", "MMK", None, "420000000", "150000000"),
    ("LAUNCH", "launch_services", "LOAN", "USD", None, "1450000", "950000"),
    ("GS-YGN", "equipment", "DONOR", "USD", None, "1900000", None),
    ("GS-YGN", "infrastructure", "UNION", "MMK", "600000000", "1250000000", "300000000"),
    ("DC", "technology", "UNION", "USD", "300000", "650000", "200000"),
    ("DC", "infrastructure", "UNION", "MMK", None, "980000000", None),
    ("DC", "data_purchase", "REVENUE", "USD", None, "120000", "150000"),
    ("TRAIN", "personnel_training", "DONOR", "USD", None, "280000", "250000"),
    ("TRAIN", "personnel_training", "UNION", "MMK", "250000000", "310000000", "330000000"),
    ("ADMIN", "administration", "UNION", "MMK", "480000000", "540000000", "570000000"),
]  # fmt: skip
YEARS = [("FY2024", dt.date(2024, 4, 1)), ("FY2025", dt.date(2025, 4, 1)), ("FY2026", dt.date(2026, 4, 1))]


def build(svc: BudgetService, data_dir: Path | OrbitStore | None = None) -> str:
    """Create the demo budget (idempotent: nothing happens when FY2024 exists). With
    ``data_dir``, MMSAT-1 is registered (status planned) in the orbits registry and linked."""
    if any(y.code == "FY2024" for y in svc.store.years()):
        return "demo budget: already there"
    svc.load_rates(FINANCE, rates_csv(), source="demo: Central Bank reference USD/MMK, EUR/USD")
    for code, name, kind in FUNDING:
        svc.add_funding(FINANCE, code, name, kind)
    for code, name, kind, desc in PROJECTS:
        svc.add_project(FINANCE, code, name, kind, "National Earth Observation Programme", desc)
    svc.add_station(FINANCE, "YGN", "Yangon (Hmawbi) ground station", 17.1, 96.07)
    svc.link(FINANCE, "project", "GS-YGN", "station", "YGN")
    if data_dir is not None:
        from sathub.orbits.registry import Launch, Registry, Satellite

        reg = Registry(data_dir)
        reg.upsert(Satellite(norad_id=SATELLITE_NORAD, name="MMSAT-1", operator="National space agency",
                             owner_type="government", country="MM", status="planned", orbit_class="LEO",
                             launch=Launch(date=dt.date(2026, 7, 1), vehicle="rideshare")))  # fmt: skip
        svc.link(FINANCE, "project", "MMSAT1", "satellite", SATELLITE_NORAD)
        svc.link(FINANCE, "project", "LAUNCH", "satellite", SATELLITE_NORAD)
    ids: dict[tuple[str, str, str, str], int] = {}
    for i, (code, start) in enumerate(YEARS):
        svc.add_year(FINANCE, code, start)
        for project, cat, fund, cur, *amounts in LINES:
            if amounts[i] is not None:
                control = "warn" if cat == "data_purchase" else "stop"
                ids[(code, project, cat, fund)] = svc.add_line(
                    FINANCE, code, project, cat, fund, cur, amounts[i], control_commitment=control,
                    control_expenditure=control).id  # fmt: skip
        if code != "FY2026":
            svc.approve_version(APPROVER, code)
    _fy2024(svc, ids)
    svc.close_year(APPROVER, "FY2024")
    _fy2025(svc, ids)
    return "demo budget: FY2024 executed and closed, FY2025 revised and in execution, FY2026 drafted"


def _commit(svc: BudgetService, line: int, amount: str, cur: str, day: str, who: str, ref: str) -> int:
    out = svc.commit(FINANCE, line, amount, cur, day, counterparty=who, reference=ref)
    if out.detail["status"] == "pending":
        svc.decide(DIRECTOR, int(out.id), "approved", "contract reviewed")
    return int(out.id)


def _fy2024(svc: BudgetService, ids: dict[tuple[str, str, str, str], int]) -> None:
    y = "FY2024"
    svc.receive(FINANCE, "incoming_funds", y, "MMSAT1", "LOAN", "2400000", "USD", "2024-06-03",
                counterparty="Export credit agency", reference="Loan drawdown 1")  # fmt: skip
    sat = _commit(svc, ids[(y, "MMSAT1", "equipment", "LOAN")], "2400000", "USD", "2024-06-10",
                  "Orbital Microsystems Ltd", "Spacecraft contract, phase A/B milestones")  # fmt: skip
    svc.spend(FINANCE, "disbursement", "960000", "USD", "2024-07-01", commitment_id=sat, reference="Advance 40%")
    svc.spend(FINANCE, "expenditure", "1440000", "USD", "2025-02-20", commitment_id=sat, reference="PDR milestone")
    site = _commit(svc, ids[(y, "GS-YGN", "infrastructure", "UNION")], "585000000", "MMK", "2024-08-05",
                   "Yangon Civil Works Co.", "Ground station site preparation")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "585000000", "MMK", "2025-01-31", commitment_id=site)
    srv = _commit(svc, ids[(y, "DC", "technology", "UNION")], "288500", "USD", "2024-10-01",
                  "Mandalay IT Supplies", "Archive servers, phase 1")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "288500", "USD", "2024-12-16", commitment_id=srv)
    for month in range(12):
        day = dt.date(2024 + (3 + month) // 12, (3 + month) % 12 + 1, 25).isoformat()
        svc.spend(FINANCE, "expenditure", "39000000", "MMK", day, line_id=ids[(y, "ADMIN", "administration", "UNION")],
                  counterparty="Programme office payroll")  # fmt: skip
        svc.spend(FINANCE, "expenditure", "20000000", "MMK", day,
                  line_id=ids[(y, "TRAIN", "personnel_training", "UNION")], counterparty="Training courses")  # fmt: skip


def _fy2025(svc: BudgetService, ids: dict[tuple[str, str, str, str], int]) -> None:
    y = "FY2025"

    def line(project: str, cat: str, fund: str) -> int:
        return ids[(y, project, cat, fund)]

    svc.receive(FINANCE, "incoming_commitment", y, "GS-YGN", "DONOR", "1900000", "USD", "2025-04-15",
                counterparty="Partner cooperation agency", reference="Grant agreement GS-01")  # fmt: skip
    svc.receive(FINANCE, "incoming_commitment", y, "TRAIN", "DONOR", "280000", "USD", "2025-04-15",
                counterparty="Partner cooperation agency", reference="Grant agreement TR-01")  # fmt: skip
    svc.receive(FINANCE, "incoming_funds", y, "GS-YGN", "DONOR", "950000", "USD", "2025-06-02",
                counterparty="Partner cooperation agency", reference="Tranche 1")  # fmt: skip
    svc.receive(FINANCE, "incoming_funds", y, "MMSAT1", "LOAN", "4000000", "USD", "2025-05-12",
                counterparty="Export credit agency", reference="Loan drawdown 2")  # fmt: skip
    svc.receive(FINANCE, "incoming_funds", y, "ADMIN", "UNION", "270000000", "MMK", "2025-04-07",
                counterparty="Ministry of Planning and Finance", reference="H1 release")  # fmt: skip
    svc.receive(FINANCE, "incoming_funds", y, "DC", "REVENUE", "18400", "USD", "2025-10-31",
                counterparty="Data sales", reference="Imagery licences, April-October")  # fmt: skip
    sat = _commit(svc, line("MMSAT1", "equipment", "LOAN"), "4400000", "USD", "2025-04-22",
                  "Orbital Microsystems Ltd", "Spacecraft contract, phase C/D")  # fmt: skip
    svc.spend(FINANCE, "disbursement", "1320000", "USD", "2025-05-05", commitment_id=sat, reference="Advance 30%")
    svc.spend(FINANCE, "expenditure", "1760000", "USD", "2025-10-15", commitment_id=sat, reference="CDR milestone")
    launch = _commit(svc, line("LAUNCH", "launch_services", "LOAN"), "1380000", "USD", "2025-05-02",
                     "Rideshare Launch Services", "Launch services agreement")  # fmt: skip
    svc.spend(FINANCE, "disbursement", "414000", "USD", "2025-06-02", commitment_id=launch, reference="Deposit 30%")
    antenna = _commit(svc, line("GS-YGN", "equipment", "DONOR"), "1540000", "EUR", "2025-06-12",
                      "Antenna Systems GmbH", "7.3 m X-band antenna with S-band TT&C")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "462000", "EUR", "2025-09-30", commitment_id=antenna, reference="Design review 30%")
    works = _commit(svc, line("GS-YGN", "infrastructure", "UNION"), "1020000000", "MMK", "2025-05-20",
                    "Yangon Civil Works Co.", "Antenna foundation, radome, power")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "300000000", "MMK", "2025-07-31", commitment_id=works)
    svc.spend(FINANCE, "expenditure", "310000000", "MMK", "2025-11-28", commitment_id=works)
    servers = _commit(svc, line("DC", "technology", "UNION"), "540000", "USD", "2025-07-01",
                      "Mandalay IT Supplies", "Archive servers and storage, phase 2")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "540000", "USD", "2025-10-01", commitment_id=servers)
    imagery = _commit(svc, line("DC", "data_purchase", "REVENUE"), "45000", "USD", "2025-08-11",
                      "Commercial imagery provider", "Archive imagery, Ayeyarwady delta")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "45000", "USD", "2025-09-01", commitment_id=imagery)
    # flood season: urgent tasking beyond the line's balance, recorded as an overrun (control: warn)
    svc.spend(FINANCE, "expenditure", "80000", "USD", "2025-08-20", line_id=line("DC", "data_purchase", "REVENUE"),
              counterparty="Commercial imagery provider", reference="Urgent flood tasking")  # fmt: skip
    training = _commit(svc, line("TRAIN", "personnel_training", "DONOR"), "210000", "USD", "2025-06-01",
                       "University partner", "Satellite engineering course, 12 engineers")  # fmt: skip
    svc.spend(FINANCE, "expenditure", "105000", "USD", "2025-09-15", commitment_id=training)
    for month in range(8):  # April to November
        day = dt.date(2025, 4 + month, 25).isoformat()
        svc.spend(FINANCE, "expenditure", "45000000", "MMK", day, line_id=line("ADMIN", "administration", "UNION"),
                  counterparty="Programme office payroll")  # fmt: skip
        svc.spend(FINANCE, "expenditure", "25000000", "MMK", day,
                  line_id=line("TRAIN", "personnel_training", "UNION"), counterparty="Training courses")  # fmt: skip
    svc.start_revision(FINANCE, y, "Mid-year review: the launch contract was signed below its estimate; the "
                       "antenna costs more with the euro; more commercial imagery for the flood season")  # fmt: skip
    svc.set_amount(FINANCE, line("LAUNCH", "launch_services", "LOAN"), "1380000")
    svc.set_amount(FINANCE, line("GS-YGN", "equipment", "DONOR"), "1960000")
    svc.set_amount(FINANCE, line("DC", "data_purchase", "REVENUE"), "160000")
    svc.approve_version(APPROVER, y)

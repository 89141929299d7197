"""Budget controls, after ERPNext's: for each line and each stage (``commitment``: a contract or
purchase order; ``expenditure``: spending without a commitment) the action when a write would
take the line past its available balance — ``stop`` refuses it (409, nothing written), ``warn``
writes it and records the overrun (on the transaction and in the audit), ``ignore`` writes it.

The available balance of a line, in its currency, under its current approved version, is
``revised − committed − pending − spent without a commitment``: commitments reserve money
from the moment they are entered (also while they wait for a second approval); spending
against a commitment uses that reservation and does not touch the balance again. Spending
against a commitment can never exceed what is left of the commitment, whatever the control.
"""

from __future__ import annotations

from sathub.budget.model import Line, Position
from sathub.budget.money import fmt, from_minor
from sathub.errors import Conflict


def overrun(line: Line, position: Position, stage: str, amount_line_minor: int) -> int:
    """How far past the available balance ``amount_line_minor`` would take the line (0: within
    it). Raises Conflict (field ``amount``) when the stage's control is ``stop``."""
    control = line.control_commitment if stage == "commitment" else line.control_expenditure
    over = amount_line_minor - max(position.available, 0)
    if over <= 0 or control == "ignore":
        return 0
    if control == "stop":
        raise Conflict(
            f"{stage} of {fmt(from_minor(amount_line_minor, line.currency), line.currency)} exceeds "
            f"line {line.id}'s available balance of "
            f"{fmt(from_minor(position.available, line.currency), line.currency)} "
            f"(control on {stage}: stop)", field="amount")  # fmt: skip
    return over

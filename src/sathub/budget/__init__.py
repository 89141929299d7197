"""The programme budget: fiscal years, projects, budget lines (project × category × year ×
funding source), versions (original, revisions), commitments, disbursements, expenditures and
incoming funds; Stop/Warn/Ignore controls and maker–checker approval; links to satellites,
ground stations, agreements and acquisition orders; reports, charts, CSV/XLSX, IATI 2.03 and a
Fiscal Data Package. Money is :class:`~decimal.Decimal` (integer minor units in the store).

Everything lives in ``DATA/budget.db`` (:mod:`sathub.budget.sqlite`), or in PostgreSQL
(:mod:`sathub.budget.pg`), behind the :class:`~sathub.budget.store.BudgetStore` contract; every change goes through
:class:`~sathub.budget.service.BudgetService` and into the hash-chained audit log. This
package never imports :mod:`sathub.api`. See docs/budget.md.
"""

from sathub.budget.config import BudgetConfig
from sathub.budget.model import Line, Position, Transaction, Version
from sathub.budget.service import BudgetService
from sathub.budget.store import BudgetReader, BudgetStore, BudgetWriter

__all__ = ["BudgetConfig", "BudgetReader", "BudgetService", "BudgetStore", "BudgetWriter", "Line",
           "Position", "Transaction", "Version"]  # fmt: skip

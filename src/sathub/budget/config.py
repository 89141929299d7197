"""The budget's settings, read once from :class:`sathub.config.Settings` (``SATHUB_BUDGET_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sathub.budget.money import check_currency, parse_amount


@dataclass(frozen=True)
class BudgetConfig:
    currency: str = "USD"  # the reporting currency
    approval_threshold: Decimal = Decimal("50000")  # in the reporting currency
    rate_max_age_days: int = 31
    fy_start_month: int = 1
    org_ref: str = "XM-DAC-SATHUB"
    org_name: str = "National space agency"

    @classmethod
    def from_settings(cls, settings: Any) -> BudgetConfig:
        currency = check_currency(settings.budget_currency, "SATHUB_BUDGET_CURRENCY")
        return cls(
            currency=currency,
            approval_threshold=parse_amount(settings.budget_approval_threshold, currency,
                                            field="SATHUB_BUDGET_APPROVAL_THRESHOLD", allow_zero=True),
            rate_max_age_days=settings.budget_rate_max_age_days,
            fy_start_month=settings.budget_fy_start_month,
            org_ref=settings.budget_org_ref,
            org_name=settings.budget_org_name,
        )  # fmt: skip

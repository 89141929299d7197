"""PNG charts of the budget (matplotlib, no display needed)."""

from __future__ import annotations

import datetime as dt
import io

from sathub.budget.config import BudgetConfig
from sathub.budget.money import from_minor
from sathub.budget.rates import factor
from sathub.budget.reports import Report, forecast
from sathub.budget.store import BudgetReader

BARS = ("approved", "revised", "committed", "spent", "available")
MAX_GROUPS = 40


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def report_chart(rep: Report, title: str = "Budget") -> bytes:
    """Grouped bars: approved, revised, committed, spent and available per row of a report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = rep.rows[:MAX_GROUPS]
    labels = [" / ".join(str(r[g]) or "—" for g in rep.group_by) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4.5))
    x = np.arange(len(rows))
    width = 0.8 / len(BARS)
    for i, m in enumerate(BARS):
        ax.bar(x + (i - len(BARS) / 2 + 0.5) * width, [float(r[m]) for r in rows], width, label=m)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel(rep.currency)
    ax.set_title(title + (f" (first {MAX_GROUPS} of {len(rep.rows)})" if len(rep.rows) > MAX_GROUPS else ""))
    ax.legend(fontsize="small")
    ax.axhline(0, color="black", linewidth=0.5)
    fig.tight_layout()
    return _png(fig)


def burn_chart(r: BudgetReader, config: BudgetConfig, year: str, as_of: dt.date) -> bytes:
    """Cumulative spending through the year against the revised budget, and the forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fy = r.year(year)
    f = forecast(r, config, year, as_of)
    cur = config.currency
    points: dict[dt.date, int] = {}
    for t in r.transactions(year=year):
        if t.kind in ("disbursement", "expenditure") and t.value_date <= as_of:
            value = factor(r, t.line_currency, cur, fy.start, config.rate_max_age_days).apply(t.amount_line_minor)
            points[t.value_date] = points.get(t.value_date, 0) + value
    days, total, ys = [fy.start], 0, [0.0]
    for day in sorted(points):
        total += points[day]
        days.append(day)
        ys.append(float(from_minor(total, cur)))
    days.append(as_of)
    ys.append(ys[-1])
    import matplotlib.dates as mdates

    def num(d: dt.date) -> float:
        return float(mdates.date2num(d))

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step([num(d) for d in days], ys, where="post", label="spent")
    ax.axhline(float(f["total"]["revised"]), color="tab:green", linestyle="--", label="revised budget")
    ax.plot([num(as_of), num(fy.end)], [ys[-1], float(f["total"]["forecast"])], color="tab:red", linestyle=":",
            label="forecast")  # fmt: skip
    ax.set_xlim(num(fy.start), num(fy.end))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_ylabel(cur)
    ax.set_title(f"{year}: spending as of {as_of}")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)

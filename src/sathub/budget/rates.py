"""Exchange rates: loaded from a CSV file (nothing is fetched), looked up by value date.

The file has a header ``date,base,quote,rate``: on ``date``, 1 ``base`` = ``rate`` ``quote``
(e.g. ``2025-04-01,USD,MMK,2100``). A pair may be given either way round: USD→MMK at 2100
also converts MMK→USD (dividing by 2100, never by a rounded reciprocal). A conversion on a day
uses the newest quote of the pair dated on that day or up to ``max_age_days`` before it, or,
when the pair is not quoted, the product of two quotes through USD or EUR (MMK→JPY as
MMK→USD→JPY), still rounded once; with none, the conversion is refused (InvalidInput naming the field and the missing pair).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, localcontext

from sathub.budget.model import Rate
from sathub.budget.money import check_currency, convert_minor, parse_rate
from sathub.budget.store import BudgetReader
from sathub.errors import InvalidInput
from sathub.timeutil import parse_date

MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class Factor:
    """How to turn an amount of ``src`` into ``dst``: times ``num``, divided by ``den``
    (a quoted pair, its inverse, or two pairs through a pivot currency), rounded once."""

    src: str
    dst: str
    num: Decimal
    den: Decimal
    day: dt.date | None  # the (oldest) quote's date; None: same currency

    @property
    def text(self) -> str:
        return str(self.num) if self.den == 1 else f"{self.num}/{self.den}"

    def apply(self, minor: int) -> int:
        return convert_minor(minor, self.src, self.dst, self.num, self.den)


def parse_day(value: object, field: str) -> dt.date:
    """A date alone (YYYY-MM-DD), :func:`sathub.timeutil.parse_date`."""
    return parse_date(value, field=field)  # type: ignore[arg-type]


def parse_csv(text: str) -> list[Rate]:
    """Rates from CSV text; InvalidInput naming the line and the column on the first bad row."""
    reader = csv.DictReader(io.StringIO(text))
    need = {"date", "base", "quote", "rate"}
    if not reader.fieldnames or not need <= {f.strip() for f in reader.fieldnames}:
        raise InvalidInput("the rates file needs a header date,base,quote,rate", field="file")
    out: list[Rate] = []
    for lineno, row in enumerate(reader, 2):
        if lineno > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rates in one file", field="file")
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        try:
            day = parse_day(row["date"], "date")
            base = check_currency(row["base"], "base")
            quote = check_currency(row["quote"], "quote")
            if base == quote:
                raise InvalidInput("base and quote are the same currency", field="quote")
            rate = parse_rate(row["rate"])
        except InvalidInput as exc:
            raise InvalidInput(f"rates line {lineno}: {exc.message}", field=exc.field) from None
        out.append(Rate(day, base, quote, str(rate)))
    if not out:
        raise InvalidInput("the rates file holds no rate", field="file")
    return out


PIVOTS = ("USD", "EUR")


def _pair(store: BudgetReader, src: str, dst: str, first: dt.date, day: dt.date) -> Factor | None:
    quotes = store.rates_between(src, dst, first, day)
    if not quotes:
        return None
    q = quotes[0]
    rate = Decimal(q.rate)
    return Factor(src, dst, rate, Decimal(1), q.day) if q.base == src else Factor(src, dst, Decimal(1), rate, q.day)


def factor(store: BudgetReader, src: str, dst: str, day: dt.date, max_age_days: int,
           *, field: str = "value_date", pivots: tuple[str, ...] = PIVOTS) -> Factor:  # fmt: skip
    """The factor converting ``src`` to ``dst`` on ``day``: the pair quoted either way round,
    else through a pivot currency (USD, then EUR) quoted against both."""
    if src == dst:
        return Factor(src, dst, Decimal(1), Decimal(1), None)
    first = day - dt.timedelta(days=max_age_days)
    direct = _pair(store, src, dst, first, day)
    if direct is not None:
        return direct
    for pivot in pivots:
        if pivot in (src, dst):
            continue
        a, b = _pair(store, src, pivot, first, day), _pair(store, pivot, dst, first, day)
        if a is not None and b is not None:
            assert a.day is not None and b.day is not None
            with localcontext() as ctx:
                ctx.prec = 60
                return Factor(src, dst, a.num * b.num, a.den * b.den, min(a.day, b.day))
    raise InvalidInput(f"no {src}/{dst} exchange rate on {day} or in the {max_age_days} days "
                       "before it (load one: sathub budget rates load FILE)", field=field)  # fmt: skip

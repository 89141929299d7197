"""Money: :class:`~decimal.Decimal` amounts in ISO 4217 currencies, stored as integer minor units.

Nothing here ever touches a float. An amount is parsed from text (or an int), must be finite,
not negative, below :data:`MAX_AMOUNT` and carry no more decimal places than its currency's
ISO 4217 minor unit (USD 2, MMK 2, JPY 0, KWD 3; the table ships with the ``iso4217``
package). Conversions round half up to the target currency's minor unit, once per amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import lru_cache

import iso4217

from sathub.errors import InvalidInput

MAX_AMOUNT = Decimal("1e15")  # a trillion-dollar line is a typo, not a budget
MAX_RATE = Decimal("1e9")


@lru_cache(maxsize=512)
def minor_units(code: str, field: str = "currency") -> int:
    """The ISO 4217 minor unit (decimal places) of ``code``; InvalidInput for an unknown code
    or one without a minor unit (gold, SDR, testing codes)."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise InvalidInput(f"currency must be an ISO 4217 code of three capital letters, got {code!r}",
                           field=field)  # fmt: skip
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        raise InvalidInput(f"unknown currency {code!r} (not in ISO 4217)", field=field) from None
    if exponent is None:
        raise InvalidInput(f"currency {code} has no minor unit (not money)", field=field)
    return int(exponent)


def check_currency(code: str, field: str = "currency") -> str:
    minor_units(code, field)
    return code


def parse_amount(value: object, currency: str, *, field: str = "amount",
                 allow_zero: bool = False) -> Decimal:  # fmt: skip
    """A money amount from text or an int: finite, >= 0 (> 0 unless ``allow_zero``), at most
    the currency's decimal places. Floats are refused (they cannot hold 0.10 exactly)."""
    digits = minor_units(currency)
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput("give amounts as decimal text (e.g. \"1250.50\"), never as a float",
                           field=field)  # fmt: skip
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text or len(text) > 40:
            raise InvalidInput(f"not an amount: {value!r}", field=field)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"not an amount: {value!r}", field=field) from None
    else:
        raise InvalidInput(f"not an amount: {value!r}", field=field)
    if not amount.is_finite():
        raise InvalidInput(f"not an amount: {value!r}", field=field)
    if amount < 0:
        raise InvalidInput(f"amount cannot be negative: {value}", field=field)
    if amount == 0 and not allow_zero:
        raise InvalidInput("amount must be greater than zero", field=field)
    if amount >= MAX_AMOUNT:
        raise InvalidInput(f"amount {value} is too large (limit {MAX_AMOUNT:,.0f})", field=field)
    exp = amount.as_tuple().exponent
    assert isinstance(exp, int)
    if -exp > digits and amount != amount.quantize(Decimal(1).scaleb(-digits)):
        raise InvalidInput(f"{currency} has {digits} decimal places; {value} has more", field=field)
    return amount.quantize(Decimal(1).scaleb(-digits))


def parse_rate(value: object, *, field: str = "rate") -> Decimal:
    """An exchange rate: a positive decimal below :data:`MAX_RATE` (text, not float)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput("give rates as decimal text, never as a float", field=field)
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"not a rate: {value!r}", field=field) from None
    if not rate.is_finite() or rate <= 0 or rate >= MAX_RATE:
        raise InvalidInput(f"a rate must be positive and below {MAX_RATE:,.0f}: {value!r}", field=field)
    return rate


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact integer minor units of an amount already at the currency's precision."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"{amount} has more decimal places than {currency} allows", field="amount")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    digits = minor_units(currency)
    return Decimal(int(minor)).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def round_to(value: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    digits = minor_units(currency)
    with localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def convert_minor(minor: int, src: str, dst: str, num: Decimal, den: Decimal = Decimal(1)) -> int:
    """``minor`` units of ``src`` in ``dst``: times ``num``, divided by ``den`` (60 significant
    digits), rounded half up to ``dst``'s minor unit, once."""
    if src == dst and num == den:
        return int(minor)
    with localcontext() as ctx:
        ctx.prec = 60
        value = from_minor(minor, src) * num / den
        return to_minor(round_to(value, dst), dst)


def fmt(amount: Decimal, currency: str) -> str:
    """``1,234,567.89 USD`` (grouping by thousands, the currency's decimal places)."""
    digits = minor_units(currency)
    return f"{amount:,.{digits}f} {currency}"

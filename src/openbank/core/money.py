"""Money is an integer count of a currency's minor units (fen, cents) plus an ISO 4217 code."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import iso4217
from pydantic import AfterValidator

from openbank.core.errors import DomainError


class UnknownCurrency(DomainError):
    code = "unknown_currency"
    status = 422
    title = "Unknown currency"


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point (CNY 2, JPY 0, BHD 3); unknown or non-money codes raise."""
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        exponent = None
    if exponent is None:
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency that has minor units")
    return int(exponent)


def check_currency(currency: str) -> str:
    minor_unit_exponent(currency)
    return currency


CurrencyCode = Annotated[str, AfterValidator(check_currency)]


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str

    def major(self) -> Decimal:
        return Decimal(self.amount).scaleb(-minor_unit_exponent(self.currency))

    def __str__(self) -> str:
        exponent = minor_unit_exponent(self.currency)
        return f"{self.major():,.{exponent}f} {self.currency}"


def to_minor_units(major: Decimal | str | int, currency: str) -> int:
    """Exact conversion of a major-unit amount ("12.34" CNY -> 1234); refuses sub-fen digits."""
    value = Decimal(str(major)).scaleb(minor_unit_exponent(currency))
    if value != value.to_integral_value():
        raise ValueError(f"{major} {currency} has more digits than the currency's minor unit")
    return int(value)

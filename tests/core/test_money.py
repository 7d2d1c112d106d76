from __future__ import annotations

import pytest

from openbank.core.money import Money, UnknownCurrency, minor_unit_exponent, to_minor_units


def test_minor_units_follow_iso_4217() -> None:
    assert minor_unit_exponent("CNY") == 2
    assert minor_unit_exponent("JPY") == 0
    assert minor_unit_exponent("BHD") == 3


def test_unknown_or_non_money_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency):
        minor_unit_exponent("XYZ")
    with pytest.raises(UnknownCurrency):
        minor_unit_exponent("XAU")


def test_major_to_minor_units_is_exact() -> None:
    assert to_minor_units("12.34", "CNY") == 1234
    assert to_minor_units("200000", "CNY") == 20_000_000
    assert to_minor_units("0.1", "BHD") == 100


def test_sub_fen_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="minor unit"):
        to_minor_units("0.001", "CNY")


def test_money_renders_in_major_units() -> None:
    assert str(Money(123456, "CNY")) == "1,234.56 CNY"

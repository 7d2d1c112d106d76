"""The class limits as pure rules (amounts in fen, defaults from Settings)."""

from __future__ import annotations

from openbank.core.settings import Settings
from openbank.customers import limits
from openbank.customers.limits import Usage

SETTINGS = Settings()
CLASS_I = limits.class_limits("I", SETTINGS)
CLASS_II = limits.class_limits("II", SETTINGS)
CLASS_III = limits.class_limits("III", SETTINGS)
CNY = 100


def test_defaults_are_the_pboc_figures() -> None:
    assert CLASS_II.non_bound_daily == 10_000 * CNY
    assert CLASS_II.non_bound_yearly == 200_000 * CNY
    assert CLASS_III.balance == 2_000 * CNY
    assert CLASS_III.outflow_daily == 5_000 * CNY
    assert CLASS_III.outflow_yearly == 100_000 * CNY


def test_limits_come_from_settings() -> None:
    custom = Settings(class_ii_non_bound_daily_limit=123, class_iii_balance_limit=45)
    assert limits.class_limits("II", custom).non_bound_daily == 123
    assert limits.class_limits("III", custom).balance == 45


def test_class_i_has_no_limits() -> None:
    huge = Usage(10**12, 10**12, 10**12, 10**12)
    assert limits.check_movement("I", CLASS_I, huge, "out", False, 10**12) is None
    assert limits.check_balance("I", CLASS_I, 10**12, 10**12) is None


def test_class_ii_non_bound_money_up_to_the_daily_limit_fits() -> None:
    usage = Usage(non_bound_today=4_000 * CNY, non_bound_year=4_000 * CNY)
    assert limits.check_movement("II", CLASS_II, usage, "in", False, 6_000 * CNY) is None


def test_class_ii_non_bound_money_one_fen_over_the_daily_limit_breaches_it() -> None:
    usage = Usage(non_bound_today=4_000 * CNY, non_bound_year=4_000 * CNY)
    breach = limits.check_movement("II", CLASS_II, usage, "out", False, 6_000 * CNY + 1)
    assert breach is not None
    assert breach.limit == "class_ii_non_bound_daily"
    assert breach.remaining == 6_000 * CNY
    assert "6,000.00 CNY remains" in breach.detail()


def test_class_ii_yearly_limit_binds_when_the_day_has_room() -> None:
    usage = Usage(non_bound_today=0, non_bound_year=199_000 * CNY)
    assert limits.check_movement("II", CLASS_II, usage, "in", False, 1_000 * CNY) is None
    breach = limits.check_movement("II", CLASS_II, usage, "in", False, 1_000 * CNY + 1)
    assert breach is not None
    assert breach.limit == "class_ii_non_bound_yearly"
    assert breach.remaining == 1_000 * CNY


def test_class_ii_bound_card_movements_are_not_limited() -> None:
    full = Usage(non_bound_today=10_000 * CNY, non_bound_year=200_000 * CNY)
    assert limits.check_movement("II", CLASS_II, full, "in", True, 50_000 * CNY) is None
    assert limits.check_movement("II", CLASS_II, full, "out", True, 50_000 * CNY) is None


def test_class_ii_has_no_balance_cap() -> None:
    assert limits.check_balance("II", CLASS_II, 10**9, 10**9) is None


def test_class_iii_balance_up_to_the_cap_fits_and_one_fen_more_breaches_it() -> None:
    assert limits.check_balance("III", CLASS_III, 1_500 * CNY, 500 * CNY) is None
    breach = limits.check_balance("III", CLASS_III, 1_500 * CNY, 500 * CNY + 1)
    assert breach is not None
    assert breach.limit == "class_iii_balance"
    assert breach.remaining == 500 * CNY


def test_class_iii_money_out_up_to_the_daily_limit_fits_and_one_fen_more_breaches_it() -> None:
    usage = Usage(out_today=3_000 * CNY, out_year=3_000 * CNY)
    assert limits.check_movement("III", CLASS_III, usage, "out", True, 2_000 * CNY) is None
    breach = limits.check_movement("III", CLASS_III, usage, "out", True, 2_000 * CNY + 1)
    assert breach is not None
    assert breach.limit == "class_iii_outflow_daily"


def test_class_iii_yearly_money_out_limit_binds_when_the_day_has_room() -> None:
    usage = Usage(out_today=0, out_year=99_000 * CNY)
    assert limits.check_movement("III", CLASS_III, usage, "out", False, 1_000 * CNY) is None
    breach = limits.check_movement("III", CLASS_III, usage, "out", False, 1_000 * CNY + 1)
    assert breach is not None
    assert breach.limit == "class_iii_outflow_yearly"


def test_class_iii_money_in_is_limited_only_by_the_balance_cap() -> None:
    usage = Usage(out_today=5_000 * CNY, out_year=100_000 * CNY)
    assert limits.check_movement("III", CLASS_III, usage, "in", False, 10**9) is None


def test_remaining_is_never_negative_when_a_limit_was_lowered() -> None:
    usage = Usage(non_bound_today=20_000 * CNY, non_bound_year=20_000 * CNY)
    breach = limits.check_movement("II", CLASS_II, usage, "in", False, 1)
    assert breach is not None
    assert breach.remaining == 0
    balance_breach = limits.check_balance("III", CLASS_III, 3_000 * CNY, 1)
    assert balance_breach is not None
    assert balance_breach.remaining == 0

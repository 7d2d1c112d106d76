"""Class limit windows through the service, at chosen instants and with configured figures:
business days and years follow the bank's time zone (Asia/Shanghai)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service
from openbank.customers.errors import LimitExceeded
from openbank.customers.schemas import EAccountTransferCreate
from tests.customers.helpers import service_e_account

# 10:00 in Shanghai on a mid-year day; 16:00 UTC is midnight in Shanghai.
MORNING = datetime(2031, 6, 15, 2, 0, tzinfo=UTC)


@pytest.fixture
def small_limits(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "class_ii_non_bound_daily_limit": 1_000,
            "class_ii_non_bound_yearly_limit": 2_500,
            "class_iii_balance_limit": 10_000,
            "class_iii_outflow_daily_limit": 1_000,
            "class_iii_outflow_yearly_limit": 2_500,
        }
    )


def _top_up(
    db: Database, settings: Settings, e_account_id: uuid.UUID, amount: int, at: datetime
) -> None:
    unit_of_work(db, lambda s: service.top_up(s, e_account_id, amount, at, settings))


def _withdraw(
    db: Database, settings: Settings, e_account_id: uuid.UUID, amount: int, at: datetime
) -> None:
    unit_of_work(db, lambda s: service.withdraw(s, e_account_id, amount, at, settings))


def _transfer(
    db: Database,
    settings: Settings,
    payer: uuid.UUID,
    payee: uuid.UUID,
    amount: int,
    at: datetime,
) -> None:
    spec = EAccountTransferCreate(to_e_account_id=payee, amount=amount)
    unit_of_work(db, lambda s: service.transfer(s, payer, spec, at, settings))


def _balance(db: Database, e_account_id: uuid.UUID) -> int:
    return unit_of_work(db, lambda s: service.get_e_account(s, e_account_id)).balance


def _source(db: Database, settings: Settings, amount: int, at: datetime) -> uuid.UUID:
    source = service_e_account(db, settings, at, "I")
    _top_up(db, settings, source, amount, at)
    return source


def test_class_ii_yearly_limit_spans_business_days(db: Database, small_limits: Settings) -> None:
    source = _source(db, small_limits, 10_000, MORNING)
    e_account_id = service_e_account(db, small_limits, MORNING, "II")
    _transfer(db, small_limits, source, e_account_id, 1_000, MORNING)
    _transfer(db, small_limits, source, e_account_id, 1_000, MORNING + timedelta(days=1))
    later = MORNING + timedelta(days=40)
    _transfer(db, small_limits, source, e_account_id, 500, later)
    with pytest.raises(LimitExceeded) as refused:
        _transfer(db, small_limits, source, e_account_id, 1, later)
    assert refused.value.extra["limit"] == "class_ii_non_bound_yearly"
    assert refused.value.extra["remaining"] == 0
    assert _balance(db, e_account_id) == 2_500


def test_class_ii_yearly_window_resets_at_the_new_business_year(
    db: Database, small_limits: Settings
) -> None:
    # 23:59 on 31 December and 00:01 on 1 January, both Shanghai time.
    new_years_eve = datetime(2031, 12, 31, 15, 59, tzinfo=UTC)
    new_year = datetime(2031, 12, 31, 16, 1, tzinfo=UTC)
    source = _source(db, small_limits, 10_000, new_years_eve)
    e_account_id = service_e_account(db, small_limits, new_years_eve, "II")
    for days_before in (3, 2):
        _transfer(
            db,
            small_limits,
            source,
            e_account_id,
            1_000,
            new_years_eve - timedelta(days=days_before),
        )
    _transfer(db, small_limits, source, e_account_id, 500, new_years_eve)
    _transfer(db, small_limits, source, e_account_id, 1_000, new_year)
    assert _balance(db, e_account_id) == 3_500


def test_business_day_turns_at_midnight_in_the_banks_time_zone(
    db: Database, small_limits: Settings
) -> None:
    # 23:30 and 00:30 in Shanghai are one UTC day (15:30Z, 16:30Z) but two business days.
    late = datetime(2031, 6, 15, 15, 30, tzinfo=UTC)
    after_midnight = datetime(2031, 6, 15, 16, 30, tzinfo=UTC)
    source = _source(db, small_limits, 10_000, late)
    e_account_id = service_e_account(db, small_limits, late, "II")
    _transfer(db, small_limits, source, e_account_id, 1_000, late)
    with pytest.raises(LimitExceeded):
        _transfer(db, small_limits, source, e_account_id, 1, late + timedelta(minutes=29))
    _transfer(db, small_limits, source, e_account_id, 1_000, after_midnight)
    assert _balance(db, e_account_id) == 2_000


def test_class_iii_yearly_money_out_limit_spans_business_days(
    db: Database, small_limits: Settings
) -> None:
    e_account_id = service_e_account(db, small_limits, MORNING, "III")
    _top_up(db, small_limits, e_account_id, 5_000, MORNING)
    _withdraw(db, small_limits, e_account_id, 1_000, MORNING)
    _withdraw(db, small_limits, e_account_id, 1_000, MORNING + timedelta(days=1))
    _withdraw(db, small_limits, e_account_id, 500, MORNING + timedelta(days=2))
    with pytest.raises(LimitExceeded) as refused:
        _withdraw(db, small_limits, e_account_id, 1, MORNING + timedelta(days=3))
    assert refused.value.extra["limit"] == "class_iii_outflow_yearly"
    assert _balance(db, e_account_id) == 2_500


def test_configured_class_iii_balance_cap_is_enforced(db: Database, small_limits: Settings) -> None:
    e_account_id = service_e_account(db, small_limits, MORNING, "III")
    _top_up(db, small_limits, e_account_id, 10_000, MORNING)
    with pytest.raises(LimitExceeded) as refused:
        _top_up(db, small_limits, e_account_id, 1, MORNING)
    assert refused.value.extra["limit"] == "class_iii_balance"
    assert _balance(db, e_account_id) == 10_000

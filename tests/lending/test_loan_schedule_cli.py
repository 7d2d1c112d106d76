"""`openbank loan schedule`, driven through the typer sub-application."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from openbank.core.settings import get_settings
from openbank.lending.calculator import loan_app
from openbank.lending.schedules import RepaymentMethod, add_months

runner = CliRunner()

LOAN = [
    "--principal", "200000",
    "--annual-rate", "0.05",
    "--months", "36",
    "--method", "equal-installment",
    "--start", "2026-01-15",
]  # fmt: skip


def schedule(*args: str) -> Result:
    return runner.invoke(loan_app, ["schedule", *args])


def schedule_json(*args: str) -> dict[str, Any]:
    result = schedule(*args, "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def with_option(option: str, value: str) -> list[str]:
    """LOAN with one option's value replaced (or added)."""
    args = list(LOAN)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    return args


def test_json_prints_one_object_with_schedule_totals_and_apr() -> None:
    body = schedule_json(*LOAN)
    assert set(body) == {"schedule", "totals", "apr"}
    assert len(body["schedule"]) == 36
    assert set(body["schedule"][0]) == {
        "period", "due_date", "payment", "principal", "interest", "fee", "remaining",
    }  # fmt: skip
    assert set(body["totals"]) == {
        "payment", "principal", "interest", "fee", "upfront_fee", "net_disbursed",
    }  # fmt: skip
    assert set(body["apr"]) == {"nominal", "effective", "cap", "above_cap"}


def test_json_money_is_integer_fen() -> None:
    body = schedule_json(*LOAN)
    first = body["schedule"][0]
    assert first == {
        "period": 1,
        "due_date": "2026-02-15",
        "payment": 599_418,  # 200,000 yuan at 5 % over 36 months: 5,994.18 yuan a month
        "principal": 516_085,
        "interest": 83_333,
        "fee": 0,
        "remaining": 19_483_915,
    }
    assert body["totals"]["principal"] == 20_000_000
    assert body["schedule"][-1]["remaining"] == 0


def test_json_rates_are_decimal_fractions() -> None:
    apr = schedule_json(*LOAN)["apr"]
    assert apr["nominal"] == pytest.approx(0.05, abs=1e-4)
    assert apr["effective"] == pytest.approx(0.0512, abs=1e-4)
    assert apr["cap"] == float(get_settings().lending_apr_cap)


def test_fee_in_yuan_is_kept_back_from_the_amount_paid_out() -> None:
    totals = schedule_json(*LOAN, "--fee", "4000")["totals"]
    assert totals["upfront_fee"] == 400_000
    assert totals["net_disbursed"] == 19_600_000
    assert totals["fee"] == 400_000


def test_amounts_with_two_decimals_convert_exactly_to_fen() -> None:
    body = schedule_json(*with_option("--principal", "1234.56"), "--fee", "0.01")
    assert body["totals"]["principal"] == 123_456
    assert body["totals"]["upfront_fee"] == 1


def test_pboc_example_is_below_the_default_cap() -> None:
    apr = schedule_json(
        "--principal", "100000",
        "--annual-rate", "0.06",
        "--months", "12",
        "--method", "flat",
        "--fee", "1000",
        "--start", "2026-01-15",
    )["apr"]  # fmt: skip
    assert apr["nominal"] == pytest.approx(0.128045158, abs=1e-9)
    assert apr["effective"] == pytest.approx(0.1358335999, abs=1e-9)
    assert apr["above_cap"] is (get_settings().lending_apr_cap < Decimal("0.128045158"))


def test_apr_above_the_cap_is_flagged_in_json() -> None:
    apr = schedule_json(*with_option("--annual-rate", "0.36"))["apr"]
    assert apr["nominal"] > apr["cap"]
    assert apr["above_cap"] is True


def test_apr_below_the_cap_is_not_flagged_in_json() -> None:
    assert schedule_json(*LOAN)["apr"]["above_cap"] is False


def test_period_months_grace_and_first_due_reach_the_schedule() -> None:
    args = [*LOAN, "--period-months", "3", "--grace", "2", "--first-due", "2026-05-01"]
    rows = schedule_json(*args)["schedule"]
    assert [row["due_date"] for row in rows[:3]] == ["2026-05-01", "2026-08-01", "2026-11-01"]
    assert [row["principal"] for row in rows[:2]] == [0, 0]
    assert rows[2]["principal"] > 0


def test_every_method_name_is_accepted() -> None:
    for method in RepaymentMethod:
        schedule_json(*with_option("--method", method.value))


def test_start_defaults_to_today_in_the_bank_time_zone() -> None:
    tz = get_settings().tz
    before = datetime.now(tz).date()
    args = [arg for arg in LOAN if arg not in ("--start", "2026-01-15")]
    first_due = schedule_json(*args)["schedule"][0]["due_date"]
    after = datetime.now(tz).date()
    assert first_due in {add_months(before, 1).isoformat(), add_months(after, 1).isoformat()}


def test_table_shows_yuan_totals_and_apr() -> None:
    result = schedule(*LOAN, "--fee", "4000")
    assert result.exit_code == 0, result.output
    assert "5,994.18" in result.stdout
    assert "200,000.00" in result.stdout
    assert "2026-02-15" in result.stdout
    assert "APR (IRR, nominal)" in result.stdout
    assert "APR (effective)" in result.stdout
    assert "%" in result.stdout


def test_table_says_when_the_apr_is_above_the_cap() -> None:
    result = schedule(*with_option("--annual-rate", "0.36"))
    assert result.exit_code == 0, result.output
    assert "above the" in result.stdout
    assert "cap" in result.stdout


def test_help_explains_every_option_and_lists_the_methods() -> None:
    result = schedule("--help")
    assert result.exit_code == 0
    for option in (
        "--principal", "--annual-rate", "--months", "--method", "--fee", "--start",
        "--period-months", "--grace", "--first-due", "--json",
    ):  # fmt: skip
        assert option in result.stdout
    for method in RepaymentMethod:
        assert method.value in result.stdout


def refused(args: list[str]) -> str:
    """Run with bad input: exit code 2, one line on stderr, no traceback."""
    result = schedule(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    return result.stderr


def test_zero_months_is_refused() -> None:
    error = refused(with_option("--months", "0"))
    assert "--months" in error
    assert "invalid_loan_terms" in error


def test_negative_rate_is_refused() -> None:
    error = refused(with_option("--annual-rate", "-0.05"))
    assert "--annual-rate" in error
    assert "negative" in error


def test_unknown_method_is_refused_listing_the_methods() -> None:
    error = refused(with_option("--method", "balloon"))
    assert "unknown_repayment_method" in error
    assert "equal-principal" in error


def test_zero_principal_is_refused() -> None:
    error = refused(with_option("--principal", "0"))
    assert "--principal" in error


def test_fee_with_three_decimals_is_refused() -> None:
    error = refused([*LOAN, "--fee", "40.005"])
    assert "--fee" in error
    assert "2 decimals" in error


def test_principal_that_is_not_a_number_is_refused() -> None:
    assert "--principal" in refused(with_option("--principal", "lots"))


def test_absurdly_large_principal_is_refused() -> None:
    assert "--principal" in refused(with_option("--principal", "1e30"))
    assert "--principal" in refused(with_option("--principal", "1e17"))


def test_bad_start_date_is_refused() -> None:
    error = refused(with_option("--start", "2026-02-30"))
    assert "--start" in error
    assert "YYYY-MM-DD" in error


def test_bad_first_due_date_is_refused() -> None:
    assert "--first-due" in refused([*LOAN, "--first-due", "soon"])


def test_months_that_are_not_a_whole_number_are_refused() -> None:
    assert "--months" in refused(with_option("--months", "3.5"))


def test_grace_as_long_as_the_loan_is_refused() -> None:
    assert "--grace" in refused([*LOAN, "--grace", "36"])


def test_fee_as_large_as_the_principal_is_refused() -> None:
    assert "--fee" in refused([*LOAN, "--fee", "200000"])

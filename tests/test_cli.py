"""The `openbank` command, run as a user runs it: a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from openbank.core.database import drop_database
from tests.conftest import ADMIN_TOKEN, create_database


@pytest.fixture(scope="module")
def cli_env(server_url: str) -> Iterator[dict[str, str]]:
    url = create_database(server_url)
    yield {
        **os.environ,
        "OPENBANK_DATABASE_URL": url,
        "OPENBANK_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    drop_database(server_url, url)


def openbank(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openbank.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_explains_every_command(cli_env: dict[str, str]) -> None:
    result = openbank(cli_env, "--help")
    assert result.returncode == 0
    for command in (
        "serve",
        "demo",
        "db",
        "ledger",
        "loan",
        "credit",
        "operator",
        "partner",
        "webhooks",
    ):
        assert command in result.stdout


def test_db_upgrade_then_check_finds_no_drift(cli_env: dict[str, str]) -> None:
    assert openbank(cli_env, "db", "upgrade").returncode == 0
    result = openbank(cli_env, "db", "check")
    assert result.returncode == 0, result.stderr
    assert "agree" in result.stdout


def test_demo_moves_money_and_the_ledger_verifies(cli_env: dict[str, str]) -> None:
    result = openbank(cli_env, "demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ledger_verify"]["ok"] is True
    balances = {name: a["balance"] for name, a in report["e_accounts"].items()}
    assert balances == {"张三": 4_700_000, "李四": 50_000, "王五": 150_000}
    refused = {s["code"] for s in report["steps"] if not s["ok"]}
    assert refused == {"limit_exceeded", "exceeds_credits"}
    assert report["loan"]["decision"] == "approved"
    assert report["loan"]["trial_balance_balanced"] is True


def test_demo_shows_a_partner_reading_a_balance_under_consent_until_revoked(
    cli_env: dict[str, str],
) -> None:
    result = openbank(cli_env, "demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    platform = report["open_platform"]
    assert platform["partner"] == "云集商城"
    assert platform["app_id"] != platform["partner_id"]
    # 张三 has two e-accounts and approves only the one with his money in it.
    zhang = report["e_accounts"]["张三"]["id"]
    assert platform["accounts_offered"] == 2
    assert platform["accounts_approved"] == [zhang]
    assert platform["accounts_seen"] == 1
    assert platform["accounts_seen_ids"] == [zhang]
    assert platform["balance_seen"] == platform["balance_in_the_bank"] > 0
    assert platform["consent_status_after_revoke"] == "revoked"
    assert platform["revoked_by"] == "customer"
    assert platform["call_after_revoke"] == {"status": 403, "code": "consent_revoked"}
    assert platform["events"] == ["consent.authorised", "consent.revoked"]
    # Safe to run again: a new partner each time.
    again = openbank(cli_env, "demo", "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["open_platform"]
    assert second["partner_id"] != platform["partner_id"]
    assert second["call_after_revoke"] == {"status": 403, "code": "consent_revoked"}


def test_ledger_verify_json_reports_totals(cli_env: dict[str, str]) -> None:
    openbank(cli_env, "demo", "--json")
    result = openbank(cli_env, "ledger", "verify", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    cny = report["currencies"]["CNY"]
    assert cny["debits_posted"] == cny["credits_posted"] > 0


def test_loan_schedule_prints_the_pboc_example_apr(cli_env: dict[str, str]) -> None:
    result = openbank(
        cli_env,
        *("loan", "schedule", "--principal", "100000", "--annual-rate", "0.06"),
        *("--months", "12", "--method", "flat", "--fee", "1000", "--json"),
    )
    assert result.returncode == 0, result.stderr
    apr = json.loads(result.stdout)["apr"]
    assert round(apr["nominal"], 4) == 0.1280
    assert round(apr["effective"], 4) == 0.1358


def test_the_end_of_day_and_the_trial_balance_run_from_the_command_line(
    cli_env: dict[str, str],
) -> None:
    openbank(cli_env, "demo", "--json")  # a loan to service
    end_of_day = openbank(cli_env, "loan", "eod", "--json")
    assert end_of_day.returncode == 0, end_of_day.stderr
    assert json.loads(end_of_day.stdout)["contracts"] >= 1
    balance = openbank(cli_env, "loan", "trial-balance", "--json")
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["balanced"] is True


def test_score_stability_reports_the_psi_of_recent_applications(cli_env: dict[str, str]) -> None:
    openbank(cli_env, "demo", "--json")  # one scored application at least
    result = openbank(cli_env, "loan", "score-stability", "--days", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["applications"] >= 1
    assert report["verdict"] in ("stable", "watch", "shift")


def test_first_operator_is_created_from_the_command_line(cli_env: dict[str, str]) -> None:
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "openbank.cli",
            "operator",
            "create",
            "firstadmin",
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        env=cli_env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["roles"] == ["admin"]
    listed = json.loads(openbank(cli_env, "operator", "list", "--json").stdout)
    assert [o["username"] for o in listed] == ["firstadmin"]


def test_operator_with_a_short_password_is_refused_from_the_command_line(
    cli_env: dict[str, str],
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openbank.cli",
            "operator",
            "create",
            "shortpw",
            "--role",
            "admin",
            "--password-stdin",
        ],
        env=cli_env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "password" in result.stderr

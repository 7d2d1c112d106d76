"""`openbank loan`: the loan calculator (repayment schedule and APR), no database needed."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from openbank.core.errors import DomainError
from openbank.core.settings import get_settings
from openbank.lending.apr import Apr, schedule_apr
from openbank.lending.schedules import (
    METHOD_DESCRIPTIONS,
    PERIOD_MONTHS,
    LoanTerms,
    Schedule,
    build_schedule,
    parse_method,
)

loan_app = typer.Typer(
    help="Loan calculator: repayment schedules and the APR by the IRR method (no database).",
    no_args_is_help=True,
    add_completion=False,
)

console = Console()

_METHODS_HELP = "; ".join(f"{method.value}: {text}" for method, text in METHOD_DESCRIPTIONS.items())
_CENT = Decimal("0.01")
_MAX_DIGITS = 20
_RATE_PLACES = Decimal("1e-10")

# LoanTerms field -> the option a user typed, so errors name what to fix.
_OPTIONS = {
    "principal": "--principal",
    "annual_rate": "--annual-rate",
    "periods": "--months",
    "method": "--method",
    "start": "--start",
    "period_months": "--period-months",
    "grace_periods": "--grace",
    "first_due": "--first-due",
    "upfront_fee": "--fee",
}


class _BadInput(Exception):
    """A user mistake: reported on one line, exit code 2 (as click does for usage errors)."""


# A callback keeps `loan` a command group (`loan schedule ...`) even with a single command;
# without one typer would run `schedule` as the application itself.
@loan_app.callback()
def loan() -> None:
    pass


def _decimal(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _BadInput(f"{option}: {text!r} is not a number") from None
    if not value.is_finite():
        raise _BadInput(f"{option}: {text!r} is not a finite number")
    return value


def _fen(option: str, text: str) -> int:
    """Exact yuan -> fen: '1234.56' -> 123456; more than 2 decimals is refused, not rounded."""
    yuan = _decimal(option, text)
    if yuan.adjusted() > _MAX_DIGITS:  # keeps quantize within the context; the terms say more
        raise _BadInput(f"{option}: {text!r} is too large")
    if yuan != yuan.quantize(_CENT):
        raise _BadInput(f"{option}: {text!r} has more than 2 decimals (amounts are in yuan)")
    return int(yuan.scaleb(2))


def _whole(option: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _BadInput(f"{option}: {text!r} is not a whole number") from None


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _BadInput(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def _yuan(fen: int) -> str:
    return f"{Decimal(fen).scaleb(-2):,.2f}"


def _rate(value: Decimal) -> float:
    return float(value.quantize(_RATE_PLACES))


def _as_json(schedule: Schedule, apr: Apr, cap: Decimal) -> dict[str, Any]:
    return {
        "schedule": [
            {
                "period": i.period,
                "due_date": i.due_date.isoformat(),
                "payment": i.payment,
                "principal": i.principal,
                "interest": i.interest,
                "fee": i.fee,
                "remaining": i.remaining,
            }
            for i in schedule.instalments
        ],
        "totals": {
            "payment": schedule.total_payment,
            "principal": schedule.total_principal,
            "interest": schedule.total_interest,
            "fee": schedule.total_fee,
            "upfront_fee": schedule.terms.upfront_fee,
            "net_disbursed": schedule.net_disbursed,
        },
        "apr": {
            "nominal": _rate(apr.nominal),
            "effective": _rate(apr.effective),
            "cap": _rate(cap),
            "above_cap": apr.exceeds(cap),
        },
    }


def _print_table(schedule: Schedule, apr: Apr, cap: Decimal) -> None:
    terms = schedule.terms
    table = Table(
        title=f"Repayment schedule: {_yuan(terms.principal)} yuan, {terms.method.value},"
        f" {terms.annual_rate * 100:f} % a year",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("period", justify="right")
    table.add_column("due date", no_wrap=True)
    for column in ("payment", "principal", "interest", "fee", "remaining"):
        # A narrow terminal folds an amount onto two lines rather than cutting digits off.
        table.add_column(column, justify="right", overflow="fold")
    for i in schedule.instalments:
        table.add_row(
            str(i.period),
            i.due_date.isoformat(),
            _yuan(i.payment),
            _yuan(i.principal),
            _yuan(i.interest),
            _yuan(i.fee),
            _yuan(i.remaining),
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        _yuan(schedule.total_payment),
        _yuan(schedule.total_principal),
        _yuan(schedule.total_interest),
        _yuan(schedule.total_fee - terms.upfront_fee),
        "",
    )
    # Piped output has no width to respect (rich assumes 80): print the whole table.
    needed = console.measure(table, options=console.options.update_width(1000)).maximum
    wide = console if console.is_terminal or needed <= console.width else Console(width=needed)
    wide.print(table)
    console.print(
        f"Upfront fee {_yuan(terms.upfront_fee)}, paid out {_yuan(schedule.net_disbursed)},"
        f" total fees {_yuan(schedule.total_fee)} yuan."
    )
    colour = "red" if apr.exceeds(cap) else "green"
    flag = f" [bold red]above the {cap * 100:f} % cap[/bold red]" if apr.exceeds(cap) else ""
    console.print(f"APR (IRR, nominal): [{colour}]{apr.nominal * 100:.4f} %[/{colour}]{flag}")
    console.print(f"APR (effective):    [{colour}]{apr.effective * 100:.4f} %[/{colour}]")


@loan_app.command("schedule")
def schedule(
    principal: Annotated[
        str, typer.Option(metavar="YUAN", help="Amount lent, in yuan (at most 2 decimals).")
    ],
    annual_rate: Annotated[
        str,
        typer.Option(
            metavar="RATE", help="Nominal annual rate as a fraction: 0.05 is 5 % (0 to below 10)."
        ),
    ],
    months: Annotated[
        str,
        typer.Option(
            metavar="N",
            help="Number of repayment periods (1 to 600); with --period-months 3 they are"
            " quarters. A bullet loan runs N periods and is repaid once at the end.",
        ),
    ],
    method: Annotated[
        str, typer.Option(metavar="METHOD", help=f"Repayment method. {_METHODS_HELP}.")
    ],
    fee: Annotated[
        str,
        typer.Option(
            metavar="YUAN",
            help="Upfront fee in yuan, kept back from the amount paid out (counts in the APR).",
        ),
    ] = "0",
    start: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="Value date (disbursement); default today in the bank's time zone.",
        ),
    ] = None,
    period_months: Annotated[
        str,
        typer.Option(
            metavar="N",
            help=f"Months per period: {', '.join(map(str, PERIOD_MONTHS))}"
            " (monthly, quarterly, half-yearly, yearly).",
        ),
    ] = "1",
    grace: Annotated[
        str,
        typer.Option(
            metavar="N",
            help="Grace periods at the start paying interest only (fewer than --months).",
        ),
    ] = "0",
    first_due: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="First due date, when not one period after --start: that irregular first"
            " period accrues interest by days (annual rate / 360); at most two periods out.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Print a repayment schedule with its totals and APR (IRR method, PBoC 2021 No. 3).
    Money is shown in yuan; with --json money is integer fen and rates are fractions."""
    settings = get_settings()
    try:
        terms = LoanTerms(
            principal=_fen("--principal", principal),
            annual_rate=_decimal("--annual-rate", annual_rate),
            periods=_whole("--months", months),
            method=parse_method(method),
            start=_date("--start", start) if start else datetime.now(settings.tz).date(),
            period_months=_whole("--period-months", period_months),
            first_due=_date("--first-due", first_due) if first_due else None,
            grace_periods=_whole("--grace", grace),
            upfront_fee=_fen("--fee", fee),
        )
        loan_schedule = build_schedule(terms)
    except _BadInput as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    except DomainError as error:
        field = str(error.extra.get("field", "method"))
        detail = error.detail.removeprefix(f"{field}: ")
        typer.echo(f"Error: {_OPTIONS.get(field, field)}: {detail} ({error.code})", err=True)
        raise typer.Exit(2) from None
    apr = schedule_apr(loan_schedule)
    cap = settings.lending_apr_cap
    if as_json:
        print(json.dumps(_as_json(loan_schedule, apr, cap)))
    else:
        _print_table(loan_schedule, apr, cap)

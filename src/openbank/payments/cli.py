"""`openbank payments ...`: the settlement batch, reconciliation, settlement files and partner
statements from the bank's own machine."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openbank.core.clock import business_date, get_clock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.logging import configure_logging
from openbank.core.migrate import upgrade
from openbank.core.settings import get_settings
from openbank.payments import settlement

payments_app = typer.Typer(
    help="Acquiring: settlement, reconciliation, settlement files, partner statements.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="Batch date (YYYY-MM-DD); default: today in bank time."),
]


def open_database() -> Database:
    """The database of a payments command, migrated to the latest schema."""
    from openbank.models import import_all_models

    import_all_models()
    settings = get_settings()
    configure_logging(settings)
    database = Database(settings)
    upgrade(database.engine)
    return database


def _day(value: str | None, option: str = "--date") -> date:
    if value is None:
        return business_date(get_clock().now(), get_settings().tz)
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"{option} {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


def _uuid(value: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        err.print(f"{option} {value!r} is not an id")
        raise typer.Exit(2) from None


def _fen(amount: int) -> str:
    return f"{amount / 100:,.2f}"


@payments_app.command("settle")
def settle(business_day: DateOption = None, as_json: JsonFlag = False) -> None:
    """Run the settlement batch: every merchant with captures and refunds due (T+N) settled
    in a transaction of its own. Running it twice for a date changes nothing. Exits 1 when a
    merchant could not be settled."""
    day = _day(business_day)
    settings = get_settings()
    now = get_clock().now()
    database = open_database()

    def work(fn: Any) -> Any:
        return unit_of_work(database, fn)

    try:
        if as_json or not sys.stdout.isatty():
            run = settlement.run_settlement(work, now, settings, settled_on=day)
        else:
            with Progress(
                TextColumn(f"settlement {day}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("merchants", total=None)

                def on_progress(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                run = settlement.run_settlement(
                    work, now, settings, settled_on=day, on_progress=on_progress
                )
    except DomainError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    if as_json:
        print(run.model_dump_json(indent=2))
    else:
        console.print(
            f"{run.settled_on}: {run.created} settlements made, {run.existing} already made,"
            f" {run.items:,} captures and refunds; captured {_fen(run.captured)},"
            f" refunded {_fen(run.refunded)}, fees {_fen(run.fees)}, paid out"
            f" {_fen(run.paid_out)}, carried forward {_fen(run.carried_out)} yuan;"
            f" revenue shares paid {_fen(run.revenue_shares_paid)}, unpaid"
            f" {_fen(run.revenue_shares_unpaid)}; {run.seconds:.1f} s"
        )
        for failed in run.failed:
            err.print(f"[red]merchant {failed.merchant_id}: {failed.code}: {failed.detail}[/red]")
    if run.failed:
        raise typer.Exit(1)


@payments_app.command("reconcile")
def reconcile(business_day: DateOption = None, as_json: JsonFlag = False) -> None:
    """Tie the batch date's payments, refunds, fees, settlements and revenue shares to the
    ledger. Exits 1 when there is a break."""
    day = _day(business_day)
    database = open_database()
    try:
        report = settlement.reconciliation_report(database, day)
    finally:
        database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        console.print(
            f"{report.settled_on}: {report.settlements} settlements,"
            f" {report.captures_checked:,} captures, {report.refunds_checked:,} refunds,"
            f" {report.revenue_shares_checked} revenue shares, {report.merchants_checked}"
            f" merchants' clearing checked in {report.seconds:.1f} s"
        )
        if report.ok:
            console.print("[green]OK: no breaks.[/green]")
        else:
            table = Table("kind", "subject", "detail", title=f"{len(report.breaks)} breaks")
            for found in report.breaks[:200]:
                table.add_row(found.kind, found.subject, found.detail)
            console.print(table)
    if not report.ok:
        raise typer.Exit(1)


@payments_app.command("settlement-file")
def settlement_file(
    merchant: Annotated[str, typer.Option("--merchant", help="The merchant's id.")],
    business_day: Annotated[str, typer.Option("--date", help="Batch date (YYYY-MM-DD).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here instead of standard output.")
    ] = None,
) -> None:
    """The merchant's settlement file (CSV) of a batch date."""
    merchant_id = _uuid(merchant, "--merchant")
    day = _day(business_day)
    database = open_database()
    try:
        content = unit_of_work(database, lambda s: settlement.settlement_file(s, merchant_id, day))
    except DomainError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if out is None:
        sys.stdout.write(content)
    else:
        out.write_text(content, encoding="utf-8")
        err.print(f"wrote {out}")


@payments_app.command("partner-statement")
def partner_statement(
    partner: Annotated[str, typer.Option("--partner", help="The partner's id.")],
    start: Annotated[str, typer.Option("--from", help="First batch date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last batch date (YYYY-MM-DD).")],
    as_json: JsonFlag = False,
) -> None:
    """A partner platform's revenue shares of a period, paid or unpaid, with totals."""
    partner_id = _uuid(partner, "--partner")
    first, last = _day(start, "--from"), _day(end, "--to")
    database = open_database()
    try:
        statement = unit_of_work(
            database, lambda s: settlement.partner_statement(s, partner_id, first, last)
        )
    except DomainError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if as_json:
        print(json.dumps(statement.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    table = Table(
        "settled on", "merchant", "fee income", "share", "status", title=f"partner {partner_id}"
    )
    for share in statement.shares:
        table.add_row(
            share.settled_on.isoformat(),
            str(share.merchant_id),
            _fen(share.fee_income),
            _fen(share.amount),
            share.status,
        )
    console.print(table)
    t = statement.totals
    console.print(
        f"{t.settlements} settlements: fee income {_fen(t.fee_income)}, share {_fen(t.share)},"
        f" paid {_fen(t.paid)}, unpaid {_fen(t.unpaid)} yuan"
    )

"""The `openbank` command."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openbank.core.settings import get_settings
from openbank.credit.cli import credit_app
from openbank.lending.calculator import loan_app
from openbank.payments.cli import payments_app
from openbank.platform.cli import operator_app, partner_app, signing_key_app
from openbank.platform.webhooks.cli import webhooks_app

if TYPE_CHECKING:
    from openbank.core.database import Database

app = typer.Typer(
    help="openbank: the open-banking platform. Runs on a private embedded PostgreSQL unless"
    " OPENBANK_DATABASE_URL names a server.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(
    loan_app,
    name="loan",
    help="Loans: the schedule calculator, the product library, the end-of-day batch and the"
    " trial balance.",
)
app.add_typer(credit_app, name="credit")
app.add_typer(operator_app, name="operator")
app.add_typer(partner_app, name="partner")
app.add_typer(signing_key_app, name="signing-key")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(payments_app, name="payments")
products_app = typer.Typer(help="The loan product library.", no_args_is_help=True)
loan_app.add_typer(products_app, name="products")

console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _database() -> Database:
    from openbank.core.database import Database
    from openbank.core.logging import configure_logging
    from openbank.models import import_all_models

    import_all_models()

    settings = get_settings()
    configure_logging(settings)
    return Database(settings)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads",
    as_json: JsonFlag = False,
) -> None:
    """Apply the schema migrations (also done by `openbank serve` at start)."""
    from openbank.core.migrate import drift, upgrade

    database = _database()
    upgrade(database.engine, revision)
    differences = drift(database.engine) if revision == "heads" else []
    database.dispose()
    if as_json:
        print(json.dumps({"revision": revision, "drift": [str(d) for d in differences]}))
    else:
        console.print(f"[green]Database at revision {revision}.[/green]")
        for difference in differences:
            err.print(f"[yellow]model/migration drift:[/yellow] {difference}")
    if differences:
        raise typer.Exit(1)


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree (used by CI)."""
    from openbank.core.migrate import drift, upgrade

    database = _database()
    upgrade(database.engine)
    differences = drift(database.engine)
    database.dispose()
    for difference in differences:
        err.print(f"model/migration drift: {difference}")
    if differences:
        raise typer.Exit(1)
    console.print("Models and migrations agree.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Apply migrations, then serve the HTTP API (OpenAPI at /openapi.json, docs at /docs).
    Each worker process accepts on its own socket, so connections spread over all of them."""
    from openbank import server
    from openbank.core.migrate import upgrade

    database = _database()
    upgrade(database.engine)
    database.dispose()
    console.print(f"openbank listening on http://{host}:{port} ({workers} worker(s))")
    server.run(host, port, workers, access_log)


@app.command()
def demo(as_json: JsonFlag = False) -> None:
    """Open sample customers and e-accounts, move money, show balances, a statement and the
    ledger's verification, then say what to try next. Safe to run again: each run adds new
    sample customers."""
    from openbank.core.clock import get_clock
    from openbank.core.migrate import upgrade
    from openbank.demo import run_demo

    if not as_json:
        console.print("Starting the database (first run: initialising a private PostgreSQL)...")
    database = _database()
    upgrade(database.engine)
    result = run_demo(database, get_clock(), console, quiet=as_json)
    database.dispose()
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    if not result.verify_ok:
        raise typer.Exit(1)


@ledger_app.command("verify")
def ledger_verify(as_json: JsonFlag = False) -> None:
    """Check every account's hash chain and running balances, and that debits equal credits
    per currency. Exits 1 when anything is wrong."""
    from openbank.ledger import service as ledger

    database = _database()
    if as_json or not sys.stdout.isatty():
        report = ledger.verify(database)
    else:
        with Progress(
            TextColumn("verifying journal"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("journal", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = ledger.verify(database, on_progress)
    database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        table = Table(title="Ledger totals by currency")
        for column in ("currency", "debits posted", "credits posted", "pending (dr/cr)"):
            table.add_column(column, justify="right")
        for currency, sums in sorted(report.currencies.items()):
            table.add_row(
                currency,
                f"{sums['debits_posted']:,}",
                f"{sums['credits_posted']:,}",
                f"{sums['debits_pending']:,}/{sums['credits_pending']:,}",
            )
        console.print(table)
        console.print(
            f"{report.accounts:,} accounts, {report.transfers:,} transfers,"
            f" {report.entries:,} journal entries checked."
        )
        if report.ok:
            console.print("[green]OK: hash chains intact, debits equal credits.[/green]")
        for problem in report.problems[:50]:
            err.print(f"[red]{problem}[/red]")
        if len(report.problems) > 50:
            err.print(f"... and {len(report.problems) - 50} more problems")
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("expire")
def ledger_expire(as_json: JsonFlag = False) -> None:
    """Release pending transfers whose timeout has passed (serve does this continuously)."""
    from openbank.core.clock import get_clock
    from openbank.core.database import unit_of_work
    from openbank.ledger import service as ledger

    database = _database()
    total = 0
    while True:
        count = unit_of_work(
            database, lambda s: ledger.expire_pending_transfers(s, get_clock().now())
        )
        total += count
        if count == 0:
            break
    database.dispose()
    if as_json:
        print(json.dumps({"expired": total}))
    else:
        console.print(f"Released {total} expired pending transfer(s).")


# -- lending --------------------------------------------------------------------------------


@products_app.command("import")
def products_import(
    file: Annotated[
        Path | None, typer.Argument(help="YAML or JSON file of products.", show_default=False)
    ] = None,
    library: Annotated[
        bool, typer.Option("--library", help="Import the sample library shipped with openbank.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate every product of a file, then import them all (new ones created, changed ones
    given a new version), or none: each problem is listed with the product and field."""
    from openbank.core.clock import get_clock
    from openbank.core.database import unit_of_work
    from openbank.core.errors import DomainError
    from openbank.core.migrate import upgrade
    from openbank.lending import service as lending

    if (file is None) == (not library):
        err.print("give a FILE or --library (one of them)")
        raise typer.Exit(2)
    try:
        documents = lending.read_product_file(file or lending.SAMPLE_LIBRARY)
    except DomainError as exc:
        err.print(exc.detail)
        raise typer.Exit(2) from None
    database = _database()
    upgrade(database.engine)
    settings = get_settings()
    try:
        report = unit_of_work(
            database, lambda s: lending.import_products(s, documents, get_clock().now(), settings)
        )
    except DomainError as exc:
        if as_json:
            print(json.dumps(exc.problem(), ensure_ascii=False, indent=2))
        else:
            err.print(f"[red]{exc.detail}[/red]")
            for problem in exc.extra.get("problems", []):
                for message in problem["errors"]:
                    err.print(f"  product {problem['index']} ({problem['code']}): {message}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    console.print(
        f"created {len(report.created)}, updated {len(report.updated)},"
        f" unchanged {len(report.unchanged)}"
    )


@products_app.command("list")
def products_list(as_json: JsonFlag = False) -> None:
    """The products on offer, with their amount range, terms and price."""
    from openbank.core.database import unit_of_work
    from openbank.lending import service as lending

    database = _database()
    products = unit_of_work(database, lending.list_products)
    database.dispose()
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in products], ensure_ascii=False))
        return
    table = Table("code", "institution", "type", "amount (yuan)", "terms (months)", "rate")
    for product in products:
        spec = product.spec
        pricing = spec.pricing
        rate = (
            f"{pricing.annual_rate:.2%}"
            if pricing.annual_rate is not None
            else " / ".join(f"{g} {r:.2%}" for g, r in (pricing.rates_by_grade or {}).items())
        )
        table.add_row(
            spec.code,
            spec.institution,
            spec.type,
            f"{spec.amount_min // 100:,}-{spec.amount_max // 100:,}",
            ",".join(str(t) for t in spec.terms_months),
            rate,
        )
    console.print(table)


@loan_app.command("eod")
def loan_end_of_day(
    business_date: Annotated[
        str | None,
        typer.Option("--date", help="Business date (YYYY-MM-DD); default: today in bank time."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the end-of-day batch: accrue interest and penalty, auto-debit what is due, mark
    overdue loans and their buckets. Running it twice for a date changes nothing."""
    from openbank.core.clock import business_date as to_business_date
    from openbank.core.clock import get_clock
    from openbank.core.database import unit_of_work
    from openbank.core.errors import DomainError
    from openbank.lending import service as lending

    clock = get_clock()
    settings = get_settings()
    try:
        day = (
            date.fromisoformat(business_date)
            if business_date
            else to_business_date(clock.now(), settings.tz)
        )
    except ValueError:
        err.print(f"--date {business_date!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    database = _database()

    def work(fn: Any) -> Any:
        return unit_of_work(database, fn)

    try:
        if as_json or not sys.stdout.isatty():
            report = lending.end_of_day(work, day, clock.now, settings)
        else:
            total = unit_of_work(database, lending.count_open_contracts)
            with Progress(
                TextColumn(f"end of day {day}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("loans", total=total)
                report = lending.end_of_day(
                    work, day, clock.now, settings, on_progress=lambda n: progress.advance(task, n)
                )
    except DomainError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    finally:
        database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    console.print(
        f"{report.business_date} (run {report.run}): {report.contracts} loans,"
        f" {report.transfers} ledger transfers, {report.auto_debits} auto-debits"
        f" ({report.auto_debited_amount / 100:,.2f} yuan), {report.seconds:.1f} s"
    )
    console.print(
        "open loans by bucket: " + ", ".join(f"{k} {v}" for k, v in report.overdue.items())
    )
    if report.skipped:
        console.print(f"{report.skipped} loans already past {day} (repaid since) left as they are")
    for contract_id in report.failed:
        err.print(f"[red]loan {contract_id} could not be processed (see the log)[/red]")
    if report.failed:
        raise typer.Exit(1)


@loan_app.command("trial-balance")
def loan_trial_balance(as_json: JsonFlag = False) -> None:
    """Every lending ledger account, per product, against what the contracts say it should
    hold. Exits 1 on any difference."""
    from openbank.core.database import unit_of_work
    from openbank.lending import service as lending

    database = _database()
    report = unit_of_work(database, lending.trial_balance)
    database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        table = Table("product", "account", "ledger", "contracts", "difference")
        for line in report.lines:
            table.add_row(
                line.product_code,
                line.account,
                f"{line.ledger_balance / 100:,.2f}",
                f"{line.contracts_balance / 100:,.2f}",
                f"[red]{line.difference / 100:,.2f}[/red]" if line.difference else "0.00",
            )
        console.print(table)
        console.print("[green]balanced[/green]" if report.balanced else "[red]NOT balanced[/red]")
    if not report.balanced:
        raise typer.Exit(1)


@loan_app.command("score-stability")
def loan_score_stability(
    days: Annotated[int, typer.Option(min=1, help="Applications of the last N days.")] = 30,
    as_json: JsonFlag = False,
) -> None:
    """How far recent application scores have drifted from the scorecard's training
    population (PSI: under 0.1 stable, 0.1-0.25 watch, above 0.25 shift: retrain)."""
    from datetime import timedelta

    from openbank.core.clock import get_clock
    from openbank.core.database import unit_of_work
    from openbank.lending import service as lending

    database = _database()
    since = get_clock().now() - timedelta(days=days)
    report = unit_of_work(database, lambda s: lending.score_stability(s, since))
    database.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    if report.psi is None:
        console.print(f"no scored applications in the last {days} days")
        return
    table = Table("score band", "training share", "recent share", "applications")
    for band in report.bands:
        table.add_row(
            band.label, f"{band.expected_share:.1%}", f"{band.actual_share:.1%}", str(band.count)
        )
    console.print(table)
    console.print(
        f"{report.model}: PSI {report.psi:.4f} over {report.applications} applications"
        f" — [bold]{report.verdict}[/bold]"
    )


if __name__ == "__main__":
    app()

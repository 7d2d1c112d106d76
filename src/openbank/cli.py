"""The `openbank` command."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openbank.core.settings import get_settings

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
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    as_json: JsonFlag = False,
) -> None:
    """Apply the schema migrations (also done by `openbank serve` at start)."""
    from openbank.core.migrate import drift, upgrade

    database = _database()
    upgrade(database.engine, revision)
    differences = drift(database.engine) if revision == "head" else []
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


if __name__ == "__main__":
    app()

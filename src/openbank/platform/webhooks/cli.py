"""`openbank webhooks ...`: run the dispatcher on its own, read the dead letters, replay."""

from __future__ import annotations

import json
import signal
import uuid
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openbank.platform.cli import JsonFlag, open_database

webhooks_app = typer.Typer(
    help="Webhooks: the dispatcher (also running inside every `openbank serve` process),"
    " the dead-letter list and replay.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


@webhooks_app.command("dispatch")
def dispatch(
    once: Annotated[
        bool, typer.Option("--once", help="One pass: fan out the outbox, send what is due.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deliver webhooks: queue a delivery per matching endpoint for every new outbox event and
    send the due ones, signed. Without --once it keeps polling until interrupted; any number
    of dispatchers may run against one database."""
    from openbank.core.clock import get_clock
    from openbank.platform.webhooks.dispatcher import Dispatcher

    database = open_database()
    dispatcher = Dispatcher(database, database.settings, get_clock())
    try:
        if once:
            report = dispatcher.run_once()
            if as_json:
                print(
                    json.dumps(
                        {
                            "events": report.events,
                            "delivered": report.delivered,
                            "failed": report.failed,
                            "dead": report.dead,
                        }
                    )
                )
            else:
                console.print(
                    f"{report.events} event(s) fanned out; {report.delivered} delivered,"
                    f" {report.failed} failed (will retry), {report.dead} dead."
                )
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        console.print("dispatching webhooks (Ctrl-C to stop)")
        try:
            dispatcher.run_forever()
        except KeyboardInterrupt:
            console.print("stopped")
    finally:
        dispatcher.close()
        database.dispose()


@webhooks_app.command("dead-letters")
def dead_letters(
    app_id: Annotated[uuid.UUID | None, typer.Option(help="Only this app's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Deliveries that ran out of attempts (or whose endpoint was removed), newest first."""
    from openbank.core.database import unit_of_work
    from openbank.platform.webhooks import service

    database = open_database()
    try:
        page, _ = unit_of_work(
            database, lambda s: service.list_deliveries(s, "dead", app_id, None, limit)
        )
    finally:
        database.dispose()
    if as_json:
        print(json.dumps([d.model_dump(mode="json") for d in page], ensure_ascii=False))
        return
    if not page:
        console.print("no dead letters")
        return
    table = Table("delivery", "event", "type", "url", "attempts", "last error", "last attempt")
    for d in page:
        table.add_row(
            str(d.id),
            str(d.event_id),
            d.event_type,
            d.url,
            str(d.attempts),
            d.last_error or (f"HTTP {d.last_status_code}" if d.last_status_code else ""),
            d.last_attempt_at.isoformat(timespec="seconds") if d.last_attempt_at else "",
        )
    console.print(table)


@webhooks_app.command("replay")
def replay(
    delivery_id: Annotated[
        uuid.UUID | None, typer.Argument(help="The delivery to send again.", show_default=False)
    ] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="Every dead delivery to an active endpoint.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Queue a failed or dead delivery (or all dead ones) to be sent again now, with the same
    event id; the dispatcher sends it on its next pass."""
    from openbank.core.clock import get_clock
    from openbank.core.database import unit_of_work
    from openbank.core.errors import DomainError
    from openbank.platform.webhooks import service

    if (delivery_id is None) == (not all_dead):
        err.print("give a DELIVERY_ID or --all-dead (one of them)")
        raise typer.Exit(2)
    database = open_database()
    now = get_clock().now()
    try:
        if delivery_id is not None:
            chosen = delivery_id
            replayed = [unit_of_work(database, lambda s: service.replay(s, chosen, now)).id]
        else:
            replayed = unit_of_work(database, lambda s: service.replay_dead(s, now))
    except DomainError as exc:
        if as_json:
            print(json.dumps(exc.problem(), ensure_ascii=False))
        else:
            err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if as_json:
        print(json.dumps({"replayed": [str(i) for i in replayed]}))
    else:
        console.print(f"{len(replayed)} delivery(ies) queued again.")


if __name__ == "__main__":
    webhooks_app()

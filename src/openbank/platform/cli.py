"""`openbank operator ...` and `openbank partner ...`: the bootstrap path for the first operator
(no HTTP server or admin token needed on the bank's own machine) and quick listings."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from openbank.core.clock import get_clock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.logging import configure_logging
from openbank.core.migrate import upgrade
from openbank.core.settings import get_settings
from openbank.platform import keys, service
from openbank.platform.schemas import OperatorCreate

operator_app = typer.Typer(help="Bank operators: sign-in accounts and roles.", no_args_is_help=True)
partner_app = typer.Typer(help="Partner platforms and their apps.", no_args_is_help=True)
signing_key_app = typer.Typer(help="The bank's signing key (webhooks).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def open_database() -> Database:
    """The database of a platform command, migrated to the latest schema."""
    from openbank.models import import_all_models

    import_all_models()
    settings = get_settings()
    configure_logging(settings)
    database = Database(settings)
    upgrade(database.engine)
    return database


@operator_app.command("create")
def operator_create(
    username: Annotated[str, typer.Argument(help="Lower case, 3 to 64 characters.")],
    role: Annotated[
        list[str],
        typer.Option(help="admin, operations, risk or auditor; repeat for several."),
    ],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of a prompt.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an operator. The way to make the first admin on a new installation."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt(
            "Password (12 characters at least)", hide_input=True, confirmation_prompt=True
        )
    try:
        spec = OperatorCreate(username=username, password=password, roles=role)
    except ValidationError as exc:
        err.print(f"[red]{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from exc
    database = open_database()
    try:
        created = unit_of_work(
            database, lambda s: service.create_operator(s, spec, get_clock().now())
        )
    except DomainError as exc:
        err.print(f"[red]{exc.code}: {exc.detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    if as_json:
        print(created.model_dump_json())
    else:
        console.print(
            f"Operator [bold]{created.username}[/bold] created with roles "
            f"{', '.join(created.roles)}. Sign in with POST /v1/operator-sessions."
        )


@operator_app.command("list")
def operator_list(as_json: JsonFlag = False) -> None:
    """Every operator, their roles and status."""
    database = open_database()
    operators = unit_of_work(database, service.list_operators)
    database.dispose()
    if as_json:
        print(json.dumps([o.model_dump(mode="json") for o in operators]))
        return
    table = Table("username", "roles", "status", "created")
    for o in operators:
        table.add_row(o.username, ", ".join(o.roles), o.status, o.created_at.isoformat())
    console.print(table)


@partner_app.command("list")
def partner_list(as_json: JsonFlag = False) -> None:
    """Every partner with its apps, environments and products."""
    database = open_database()
    rows = unit_of_work(
        database,
        lambda s: [(p, service.list_apps(s, p.id)) for p in service.list_partners(s)],
    )
    database.dispose()
    if as_json:
        print(
            json.dumps(
                [
                    {**p.model_dump(mode="json"), "apps": [a.model_dump(mode="json") for a in apps]}
                    for p, apps in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table("partner", "status", "app (client_id)", "environment", "products")
    for partner, apps in rows:
        for index, a in enumerate(apps or [None]):
            table.add_row(
                partner.legal_name if index == 0 else "",
                partner.status if index == 0 else "",
                f"{a.name} ({a.client_id})" if a else "-",
                a.environment if a else "",
                ", ".join(a.products) if a else "",
            )
    console.print(table)


@signing_key_app.command("rotate")
def signing_key_rotate(as_json: JsonFlag = False) -> None:
    """Retire the current signing key (it stays in the JWKS) and start signing with a new one."""
    database = open_database()
    key = unit_of_work(database, lambda s: keys.rotate(s, get_clock().now()))
    database.dispose()
    kid = key.as_dict(private=False)["kid"]
    if as_json:
        print(json.dumps({"kid": kid}))
    else:
        console.print(f"Now signing with key {kid}; the old key stays published.")

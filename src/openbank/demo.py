"""`openbank demo`: a tour of the money core on the embedded database.

It opens sample customers and e-accounts of each PBoC class, moves money between them the way
a partner app would (top-ups from bound cards, transfers, a withdrawal), shows a limit refusing
a movement, then prints balances, a statement and the ledger's own verification.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.money import Money
from openbank.customers import service as customers
from openbank.customers.identity import resident_id_check_char
from openbank.customers.schemas import (
    BoundCardCreate,
    CustomerCreate,
    EAccount,
    EAccountCreate,
    EAccountTransferCreate,
)
from openbank.ledger import service as ledger

CARD = "6222020200112230"  # a Luhn-valid sample card number


@dataclass
class DemoResult:
    e_accounts: dict[str, EAccount] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    verify_ok: bool = False
    verify_entries: int = 0
    loan: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "e_accounts": {
                name: {
                    "id": str(a.id),
                    "class": a.account_class,
                    "balance": a.balance,
                    "currency": a.currency,
                }
                for name, a in self.e_accounts.items()
            },
            "steps": self.steps,
            "loan": self.loan,
            "ledger_verify": {"ok": self.verify_ok, "entries": self.verify_entries},
        }


def _resident_id(rng: random.Random) -> str:
    body = f"110105{rng.randint(1970, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def _yuan(fen: int) -> str:
    return str(Money(fen, "CNY"))


def run_demo(db: Database, clock: Clock, console: Console, *, quiet: bool = False) -> DemoResult:
    settings = db.settings
    rng = random.SystemRandom()
    result = DemoResult()

    def say(message: str | Panel) -> None:
        if not quiet:
            console.print(message)

    def open_customer(name: str, kyc_level: int, account_class: str) -> EAccount:
        def work(session: Any) -> EAccount:
            now = clock.now()
            customer = customers.create_customer(
                session,
                CustomerCreate(
                    type="person",
                    name=name,
                    id_number=_resident_id(rng),
                    phone=f"+86138{rng.randint(0, 99_999_999):08d}",
                    kyc_level=kyc_level,
                ),
                now,
                settings,
            )
            return customers.open_e_account(
                session,
                EAccountCreate.model_validate(
                    {
                        "customer_id": customer.id,
                        "class": account_class,
                        "bound_card": BoundCardCreate(number=CARD, bank_name="中国工商银行"),
                    }
                ),
                now,
            )

        account = unit_of_work(db, work)
        say(f"  opened a class {account_class} e-account for {name}: [cyan]{account.id}[/cyan]")
        return account

    def step(label: str, action: Any) -> None:
        try:
            unit_of_work(db, action)
            result.steps.append({"step": label, "ok": True})
            say(f"  [green]✓[/green] {label}")
        except DomainError as refused:
            result.steps.append({"step": label, "ok": False, "code": refused.code})
            say(f"  [yellow]✗[/yellow] {label}: refused with [bold]{refused.code}[/bold]")
            say(f"      {refused.detail}")

    say(Panel.fit("openbank demo: the money core", style="bold"))
    where = (
        "the server in OPENBANK_DATABASE_URL"
        if settings.database_url
        else f"the embedded PostgreSQL in {settings.home / 'pgdata'}"
    )
    say(f"Database: {where}")
    say("\n[bold]1. Customers open e-accounts inside a partner's app[/bold]")
    zhang = open_customer("张三", 3, "I")
    li = open_customer("李四", 2, "II")
    wang = open_customer("王五", 1, "III")

    say("\n[bold]2. Money moves: every step is one double-entry ledger transaction[/bold]")

    def top_up(account: EAccount, fen: int) -> Any:
        return lambda s: customers.top_up(s, account.id, fen, clock.now(), settings)

    def pay(payer: EAccount, payee: EAccount, fen: int) -> Any:
        spec = EAccountTransferCreate(to_e_account_id=payee.id, amount=fen)
        return lambda s: customers.transfer(s, payer.id, spec, clock.now(), settings)

    step(f"张三 tops up {_yuan(5_000_000)} from his bound card", top_up(zhang, 5_000_000))
    step(f"张三 pays 李四 {_yuan(300_000)}", pay(zhang, li, 300_000))
    step(f"李四 pays 王五 {_yuan(150_000)}", pay(li, wang, 150_000))
    step(
        f"张三 sends 王五 {_yuan(100_000)} (class III holds at most"
        f" {_yuan(settings.class_iii_balance_limit)})",
        pay(zhang, wang, 100_000),
    )
    daily = _yuan(settings.class_ii_non_bound_daily_limit)
    step(
        f"张三 sends 李四 {_yuan(900_000)} (class II: {daily} a day from non-bound accounts)",
        pay(zhang, li, 900_000),
    )
    step(
        f"李四 withdraws {_yuan(100_000)} to her bound card",
        lambda s: customers.withdraw(s, li.id, 100_000, clock.now(), settings),
    )
    step(f"王五 tries to spend {_yuan(180_000)}, more than he has", pay(wang, zhang, 180_000))

    names = {"张三": zhang, "李四": li, "王五": wang}

    def current(account: EAccount) -> EAccount:
        return unit_of_work(db, lambda s: customers.get_e_account(s, account.id))

    result.e_accounts = {name: current(account) for name, account in names.items()}
    table = Table(title="\n3. Balances")
    for column in ("customer", "class", "balance", "available", "e-account"):
        table.add_column(column, justify="right" if column in ("balance", "available") else "left")
    for name, account in result.e_accounts.items():
        table.add_row(
            name,
            account.account_class,
            _yuan(account.balance),
            _yuan(account.available),
            str(account.id),
        )
    if not quiet:
        console.print(table)

    entries, _ = unit_of_work(db, lambda s: customers.statement(s, li.id, None, 20))
    statement = Table(title="4. 李四's statement (each line with the running balance after it)")
    for column in ("#", "effect", "side", "amount", "balance after", "hash"):
        statement.add_column(column)
    for entry in entries:
        statement.add_row(
            str(entry.seq),
            entry.effect,
            entry.side,
            _yuan(entry.amount),
            _yuan(entry.credits_posted - entry.debits_posted),
            entry.hash[:12] + "…",
        )
    if not quiet:
        console.print(statement)

    result.loan = _borrow(db, clock, console, zhang, quiet=quiet)

    report = ledger.verify(db)
    result.verify_ok, result.verify_entries = report.ok, report.entries
    say(
        f"\n[bold]6. Ledger verification[/bold]: {report.entries:,} journal entries over"
        f" {report.accounts:,} accounts; "
        + (
            "[green]hash chains intact, debits equal credits[/green]"
            if report.ok
            else "[red]FAILED[/red]"
        )
    )
    say(
        Panel(
            "Serve the API:      openbank serve --port 8000   (then open http://127.0.0.1:8000/docs)\n"
            "Create an account:  curl -X POST localhost:8000/v1/ledger/accounts \\\n"
            "                      -H 'Authorization: Bearer dev-admin-token' \\\n"
            "                      -H 'Content-Type: application/json' \\\n"
            '                      -d \'{"currency":"CNY","code":"customer_wallet"}\'\n'
            f"Look at 李四:        curl localhost:8000/v1/e-accounts/{li.id} "
            "-H 'Authorization: Bearer dev-admin-token'\n"
            "Check the ledger:   openbank ledger verify\n"
            "Price a loan:       openbank loan schedule --principal 200000 --annual-rate 0.05"
            " --months 36 --method equal-installment\n"
            "Close the day:      openbank loan eod; openbank loan trial-balance\n"
            "Read more:          README.md, docs/lending.md, docs/credit.md, docs/benchmarks.md",
            title="What to try next",
        )
    )
    return result


# Declared characteristics of the reference scorecard (German credit) for the sample borrower.
DEMO_CREDIT_PROFILE: dict[str, str | float | None] = {
    "status_of_existing_checking_account": "no checking account",
    "credit_history": "critical account/ other credits existing (not at this bank)",
    "savings_account_and_bonds": "... >= 1000 DM",
    "property": "real estate",
    "housing": "own",
}


def _borrow(
    db: Database, clock: Clock, console: Console, borrower: EAccount, *, quiet: bool
) -> dict[str, Any]:
    """张三 borrows 20,000 yuan over 12 months: decision, offer, payout, a repayment, and the
    lending trial balance."""
    from openbank.lending import service as lending
    from openbank.lending.schemas import (
        ApplicationCreate,
        DeclaredFinances,
        FundingPartnerCreate,
        OfferAccept,
        RepaymentCreate,
    )

    settings = db.settings

    def say(message: str | Table) -> None:
        if not quiet:
            console.print(message)

    def seed_library(session: Any) -> None:
        now = clock.now()
        try:
            lending.get_funding_partner(session, "hengxin-cf")
        except DomainError:
            lending.create_funding_partner(
                session,
                FundingPartnerCreate(
                    code="hengxin-cf", name="恒信消费金融", outstanding_cap=10_000_000_000
                ),
                now,
            )
            lending.fund_partner(session, "hengxin-cf", 1_000_000_000, now)
        documents = lending.read_product_file(lending.SAMPLE_LIBRARY)
        lending.import_products(session, documents, now, settings)

    say('\n[bold]5. 张三: "I want to borrow 20,000 over a year"[/bold]')
    unit_of_work(db, seed_library)
    customer_id = unit_of_work(db, lambda s: customers.get_e_account(s, borrower.id)).customer_id
    request = ApplicationCreate(
        customer_id=customer_id,
        product_code="ob-consumer-flex",
        amount=2_000_000,
        term_months=12,
        purpose="furniture",
        declared=DeclaredFinances(monthly_income=2_500_000, credit_profile=DEMO_CREDIT_PROFILE),
    )
    application = unit_of_work(db, lambda s: lending.apply(s, request, clock.now(), settings))
    say(
        f"  decision [bold]{application.decision}[/bold]: score {application.score},"
        f" grade {application.grade}"
        + "".join(f"\n    {r.code}: {r.message}" for r in application.reasons)
    )
    outcome: dict[str, Any] = {
        "application_id": str(application.id),
        "decision": application.decision,
        "score": application.score,
        "grade": application.grade,
    }
    offer = application.offer
    if application.decision != "approved" or offer is None:
        return outcome
    say(
        f"  offer: {_yuan(offer.amount)} at {offer.annual_rate:.2%} a year, {offer.method};"
        f" APR {offer.apr.nominal:.2%} nominal, {offer.apr.effective:.2%} effective"
    )
    contract = unit_of_work(
        db,
        lambda s: lending.accept_offer(
            s, application.id, OfferAccept(e_account_id=borrower.id), clock.now(), settings
        ),
    )
    schedule = Table(title="  the frozen schedule (first three of twelve)")
    for column in ("period", "due", "payment", "principal", "interest"):
        schedule.add_column(column)
    for line in offer.schedule[:3]:
        schedule.add_row(
            str(line.period),
            str(line.due_date),
            _yuan(line.payment),
            _yuan(line.principal),
            _yuan(line.interest),
        )
    say(f"  accepted: {_yuan(offer.net_disbursed)} paid into 张三's e-account at once")
    say(schedule)
    first = offer.schedule[0]
    contract = unit_of_work(
        db,
        lambda s: lending.repay(
            s, contract.id, RepaymentCreate(amount=first.payment), clock.now(), settings
        ),
    )
    balance = unit_of_work(db, lending.trial_balance)
    say(
        f"  张三 repays the first instalment early ({_yuan(first.payment)}); outstanding"
        f" principal {_yuan(contract.outstanding_principal)}; lending trial balance: "
        + ("[green]balanced[/green]" if balance.balanced else "[red]NOT balanced[/red]")
    )
    return {
        **outcome,
        "contract_id": str(contract.id),
        "apr_nominal": str(offer.apr.nominal),
        "outstanding_principal": contract.outstanding_principal,
        "trial_balance_balanced": balance.balanced,
    }

"""`openbank demo`: a tour of the money core on the embedded database.

It opens sample customers and e-accounts of each PBoC class, moves money between them the way
a partner app would (top-ups from bound cards, transfers, a withdrawal), shows a limit refusing
a movement, then prints balances, a statement and the ledger's own verification. Last, the
open platform end to end over the real HTTP application (in process, no server): a partner
onboarded, its app's DPoP-bound tokens, a consent 张三 grants on the bank's pages for one of
his e-accounts, the app reading that balance, and 张三 revoking it. Then acquiring: a merchant
onboarded, yesterday's takings (e-account and card payments, an authorisation captured in part,
a refund), today's T+1 settlement with its fees explained line by line, the reconciliation
against the ledger, and what the merchant's payment flow is worth to lending so far.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import secrets
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from openbank.core.clock import Clock, business_date
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.money import Money
from openbank.customers import service as customers
from openbank.customers.identity import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    resident_id_check_char,
)
from openbank.customers.schemas import (
    BoundCardCreate,
    CustomerCreate,
    EAccount,
    EAccountCreate,
    EAccountTransferCreate,
)
from openbank.ledger import service as ledger
from openbank.payments import service as payments
from openbank.payments import settlement
from openbank.payments.schemas import (
    CaptureCreate,
    Card,
    FeePlanCreate,
    FeeTier,
    MerchantCreate,
    OrderCreate,
    PaymentCreate,
    RefundCreate,
)

CARD = "6222020200112230"  # a Luhn-valid sample card number


@dataclass
class DemoResult:
    e_accounts: dict[str, EAccount] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    verify_ok: bool = False
    verify_entries: int = 0
    loan: dict[str, Any] = field(default_factory=dict)
    open_platform: dict[str, Any] = field(default_factory=dict)
    acquiring: dict[str, Any] = field(default_factory=dict)

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
            "open_platform": self.open_platform,
            "acquiring": self.acquiring,
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
                    sandbox=True,  # partners' sandbox apps reach them (section 7)
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
    result.open_platform = _open_platform(db, clock, console, zhang, quiet=quiet)
    result.acquiring = _acquiring(db, clock, console, zhang, rng, quiet=quiet)
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
            "Settle and check:   openbank payments settle; openbank payments reconcile\n"
            "Read more:          README.md, docs/platform.md, docs/payments.md, docs/lending.md,"
            " docs/credit.md, docs/benchmarks.md",
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


# -- 7. the open platform, end to end over HTTP ----------------------------------------------

PARTNER_NAME = "云集商城"
PARTNER_REDIRECT_URI = "https://yunji.example/openbank/callback"
ACCOUNT_PERMISSIONS = ("accounts", "balances", "transactions")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class DemoStepFailed(RuntimeError):
    """A request of the open-platform tour was not answered as the flow expects."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _credit_code(rng: random.Random) -> str:
    """A unified social credit code (GB 32100-2015): a company (91) of Hangzhou (330106)."""
    body = "91330106" + "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(9))
    return body + credit_code_check_char(body)


def _expect(response: Any, status: int) -> Any:
    """`response` if it has `status`, else DemoStepFailed with what the bank answered."""
    if response.status_code != status:
        request = response.request
        raise DemoStepFailed(
            f"{request.method} {request.url.path} answered {response.status_code}"
            f" (expected {status}): {response.text[:500]}"
        )
    return response


def _page_value(html: str, pattern: str, what: str) -> str:
    found = re.search(pattern, html)
    if found is None:
        raise DemoStepFailed(f"no {what} on the page")
    return found.group(1)


def _csrf(html: str) -> str:
    return _page_value(html, r'name="csrf" value="([^"]+)"', "csrf field")


def _sandbox_code(html: str) -> str:
    """The one-time code the sandbox shows on the page (there is no SMS to read it from)."""
    return _page_value(html, r'id="sandbox-code">(\d{6})<', "sandbox one-time code")


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Only warnings and errors from the standard library logger `name` meanwhile."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class _PartnerApp:
    """The partner's side of the flow: the app's signing key (private_key_jwt, its public
    half registered with the bank) and its DPoP key, which access tokens are bound to."""

    client_id: str
    key: Any  # joserfc ECKey
    dpop_key: Any  # joserfc ECKey
    issuer: str
    clock: Clock

    def _sign(self, header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
        from joserfc import jwt

        return jwt.encode(header, claims, key, algorithms=["ES256"])

    def client_auth(self) -> dict[str, str]:
        """The form fields authenticating the app: a fresh client assertion, aud the issuer."""
        issued = int(self.clock.now().timestamp())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": issued,
            "exp": issued + 60,
            "jti": secrets.token_urlsafe(16),
        }
        assertion = self._sign({"alg": "ES256", "kid": self.key.kid}, claims, self.key)
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }

    def proof(self, method: str, path: str, access_token: str | None = None) -> str:
        """A DPoP proof for `method` on the bank's public URL of `path`."""
        claims: dict[str, Any] = {
            "htm": method,
            "htu": self.issuer + path,
            "iat": int(self.clock.now().timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        if access_token is not None:
            claims["ath"] = _b64url(hashlib.sha256(access_token.encode()).digest())
        header = {
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": dict(self.dpop_key.as_dict(private=False)),
        }
        return self._sign(header, claims, self.dpop_key)

    def token(self, web: Any, form: dict[str, str]) -> str:
        """POST /oauth2/token with `form`, client authentication and a DPoP proof."""
        response = web.post(
            "/oauth2/token",
            data={**form, **self.client_auth()},
            headers={"DPoP": self.proof("POST", "/oauth2/token")},
        )
        body = _expect(response, 200).json()
        if body.get("token_type") != "DPoP":
            raise DemoStepFailed(f"expected a DPoP-bound token, got {body.get('token_type')}")
        access_token: str = body["access_token"]
        return access_token

    def call(self, web: Any, method: str, path: str, token: str, **kwargs: Any) -> Any:
        """A resource request with the DPoP-bound token (and a proof bound to it)."""
        headers = {"Authorization": f"DPoP {token}", "DPoP": self.proof(method, path, token)}
        if method == "POST":  # partner POSTs are idempotent under a key of the app's choosing
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return web.request(method, path, headers=headers, **kwargs)


def _open_platform(
    db: Database, clock: Clock, console: Console, holder: EAccount, *, quiet: bool
) -> dict[str, Any]:
    """The partner flow through the real HTTP application, in process: the operator onboards
    云集商城 and its sandbox app; the app gets a client_credentials token (private_key_jwt +
    DPoP), asks for an account-access consent and pushes an authorization request (PKCE);
    张三 signs in on the bank's pages and approves one e-account; the app redeems the code
    and reads that e-account's balance; 张三 revokes the consent on "my consents" and the
    app's next call is refused."""
    with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    from joserfc.jwk import ECKey
    from sqlalchemy import select

    from openbank.api import create_app
    from openbank.core.models import OutboxEvent

    settings = db.settings
    rng = random.SystemRandom()

    def say(message: str) -> None:
        if not quiet:
            console.print(message)

    say(
        "\n[bold]7. The open platform: a partner app reads 张三's balance under his consent"
        "[/bold] (the real HTTP API, in process)"
    )
    # His phone is his sign-in login on the bank's pages.
    customer = unit_of_work(db, lambda s: customers.get_customer(s, holder.customer_id))
    second = unit_of_work(
        db,
        lambda s: customers.open_e_account(
            s,
            EAccountCreate.model_validate(
                {
                    "customer_id": customer.id,
                    "class": "II",
                    "bound_card": BoundCardCreate(number=CARD, bank_name="中国工商银行"),
                }
            ),
            clock.now(),
        ),
    )
    say(f"  张三 also keeps a class II e-account: [cyan]{second.id}[/cyan]")

    # The tour's own lines say what happens: the bank's and httpx's request logs stay quiet.
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    quiet_settings = settings.model_copy(
        update={"log_level": logging.getLevelName(max(level, logging.WARNING))}
    )
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    with (
        _quiet_logger("httpx"),
        TestClient(
            create_app(quiet_settings, clock), base_url=settings.public_url, follow_redirects=False
        ) as web,
    ):
        # 1. The operator onboards the partner and registers its sandbox app.
        partner = _expect(
            web.post(
                "/v1/partners",
                json={
                    "legal_name": PARTNER_NAME,
                    "unified_social_credit_code": _credit_code(rng),
                    "contact_name": "赵六",
                    "contact_email": "developers@yunji.example",
                    "contact_phone": "+8613800138000",
                },
                headers=admin,
            ),
            201,
        ).json()
        key = ECKey.generate_key("P-256", parameters={"kid": uuid.uuid4().hex[:16], "alg": "ES256"})
        registered = _expect(
            web.post(
                f"/v1/partners/{partner['id']}/apps",
                json={
                    "name": PARTNER_NAME,
                    "environment": "sandbox",
                    "redirect_uris": [PARTNER_REDIRECT_URI],
                    "jwks": {"keys": [dict(key.as_dict(private=False))]},
                    "products": ["e_accounts"],
                },
                headers=admin,
            ),
            201,
        ).json()
        app = _PartnerApp(
            client_id=registered["client_id"],
            key=key,
            dpop_key=ECKey.generate_key("P-256"),
            issuer=settings.public_url,
            clock=clock,
        )
        say(
            f"  the operator onboards {PARTNER_NAME} ({partner['unified_social_credit_code']})"
            f" and registers its sandbox app [cyan]{app.client_id}[/cyan] with an ES256 key"
        )

        # 2. The app's own token: private_key_jwt + DPoP.
        partner_token = app.token(web, {"grant_type": "client_credentials", "scope": "accounts"})
        say(
            "  the app gets a DPoP-bound client_credentials token (private_key_jwt, scope accounts)"
        )

        # 3. A consent for 张三's accounts, and the pushed authorization request naming it.
        consent = _expect(
            app.call(
                web,
                "POST",
                "/v1/open/account-access-consents",
                partner_token,
                json={"permissions": list(ACCOUNT_PERMISSIONS)},
            ),
            201,
        ).json()
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(12)
        pushed = _expect(
            web.post(
                "/oauth2/par",
                data={
                    "response_type": "code",
                    "redirect_uri": PARTNER_REDIRECT_URI,
                    "scope": "accounts",
                    "state": state,
                    "consent_id": consent["id"],
                    "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
                    "code_challenge_method": "S256",
                    **app.client_auth(),
                },
            ),
            201,
        ).json()
        say(
            f"  it asks for consent [cyan]{consent['id']}[/cyan]"
            f" ({', '.join(consent['permissions'])}: {consent['status']}) and pushes an"
            " authorization request naming it (PAR, PKCE S256)"
        )

        # 4. 张三 on the bank's pages: sign-in, one-time code, one account ticked, approve.
        password = secrets.token_urlsafe(12)
        _expect(
            web.post(
                f"/v1/sandbox/customers/{customer.id}/credentials",
                json={"password": password},
                headers=admin,
            ),
            200,
        )
        page = _expect(
            web.get(
                "/oauth2/authorize",
                params={"client_id": app.client_id, "request_uri": pushed["request_uri"]},
            ),
            200,
        )
        csrf = _csrf(page.text)
        page = _expect(
            web.post(
                "/oauth2/authorize/sign-in",
                data={"phone": customer.phone, "password": password, "csrf": csrf},
            ),
            200,
        )
        code = _sandbox_code(page.text)
        page = _expect(
            web.post("/oauth2/authorize/verify", data={"code": code, "csrf": csrf}),
            200,
        )
        offered = re.findall(r'name="e_account_ids" value="([^"]+)"', page.text)
        chosen = str(holder.id) if str(holder.id) in offered else offered[0]
        say(
            f"  张三 signs in on the consent page (phone, password, sandbox code {code}), sees"
            f" {len(offered)} e-accounts offered and ticks only [cyan]{chosen}[/cyan]"
        )
        decided = _expect(
            web.post(
                "/oauth2/authorize/decision",
                data={
                    "csrf": _csrf(page.text),
                    "decision": "approve",
                    "e_account_ids": [chosen],
                    "permissions": list(ACCOUNT_PERMISSIONS),
                },
            ),
            303,
        )
        location = decided.headers["location"]
        answer = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
        if not location.startswith(PARTNER_REDIRECT_URI) or answer.get("state") != state:
            raise DemoStepFailed(f"unexpected authorization response: {location}")
        if answer.get("iss") != settings.public_url or "code" not in answer:
            raise DemoStepFailed(f"unexpected authorization response: {location}")
        say(f"  approved: the browser goes back to {PARTNER_REDIRECT_URI} with code, state, iss")

        # 5. The code for a DPoP-bound customer token; the accounts and the balance.
        customer_token = app.token(
            web,
            {
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": PARTNER_REDIRECT_URI,
                "code_verifier": verifier,
            },
        )
        accounts = _expect(app.call(web, "GET", "/v1/open/accounts", customer_token), 200).json()[
            "data"
        ]
        seen = [a["id"] for a in accounts]
        balance = _expect(
            app.call(web, "GET", f"/v1/open/accounts/{chosen}/balances", customer_token), 200
        ).json()
        say(
            f"  the app redeems the code and reads: {len(seen)} account"
            f"{'' if len(seen) == 1 else 's'} ({'exactly' if seen == [chosen] else 'NOT'}"
            f" what 张三 approved), balance [bold]{_yuan(balance['balance'])}[/bold]"
        )

        # 6. 张三 revokes the consent under "my consents"; the app's next call is refused.
        page = _expect(web.get("/me/consents"), 200)
        csrf = _csrf(page.text)
        page = _expect(
            web.post(
                "/me/sign-in", data={"phone": customer.phone, "password": password, "csrf": csrf}
            ),
            200,
        )
        _expect(web.post("/me/verify", data={"code": _sandbox_code(page.text), "csrf": csrf}), 303)
        page = _expect(web.get("/me/consents"), 200)
        _expect(
            web.post(f"/me/consents/{consent['id']}/revoke", data={"csrf": _csrf(page.text)}),
            303,
        )
        refused = app.call(web, "GET", f"/v1/open/accounts/{chosen}/balances", customer_token)
        refusal = {"status": refused.status_code, "code": refused.json().get("code")}
        say(
            "  张三 revokes it on /me/consents; the app's very next call answers"
            f" [bold]{refusal['status']} {refusal['code']}[/bold]"
        )

        # 7. What the app is told: the consent's status, and the webhook events it produced.
        after = _expect(
            app.call(
                web, "GET", f"/v1/open/account-access-consents/{consent['id']}", partner_token
            ),
            200,
        ).json()
    in_the_bank = unit_of_work(db, lambda s: customers.get_e_account(s, holder.id)).balance
    events = unit_of_work(
        db,
        lambda s: list(
            s.scalars(
                select(OutboxEvent.event_type)
                .where(OutboxEvent.subject == f"consents/{consent['id']}")
                .order_by(OutboxEvent.id)
            )
        ),
    )
    say(
        f"  the app reads the consent: [bold]{after['status']}[/bold]"
        f" (by {after.get('revoked_by') or '?'}); the webhook events it produced (outbox): "
        + ", ".join(events)
    )
    return {
        "partner": PARTNER_NAME,
        "partner_id": partner["id"],
        "app_id": app.client_id,
        "consent_id": consent["id"],
        "accounts_offered": len(offered),
        "accounts_approved": [chosen],
        "accounts_seen": len(seen),
        "accounts_seen_ids": seen,
        "balance_seen": balance["balance"],
        "balance_in_the_bank": in_the_bank,
        "consent_status_after_revoke": after["status"],
        "revoked_by": after.get("revoked_by"),
        "call_after_revoke": refusal,
        "events": events,
    }


def _acquiring(
    db: Database,
    clock: Clock,
    console: Console,
    payer: EAccount,
    rng: random.Random,
    *,
    quiet: bool = False,
) -> dict[str, Any]:
    """A merchant's day of takings, settled the next day, reconciled against the ledger."""
    settings = db.settings

    def say(message: str | Table) -> None:
        if not quiet:
            console.print(message)

    now = clock.now()
    yesterday = now - timedelta(days=1)
    say("\n[bold]8. Payment finance: a merchant's takings, settled T+1[/bold]")
    plan = FeePlanCreate(
        code=f"demo-retail-{secrets.token_hex(3)}",
        name="Retail, cheaper for merchants who bank with us",
        rate_ppm=6_000,
        fixed_fee=10,
        min_fee=10,
        max_fee=5_000,
        tiers=[
            FeeTier(
                name="depositor", min_average_deposit_balance=5_000_000, rate_reduction_ppm=1_000
            ),
            FeeTier(name="borrower", min_loan_interest_paid=100_000, rate_reduction_ppm=2_000),
        ],
        revenue_share_ppm=200_000,
    )
    unit_of_work(db, lambda s: payments.create_fee_plan(s, plan, yesterday))
    shop = unit_of_work(
        db,
        lambda s: payments.onboard_merchant(
            s,
            MerchantCreate(
                legal_name="杭州云南小馆餐饮有限公司",
                unified_social_credit_code=_credit_code(rng),
                legal_representative="赵六",
                phone="+8613700137000",
                mcc="5812",
                fee_plan_code=plan.code,
                bound_account=BoundCardCreate(number=CARD, bank_name="中国农业银行"),
                sandbox=True,
            ),
            yesterday,
            settings,
        ),
    )
    say(
        f"  onboarded 云南小馆 (MCC 5812, fee plan 0.60 % + ¥0.10, min ¥0.10, cap ¥50),"
        f" settlement e-account [cyan]{shop.settlement_e_account_id}[/cyan]"
    )

    def new_order(number: str, fen: int, description: str, mode: str = "immediate") -> Any:
        spec = OrderCreate.model_validate(
            {
                "out_trade_no": f"{number}-{secrets.token_hex(3)}",
                "amount": fen,
                "currency": "CNY",
                "description": description,
                "capture_mode": mode,
            }
        )
        made, _created = unit_of_work(
            db, lambda s: payments.create_order(s, shop.id, spec, yesterday, settings)
        )
        return made

    def pay(order: Any, payment: PaymentCreate) -> Any:
        return unit_of_work(db, lambda s: payments.pay(s, order.id, payment, yesterday, settings))

    by_e_account = PaymentCreate(e_account_id=payer.id)
    lunch = pay(new_order("LUNCH", 8_800, "过桥米线 ×2"), by_e_account)
    say(f"  yesterday 张三 paid {_yuan(lunch.amount)} for lunch from his e-account")
    dinner = pay(new_order("DINNER", 26_600, "汽锅鸡"), by_e_account)
    say(f"  yesterday 张三 paid {_yuan(dinner.amount)} for dinner")
    card_order = new_order("QR", 4_500, "鲜花饼 ×3")
    pay(card_order, PaymentCreate(card=Card(number=CARD, holder_name="钱七")))
    say(
        f"  a walk-in customer scanned the QR code and paid {_yuan(card_order.amount)} by card"
        f" ({card_order.checkout_url})"
    )
    banquet = pay(new_order("BANQUET", 50_000, "包间押金", mode="manual"), by_e_account)
    unit_of_work(
        db,
        lambda s: payments.capture(
            s, banquet.id, CaptureCreate(amount=42_000), yesterday, settings
        ),
    )
    say(f"  a banquet deposit of {_yuan(50_000)} was authorised, then {_yuan(42_000)} captured")
    refund_spec = RefundCreate(out_refund_no="R1", amount=2_600, reason="少上一道菜")
    unit_of_work(db, lambda s: payments.refund(s, dinner.id, refund_spec, yesterday, settings))
    say(f"  {_yuan(2_600)} of dinner was refunded (a dish never came)")

    run = settlement.run_settlement(
        lambda work: unit_of_work(db, work), now, settings, merchant_ids=[shop.id]
    )
    done = unit_of_work(
        db, lambda s: settlement.find_settlement(s, shop.id, business_date(now, settings.tz))
    )
    detail = unit_of_work(db, lambda s: settlement.get_settlement(s, done.id))
    table = Table(title=f"Today's settlement of 云南小馆 (batch {run.settled_on})")
    for column in ("item", "amount", "fee", "how the fee was reached"):
        table.add_column(column, justify="right" if column in ("amount", "fee") else "left")
    for line in detail.lines:
        table.add_row(line.kind, _yuan(line.amount), _yuan(line.fee), line.explanation)
    table.add_row("net paid to the settlement e-account", _yuan(detail.paid_out), "", "")
    say(table)
    report = unit_of_work(db, lambda s: settlement.reconcile(s, run.settled_on))
    say(
        "  reconciliation of payments, refunds, fees and settlements against the ledger: "
        + ("[green]no breaks[/green]" if report.ok else f"[red]{len(report.breaks)} breaks[/red]")
    )
    limit = unit_of_work(
        db,
        lambda s: payments.payment_flow_limit(s, shop.customer_id, business_date(now, settings.tz)),
    )
    cuts = ", ".join(cut.code for cut in limit.cuts) if limit is not None else "no flow"
    limit_fen = limit.limit if limit is not None else 0
    say(
        f"  payment-flow loan limit (支付流水贷) today: {_yuan(limit_fen)} ({cuts}): lending wants"
        " months of takings before it lends against them"
    )
    return {
        "merchant_id": str(shop.id),
        "settlement_id": str(done.id),
        "captured": detail.captured,
        "refunded": detail.refunded,
        "fees": detail.fees,
        "paid_out": detail.paid_out,
        "reconciliation_ok": report.ok,
        "payment_flow_limit": limit_fen,
    }

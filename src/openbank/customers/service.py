"""The customers context's public face: customers, e-accounts and their money movements.

Every function runs in the caller's transaction (`core.database.unit_of_work`). Money moves
only through `ledger.service`, in that same transaction, so a movement, its ledger transfer
and the row that counts it against the class limits commit together or not at all.

Limits and concurrency: a movement first locks the e-account rows it involves
(`SELECT ... ORDER BY id FOR UPDATE`), then sums the movements of the current windows and
checks the class limits, then asks the ledger to transfer (which locks ledger accounts, also in
id order). Every process takes e-account locks before ledger locks, each set in id order, so
two requests on one e-account run one after the other and cannot both squeeze under a limit,
and no two requests deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core.clock import business_date
from openbank.core.errors import InvalidCursor
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.customers import identity, limits, models
from openbank.customers.errors import (
    BalanceNotZero,
    CustomerExists,
    CustomerNotFound,
    EAccountClassNotAllowed,
    EAccountClosed,
    EAccountFrozen,
    EAccountNotFound,
    KycLevelTooLow,
    LimitExceeded,
    SameEAccount,
)
from openbank.customers.schemas import (
    BoundCard,
    CreditFacts,
    Customer,
    CustomerCreate,
    EAccount,
    EAccountCreate,
    EAccountTransferCreate,
    Movement,
)
from openbank.customers.vocabulary import (
    AccountClass,
    AcquiringCreditKind,
    Direction,
    EAccountStatus,
    LoanMovementKind,
    MovementKind,
)
from openbank.ledger import service as ledger
from openbank.ledger.schemas import (
    Account,
    AccountCreate,
    Entry,
    PendingResolution,
    TransferCreate,
)

__all__ = [
    "capture_merchant_payment",
    "card_clearing",
    "close_e_account",
    "collect_loan_repayments",
    "create_customer",
    "credit_facts",
    "credit_from_acquiring",
    "e_account_owner",
    "freeze_e_account",
    "get_customer",
    "get_e_account",
    "list_customers",
    "loan_movement",
    "lock_e_accounts",
    "open_e_account",
    "pay_merchant",
    "statement",
    "top_up",
    "transfer",
    "unfreeze_e_account",
    "withdraw",
]

CURRENCY = "CNY"
WALLET_CODE = "customer_wallet"
CARD_CLEARING_CODE = "card_clearing"
# The lowest KYC level each class may be opened at.
KYC_REQUIRED: dict[AccountClass, int] = {"I": 3, "II": 2, "III": 1}

_CARD_CLEARING_NAMESPACE = uuid.UUID("5f0c3f5e-2b8a-5d1e-9c4e-6f1f3c2b7a10")


def card_clearing_account_id(currency: str = CURRENCY) -> uuid.UUID:
    """The bank's card clearing ledger account: a fixed id, so every process converges on it."""
    return uuid.uuid5(_CARD_CLEARING_NAMESPACE, f"card_clearing:{currency}")


def card_clearing(session: Session, now: datetime) -> uuid.UUID:
    """The card clearing ledger account (created on first use): where money from and to bank
    cards passes, for top-ups and withdrawals and for card payments at a merchant's checkout."""
    spec = AccountCreate(id=card_clearing_account_id(), currency=CURRENCY, code=CARD_CLEARING_CODE)
    return ledger.create_account(session, spec, now).id


# -- customers ------------------------------------------------------------------------------


def _customer_out(row: models.Customer) -> Customer:
    return Customer(
        id=row.id,
        type=row.type,
        name=row.name,
        id_type=row.id_type,
        id_number_masked=identity.mask_id_number(row.id_number),
        phone=row.phone,
        kyc_level=row.kyc_level,
        sandbox=row.sandbox,
        created_at=row.created_at,
    )


def create_customer(
    session: Session, spec: CustomerCreate, now: datetime, settings: Settings
) -> Customer:
    """A new person or enterprise; the identity document must be valid and not yet known."""
    id_type = spec.resolved_id_type
    if id_type == "prc_resident_id":
        number = identity.validate_resident_id(spec.id_number, business_date(now, settings.tz))
    else:
        number = identity.validate_credit_code(spec.id_number)
    phone = identity.validate_mobile_phone(spec.phone)
    row = models.Customer(
        id=new_id(),
        type=spec.type,
        name=spec.name,
        id_type=id_type,
        id_number=number,
        phone=phone,
        kyc_level=spec.kyc_level,
        sandbox=spec.sandbox,
        created_at=now,
    )
    inserted = session.execute(
        insert(models.Customer)
        .values(
            id=row.id,
            type=row.type,
            name=row.name,
            id_type=row.id_type,
            id_number=row.id_number,
            phone=row.phone,
            kyc_level=row.kyc_level,
            sandbox=row.sandbox,
            created_at=row.created_at,
        )
        .on_conflict_do_nothing(index_elements=["id_type", "id_number", "sandbox"])
        .returning(models.Customer.id)
    ).first()
    if inserted is None:
        raise CustomerExists(f"a customer with this {id_type} already exists")
    return _customer_out(row)


def get_customer(session: Session, customer_id: uuid.UUID) -> Customer:
    row = session.get(models.Customer, customer_id)
    if row is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return _customer_out(row)


def credit_facts(session: Session, customer_id: uuid.UUID) -> CreditFacts:
    """The facts underwriting may use: type, KYC level, birth date and region from the ID
    (GB 11643 digits 1-6 and 7-14; GB 32100 characters 3-8), and how long we have known them."""
    row = session.get(models.Customer, customer_id)
    if row is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    person = row.id_type == "prc_resident_id"
    return CreditFacts(
        customer_id=row.id,
        type=row.type,
        kyc_level=row.kyc_level,
        birth_date=identity.resident_id_birth_date(row.id_number) if person else None,
        region_code=row.id_number[:6] if person else row.id_number[2:8],
        customer_since=row.created_at.date(),
    )


def list_customers(
    session: Session, cursor: str | None, limit: int
) -> tuple[list[Customer], str | None]:
    """Customers oldest first (ids are time-ordered), `limit` of them after `cursor`."""
    query = select(models.Customer).order_by(models.Customer.id).limit(limit + 1)
    if cursor:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            raise InvalidCursor() from None
        query = query.where(models.Customer.id > after)
    rows = session.execute(query).scalars().all()
    page = [_customer_out(row) for row in rows[:limit]]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    return page, next_cursor


# -- e-accounts -----------------------------------------------------------------------------


def _e_account_out(row: models.EAccount, account: Account) -> EAccount:
    balance = account.credits_posted - account.debits_posted
    return EAccount(
        id=row.id,
        customer_id=row.customer_id,
        account_class=row.account_class,
        currency=row.currency,
        status=row.status,
        ledger_account_id=row.ledger_account_id,
        bound_card=BoundCard(
            masked_number=row.bound_card_masked, bank_name=row.bound_card_bank_name
        ),
        balance=balance,
        available=balance - account.debits_pending,
        created_at=row.created_at,
        closed_at=row.closed_at,
    )


def open_e_account(session: Session, spec: EAccountCreate, now: datetime) -> EAccount:
    """A class I, II or III e-account for a customer whose KYC level allows it, with a ledger
    account of its own (debits may not exceed credits) and a bound bank card."""
    customer = session.get(models.Customer, spec.customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {spec.customer_id}")
    required = KYC_REQUIRED[spec.account_class]
    if customer.kyc_level < required:
        raise KycLevelTooLow(
            f"a class {spec.account_class} e-account needs KYC level {required};"
            f" the customer is at {customer.kyc_level}",
            required_kyc_level=required,
            kyc_level=customer.kyc_level,
        )
    card = identity.validate_card_number(spec.bound_card.number)
    e_account_id = new_id()
    account = ledger.create_account(
        session,
        AccountCreate(
            currency=CURRENCY,
            code=WALLET_CODE,
            flags=["debits_must_not_exceed_credits"],
            metadata={"e_account_id": str(e_account_id)},
        ),
        now,
    )
    row = models.EAccount(
        id=e_account_id,
        customer_id=customer.id,
        account_class=spec.account_class,
        currency=CURRENCY,
        ledger_account_id=account.id,
        bound_card_masked=identity.mask_card_number(card),
        bound_card_sha256=identity.card_fingerprint(card),
        bound_card_bank_name=spec.bound_card.bank_name,
        status="active",
        created_at=now,
        closed_at=None,
    )
    session.add(row)
    session.flush()
    return _e_account_out(row, account)


def _find(session: Session, e_account_id: uuid.UUID) -> models.EAccount:
    row = session.get(models.EAccount, e_account_id)
    if row is None:
        raise EAccountNotFound(f"no e-account {e_account_id}")
    return row


def _lock(session: Session, e_account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, models.EAccount]:
    """Lock the e-accounts' rows in id order (one global order: no deadlocks)."""
    rows = (
        session.execute(
            select(models.EAccount)
            .where(models.EAccount.id.in_(list(e_account_ids)))
            .order_by(models.EAccount.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    by_id = {row.id: row for row in rows}
    for e_account_id in e_account_ids:
        if e_account_id not in by_id:
            raise EAccountNotFound(f"no e-account {e_account_id}")
    return by_id


def _refuse_unless_active(row: models.EAccount) -> None:
    if row.status == "frozen":
        raise EAccountFrozen(f"e-account {row.id} is frozen", e_account_id=str(row.id))
    if row.status == "closed":
        raise EAccountClosed(f"e-account {row.id} is closed", e_account_id=str(row.id))


def get_e_account(session: Session, e_account_id: uuid.UUID) -> EAccount:
    row = _find(session, e_account_id)
    return _e_account_out(row, ledger.get_account(session, row.ledger_account_id))


def _set_status(session: Session, e_account_id: uuid.UUID, status: EAccountStatus) -> EAccount:
    row = _lock(session, [e_account_id])[e_account_id]
    if row.status == "closed":
        raise EAccountClosed(f"e-account {row.id} is closed", e_account_id=str(row.id))
    row.status = status
    session.flush()
    return _e_account_out(row, ledger.get_account(session, row.ledger_account_id))


def freeze_e_account(session: Session, e_account_id: uuid.UUID) -> EAccount:
    """Stop all money in and out (freezing a frozen e-account changes nothing)."""
    return _set_status(session, e_account_id, "frozen")


def unfreeze_e_account(session: Session, e_account_id: uuid.UUID) -> EAccount:
    """Let money move again (unfreezing an active e-account changes nothing)."""
    return _set_status(session, e_account_id, "active")


def close_e_account(session: Session, e_account_id: uuid.UUID, now: datetime) -> EAccount:
    """Close an active e-account whose balance is zero with nothing pending, and its ledger
    account with it."""
    row = _lock(session, [e_account_id])[e_account_id]
    _refuse_unless_active(row)
    account = ledger.get_account(session, row.ledger_account_id)
    balance = account.credits_posted - account.debits_posted
    if balance or account.debits_pending or account.credits_pending:
        raise BalanceNotZero(
            f"e-account {row.id} holds {balance} fen"
            f" ({account.debits_pending + account.credits_pending} fen pending);"
            " withdraw it to the bound card first",
            balance=balance,
        )
    closed = ledger.close_account(session, row.ledger_account_id)
    row.status = "closed"
    row.closed_at = now
    session.flush()
    return _e_account_out(row, closed)


def statement(
    session: Session, e_account_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Entry], str | None]:
    """The e-account's ledger entries, oldest first, each with the balances after it."""
    row = _find(session, e_account_id)
    return ledger.list_entries(session, row.ledger_account_id, cursor, limit)


# -- money movement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leg:
    """One e-account's side of a movement, read while its row is locked."""

    e_account_id: uuid.UUID
    account_class: AccountClass
    ledger_account_id: uuid.UUID
    direction: Direction
    counterparty_e_account_id: uuid.UUID | None  # None: the bound card, the bank, a merchant

    counterparty_bound: bool

    @classmethod
    def of_active(
        cls,
        row: models.EAccount,
        direction: Direction,
        counterparty: models.EAccount | None,
        *,
        counterparty_bound: bool | None = None,
    ) -> _Leg:
        """The leg of an active e-account; a frozen or closed one refuses to move money. The
        counterparty is bound (the bound card, or the bank itself) unless it is another
        e-account or `counterparty_bound` says otherwise (a merchant)."""
        _refuse_unless_active(row)
        return cls(
            e_account_id=row.id,
            account_class=row.account_class,
            ledger_account_id=row.ledger_account_id,
            direction=direction,
            counterparty_e_account_id=counterparty.id if counterparty else None,
            counterparty_bound=(
                counterparty is None if counterparty_bound is None else counterparty_bound
            ),
        )


def _usage(session: Session, e_account_id: uuid.UUID, today: date) -> limits.Usage:
    m = models.EAccountMovement
    non_bound = m.counterparty_bound.is_(False)
    out = m.direction == "out"
    on_today = m.business_date == today
    row = session.execute(
        select(
            func.coalesce(func.sum(m.amount).filter(non_bound & on_today), 0),
            func.coalesce(func.sum(m.amount).filter(non_bound), 0),
            func.coalesce(func.sum(m.amount).filter(out & on_today), 0),
            func.coalesce(func.sum(m.amount).filter(out), 0),
        ).where(
            m.e_account_id == e_account_id,
            m.business_date >= date(today.year, 1, 1),
            m.business_date < date(today.year + 1, 1, 1),
        )
    ).one()
    return limits.Usage(*(int(value) for value in row))


def _limit_exceeded(e_account_id: uuid.UUID, breach: limits.Breach) -> LimitExceeded:
    return LimitExceeded(
        f"e-account {e_account_id}: {breach.detail()}",
        e_account_id=str(e_account_id),
        limit=breach.limit,
        limit_amount=breach.limit_amount,
        remaining=breach.remaining,
        requested=breach.requested,
    )


def _move(
    session: Session,
    settings: Settings,
    now: datetime,
    kind: MovementKind,
    legs: Sequence[_Leg],
    debit_account_id: uuid.UUID,
    credit_account_id: uuid.UUID,
    amount: int,
    pending_timeout_seconds: int | None = None,
    held: int = 0,
) -> tuple[uuid.UUID, list[Movement]]:
    """Check every leg's limits, move the money in the ledger, record the legs; returns the
    ledger transfer and the movements. With a `pending_timeout_seconds` the ledger transfer is
    a pending one (an authorization): nothing is recorded yet (the capture records what it
    takes). `held` (money the e-account has on hold) counts against the limits as if it had
    moved, so payments cannot squeeze past holds.

    The caller holds the legs' e-account locks. Any refusal raises before the caller's
    transaction commits, so a refused movement leaves nothing behind."""
    today = business_date(now, settings.tz)
    for leg in legs:
        class_limits = limits.class_limits(leg.account_class, settings)
        if not class_limits.windowed:
            continue  # nothing to sum: class I has no windowed limits
        used = _usage(session, leg.e_account_id, today)
        if held:
            used = limits.Usage(*(value + held for value in astuple(used)))
        breach = limits.check_movement(
            leg.account_class, class_limits, used, leg.direction, leg.counterparty_bound, amount
        )
        if breach is not None:
            raise _limit_exceeded(leg.e_account_id, breach)
    metadata: dict[str, str] = {"kind": kind}
    for leg in legs:
        metadata[f"e_account_{leg.direction}"] = str(leg.e_account_id)
    moved = ledger.transfer(
        session,
        ledger.transfer_command(
            TransferCreate(
                debit_account_id=debit_account_id,
                credit_account_id=credit_account_id,
                amount=amount,
                currency=CURRENCY,
                code=f"e_account_{kind}",
                pending=pending_timeout_seconds is not None,
                timeout_seconds=pending_timeout_seconds,
                metadata=metadata,
            )
        ),
        now,
    )
    # The balance cap is checked on the balance the ledger account has now, under the
    # ledger's row lock (`get_account` reads it fresh), so money credited by any other path
    # counts too.
    for leg in legs:
        class_limits = limits.class_limits(leg.account_class, settings)
        if leg.direction != "in" or class_limits.balance is None:
            continue
        account = ledger.get_account(session, leg.ledger_account_id)
        balance_after = account.credits_posted - account.debits_posted
        breach = limits.check_balance(
            leg.account_class, class_limits, balance_after - amount, amount
        )
        if breach is not None:
            raise _limit_exceeded(leg.e_account_id, breach)
    if pending_timeout_seconds is not None:
        return moved.id, []
    return moved.id, _record(session, legs, kind, amount, moved.id, today, now)


def _record(
    session: Session,
    legs: Sequence[_Leg],
    kind: MovementKind,
    amount: int,
    ledger_transfer_id: uuid.UUID,
    today: date,
    now: datetime,
) -> list[Movement]:
    """The legs' movements, counted from now on against their windows."""
    movements = [
        Movement(
            id=new_id(),
            e_account_id=leg.e_account_id,
            kind=kind,
            direction=leg.direction,
            counterparty_bound=leg.counterparty_bound,
            counterparty_e_account_id=leg.counterparty_e_account_id,
            amount=amount,
            currency=CURRENCY,
            business_date=today,
            ledger_transfer_id=ledger_transfer_id,
            created_at=now,
        )
        for leg in legs
    ]
    session.add_all(models.EAccountMovement(**m.model_dump()) for m in movements)
    session.flush()
    return movements


def _bound_card_movement(
    session: Session,
    e_account_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
    direction: Direction,
) -> Movement:
    """Money between the e-account and its bound card, through the bank's card clearing
    account: in for a top-up, out for a withdrawal."""
    row = _lock(session, [e_account_id])[e_account_id]
    clearing = card_clearing(session, now)
    wallet = row.ledger_account_id
    debit, credit = (clearing, wallet) if direction == "in" else (wallet, clearing)
    _moved, (movement,) = _move(
        session,
        settings,
        now,
        "top_up" if direction == "in" else "withdrawal",
        [_Leg.of_active(row, direction, None)],
        debit,
        credit,
        amount,
    )
    return movement


def top_up(
    session: Session, e_account_id: uuid.UUID, amount: int, now: datetime, settings: Settings
) -> Movement:
    """Money in from the bound card."""
    return _bound_card_movement(session, e_account_id, amount, now, settings, "in")


def withdraw(
    session: Session, e_account_id: uuid.UUID, amount: int, now: datetime, settings: Settings
) -> Movement:
    """Money out to the bound card."""
    return _bound_card_movement(session, e_account_id, amount, now, settings, "out")


def transfer(
    session: Session,
    from_e_account_id: uuid.UUID,
    spec: EAccountTransferCreate,
    now: datetime,
    settings: Settings,
) -> Movement:
    """Money from one e-account to another: out to, and in from, a non-bound account.
    Returns the paying e-account's side of it."""
    to_e_account_id = spec.to_e_account_id
    if to_e_account_id == from_e_account_id:
        raise SameEAccount()
    rows = _lock(session, [from_e_account_id, to_e_account_id])
    payer, payee = rows[from_e_account_id], rows[to_e_account_id]
    _moved, (out, _in) = _move(
        session,
        settings,
        now,
        "transfer",
        [_Leg.of_active(payer, "out", payee), _Leg.of_active(payee, "in", payer)],
        payer.ledger_account_id,
        payee.ledger_account_id,
        spec.amount,
    )
    return out


LOAN_CLASSES: frozenset[AccountClass] = frozenset({"I", "II"})


def loan_movement(
    session: Session,
    e_account_id: uuid.UUID,
    kind: LoanMovementKind,
    loan_ledger_account_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
) -> Movement:
    """Loan money between an e-account and a loan's ledger account: a disbursement or a
    reversed repayment in, a repayment out. Only class I and II e-accounts borrow (class III
    is for small payments). The bank is the counterparty, so, like the bound card, it does not
    count against class II non-bound limits."""
    row = _lock(session, [e_account_id])[e_account_id]
    if row.account_class not in LOAN_CLASSES:
        raise EAccountClassNotAllowed(
            f"e-account {e_account_id} is class {row.account_class}; loans use class I or II",
            e_account_id=str(e_account_id),
        )
    wallet = row.ledger_account_id
    direction: Direction = "out" if kind == "loan_repayment" else "in"
    debit, credit = (
        (loan_ledger_account_id, wallet) if direction == "in" else (wallet, loan_ledger_account_id)
    )
    _moved, (movement,) = _move(
        session,
        settings,
        now,
        kind,
        [_Leg.of_active(row, direction, None)],
        debit,
        credit,
        amount,
    )
    return movement


def pay_merchant(
    session: Session,
    payer_e_account_id: uuid.UUID,
    merchant_ledger_account_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
    *,
    authorization_seconds: int | None = None,
) -> uuid.UUID:
    """A payment from the e-account to a merchant's (clearing) ledger account: money out to a
    non-bound account, within the class limits; returns its ledger transfer. With
    `authorization_seconds` it is an authorization: a pending ledger transfer the merchant
    captures (`capture_merchant_payment`) or voids later, or that the ledger releases when it
    times out. Until then the hold counts against the limits; once captured, what was taken."""
    row = _lock(session, [payer_e_account_id])[payer_e_account_id]
    # Money on hold for earlier authorizations counts as if it had gone (read under the
    # e-account's lock, so no other payment of this payer adds a hold meanwhile).
    held = ledger.get_account(session, row.ledger_account_id).debits_pending
    transfer_id, _movements = _move(
        session,
        settings,
        now,
        "merchant_payment",
        [_Leg.of_active(row, "out", None, counterparty_bound=False)],
        row.ledger_account_id,
        merchant_ledger_account_id,
        amount,
        pending_timeout_seconds=authorization_seconds,
        held=held,
    )
    return transfer_id


def capture_merchant_payment(
    session: Session,
    payer_e_account_id: uuid.UUID,
    authorization_transfer_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
) -> uuid.UUID:
    """Post an authorization (`pay_merchant`) for `amount` (the rest goes back) and record
    the movement, which counts against the limits from now on (the authorization already
    passed them); returns the posting ledger transfer. A frozen or closed e-account still
    settles what it authorized before."""
    row = _lock(session, [payer_e_account_id])[payer_e_account_id]
    posted = ledger.transfer(
        session,
        ledger.resolution_command(
            authorization_transfer_id, PendingResolution(amount=amount), post=True
        ),
        now,
    )
    leg = _Leg(
        e_account_id=row.id,
        account_class=row.account_class,
        ledger_account_id=row.ledger_account_id,
        direction="out",
        counterparty_e_account_id=None,
        counterparty_bound=False,
    )
    _record(
        session, [leg], "merchant_payment", amount, posted.id, business_date(now, settings.tz), now
    )
    return posted.id


def credit_from_acquiring(
    session: Session,
    e_account_id: uuid.UUID,
    debit_ledger_account_id: uuid.UUID,
    amount: int,
    kind: AcquiringCreditKind,
    now: datetime,
    settings: Settings,
) -> Movement:
    """Money the bank's acquiring pays into an e-account from one of its own ledger accounts:
    a refund to the payer, a settlement to the merchant, a revenue share to a partner. The
    bank is the counterparty (as for loans), so no non-bound limit applies; the balance cap
    does, and a frozen or closed e-account refuses it."""
    row = _lock(session, [e_account_id])[e_account_id]
    _moved, (movement,) = _move(
        session,
        settings,
        now,
        kind,
        [_Leg.of_active(row, "in", None)],
        debit_ledger_account_id,
        row.ledger_account_id,
        amount,
    )
    return movement


def lock_e_accounts(session: Session, e_account_ids: Sequence[uuid.UUID]) -> None:
    """Take the e-accounts' row locks now (in id order), for a caller that will move their
    money after touching other ledger accounts: e-account locks come before ledger locks."""
    _lock(session, e_account_ids)


def e_account_owner(session: Session, e_account_id: uuid.UUID) -> uuid.UUID:
    """The customer who holds the e-account."""
    return _find(session, e_account_id).customer_id


@dataclass(frozen=True, slots=True)
class LoanDebit:
    """An auto-debit to make: up to `amount` from the e-account into a loan's ledger account."""

    e_account_id: uuid.UUID
    loan_ledger_account_id: uuid.UUID
    amount: int


def collect_loan_repayments(
    session: Session, debits: Sequence[LoanDebit], now: datetime, settings: Settings
) -> list[Movement | None]:
    """Auto-debits of many loans at once (the end-of-day batch): each takes as much of its
    amount as its e-account has available (several loans of one e-account drawing on it in
    turn), and nothing from a frozen or closed e-account or a class III one. Three statements
    and one ledger batch for any number of loans, all in the caller's transaction.

    No class limit applies: loans are repaid only from class I and II e-accounts, the bank is
    the counterparty, and class II limits count non-bound accounts only (see `loan_movement`)."""
    rows = _lock(session, sorted({d.e_account_id for d in debits}))
    wallets = {row.ledger_account_id: row for row in rows.values()}
    available = {
        wallets[a.id].id: a.credits_posted - a.debits_posted - a.debits_pending
        for a in ledger.get_accounts(session, list(wallets))
    }
    takes: list[int] = []
    for debit in debits:
        row = rows[debit.e_account_id]
        usable = row.status == "active" and row.account_class in LOAN_CLASSES
        take = min(debit.amount, available[row.id]) if usable else 0
        available[row.id] -= take
        takes.append(take)
    commands = [
        ledger.transfer_command(
            TransferCreate(
                debit_account_id=rows[debit.e_account_id].ledger_account_id,
                credit_account_id=debit.loan_ledger_account_id,
                amount=take,
                currency=CURRENCY,
                code="e_account_loan_repayment",
                metadata={"kind": "loan_repayment", "e_account_out": str(debit.e_account_id)},
            )
        )
        for debit, take in zip(debits, takes, strict=True)
        if take
    ]
    outcomes = iter(ledger.execute(session, commands, now))
    today = business_date(now, settings.tz)
    movements: list[Movement | None] = []
    for debit, take in zip(debits, takes, strict=True):
        if not take:
            movements.append(None)
            continue
        moved = ledger.single_transfer(next(outcomes))
        movements.append(
            Movement(
                id=new_id(),
                e_account_id=debit.e_account_id,
                kind="loan_repayment",
                direction="out",
                counterparty_bound=True,
                counterparty_e_account_id=None,
                amount=take,
                currency=CURRENCY,
                business_date=today,
                ledger_transfer_id=moved.id,
                created_at=now,
            )
        )
    session.add_all(models.EAccountMovement(**m.model_dump()) for m in movements if m)
    session.flush()
    return movements


# -- identity checks other contexts reuse (partners' credit codes, remote account opening) ---

validate_credit_code = identity.validate_credit_code
validate_mobile_phone = identity.validate_mobile_phone
validate_resident_id = identity.validate_resident_id
validate_card_number = identity.validate_card_number
card_fingerprint = identity.card_fingerprint


# -- partner-facing reads (consents) ---


def e_accounts_of_customer(session: Session, customer_id: uuid.UUID) -> list[EAccount]:
    """Every e-account the customer holds (any status), oldest first, with balances from one
    ledger read: the consent page's choices and the check that a consent covers only the
    authorizing customer's own accounts."""
    rows = (
        session.execute(
            select(models.EAccount)
            .where(models.EAccount.customer_id == customer_id)
            .order_by(models.EAccount.id)
        )
        .scalars()
        .all()
    )
    if not rows:
        return []
    accounts = ledger.get_accounts(session, [row.ledger_account_id for row in rows])
    return [_e_account_out(row, account) for row, account in zip(rows, accounts, strict=True)]


def get_e_accounts(session: Session, e_account_ids: Sequence[uuid.UUID]) -> list[EAccount]:
    """The named e-accounts that exist, in the order named, read with two statements whatever
    their number (a consent's accounts listed to its partner)."""
    rows = {
        row.id: row
        for row in session.execute(
            select(models.EAccount).where(models.EAccount.id.in_(list(e_account_ids)))
        ).scalars()
    }
    found = [rows[i] for i in dict.fromkeys(e_account_ids) if i in rows]
    if not found:
        return []
    accounts = ledger.get_accounts(session, [row.ledger_account_id for row in found])
    return [_e_account_out(row, account) for row, account in zip(found, accounts, strict=True)]


# -- remote account opening (onboarding) ---


def find_person_by_resident_id(session: Session, id_number: str, sandbox: bool) -> Customer | None:
    """The person holding this canonical resident ID in the sandbox or in production, if the
    bank knows them; the row stays locked to the end of the transaction, so two openings for
    one person run in turn."""
    row = session.execute(
        select(models.Customer)
        .where(
            models.Customer.id_type == "prc_resident_id",
            models.Customer.id_number == id_number,
            models.Customer.sandbox == sandbox,
        )
        .with_for_update()
    ).scalar_one_or_none()
    return _customer_out(row) if row is not None else None


def find_enterprise_by_credit_code(
    session: Session, credit_code: str, sandbox: bool
) -> Customer | None:
    """The enterprise holding this canonical unified social credit code in the sandbox or in
    production, if the bank knows it (an existing customer becoming a merchant)."""
    row = session.execute(
        select(models.Customer).where(
            models.Customer.id_type == "unified_social_credit_code",
            models.Customer.id_number == credit_code,
            models.Customer.sandbox == sandbox,
        )
    ).scalar_one_or_none()
    return _customer_out(row) if row is not None else None


def raise_kyc_level(session: Session, customer_id: uuid.UUID, level: int) -> Customer:
    """Raise the customer's KYC level to at least `level` (never lowers it): a remote opening
    that checked identity, phone and bound card has verified them to that level."""
    row = session.get(models.Customer, customer_id, with_for_update=True)
    if row is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    if row.kyc_level < level:
        row.kyc_level = level
        session.flush()
    return _customer_out(row)

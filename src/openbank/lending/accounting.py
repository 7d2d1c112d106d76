"""How a loan's money facts become ledger transfers.

Each contract has its own ledger accounts: principal, interest, penalty and fee receivables
(assets: credits may not exceed debits) and a repayment clearing account (money received,
not yet allocated: debits may not exceed credits), plus, for a joint loan, what the bank owes
the partner from the loan (a liability). Each product has interest, penalty and fee income
and credit-loss accounts; each funding partner its funding account.

The servicing replay yields cumulative `Measures` (interest earned, principal collected...).
`posted` on the contract records how much of each measure the ledger already holds; a
true-up posts the difference of each, in either direction. So any recomputation (end of day,
a backdated repayment, a reversal) converges the ledger on the replayed truth, and a second
run with nothing new posts nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy.orm import Session

from openbank.ledger import service as ledger
from openbank.ledger.schemas import AccountCreate, AccountFlag, TransferCreate
from openbank.lending.servicing import Measures

_NAMESPACE = uuid.UUID("0b5e5a1c-3f7e-5d2a-8c11-6a3e9d4b7f20")

# A contract's own accounts and their flags.
CONTRACT_ACCOUNTS: dict[str, AccountFlag] = {
    "principal": "credits_must_not_exceed_debits",
    "interest": "credits_must_not_exceed_debits",
    "penalty": "credits_must_not_exceed_debits",
    "fee": "credits_must_not_exceed_debits",
    "clearing": "debits_must_not_exceed_credits",
}
PARTNER_PAYABLE = "partner_payable"
PRODUCT_ACCOUNTS = ("interest_income", "penalty_income", "fee_income", "credit_losses")

# measure -> (account debited, account credited) when the measure grows.
MEASURE_LEGS: dict[str, tuple[str, str]] = {
    "interest_earned": ("interest", "interest_income"),
    "penalty_earned": ("penalty", "penalty_income"),
    "fee_billed": ("fee", "fee_income"),
    "principal_collected": ("clearing", "principal"),
    "interest_collected": ("clearing", "interest"),
    "penalty_collected": ("clearing", "penalty"),
    "fee_collected": ("clearing", "fee"),
    "principal_written_off_bank": ("credit_losses", "principal"),
    "principal_written_off_partner": (PARTNER_PAYABLE, "principal"),
    "interest_written_off": ("credit_losses", "interest"),
    "fee_written_off": ("credit_losses", "fee"),
    "penalty_written_off": ("credit_losses", "penalty"),
    "partner_principal_returned": (PARTNER_PAYABLE, "partner_funding"),
    "partner_interest_share": ("interest_income", "partner_funding"),
}
_EARNING = {"interest_earned", "penalty_earned", "fee_billed"}
_PARTNER_OUT = {"principal_written_off_partner", "partner_principal_returned"}


def _order(measure: str, delta: int) -> int:
    """Post in an order no flag can object to: first what raises receivables and clearing
    credit, then what draws them down."""
    if measure in _EARNING:
        return 0 if delta > 0 else 4
    if measure in _PARTNER_OUT:
        return 3 if delta > 0 else 1
    return 2 if delta > 0 else 1


def product_account_id(product_code: str, role: str, currency: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"product:{product_code}:{role}:{currency}")


def ensure_product_accounts(
    session: Session, product_code: str, currency: str, now: datetime
) -> None:
    """The product's income and loss accounts: fixed ids, created once by whoever comes first."""
    ledger.create_accounts(
        session,
        [
            AccountCreate(
                id=product_account_id(product_code, role, currency),
                currency=currency,
                code=f"loan_{role}",
                metadata={"product_code": product_code},
            )
            for role in PRODUCT_ACCOUNTS
        ],
        now,
    )


def open_contract_accounts(
    session: Session, contract_id: uuid.UUID, currency: str, joint: bool, now: datetime
) -> dict[str, uuid.UUID]:
    roles: dict[str, AccountFlag] = dict(CONTRACT_ACCOUNTS)
    if joint:
        roles[PARTNER_PAYABLE] = "debits_must_not_exceed_credits"
    accounts = ledger.create_accounts(
        session,
        [
            AccountCreate(
                id=uuid.uuid5(_NAMESPACE, f"contract:{contract_id}:{role}"),
                currency=currency,
                code=f"loan_{role}",
                flags=[flag],
                metadata={"loan_contract_id": str(contract_id)},
            )
            for role, flag in roles.items()
        ],
        now,
    )
    return {role: account.id for role, account in zip(roles, accounts, strict=True)}


@dataclass(frozen=True, slots=True)
class Funding:
    """How a contract's principal is shared with a joint-loan partner."""

    principal: int
    partner_principal: int = 0
    partner_share: Decimal | None = None


def targets(measures: Measures, funding: Funding) -> dict[str, int]:
    """Every ledger measure the contract should hold, from the replayed measures."""
    values = asdict(measures)
    values.pop("money_in")
    written_off = values.pop("principal_written_off")
    resolved = measures.principal_collected + written_off
    partner_resolved = funding.partner_principal * resolved // funding.principal
    partner_returned = funding.partner_principal * measures.principal_collected // funding.principal
    partner_written_off = partner_resolved - partner_returned
    values["principal_written_off_bank"] = written_off - partner_written_off
    values["principal_written_off_partner"] = partner_written_off
    values["partner_principal_returned"] = partner_returned
    share = funding.partner_share or Decimal(0)
    values["partner_interest_share"] = int(
        (measures.interest_collected * share).to_integral_value(rounding=ROUND_FLOOR)
    )
    return values


def true_up_commands(
    *,
    contract_id: uuid.UUID,
    currency: str,
    accounts: Mapping[str, uuid.UUID],
    posted: Mapping[str, int],
    wanted: Mapping[str, int],
) -> list[ledger.Command]:
    """The transfers that bring the ledger from `posted` to `wanted`, linked so they apply
    all or nothing; none when nothing changed."""
    moves = sorted(
        (_order(measure, delta), measure, delta)
        for measure, value in wanted.items()
        if (delta := value - posted.get(measure, 0))
    )
    commands: list[ledger.Command] = []
    for index, (_, measure, delta) in enumerate(moves):
        debit, credit = MEASURE_LEGS[measure]
        if delta < 0:
            debit, credit = credit, debit
        commands.append(
            ledger.transfer_command(
                TransferCreate(
                    debit_account_id=accounts[debit],
                    credit_account_id=accounts[credit],
                    amount=abs(delta),
                    currency=currency,
                    code=f"loan_{measure}" if delta > 0 else f"loan_{measure}_reversal",
                    metadata={"loan_contract_id": str(contract_id)},
                ),
                linked=index < len(moves) - 1,
            )
        )
    return commands


def post(session: Session, commands: Sequence[ledger.Command], now: datetime) -> None:
    """Apply true-up transfers in the caller's transaction; any refusal raises (the caller
    rolls back), naming the transfer that failed rather than its linked companions."""
    if not commands:
        return
    refused = [o.error for o in ledger.execute(session, commands, now) if o.error is not None]
    if refused:
        raise next((e for e in refused if e.code != "linked_event_failed"), refused[0])


def true_up(
    session: Session,
    *,
    contract_id: uuid.UUID,
    currency: str,
    accounts: Mapping[str, uuid.UUID],
    posted: Mapping[str, int],
    wanted: Mapping[str, int],
    now: datetime,
) -> dict[str, int]:
    """Post what the ledger lacks of each measure, all or nothing; returns the new `posted`."""
    post(
        session,
        true_up_commands(
            contract_id=contract_id,
            currency=currency,
            accounts=accounts,
            posted=posted,
            wanted=wanted,
        ),
        now,
    )
    return {**posted, **wanted}

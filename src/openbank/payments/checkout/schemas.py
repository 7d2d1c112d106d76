"""The checkout's views (plain data the page renderer lays out) and the operator summary of the
e-account offer.

Views are decided by `service.py`; `pages.py` only lays them out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from openbank.payments.schemas import PaymentOrder

# Where the payer came from: a scanned QR code, or a link to the checkout page.
Channel = Literal["qr", "checkout"]
# What the checkout page offers: the card form, or why the order cannot be paid.
CheckoutState = Literal["open", "paid", "closed", "expired", "unavailable"]
# The result page's offer: none (the payer paid from an e-account), open (the form), converted,
# or closed (refused too often).
OfferState = Literal["none", "open", "converted", "closed"]
# What came of the payment, as the result page says it: the money held for the merchant
# (a manual capture not taken yet), paid, or (part of it) refunded since.
Outcome = Literal["authorized", "paid", "partially_refunded", "refunded"]

# -- page views -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """A message on a page: Chinese first, English in small print."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class CardForm:
    """What the payer typed into the card form (kept when the page is shown again; the card
    number never is)."""

    holder_name: str = ""


@dataclass(frozen=True, slots=True)
class AccountForm:
    """What the payer typed into the account-opening form (shown again after a refusal)."""

    name: str = ""
    id_number: str = ""
    phone: str = ""
    card_number: str = ""
    bank_name: str = ""


@dataclass(frozen=True, slots=True)
class CheckoutPage:
    order: PaymentOrder
    merchant_name: str
    state: CheckoutState
    channel: Channel
    csrf: str
    # What the QR code on the page encodes (the page's own URL, ?via=qr); None unless open.
    qr_url: str | None
    form: CardForm = field(default_factory=CardForm)
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class ResultPage:
    order: PaymentOrder
    merchant_name: str
    outcome: Outcome
    # What the payer's card was charged: the amount held while authorized, else the captured
    # amount (a partial capture releases the rest); refunds are shown beside it.
    amount: int
    channel: Channel
    csrf: str
    offer: OfferState
    form: AccountForm = field(default_factory=AccountForm)
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class OpenedAccount:
    """The new e-account as the page shows it: masked, nothing a shoulder-surfer could use."""

    name: str
    phone: str
    e_account: str
    account_class: str
    bound_card: str
    bank_name: str


@dataclass(frozen=True, slots=True)
class AccountOpenedPage:
    order: PaymentOrder
    merchant_name: str
    account: OpenedAccount
    status: int = 200


@dataclass(frozen=True, slots=True)
class ErrorPage:
    notice: Notice
    status: int


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


View = CheckoutPage | ResultPage | AccountOpenedPage | ErrorPage | Redirect


# -- stored offers --------------------------------------------------------------------------


class Offer(BaseModel):
    """The e-account offer made on one order's result page."""

    order_id: uuid.UUID
    merchant_id: uuid.UUID
    partner_id: uuid.UUID | None
    channel: Channel
    shown_at: datetime
    attempts: int
    converted_at: datetime | None
    customer_id: uuid.UUID | None
    e_account_id: uuid.UUID | None


# -- operator summary -----------------------------------------------------------------------


class OfferCounts(BaseModel):
    shown: int = Field(description="Result pages that showed the offer (one per order)")
    converted: int = Field(description="Of those, the offers that opened an e-account")
    conversion_rate: str | None = Field(
        description="converted / shown as a decimal string (4 places); null when none shown",
        examples=["0.1250"],
    )


class ChannelCounts(OfferCounts):
    channel: Channel


class MerchantCounts(OfferCounts):
    merchant_id: uuid.UUID


class PartnerCounts(OfferCounts):
    partner_id: uuid.UUID | None = Field(
        description="The partner platform the payments came through; null for direct ones"
    )


class OfferSummary(OfferCounts):
    """Offers shown on business days `from` to `to` (inclusive, in the bank's time zone), and
    how many of them converted so far."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    by_channel: list[ChannelCounts]
    by_merchant: list[MerchantCounts]
    by_partner: list[PartnerCounts]

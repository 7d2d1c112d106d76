"""Request and response models of the payments API and service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from openbank.core.money import CurrencyCode
from openbank.customers.schemas import BoundCardCreate
from openbank.ledger.schemas import PositiveAmount
from openbank.payments.vocabulary import (
    CaptureMode,
    MerchantStatus,
    OrderStatus,
    PayerKind,
    RefundDestination,
)

# No control characters (NUL above all: PostgreSQL text cannot hold it) in anything stored.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=_PRINTABLE),
]
# A merchant's own reference: letters, digits and _-|* (as Chinese acquirers allow), 1-64.
MERCHANT_REFERENCE = r"^[A-Za-z0-9_\-|*]+$"
MerchantReference = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=MERCHANT_REFERENCE)
]
Ppm = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
NonNegativeAmount = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
PlanCode = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- fee plans ------------------------------------------------------------------------------


class FeeTier(Strict):
    """A reduction of the rate earned by a merchant whose contribution reaches both minimums
    (set one to 0 to ask only for the other)."""

    name: ShortText = Field(examples=["gold"])
    min_average_deposit_balance: NonNegativeAmount = Field(
        default=0, description="Average daily balance of the settlement e-account, minor units"
    )
    min_loan_interest_paid: NonNegativeAmount = Field(
        default=0, description="Loan interest the merchant paid the bank, minor units"
    )
    rate_reduction_ppm: Ppm = Field(description="Taken off the plan's rate, parts per million")


class FeePlanCreate(Strict):
    code: PlanCode = Field(examples=["standard"])
    name: Name = Field(examples=["Standard retail"])
    rate_ppm: Ppm = Field(description="Parts per million of the amount: 6000 is 0.60 %")
    fixed_fee: NonNegativeAmount = Field(default=0, description="Per payment, minor units")
    min_fee: NonNegativeAmount = Field(default=0, description="Per payment, minor units")
    max_fee: NonNegativeAmount | None = Field(default=None, description="Cap per payment")
    tiers: list[FeeTier] = Field(default_factory=list, max_length=20)
    revenue_share_ppm: Ppm = Field(
        default=0,
        description="Part of the fee income shared with the partner platform a payment came"
        " through (分润), parts per million",
    )

    @model_validator(mode="after")
    def _cap_not_below_minimum(self) -> Self:
        if self.max_fee is not None and self.max_fee < self.min_fee:
            raise ValueError("max_fee must not be below min_fee")
        if len({tier.name for tier in self.tiers}) != len(self.tiers):
            raise ValueError("tier names must be unique")
        return self


class FeePlan(FeePlanCreate):
    created_at: datetime


# -- merchants ------------------------------------------------------------------------------


class MerchantCreate(Strict):
    legal_name: Name = Field(examples=["上海示例餐饮管理有限公司"])
    unified_social_credit_code: ShortText = Field(examples=["91310000MA1FL4CT3X"])
    legal_representative: Name = Field(examples=["张三"])
    phone: ShortText = Field(
        examples=["+8613800138000"], description="The legal representative's mobile phone"
    )
    mcc: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] = Field(
        examples=["5812"], description="ISO 18245 merchant category code"
    )
    fee_plan_code: PlanCode = Field(examples=["standard"])
    bound_account: BoundCardCreate = Field(
        description="The merchant's existing corporate account elsewhere, bound to the"
        " settlement e-account opened with it"
    )
    settlement_delay_days: Annotated[StrictInt, Field(ge=1, le=30)] = Field(
        default=1, description="T+N: settled N business days after the payment (T+1 default)"
    )
    partner_id: uuid.UUID | None = Field(
        default=None, description="The partner platform the merchant came through"
    )
    app_id: uuid.UUID | None = Field(
        default=None, description="The partner app the merchant's webhooks go to"
    )
    sandbox: bool = Field(default=False, description="A sandbox merchant (and customer)")


class Merchant(BaseModel):
    id: uuid.UUID
    legal_name: str
    unified_social_credit_code: str
    legal_representative: str
    mcc: str
    fee_plan_code: str
    customer_id: uuid.UUID
    settlement_e_account_id: uuid.UUID
    settlement_delay_days: int
    partner_id: uuid.UUID | None
    app_id: uuid.UUID | None
    status: MerchantStatus
    created_at: datetime


class MerchantStatusChange(Strict):
    status: MerchantStatus


# -- payment orders -------------------------------------------------------------------------


class OrderCreate(Strict):
    out_trade_no: MerchantReference = Field(description="The merchant's own order number")
    amount: PositiveAmount = Field(description="Minor units (fen)", examples=[2599])
    currency: CurrencyCode = Field(examples=["CNY"])
    description: Name = Field(examples=["2 × 拿铁"])
    capture_mode: CaptureMode = Field(
        default="immediate",
        description="immediate: the payment captures at once; manual: it authorizes, and the"
        " merchant captures (in full or part) or voids later",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When an unpaid order closes (default: now plus"
        " OPENBANK_PAYMENTS_ORDER_LIFETIME_MINUTES, 2 hours)",
    )


class Card(Strict):
    """A bank card paid with at the checkout (the card network debits it)."""

    number: Annotated[str, StringConstraints(min_length=12, max_length=23)]
    holder_name: Name


class PaymentCreate(Strict):
    """Pay an order from an e-account (in-app) or with a bank card (checkout, QR)."""

    e_account_id: uuid.UUID | None = None
    card: Card | None = None

    @model_validator(mode="after")
    def _exactly_one_payer(self) -> Self:
        if (self.e_account_id is None) == (self.card is None):
            raise ValueError("give exactly one of e_account_id and card")
        return self


class CaptureCreate(Strict):
    amount: PositiveAmount | None = Field(
        default=None, description="Less than authorized to capture part (the rest is released)"
    )


class RefundCreate(Strict):
    out_refund_no: MerchantReference = Field(description="The merchant's own refund number")
    amount: PositiveAmount
    reason: Annotated[str, StringConstraints(max_length=200, pattern=_PRINTABLE)] | None = None


class Refund(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    out_refund_no: str
    amount: int
    currency: str
    reason: str | None
    ledger_transfer_id: uuid.UUID
    destination: RefundDestination = Field(
        description="e_account (the paying one), bound_card (that e-account's bound card, when"
        " it could not take the money back) or card (the card that paid)"
    )
    business_date: date
    refunded_at: datetime


class PaymentOrder(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    out_trade_no: str
    amount: int
    currency: str
    description: str
    capture_mode: CaptureMode
    status: OrderStatus
    expires_at: datetime
    partner_id: uuid.UUID | None
    app_id: uuid.UUID | None
    payer_kind: PayerKind | None
    payer_e_account_id: uuid.UUID | None
    authorized_amount: int
    captured_amount: int
    refunded_amount: int
    authorization_expires_at: datetime | None
    checkout_url: str
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None


class EventPayload(BaseModel):
    """What a merchant's webhook carries about an order: not which e-account paid it (the
    payer's business, not the merchant's or its partner's)."""

    order: PaymentOrder
    refund: Refund | None = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"order": {"payer_e_account_id"}}
        )

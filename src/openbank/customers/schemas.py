"""Request and response models of the customers API and service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from openbank.customers.vocabulary import (
    AccountClass,
    CustomerType,
    Direction,
    EAccountStatus,
    IdType,
    MovementKind,
)
from openbank.ledger.schemas import PositiveAmount

ID_TYPE_OF: dict[CustomerType, IdType] = {
    "person": "prc_resident_id",
    "enterprise": "unified_social_credit_code",
}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- customers ------------------------------------------------------------------------------


class CustomerCreate(Strict):
    type: CustomerType = Field(examples=["person"])
    name: Name = Field(examples=["张三"])
    id_type: IdType | None = Field(
        default=None,
        description="prc_resident_id for a person, unified_social_credit_code for an"
        " enterprise; taken from `type` when left out.",
    )
    id_number: ShortText = Field(examples=["11010519491231002X"])
    phone: ShortText = Field(examples=["+8613800138000"])
    kyc_level: Annotated[StrictInt, Field(ge=0, le=3)] = Field(
        default=0, description="0 none, 1 identity checked, 2 + bank card, 3 + in person"
    )
    sandbox: StrictBool = Field(
        default=False,
        description="A sandbox customer: partners' sandbox apps reach only these, and"
        " production apps never do",
    )

    @model_validator(mode="after")
    def _id_type_fits(self) -> Self:
        expected = ID_TYPE_OF[self.type]
        if self.id_type is not None and self.id_type != expected:
            raise ValueError(f"a {self.type} is identified by {expected}")
        return self

    @property
    def resolved_id_type(self) -> IdType:
        return self.id_type or ID_TYPE_OF[self.type]


class Customer(BaseModel):
    id: uuid.UUID
    type: CustomerType
    name: str
    id_type: IdType
    id_number_masked: str = Field(description="First six and last four characters")
    phone: str = Field(description="E.164")
    kyc_level: int
    sandbox: bool
    created_at: datetime


class CustomerPage(BaseModel):
    data: list[Customer]
    next_cursor: str | None
    next: str | None = None


# -- e-accounts -----------------------------------------------------------------------------


class BoundCardCreate(Strict):
    number: ShortText = Field(description="12 to 19 digits (Luhn)", examples=["6222020200112233"])
    bank_name: Name = Field(examples=["中国工商银行"])


class EAccountCreate(Strict):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    customer_id: uuid.UUID
    account_class: AccountClass = Field(alias="class", examples=["II"])
    bound_card: BoundCardCreate


class BoundCard(BaseModel):
    masked_number: str
    bank_name: str


class EAccount(BaseModel):
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    id: uuid.UUID
    customer_id: uuid.UUID
    account_class: AccountClass = Field(alias="class")
    currency: str
    status: EAccountStatus
    ledger_account_id: uuid.UUID
    bound_card: BoundCard
    balance: int = Field(description="credits_posted - debits_posted of the ledger account, fen")
    available: int = Field(description="balance - debits_pending, fen")
    created_at: datetime
    closed_at: datetime | None


class AmountCreate(Strict):
    amount: PositiveAmount = Field(description="Fen", examples=[10000])


class EAccountTransferCreate(Strict):
    to_e_account_id: uuid.UUID
    amount: PositiveAmount = Field(description="Fen", examples=[10000])


class Movement(BaseModel):
    """Money in or out of an e-account, and the ledger transfer that moved it."""

    id: uuid.UUID
    e_account_id: uuid.UUID
    kind: MovementKind
    direction: Direction
    counterparty_bound: bool = Field(description="Whether the other side is the bound card")
    counterparty_e_account_id: uuid.UUID | None
    amount: int
    currency: str
    business_date: date
    ledger_transfer_id: uuid.UUID
    created_at: datetime


class CreditFacts(BaseModel):
    """What lending may know of a customer to decide on a loan."""

    customer_id: uuid.UUID
    type: CustomerType
    kyc_level: int
    birth_date: date | None = Field(description="From the resident ID; None for enterprises")
    region_code: str = Field(description="Administrative division code (GB/T 2260) of the ID")
    customer_since: date

"""The closed sets of values the customers context speaks in (shared by tables and schemas)."""

from __future__ import annotations

from typing import Literal

CustomerType = Literal["person", "enterprise"]
IdType = Literal["prc_resident_id", "unified_social_credit_code"]
AccountClass = Literal["I", "II", "III"]
EAccountStatus = Literal["active", "frozen", "closed"]
Direction = Literal["in", "out"]
MovementKind = Literal[
    "top_up",
    "withdrawal",
    "transfer",
    "loan_disbursement",
    "loan_repayment",
    "loan_reversal",
    "merchant_payment",
    "merchant_refund",
    "settlement",
    "revenue_share",
]
# Money the bank's acquiring pays into an e-account: a refund to a payer, a settlement to a
# merchant, a revenue share to a partner platform.
AcquiringCreditKind = Literal["merchant_refund", "settlement", "revenue_share"]
LoanMovementKind = Literal["loan_disbursement", "loan_repayment", "loan_reversal"]

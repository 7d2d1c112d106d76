"""The closed sets of values the payments context speaks in (shared by tables and schemas)."""

from __future__ import annotations

from typing import Literal

MerchantStatus = Literal["active", "frozen", "closed"]
CaptureMode = Literal["immediate", "manual"]
# created -> authorized (manual capture) -> captured | voided
# created -> captured (immediate) ; captured -> partially_refunded -> refunded
# created | authorized -> closed (expired, or closed by the merchant)
OrderStatus = Literal[
    "created", "authorized", "captured", "partially_refunded", "refunded", "voided", "closed"
]
PayerKind = Literal["e_account", "card"]
SettlementItemKind = Literal["capture", "refund"]
# Where a refund went: the paying e-account, that e-account's bound card (when the e-account
# could not take it), or the card that paid at the checkout.
RefundDestination = Literal["e_account", "bound_card", "card"]

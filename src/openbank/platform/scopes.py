"""Products an app subscribes to, and the OAuth scopes each subscription allows."""

from __future__ import annotations

from typing import Literal

Product = Literal["e_accounts", "payments", "lending"]

# accounts: read accounts, balances and transactions under an account-access consent;
# e_accounts: open e-accounts for the app's users, top up from and withdraw to the bound card;
# payments: payments from a customer's e-account under a payment consent;
# lending: loan quotes and applications for the app's users.
SCOPES_OF_PRODUCT: dict[str, frozenset[str]] = {
    "e_accounts": frozenset({"accounts", "e_accounts"}),
    "payments": frozenset({"payments"}),
    "lending": frozenset({"lending"}),
}
PRODUCTS: tuple[str, ...] = tuple(SCOPES_OF_PRODUCT)
ALL_SCOPES: frozenset[str] = frozenset().union(*SCOPES_OF_PRODUCT.values())


def allowed_scopes(products: set[str] | frozenset[str]) -> frozenset[str]:
    """The scopes an app subscribed to `products` may ask for."""
    return frozenset().union(*(SCOPES_OF_PRODUCT[p] for p in products if p in SCOPES_OF_PRODUCT))


def product_of_scope(scope: str) -> str:
    """The product a scope belongs to (rate limits are per app and per product)."""
    for product, scopes in SCOPES_OF_PRODUCT.items():
        if scope in scopes:
            return product
    raise KeyError(scope)

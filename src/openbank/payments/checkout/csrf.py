"""CSRF protection of the checkout forms without a server-side session (a payer is nobody's
customer yet): a signed double submit. The browser holds a random key in an HttpOnly,
SameSite=Lax cookie; each form carries HMAC-SHA256(key, order id). Another site can neither
read the cookie nor make the token, and a token is good only for its own order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE = "openbank_checkout"
COOKIE_PATH = "/checkout/"
_KEY_LENGTH = (32, 128)


def browser_key(cookie: str | None) -> tuple[str, bool]:
    """The browser's key from its cookie, or a new one: (key, whether it is new)."""
    if cookie is not None and _KEY_LENGTH[0] <= len(cookie) <= _KEY_LENGTH[1]:
        return cookie, False
    return secrets.token_urlsafe(32), True


def form_token(key: str, order_id: str) -> str:
    """The token the forms of `order_id`'s pages carry for the browser holding `key`."""
    mac = hmac.new(key.encode(), f"checkout:{order_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(cookie: str | None, order_id: str, token: str) -> bool:
    """Whether a posted form's token was made for this order by this browser's key."""
    if cookie is None or not token:
        return False
    expected = form_token(cookie, order_id)
    return hmac.compare_digest(expected.encode(), token.encode())

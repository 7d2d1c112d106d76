"""Lays the checkout's views out as HTML (Jinja2, server-rendered, no JavaScript).

Pages are never cached, never framed (a payment form inside another site's frame could be
click-jacked), load nothing from elsewhere and post forms only to this server."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import segno
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from openbank.payments.checkout.schemas import (
    AccountOpenedPage,
    CheckoutPage,
    ErrorPage,
    Redirect,
    ResultPage,
    View,
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'self'"
    ),
}
CURRENCY_SIGNS = {"CNY": "¥"}
CLASS_WORDS = {
    "I": ("I 类", "Class I"),
    "II": ("II 类", "Class II"),
    "III": ("III 类", "Class III"),
}


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals and thousands separators (no floats)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def qr_svg(content: str) -> str:
    """The QR code of `content` as inline SVG (error correction M: survives a scuffed screen)."""
    code = segno.make(content, error="m", micro=False)
    svg: str = code.svg_inline(scale=5, border=2, svgclass="qr", title="扫码支付 Scan to pay")
    return svg


_env = Environment(
    loader=PackageLoader("openbank.payments.checkout", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["yuan"] = yuan
_env.globals.update(
    currency_sign=lambda code: CURRENCY_SIGNS.get(code, code + " "),
    class_words=lambda key: CLASS_WORDS.get(key, (key, key)),
    # segno writes the SVG itself from a URL we built: markup, not text to escape.
    qr_svg=lambda content: Markup(qr_svg(content)),  # noqa: S704
)


def html(view: View, tz: ZoneInfo) -> str:
    """The page of `view` (not a redirect) as HTML text."""

    def local(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    if isinstance(view, CheckoutPage):
        template = "checkout.html"
    elif isinstance(view, ResultPage):
        template = "result.html"
    elif isinstance(view, AccountOpenedPage):
        template = "account_opened.html"
    elif isinstance(view, ErrorPage):
        template = "error.html"
    else:
        raise TypeError(f"no page for {type(view).__name__}")
    return _env.get_template(template).render(page=view, local_time=local)


def render(view: View, tz: ZoneInfo) -> Response:
    """The HTTP response for a view: a 303 for a redirect, else the page with its status."""
    response: Response
    if isinstance(view, Redirect):
        response = RedirectResponse(view.location, status_code=303)
    else:
        response = HTMLResponse(html(view, tz), status_code=view.status)
    response.headers.update(SECURITY_HEADERS)
    return response

"""Lays the service's views out as HTML (Jinja2, server-rendered, no JavaScript).

Pages are never cached, never framed (a consent page inside another site's frame could be
click-jacked) and load nothing from elsewhere."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from openbank.platform.signin.schemas import (
    ConsentPage,
    ErrorPage,
    MyConsentsPage,
    OtpPage,
    Redirect,
    SignInPage,
    View,
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # No form-action: after the decision the browser is redirected to the partner's URI.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

# Plain words for what an app asks: Chinese, then English.
PERMISSION_WORDS = {
    "accounts": ("查看您的账户列表", "See the list of your accounts"),
    "balances": ("查看账户余额", "See your account balances"),
    "transactions": ("查看交易明细", "See your transactions"),
    "top_up": ("从绑定银行卡向电子账户充值", "Top up your e-account from your bound bank card"),
    "withdraw": (
        "从电子账户提现到绑定银行卡",
        "Withdraw from your e-account to your bound bank card",
    ),
    "payment": ("从您的账户支付下面这笔款项", "Make the payment below from your account"),
}
SCOPE_WORDS = {
    "accounts": ("查看您的账户信息", "Read your account information"),
    "e_accounts": ("使用您在该应用内开立的电子账户", "Use the e-accounts you opened in this app"),
    "payments": ("代您发起付款", "Make payments on your behalf"),
    "lending": ("办理贷款业务", "Apply for and manage loans"),
    "openid": ("确认您的身份", "Confirm who you are"),
}
STATUS_WORDS = {
    "awaiting_authorisation": ("待授权", "Awaiting authorisation"),
    "authorised": ("已授权", "Authorised"),
    "rejected": ("已拒绝", "Rejected"),
    "revoked": ("已撤销", "Revoked"),
    "expired": ("已过期", "Expired"),
}
KIND_WORDS = {
    "account_access": ("账户信息授权", "Account access"),
    "payment": ("支付授权", "Payment"),
}
CURRENCY_SIGNS = {"CNY": "¥"}


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals and thousands separators (no floats)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def _words(table: dict[str, tuple[str, str]], key: str) -> tuple[str, str]:
    return table.get(key, (key, key))


_env = Environment(
    loader=PackageLoader("openbank.platform.signin", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["yuan"] = yuan
_env.globals.update(
    permission_words=lambda key: _words(PERMISSION_WORDS, key),
    scope_words=lambda key: _words(SCOPE_WORDS, key),
    status_words=lambda key: _words(STATUS_WORDS, key),
    kind_words=lambda key: _words(KIND_WORDS, key),
    currency_sign=lambda code: CURRENCY_SIGNS.get(code, code + " "),
)

_ACTIONS = {
    "authorize": {
        "sign_in": "/oauth2/authorize/sign-in",
        "verify": "/oauth2/authorize/verify",
    },
    "self_service": {"sign_in": "/me/sign-in", "verify": "/me/verify"},
}


def html(view: View, tz: ZoneInfo) -> str:
    """The page of `view` (not a redirect) as HTML text."""

    def local(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    common = {"local_time": local}
    if isinstance(view, ErrorPage):
        return _env.get_template("error.html").render(page=view, **common)
    if isinstance(view, SignInPage):
        return _env.get_template("sign_in.html").render(
            page=view, actions=_ACTIONS[view.flow], **common
        )
    if isinstance(view, OtpPage):
        return _env.get_template("otp.html").render(
            page=view, actions=_ACTIONS[view.flow], **common
        )
    if isinstance(view, ConsentPage):
        return _env.get_template("consent.html").render(page=view, **common)
    if isinstance(view, MyConsentsPage):
        return _env.get_template("my_consents.html").render(page=view, **common)
    raise TypeError(f"no page for {type(view).__name__}")


def render(view: View, tz: ZoneInfo) -> Response:
    """The HTTP response for a view: a 303 for a redirect, else the page with its status."""
    response: Response
    if isinstance(view, Redirect):
        response = RedirectResponse(view.location, status_code=303)
    else:
        response = HTMLResponse(html(view, tz), status_code=view.status)
    response.headers.update(SECURITY_HEADERS)
    return response

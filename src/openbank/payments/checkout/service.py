"""The payer's pages as use cases: each function runs in the caller's transaction and answers
the view to render.

A refused payment or account opening runs inside a savepoint: the refusal rolls back whatever
the attempt wrote (nothing moved, nobody created), and the page that explains it is read in
the same unit of work. Orders and payments go through `payments.service`; people and
e-accounts through `customers.service`; the offer rows are `offers.py`'s."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from openbank.core.clock import business_date
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.payments import service as payments
from openbank.payments.checkout import offers
from openbank.payments.checkout.errors import InvalidForm, NotThePayingCard, OfferNotFound
from openbank.payments.checkout.schemas import (
    AccountForm,
    AccountOpenedPage,
    CardForm,
    Channel,
    CheckoutPage,
    CheckoutState,
    ErrorPage,
    Notice,
    OfferState,
    OfferSummary,
    OpenedAccount,
    Outcome,
    Redirect,
    ResultPage,
    View,
)
from openbank.payments.errors import OrderNotFound
from openbank.payments.schemas import Card, Merchant, PaymentCreate, PaymentOrder

# The class of e-account offered, and the KYC level its opening reaches: the payer's identity
# (resident ID), mobile phone and a bank card of their own are checked (PBoC class II).
OFFERED_CLASS = "II"
OFFER_KYC_LEVEL = 2
PAID_STATUSES = frozenset({"authorized", "captured", "partially_refunded", "refunded"})
OUTCOMES: dict[str, Outcome] = {
    "authorized": "authorized",
    "captured": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
}
# C0 controls and DEL: no one types them, PostgreSQL text refuses NUL, and a page must not
# echo them back.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELD_MAX = 200

# What a refusal says to the payer, Chinese first; the English defaults to the error's title.
_NOTICES: dict[str, tuple[str, str | None]] = {
    "invalid_card_number": ("银行卡号无效，请检查后重新输入。", None),
    "payment_order_expired": ("订单已过期，无法支付。", None),
    "payment_order_closed": ("订单已关闭，无法支付。", None),
    "payment_order_already_paid": ("该订单已支付，请勿重复付款。", None),
    "payment_order_not_found": ("找不到该订单，请核对链接或重新扫码。", None),
    "payment_order_state_conflict": ("订单当前状态不允许此操作。", None),
    "merchant_not_active": ("商户暂停收款，本次未扣款。", None),
    "payer_not_allowed": ("该付款方不能支付此订单。", None),
    "customer_exists": (
        "您已是 openbank 客户，本次未开立新账户。请在您开户时使用的应用中登录。",
        "You are already an openbank customer, so no new account was opened."
        " Sign in where you opened your account.",
    ),
    "invalid_id_number": ("身份证号码无效，请检查后重新输入。", None),
    "invalid_phone": ("手机号码无效，请输入 11 位中国大陆手机号。", None),
    "checkout_offer_converted": ("本次支付已开立过电子账户，不能重复开户。", None),
    "checkout_offer_not_found": ("本次支付没有开户邀请。", None),
    "checkout_offer_closed": (
        "本次支付的开户邀请已失效，不能再开户。",
        "This payment's e-account offer is closed; no account can be opened from it.",
    ),
    # Neutral on purpose: it says nothing about the identity typed in.
    "checkout_card_not_the_paying_card": (
        "请绑定本次付款所用的银行卡。多次填写有误后，开户邀请将失效。",
        "Bind the bank card you paid with. After a few mistakes the offer closes.",
    ),
    "checkout_csrf_failed": ("页面已过期，请刷新页面后重试。", None),
    "checkout_invalid_form": (
        "请完整填写表单，每项不超过 200 个字符，且不含控制字符。",
        "Fill in every field: at most 200 characters each, and no control characters.",
    ),
}


def notice_for(error: DomainError) -> Notice:
    zh, en = _NOTICES.get(error.code, ("无法完成您的请求。", None))
    return Notice(zh, en or error.title)


def error_page(error: DomainError) -> ErrorPage:
    return ErrorPage(notice_for(error), error.status)


def channel_of(via: str | None) -> Channel:
    """A scanned QR code says `?via=qr`; anything else came by link."""
    return "qr" if via == "qr" else "checkout"


def _suffix(channel: Channel) -> str:
    return "?via=qr" if channel == "qr" else ""


def checkout_path(order_id: uuid.UUID, channel: Channel = "checkout") -> str:
    return f"/checkout/{order_id}{_suffix(channel)}"


def result_path(order_id: uuid.UUID, channel: Channel = "checkout") -> str:
    return f"/checkout/{order_id}/result{_suffix(channel)}"


def qr_url(order_id: uuid.UUID, settings: Settings) -> str:
    """What the page's QR code encodes: its own public URL, marked as scanned."""
    return f"{settings.public_url}{checkout_path(order_id, 'qr')}"


def parse_order_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise OrderNotFound(f"no payment order {text[:64]}") from None


def checkout_state(order: PaymentOrder, merchant: Merchant, now: datetime) -> CheckoutState:
    """Whether the card form is offered, or why not. An unpaid order past its expiry shows as
    expired before the sweeper closes it."""
    if order.status in PAID_STATUSES:
        return "paid"
    if order.status == "closed" and order.close_reason == "expired":
        return "expired"
    if order.status != "created":
        return "closed"
    if now >= order.expires_at:
        return "expired"
    if merchant.status != "active":
        return "unavailable"
    return "open"


# -- the checkout page ------------------------------------------------------------------------


def _checkout_view(
    session: Session,
    order_id: uuid.UUID,
    channel: Channel,
    csrf: str,
    now: datetime,
    settings: Settings,
    form: CardForm | None = None,
    error: DomainError | None = None,
) -> CheckoutPage:
    order = payments.get_order(session, order_id, settings)
    merchant = payments.get_merchant(session, order.merchant_id)
    state = checkout_state(order, merchant, now)
    return CheckoutPage(
        order=order,
        merchant_name=merchant.legal_name,
        state=state,
        channel=channel,
        csrf=csrf,
        qr_url=qr_url(order.id, settings) if state == "open" else None,
        form=form or CardForm(),
        error=notice_for(error) if error else None,
        status=error.status if error else 200,
    )


def checkout_page(
    session: Session, order_id: str, via: str | None, csrf: str, now: datetime, settings: Settings
) -> View:
    """The order as a payer sees it: merchant, description, amount, expiry and the card form
    with a QR code of the page (or why it cannot be paid)."""
    return _checkout_view(session, parse_order_id(order_id), channel_of(via), csrf, now, settings)


def _refuse_control_characters(*values: str) -> None:
    """Form fields come as typed; a control character in any of them refuses the form (a NUL
    would otherwise reach PostgreSQL and fail there, as a 500)."""
    if any(_CONTROL.search(value) for value in values):
        raise InvalidForm("form fields may not hold control characters (U+0000-U+001F, U+007F)")


def printable(value: str) -> str:
    """What a refused form shows again: the text without its control characters."""
    return _CONTROL.sub("", value)


def _card(form_number: str, holder_name: str) -> Card:
    _refuse_control_characters(form_number, holder_name)
    number = customers.validate_card_number(form_number)
    try:
        return Card(number=number, holder_name=holder_name)
    except ValidationError:
        raise InvalidForm("give the card holder's name (at most 200 characters)") from None


def pay_by_card(
    session: Session,
    order_id: str,
    card_number: str,
    holder_name: str,
    via: str | None,
    csrf: str,
    now: datetime,
    settings: Settings,
) -> View:
    """Pay the order with a bank card, then on to the result page (303). A refusal shows the
    checkout page again with the reason and the refusal's 4xx status; nothing moved."""
    order_id_ = parse_order_id(order_id)
    channel = channel_of(via)
    try:
        with session.begin_nested():
            spec = PaymentCreate(card=_card(card_number, holder_name))
            payments.pay(session, order_id_, spec, now, settings)
    except OrderNotFound:
        raise
    except DomainError as refused:
        form = CardForm(holder_name=printable(holder_name))
        return _checkout_view(session, order_id_, channel, csrf, now, settings, form, refused)
    return Redirect(result_path(order_id_, channel))


# -- the result page and its e-account offer --------------------------------------------------


def charged_amount(order: PaymentOrder) -> int:
    """What the payer's card was charged: the amount held while authorized, else what the
    merchant captured (a partial capture released the rest). Refunds are shown beside it."""
    return order.authorized_amount if order.status == "authorized" else order.captured_amount


def _result_view(
    session: Session,
    order: PaymentOrder,
    merchant: Merchant,
    channel: Channel,
    csrf: str,
    form: AccountForm | None = None,
    error: DomainError | None = None,
) -> ResultPage:
    offer = offers.get_offer(session, order.id)
    shown: OfferState = "none"
    if offer is not None and offer.converted_at is not None:
        shown = "converted"
    elif offer is not None:
        shown = "closed" if offers.is_closed(offer) else "open"
    return ResultPage(
        order=order,
        merchant_name=merchant.legal_name,
        outcome=OUTCOMES[order.status],
        amount=charged_amount(order),
        channel=channel,
        csrf=csrf,
        offer=shown,
        form=form or AccountForm(),
        error=notice_for(error) if error else None,
        status=error.status if error else 200,
    )


def result_page(
    session: Session, order_id: str, via: str | None, csrf: str, now: datetime, settings: Settings
) -> View:
    """What came of the payment. A card payer (not known to be a customer) is offered an
    e-account, and the offer is recorded as shown: once per order, with the first view's time
    and channel. An order not paid (yet) sends the payer back to its checkout page."""
    order = payments.get_order(session, parse_order_id(order_id), settings)
    channel = channel_of(via)
    if order.status not in PAID_STATUSES:
        return Redirect(checkout_path(order.id, channel))
    merchant = payments.get_merchant(session, order.merchant_id)
    if order.payer_kind == "card":
        # Recorded on GET: the page, as the payer's browser loads it, is what shows the offer.
        # A link preview that fetches it counts too; one row per order bounds that at one.
        offers.record_shown(session, order, channel, now)
    return _result_view(session, order, merchant, channel, csrf)


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > FIELD_MAX:
        raise InvalidForm(f"give the {what} (at most {FIELD_MAX} characters)")
    return value


@dataclass(frozen=True, slots=True)
class _Applicant:
    """The account-opening form, checked for shape (nothing looked up yet) and canonical."""

    name: str
    id_number: str
    phone: str
    card_number: str
    bank_name: str


def _applicant(form: AccountForm, today: date) -> _Applicant:
    """The form's details in canonical form, or the first one that is malformed. Malformed
    details tell nobody anything about the bank's customers, so they cost no attempt."""
    _refuse_control_characters(
        form.name, form.id_number, form.phone, form.card_number, form.bank_name
    )
    return _Applicant(
        name=_text(form.name, "name"),
        bank_name=_text(form.bank_name, "card's bank"),
        id_number=customers.validate_resident_id(form.id_number, today),
        phone=customers.validate_mobile_phone(form.phone),
        card_number=customers.validate_card_number(form.card_number),
    )


def _open(
    session: Session,
    order: PaymentOrder,
    merchant: Merchant,
    applicant: _Applicant,
    now: datetime,
    settings: Settings,
) -> OpenedAccount:
    """Open the class II e-account and record the conversion: all of it, or (raising) none.

    Only the card that paid the order may be bound, and it is checked before the identity, so
    that whether the bank knows an identity is told only to whoever holds that card."""
    if not payments.card_paid_with(session, order.id, applicant.card_number):
        raise NotThePayingCard(f"the card to bind is not the one that paid order {order.id}")
    # The merchant's sandbox payers become sandbox customers, never production ones.
    sandbox = customers.get_customer(session, merchant.customer_id).sandbox
    person = customers.create_customer(
        session,
        CustomerCreate(
            type="person",
            name=applicant.name,
            id_number=applicant.id_number,
            phone=applicant.phone,
            kyc_level=OFFER_KYC_LEVEL,
            sandbox=sandbox,
        ),
        now,
        settings,
    )
    e_account = customers.open_e_account(
        session,
        EAccountCreate(
            customer_id=person.id,
            account_class=OFFERED_CLASS,
            bound_card=BoundCardCreate(number=applicant.card_number, bank_name=applicant.bank_name),
        ),
        now,
    )
    offers.record_conversion(session, order.id, person.id, e_account.id, now)
    return OpenedAccount(
        name=mask_name(person.name),
        phone=mask_phone(person.phone),
        e_account=mask_reference(e_account.id),
        account_class=e_account.account_class,
        bound_card=e_account.bound_card.masked_number,
        bank_name=e_account.bound_card.bank_name,
    )


def open_account(
    session: Session,
    order_id: str,
    form: AccountForm,
    via: str | None,
    csrf: str,
    now: datetime,
    settings: Settings,
) -> View:
    """Take the offer: a person (KYC level 2) with a class II e-account bound to the card that
    paid the order, recorded on the order's offer. Refusals (bad details, another card, an
    identity the bank knows, an offer already taken or closed) show the result page again
    with the reason; nothing is created.

    Each refusal of well-formed details (another card; with the paying card, an identity the
    bank knows or any other refusal) counts on the offer, and the `MAX_ATTEMPTS`th closes it
    for good: identity numbers cannot be tried against the bank at will."""
    order = payments.get_order(session, parse_order_id(order_id), settings)
    channel = channel_of(via)
    if order.status not in PAID_STATUSES:
        # As on the result page: an authorization voided since is no payment to build on.
        return Redirect(checkout_path(order.id, channel))
    merchant = payments.get_merchant(session, order.merchant_id)
    # The card number is never written back into a page, nor are control characters.
    kept = AccountForm(
        printable(form.name),
        printable(form.id_number),
        printable(form.phone),
        "",
        printable(form.bank_name),
    )
    try:
        # Locked to the end of the transaction (not in the savepoint below): concurrent
        # submissions take turns, and each sees the refusals counted before it.
        offers.lock_for_conversion(session, order.id)
        applicant = _applicant(form, business_date(now, settings.tz))
    except OfferNotFound as refused:
        return error_page(refused)
    except DomainError as refused:
        return _result_view(session, order, merchant, channel, csrf, kept, refused)
    try:
        with session.begin_nested():
            opened = _open(session, order, merchant, applicant, now, settings)
    except DomainError as refused:
        # Outside the rolled-back savepoint, so the count stays when the page is committed.
        offers.record_refusal(session, order.id)
        return _result_view(session, order, merchant, channel, csrf, kept, refused)
    return AccountOpenedPage(order=order, merchant_name=merchant.legal_name, account=opened)


def offer_summary(session: Session, start: date, end: date, settings: Settings) -> OfferSummary:
    """For operators: offers shown on business days `start` to `end` and their conversions."""
    return offers.summary(session, start, end, settings.tz)


# -- masking ------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三 -> 张*; Alice Smith -> A**********."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str) -> str:
    """+8613800138000 -> +86 138****8000."""
    digits = phone.removeprefix("+86")
    return f"+86 {digits[:3]}****{digits[-4:]}"


def mask_reference(e_account_id: uuid.UUID) -> str:
    """An e-account's reference with the middle hidden: 0197****c3d2."""
    text = e_account_id.hex
    return f"{text[:4]}****{text[-4:]}"

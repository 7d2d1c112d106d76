"""The e-account offer on the payment-result page: recorded once per order when first shown,
marked when it converts into an e-account, closed after a few refused attempts, and counted
for operators.

Every function runs in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.payments.checkout.errors import (
    InvalidDateRange,
    OfferAlreadyConverted,
    OfferClosed,
    OfferNotFound,
)
from openbank.payments.checkout.schemas import (
    Channel,
    ChannelCounts,
    MerchantCounts,
    Offer,
    OfferSummary,
    PartnerCounts,
)
from openbank.payments.models import CheckoutOffer
from openbank.payments.schemas import PaymentOrder

MAX_SUMMARY_DAYS = 366
# Refused attempts to take an offer before it closes for good: enough for a payer's typos,
# too few to try identity numbers against the bank's customers.
MAX_ATTEMPTS = 3
# The last business day a summary may name: the day after it must still be a date.
LAST_SUMMARY_DAY = date(9998, 12, 31)
_RATE_PLACES = Decimal("0.0001")


def _out(row: CheckoutOffer) -> Offer:
    return Offer.model_validate(row, from_attributes=True)


def get_offer(session: Session, order_id: uuid.UUID) -> Offer | None:
    row = session.get(CheckoutOffer, order_id)
    return _out(row) if row is not None else None


def is_closed(offer: Offer) -> bool:
    """Whether the offer was refused too often to be taken any more."""
    return offer.converted_at is None and offer.attempts >= MAX_ATTEMPTS


def record_shown(session: Session, order: PaymentOrder, channel: Channel, now: datetime) -> Offer:
    """The offer was shown on `order`'s result page: one row per order, whatever the number
    of views; the first view's time and channel stay (two pages opened at once race on the
    primary key, and the loser keeps the winner's row)."""
    session.execute(
        insert(CheckoutOffer)
        .values(
            order_id=order.id,
            merchant_id=order.merchant_id,
            partner_id=order.partner_id,
            channel=channel,
            shown_at=now,
        )
        .on_conflict_do_nothing(index_elements=["order_id"])
    )
    row = session.execute(
        select(CheckoutOffer).where(CheckoutOffer.order_id == order.id)
    ).scalar_one()
    return _out(row)


def lock_for_conversion(session: Session, order_id: uuid.UUID) -> Offer:
    """The order's offer, locked to the end of the transaction so that submissions of the form
    take turns (two open one account; refusals are counted one after the other): it must have
    been shown, not converted yet and not closed. Lock it outside any savepoint: rolling back
    to a savepoint releases the row locks taken after it."""
    row = session.execute(
        select(CheckoutOffer).where(CheckoutOffer.order_id == order_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise OfferNotFound(f"no e-account offer was shown for payment order {order_id}")
    if row.converted_at is not None:
        raise OfferAlreadyConverted(
            f"the offer of payment order {order_id} converted at {row.converted_at.isoformat()}"
        )
    offer = _out(row)
    if is_closed(offer):
        raise OfferClosed(
            f"the offer of payment order {order_id} closed after {row.attempts} refused attempts"
        )
    return offer


def record_refusal(session: Session, order_id: uuid.UUID) -> Offer:
    """One more refused attempt to take the offer (locked by `lock_for_conversion`); the
    `MAX_ATTEMPTS`th closes it. Call it outside the savepoint the attempt ran in, so that the
    count survives the attempt's rollback."""
    session.execute(
        update(CheckoutOffer)
        .where(CheckoutOffer.order_id == order_id)
        .values(attempts=CheckoutOffer.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(CheckoutOffer)
        .where(CheckoutOffer.order_id == order_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    return _out(row)


def record_conversion(
    session: Session,
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    e_account_id: uuid.UUID,
    now: datetime,
) -> Offer:
    """The offer (locked by `lock_for_conversion`) opened this customer's e-account."""
    row = session.get(CheckoutOffer, order_id)
    assert row is not None
    assert row.converted_at is None
    row.converted_at = now
    row.customer_id = customer_id
    row.e_account_id = e_account_id
    session.flush()
    return _out(row)


def conversion_rate(shown: int, converted: int) -> str | None:
    """converted / shown, four decimal places, exact decimal arithmetic (no floats)."""
    if shown == 0:
        return None
    rate = (Decimal(converted) / Decimal(shown)).quantize(_RATE_PLACES, rounding=ROUND_HALF_EVEN)
    return str(rate)


def _counts(shown: int, converted: int) -> dict[str, Any]:
    return {
        "shown": shown,
        "converted": converted,
        "conversion_rate": conversion_rate(shown, converted),
    }


def summary(session: Session, start: date, end: date, tz: ZoneInfo) -> OfferSummary:
    """Offers shown on business days `start` to `end` (inclusive) and how many converted,
    overall and by channel, merchant and partner: one scan with grouping sets."""
    if start > end:
        raise InvalidDateRange("`from` must not be after `to`")
    if end > LAST_SUMMARY_DAY:
        raise InvalidDateRange(f"`to` must not be after {LAST_SUMMARY_DAY.isoformat()}")
    if (end - start).days >= MAX_SUMMARY_DAYS:
        raise InvalidDateRange(f"the range may span at most {MAX_SUMMARY_DAYS} days")
    since = datetime.combine(start, time(), tz)
    until = datetime.combine(end + timedelta(days=1), time(), tz)
    offer = CheckoutOffer
    rows = session.execute(
        select(
            func.grouping(offer.channel).label("g_channel"),
            func.grouping(offer.merchant_id).label("g_merchant"),
            func.grouping(offer.partner_id).label("g_partner"),
            offer.channel,
            offer.merchant_id,
            offer.partner_id,
            func.count().label("shown"),
            func.count(offer.converted_at).label("converted"),
        )
        .where(offer.shown_at >= since, offer.shown_at < until)
        .group_by(func.grouping_sets(tuple_(), offer.channel, offer.merchant_id, offer.partner_id))
    ).all()
    total = _counts(0, 0)
    by_channel: list[ChannelCounts] = []
    by_merchant: list[MerchantCounts] = []
    by_partner: list[PartnerCounts] = []
    for row in rows:
        counts = _counts(row.shown, row.converted)
        if not row.g_channel:
            by_channel.append(ChannelCounts(channel=row.channel, **counts))
        elif not row.g_merchant:
            by_merchant.append(MerchantCounts(merchant_id=row.merchant_id, **counts))
        elif not row.g_partner:
            by_partner.append(PartnerCounts(partner_id=row.partner_id, **counts))
        else:
            total = counts
    by_channel.sort(key=lambda c: c.channel)
    by_merchant.sort(key=lambda c: (-c.shown, str(c.merchant_id)))
    by_partner.sort(key=lambda c: (-c.shown, str(c.partner_id)))
    return OfferSummary(
        from_date=start,
        to_date=end,
        by_channel=by_channel,
        by_merchant=by_merchant,
        by_partner=by_partner,
        **total,
    )

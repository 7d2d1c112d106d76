"""Partners' view of their deliveries at the service layer: own app only, newest first."""

from __future__ import annotations

import pytest

from openbank.core.database import Database, unit_of_work
from openbank.core.errors import InvalidCursor
from openbank.platform.webhooks import service
from openbank.platform.webhooks.dispatcher import Dispatcher
from openbank.platform.webhooks.errors import DeliveryNotFound
from tests.platform.webhooks.helpers import (
    Receiver,
    add_endpoint,
    emit_event,
    new_app,
    partner_call,
)


def test_partner_listing_is_its_own_newest_first_and_paginated(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    mine, theirs = new_app(wh_db), new_app(wh_db)
    add_endpoint(wh_db, mine, receiver.url)
    add_endpoint(wh_db, theirs, receiver.url)
    my_events = [emit_event(wh_db, mine) for _ in range(3)]
    emit_event(wh_db, theirs)
    dispatcher.run_once()
    call = partner_call(mine)

    first, cursor = unit_of_work(
        wh_db, lambda s: service.list_deliveries_for_partner(s, call, None, 2)
    )
    rest, end = unit_of_work(
        wh_db, lambda s: service.list_deliveries_for_partner(s, call, cursor, 2)
    )

    assert [d.event_id for d in first + rest] == my_events[::-1]
    assert {d.status for d in first + rest} == {"delivered"}
    assert end is None


def test_partner_cannot_read_another_apps_delivery(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    mine, theirs = new_app(wh_db), new_app(wh_db)
    add_endpoint(wh_db, theirs, receiver.url)
    emit_event(wh_db, theirs)
    dispatcher.run_once()
    [their_delivery], _ = unit_of_work(
        wh_db, lambda s: service.list_deliveries_for_partner(s, partner_call(theirs), None, 10)
    )

    with pytest.raises(DeliveryNotFound):
        unit_of_work(
            wh_db,
            lambda s: service.get_delivery_for_partner(s, partner_call(mine), their_delivery.id),
        )


def test_bad_cursor_is_refused(wh_db: Database) -> None:
    call = partner_call(new_app(wh_db))

    with pytest.raises(InvalidCursor):
        unit_of_work(wh_db, lambda s: service.list_deliveries_for_partner(s, call, "nope", 10))

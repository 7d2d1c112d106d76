"""POST /v1/gateway: signed requests open e-accounts and read balances; every refusal has its
own problem code; every answer the bank can sign is signed."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.models import IdempotencyRecord
from openbank.core.settings import Settings
from openbank.customers import models as customer_models
from openbank.platform.signed import service
from openbank.platform.signed.errors import ReplayedRequest
from openbank.platform.signed.models import GatewayNonce
from tests.platform.signed.support import (
    Opened,
    SignedApp,
    bank_signature_ok,
    call,
    data_of,
    open_account,
    post,
    request_params,
    sign_params,
    signed_app,
    timestamp,
)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert response.headers["content-type"].startswith("application/problem+json")
    return body


def _balance(client: TestClient, sapp: SignedApp, opened: Opened, sign_type: str = "RSA2") -> int:
    response = call(
        client,
        sapp,
        "openbank.eaccount.balance.query",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id},
        sign_type,
    )
    return int(data_of(sapp, response)["balance"])


# -- whole flows ----------------------------------------------------------------------------


def test_rsa2_requests_open_an_account_top_it_up_and_read_its_balance(client: TestClient) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp, "RSA2")
    topped = call(
        client,
        sapp,
        "openbank.eaccount.topup",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id, "amount": 5000},
    )
    assert data_of(sapp, topped)["kind"] == "top_up"
    assert _balance(client, sapp, opened) == 5000


def test_sm2_requests_open_an_account_and_read_its_balance(client: TestClient) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp, "SM2")
    response = call(
        client,
        sapp,
        "openbank.eaccount.balance.query",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id},
        "SM2",
    )
    assert response.headers["X-Openbank-Sign-Type"] == "SM2"
    assert data_of(sapp, response)["balance"] == 0


def test_sm4_encrypted_biz_content_and_answers(client: TestClient) -> None:
    sapp = signed_app(client, encryption="SM4")
    opened = open_account(client, sapp, "SM2")
    response = call(
        client,
        sapp,
        "openbank.eaccount.balance.query",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id},
    )
    assert isinstance(response.json()["data"], str)  # ciphertext on the wire
    assert data_of(sapp, response)["e_account_id"] == opened.e_account_id


def test_aes_encrypted_biz_content_and_answers(client: TestClient) -> None:
    sapp = signed_app(client, encryption="AES")
    opened = open_account(client, sapp, "RSA2")
    call(
        client,
        sapp,
        "openbank.eaccount.topup",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id, "amount": 300},
    )
    withdrawn = call(
        client,
        sapp,
        "openbank.eaccount.withdraw",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id, "amount": 100},
    )
    assert data_of(sapp, withdrawn)["kind"] == "withdrawal"
    assert _balance(client, sapp, opened) == 200


def test_transactions_query_lists_the_statement(client: TestClient) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp)
    for amount in (100, 200):
        call(
            client,
            sapp,
            "openbank.eaccount.topup",
            {
                "consent_id": opened.consent_id,
                "e_account_id": opened.e_account_id,
                "amount": amount,
            },
        )
    page = data_of(
        sapp,
        call(
            client,
            sapp,
            "openbank.eaccount.transactions.query",
            {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id, "limit": 10},
        ),
    )
    assert [line["amount"] for line in page["data"]] == [100, 200]
    assert page["next_cursor"] is None


def test_a_json_body_works_like_a_form(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000001"})
    assert data_of(sapp, post(client, params, as_json=True))["sandbox_code"]


def test_the_answer_signature_covers_the_exact_body(client: TestClient) -> None:
    sapp = signed_app(client)
    response = call(client, sapp, "openbank.otp.send", {"phone": "13900000002"}, "SM2")
    assert bank_signature_ok(sapp, response)
    response._content = response.content.replace(b'"10000"', b'"10001"')
    assert not bank_signature_ok(sapp, response)


def test_problem_answers_are_signed_too(client: TestClient) -> None:
    sapp = signed_app(client)
    response = call(client, sapp, "openbank.nothing", {})
    _problem(response, 400, "unknown_method")
    assert bank_signature_ok(sapp, response)


# -- refusals, in the order they are checked ------------------------------------------------


@pytest.mark.parametrize(
    "name", ["app_id", "method", "charset", "sign_type", "timestamp", "version", "nonce", "sign"]
)
def test_a_missing_parameter_is_invalid_parameter(client: TestClient, name: str) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000003"})
    del params[name]
    body = _problem(post(client, params), 400, "invalid_parameter")
    assert body["parameter"] == name


def test_a_malformed_timestamp_is_invalid_parameter(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(
        client, sapp, "openbank.otp.send", {"phone": "13900000004"}, timestamp="1700000000"
    )
    _problem(post(client, params), 400, "invalid_parameter")


def test_another_content_type_is_invalid_parameter(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000005"})
    response = client.post(
        "/v1/gateway", content=urlencode(params), headers={"Content-Type": "text/plain"}
    )
    _problem(response, 400, "invalid_parameter")
    assert response.headers["X-Openbank-Sign-Type"] == "RSA2"


def test_an_unknown_app_is_refused_and_its_answer_cannot_be_signed(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(
        client,
        sapp,
        "openbank.otp.send",
        {"phone": "13900000006"},
        app_id="01900000-0000-7000-8000-000000000000",
    )
    response = post(client, params)
    _problem(response, 401, "invalid_app")
    assert response.headers["X-Openbank-Sign-Type"] == "RSA2"
    assert "X-Openbank-Sign" not in response.headers


def test_an_app_of_a_suspended_partner_is_invalid_app(client: TestClient) -> None:
    sapp = signed_app(client)
    suspended = client.post(
        f"/v1/partners/{sapp.app.partner_id}/status", json={"status": "suspended"}
    )
    assert suspended.status_code == 200, suspended.text
    response = call(client, sapp, "openbank.otp.send", {"phone": "13900000007"})
    _problem(response, 401, "invalid_app")
    assert bank_signature_ok(sapp, response)  # the bank still holds its keys for the app


def test_a_bad_signature_is_invalid_signature(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000008"})
    params["biz_content"] = json.dumps({"phone": "13900000009"})  # changed after signing
    response = post(client, params)
    _problem(response, 401, "invalid_signature")
    assert bank_signature_ok(sapp, response)


def test_a_signature_with_another_key_is_invalid_signature(client: TestClient) -> None:
    sapp = signed_app(client)
    other = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000010"}, "SM2")
    params["sign"] = sign_params(other, params, "SM2")
    _problem(post(client, params), 401, "invalid_signature")


def test_a_sign_type_without_a_registered_key_is_invalid_signature(client: TestClient) -> None:
    sapp = signed_app(client, register=("RSA2",))
    response = call(client, sapp, "openbank.otp.send", {"phone": "13900000011"}, "SM2")
    body = _problem(response, 401, "invalid_signature")
    assert "SM2" in str(body["detail"])
    assert bank_signature_ok(sapp, response)  # signed with the bank's SM2 key all the same


def test_an_old_timestamp_is_a_stale_request(client: TestClient, settings: Settings) -> None:
    sapp = signed_app(client)
    clock: ShiftedClock = client.app.state.clock  # type: ignore[attr-defined]
    old = clock.now() - timedelta(seconds=settings.gateway_signature_max_skew_seconds + 5)
    params = request_params(
        client,
        sapp,
        "openbank.otp.send",
        {"phone": "13900000012"},
        timestamp=timestamp(client, old),
    )
    _problem(post(client, params), 401, "stale_request")


def test_a_future_timestamp_is_a_stale_request(client: TestClient, settings: Settings) -> None:
    sapp = signed_app(client)
    clock: ShiftedClock = client.app.state.clock  # type: ignore[attr-defined]
    ahead = clock.now() + timedelta(seconds=settings.gateway_signature_max_skew_seconds + 5)
    params = request_params(
        client,
        sapp,
        "openbank.otp.send",
        {"phone": "13900000013"},
        timestamp=timestamp(client, ahead),
    )
    _problem(post(client, params), 401, "stale_request")


def test_a_replayed_nonce_is_refused(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000014"})
    assert post(client, params).status_code == 200
    _problem(post(client, params), 401, "replayed_request")


def test_a_replay_of_a_failed_request_is_refused_too(client: TestClient) -> None:
    sapp = signed_app(client)
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "12"})
    _problem(post(client, params), 422, "invalid_phone")
    _problem(post(client, params), 401, "replayed_request")


def test_of_concurrent_replays_exactly_one_passes(
    client: TestClient, db: Database, settings: Settings
) -> None:
    sapp = signed_app(client)
    clock: ShiftedClock = client.app.state.clock  # type: ignore[attr-defined]
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000015"})
    body = urlencode(params).encode()
    start = threading.Barrier(8)

    def send(_: int) -> int:
        start.wait()
        reply = service.handle(db, settings, clock.now(), body, "application/x-www-form-urlencoded")
        return reply.status

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [200] + [401] * 7


def test_a_nonce_is_remembered_for_the_replay_window_only(
    db: Database, settings: Settings, client: TestClient
) -> None:
    sapp = signed_app(client)
    app_id = uuid.UUID(sapp.app_id)
    clock: ShiftedClock = client.app.state.clock  # type: ignore[attr-defined]
    now = clock.now()
    nonce = secrets.token_hex(8)
    unit_of_work(db, lambda s: service.claim_nonce(s, app_id, nonce, now, settings))
    later = now + service.replay_window(settings) - timedelta(seconds=1)
    with pytest.raises(ReplayedRequest):
        unit_of_work(db, lambda s: service.claim_nonce(s, app_id, nonce, later, settings))
    after = now + service.replay_window(settings) + timedelta(seconds=1)
    unit_of_work(db, lambda s: service.claim_nonce(s, app_id, nonce, after, settings))


def test_purge_forgets_nonces_older_than_the_window(
    db: Database, settings: Settings, client: TestClient
) -> None:
    sapp = signed_app(client)
    app_id = uuid.UUID(sapp.app_id)
    clock: ShiftedClock = client.app.state.clock  # type: ignore[attr-defined]
    then = clock.now() - service.replay_window(settings) - timedelta(minutes=1)
    unit_of_work(db, lambda s: service.claim_nonce(s, app_id, "old-nonce-1", then, settings))
    assert unit_of_work(db, lambda s: service.purge_nonces(s, clock.now(), settings)) >= 1
    count = unit_of_work(
        db,
        lambda s: s.execute(select(func.count()).where(GatewayNonce.app_id == app_id)).scalar_one(),
    )
    assert count == 0


def test_an_undecryptable_biz_content_is_decryption_failed(client: TestClient) -> None:
    sapp = signed_app(client, encryption="AES")
    params = request_params(
        client, sapp, "openbank.otp.send", {}, biz_content="bm90IGNpcGhlcnRleHQ="
    )
    _problem(post(client, params), 400, "decryption_failed")


def test_an_encrypt_type_the_app_has_no_key_for_is_decryption_failed(client: TestClient) -> None:
    sapp = signed_app(client, encryption="AES")
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000016"})
    params["encrypt_type"] = "SM4"
    params["sign"] = sign_params(sapp, params, "RSA2")
    _problem(post(client, params), 400, "decryption_failed")


def test_plain_biz_content_for_an_encrypting_app_is_encryption_required(
    client: TestClient,
) -> None:
    sapp = signed_app(client, encryption="SM4")
    params = request_params(client, sapp, "openbank.otp.send", {"phone": "13900000017"})
    del params["encrypt_type"]
    params["biz_content"] = json.dumps({"phone": "13900000017"})
    params["sign"] = sign_params(sapp, params, "RSA2")
    _problem(post(client, params), 400, "encryption_required")


def test_an_unknown_method_is_refused(client: TestClient) -> None:
    sapp = signed_app(client)
    body = _problem(call(client, sapp, "alipay.trade.pay", {}), 400, "unknown_method")
    assert "openbank.eaccount.open" in body["known"]


def test_a_method_of_a_product_the_app_lacks_is_insufficient_scope(client: TestClient) -> None:
    sapp = signed_app(client, products=("payments",))
    response = call(client, sapp, "openbank.otp.send", {"phone": "13900000018"})
    _problem(response, 403, "insufficient_scope")


def test_biz_content_missing_a_field_is_invalid_parameter(client: TestClient) -> None:
    sapp = signed_app(client)
    body = _problem(call(client, sapp, "openbank.otp.send", {}), 400, "invalid_parameter")
    assert body["parameter"] == "biz_content"


def test_production_apps_get_no_one_time_code(client: TestClient) -> None:
    sapp = signed_app(client, environment="production")
    response = call(client, sapp, "openbank.otp.send", {"phone": "13900000019"})
    _problem(response, 503, "otp_delivery_unavailable")


# -- consents and idempotency behind the gateway --------------------------------------------


def test_another_app_cannot_read_a_balance_with_the_first_apps_consent(
    client: TestClient,
) -> None:
    first = signed_app(client)
    second = signed_app(client)
    opened = open_account(client, first)
    response = call(
        client,
        second,
        "openbank.eaccount.balance.query",
        {"consent_id": opened.consent_id, "e_account_id": opened.e_account_id},
    )
    body = _problem(response, 404, "consent_not_found")
    assert "balance" not in body


def test_an_account_the_consent_does_not_cover_is_not_found(client: TestClient) -> None:
    sapp = signed_app(client)
    first = open_account(client, sapp)
    second = open_account(client, sapp)
    response = call(
        client,
        sapp,
        "openbank.eaccount.balance.query",
        {"consent_id": first.consent_id, "e_account_id": second.e_account_id},
    )
    assert response.status_code == 404


def test_a_retry_with_the_same_out_request_no_moves_money_once(
    client: TestClient, db: Database
) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp)
    biz = {
        "consent_id": opened.consent_id,
        "e_account_id": opened.e_account_id,
        "amount": 700,
        "out_request_no": "T-0001",
    }
    first = data_of(sapp, call(client, sapp, "openbank.eaccount.topup", biz))
    again = data_of(sapp, call(client, sapp, "openbank.eaccount.topup", biz))  # new nonce
    assert again["id"] == first["id"]
    assert _balance(client, sapp, opened) == 700
    movements = unit_of_work(
        db,
        lambda s: s.execute(
            select(func.count()).where(
                customer_models.EAccountMovement.e_account_id == uuid.UUID(opened.e_account_id)
            )
        ).scalar_one(),
    )
    assert movements == 1


def test_the_same_out_request_no_for_another_request_is_a_conflict(client: TestClient) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp)
    biz = {
        "consent_id": opened.consent_id,
        "e_account_id": opened.e_account_id,
        "amount": 700,
        "out_request_no": "T-0002",
    }
    data_of(sapp, call(client, sapp, "openbank.eaccount.topup", biz))
    response = call(client, sapp, "openbank.eaccount.topup", {**biz, "amount": 800})
    _problem(response, 409, "idempotency_key_reused")
    assert _balance(client, sapp, opened) == 700


def test_out_request_numbers_are_kept_per_app(client: TestClient, db: Database) -> None:
    sapp = signed_app(client)
    opened = open_account(client, sapp)
    biz = {
        "consent_id": opened.consent_id,
        "e_account_id": opened.e_account_id,
        "amount": 1,
        "out_request_no": "T-0003",
    }
    data_of(sapp, call(client, sapp, "openbank.eaccount.topup", biz))
    scopes = unit_of_work(
        db,
        lambda s: list(
            s.execute(
                select(IdempotencyRecord.scope).where(IdempotencyRecord.key == "T-0003")
            ).scalars()
        ),
    )
    assert f"signed:{sapp.app_id}" in scopes


def test_a_top_up_without_out_request_no_is_refused_and_moves_nothing(
    client: TestClient,
) -> None:
    """Without its own request number a retried write could move money twice."""
    sapp = signed_app(client)
    opened = open_account(client, sapp)
    biz = {
        "consent_id": opened.consent_id,
        "e_account_id": opened.e_account_id,
        "amount": 700,
        "out_request_no": None,
    }
    response = call(client, sapp, "openbank.eaccount.topup", biz)
    assert response.status_code == 400, response.text
    assert _balance(client, sapp, opened) == 0

"""DPoP proof validation (RFC 9449 §4.3), one rule per test, and proof replay at the token
endpoint."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from openbank.core.clock import ShiftedClock
from openbank.platform.oauth.dpop import DpopError, normalize_url, verify_proof
from tests.platform.oauth.support import assert_oauth_error
from tests.platform.support import PartnerApp
from tests.platform.tokens import DPoPKey, ath, client_auth, issuer

URL = "https://bank.example/v1/open/accounts"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TOKEN = "an-access-token"


def _key() -> DPoPKey:
    return DPoPKey()


def _proof(key: DPoPKey, **overrides: Any) -> str:
    overrides.setdefault("iat", int(NOW.timestamp()))
    return key.proof("GET", URL, TOKEN, **overrides)


def _verify(proof: str, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "method": "GET",
        "urls": (URL,),
        "now": NOW,
        "max_age_seconds": 60,
        "access_token": TOKEN,
    }
    args.update(kwargs)
    return verify_proof(proof, **args)


def _signed(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    return jwt.encode(header, claims, key, algorithms=[alg])


def _claims(**overrides: Any) -> dict[str, Any]:
    return {
        "htm": "GET",
        "htu": URL,
        "iat": int(NOW.timestamp()),
        "jti": "j-1",
        "ath": ath(TOKEN),
        **overrides,
    }


def test_a_valid_proof_gives_the_keys_thumbprint() -> None:
    key = _key()
    proof = _verify(_proof(key))
    assert proof.jkt == key.jkt
    assert proof.keep_until > NOW


def test_a_missing_proof_is_refused() -> None:
    with pytest.raises(DpopError, match="required"):
        _verify("")


def test_a_proof_whose_typ_is_not_dpop_jwt_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    header = {"typ": "JWT", "alg": "ES256", "jwk": key.as_dict(private=False)}
    with pytest.raises(DpopError, match="typ"):
        _verify(_signed(header, _claims(), key, "ES256"))


def test_an_hs256_proof_is_refused() -> None:
    secret = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct"}}
    with pytest.raises(DpopError, match="alg"):
        _verify(_signed(header, _claims(), secret, "HS256"))


def test_an_rs256_proof_is_refused() -> None:
    key = RSAKey.generate_key(2048)
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": key.as_dict(private=False)}
    with pytest.raises(DpopError, match="alg"):
        _verify(_signed(header, _claims(), key, "RS256"))


def test_a_ps256_proof_with_an_rsa_jwk_is_accepted() -> None:
    key = RSAKey.generate_key(2048)
    header = {"typ": "dpop+jwt", "alg": "PS256", "jwk": key.as_dict(private=False)}
    assert _verify(_signed(header, _claims(), key, "PS256")).jkt == key.thumbprint()


def test_a_proof_carrying_a_private_key_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=True)}
    with pytest.raises(DpopError, match="public key"):
        _verify(_signed(header, _claims(), key, "ES256"))


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    key, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": other.as_dict(private=False)}
    with pytest.raises(DpopError, match="signature"):
        _verify(_signed(header, _claims(), key, "ES256"))


def test_a_proof_whose_jwk_does_not_fit_its_alg_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    rsa = RSAKey.generate_key(2048)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": rsa.as_dict(private=False)}
    with pytest.raises(DpopError, match="not a key for ES256"):
        _verify(_signed(header, _claims(), key, "ES256"))


def test_a_proof_for_another_method_is_refused() -> None:
    with pytest.raises(DpopError, match="htm"):
        _verify(_proof(_key(), htm="POST"))


def test_a_proof_for_another_url_is_refused() -> None:
    with pytest.raises(DpopError, match="htu"):
        _verify(_proof(_key(), htu="https://bank.example/v1/open/payments"))


def test_a_proof_for_the_same_path_on_another_host_is_refused() -> None:
    with pytest.raises(DpopError, match="htu"):
        _verify(_proof(_key(), htu="https://evil.example/v1/open/accounts"))


def test_htu_ignores_query_and_fragment_and_default_port() -> None:
    assert normalize_url("HTTPS://Bank.example:443/a?x=1#f") == "https://bank.example/a"
    _verify(_proof(_key(), htu="https://bank.example:443/v1/open/accounts?cursor=2"))


def test_a_proof_older_than_the_allowed_age_is_refused() -> None:
    old = int((NOW - timedelta(seconds=61)).timestamp())
    with pytest.raises(DpopError, match="older"):
        _verify(_proof(_key(), iat=old))


def test_a_proof_from_the_future_is_refused() -> None:
    ahead = int((NOW + timedelta(seconds=60)).timestamp())
    with pytest.raises(DpopError, match="future"):
        _verify(_proof(_key(), iat=ahead))


def test_a_proof_without_iat_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = _claims()
    del claims["iat"]
    with pytest.raises(DpopError, match="iat"):
        _verify(_signed(header, claims, key, "ES256"))


def test_a_proof_without_jti_is_refused() -> None:
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = _claims()
    del claims["jti"]
    with pytest.raises(DpopError, match="jti"):
        _verify(_signed(header, claims, key, "ES256"))


def test_a_resource_proof_without_ath_is_refused() -> None:
    key = _key()
    proof = key.proof("GET", URL, iat=int(NOW.timestamp()))
    with pytest.raises(DpopError, match="ath"):
        _verify(proof)


def test_a_proof_bound_to_another_token_is_refused() -> None:
    with pytest.raises(DpopError, match="ath"):
        _verify(_proof(_key(), ath=ath("another-token")))


def test_a_tampered_proof_is_refused() -> None:
    header, payload, signature = _proof(_key()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["htm"] = "POST"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(DpopError, match="signature"):
        _verify(f"{header}.{forged}.{signature}", method="POST")


def test_garbage_is_refused_not_crashed() -> None:
    for junk in ("x", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.e30."):
        with pytest.raises(DpopError):
            _verify(junk)


def test_a_replayed_proof_at_the_token_endpoint_is_refused(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    key = DPoPKey(clock=clock)
    proof = key.proof("POST", "/oauth2/token")

    def request() -> Any:
        return client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "scope": "lending",
                **client_auth(client, app),
            },
            headers={"DPoP": proof},
        )

    assert request().status_code == 200
    body = assert_oauth_error(request(), "invalid_dpop_proof")
    assert "already used" in body["error_description"]


def test_two_dpop_headers_are_refused(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    key = DPoPKey(clock=clock)
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "lending", **client_auth(client, app)},
        headers=[
            ("DPoP", key.proof("POST", "/oauth2/token")),
            ("DPoP", key.proof("POST", "/oauth2/token")),
        ],
    )
    assert_oauth_error(response, "invalid_dpop_proof")


def test_a_proof_for_the_published_issuer_url_is_accepted(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    """Behind a proxy the request reaches us under another name: the issuer's URL counts."""
    key = DPoPKey(clock=clock)
    issuer = client.app.state.settings.public_url  # type: ignore[attr-defined]
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "lending", **client_auth(client, app)},
        headers={"DPoP": key.proof("POST", f"{issuer}/oauth2/token")},
    )
    assert response.status_code == 200, response.text


def _proof_with_iat(iat_json: str, url: str, method: str) -> str:
    """A proof whose iat is written as raw JSON text (numbers JSON cannot or should not hold)."""
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": dict(key.as_dict(private=False))}
    payload = (
        f'{{"htm":"{method}","htu":"{url}","iat":{iat_json},"jti":"{secrets.token_hex(8)}"}}'
    ).encode()
    return jws.serialize_compact(header, payload, key, algorithms=["ES256"])


@pytest.mark.parametrize(
    "iat", ["1e20", "1e400", "NaN", "-Infinity", "-1e20", "1e12", "253402300800", "1" + "0" * 400]
)
def test_a_proof_with_an_absurd_iat_is_a_401_not_a_500(client: TestClient, iat: str) -> None:
    proof = _proof_with_iat(iat, f"{issuer(client)}/v1/open/accounts", "GET")
    response = client.get("/v1/open/accounts", headers={"Authorization": "DPoP x", "DPoP": proof})
    assert response.status_code == 401, response.text

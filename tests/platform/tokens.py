"""Access tokens for partner-API tests: client assertions (private_key_jwt), DPoP proofs,
client_credentials tokens, customer tokens through PAR + the code flow, and the headers of a
resource call.

Proof and assertion times come from the server's own clock (`client.app.state.clock`), so
tests still pass after other tests moved the shared ShiftedClock forward.

    token = customer_token(client, db, clock, app, customer_id, consent_id, "accounts")
    client.get("/v1/open/accounts", headers=auth_headers(token, "GET", "/v1/open/accounts"))
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey
from sqlalchemy.orm import Session

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.platform.consents import service as consents
from openbank.platform.consents.schemas import Permission
from openbank.platform.oauth import service as oauth
from tests.conftest import BASE_URL
from tests.platform.support import PartnerApp

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode()).digest())


def server_clock(client: TestClient) -> Clock:
    clock: Clock = client.app.state.clock  # type: ignore[attr-defined]
    return clock


def issuer(client: TestClient) -> str:
    url: str = client.app.state.settings.public_url  # type: ignore[attr-defined]
    return url


def absolute(url: str) -> str:
    """The URL a TestClient request reaches (relative paths are under BASE_URL)."""
    return url if "://" in url else BASE_URL + url


def _timestamp(clock: Clock | None) -> int:
    return int((clock.now() if clock is not None else datetime.now(UTC)).timestamp())


@dataclass
class DPoPKey:
    """A client's DPoP key pair (ES256) and the proofs it signs."""

    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256"))
    clock: Clock | None = None

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        iat: int | None = None,
        jti: str | None = None,
        **overrides: Any,
    ) -> str:
        """A DPoP proof for `method url` (query dropped), bound to `access_token` if given.
        `overrides` replace claims (htm, htu, ath...) for negative tests."""
        claims: dict[str, Any] = {
            "htm": method.upper(),
            "htu": absolute(url).split("?")[0].split("#")[0],
            "iat": iat if iat is not None else _timestamp(self.clock),
            "jti": jti or secrets.token_urlsafe(16),
        }
        if access_token is not None:
            claims["ath"] = ath(access_token)
        claims.update(overrides)
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"])


def client_assertion(
    app: PartnerApp,
    audience: str,
    *,
    now: datetime | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> str:
    """A private_key_jwt client assertion of `app` for `audience` (the issuer).
    `overrides` replace claims (iss, sub, aud, iat, exp, jti) for negative tests."""
    issued = int(now.timestamp()) if now is not None else _timestamp(clock)
    claims: dict[str, Any] = {
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    fields = app.key.as_dict(private=False)
    alg = str(fields.get("alg", "ES256"))
    with warnings.catch_warnings():
        # joserfc warns that RFC 9864 deprecates the name EdDSA; FAPI 2.0 still uses it.
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode({"alg": alg, "kid": app.key.kid}, claims, app.key, algorithms=[alg])


def client_auth(client: TestClient, app: PartnerApp) -> dict[str, str]:
    """The form fields that authenticate `app` (private_key_jwt, aud = the issuer)."""
    return {
        "client_id": app.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(app, issuer(client), clock=server_clock(client)),
    }


@dataclass
class Token:
    access_token: str
    dpop_key: DPoPKey
    refresh_token: str | None = None
    scope: str = ""
    expires_in: int = 0


def _token_from(response: Any, dpop_key: DPoPKey) -> Token:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    return Token(
        access_token=body["access_token"],
        dpop_key=dpop_key,
        refresh_token=body.get("refresh_token"),
        scope=body["scope"],
        expires_in=body["expires_in"],
    )


def client_credentials_token(
    client: TestClient, app: PartnerApp, scope: str, dpop_key: DPoPKey | None = None
) -> Token:
    """A partner-level token (no customer, no consent) for `scope`."""
    dpop_key = dpop_key or DPoPKey(clock=server_clock(client))
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope, **client_auth(client, app)},
        headers={"DPoP": dpop_key.proof("POST", "/oauth2/token")},
    )
    return _token_from(response, dpop_key)


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return b64url(hashlib.sha256(self.verifier.encode()).digest())


def push(
    client: TestClient,
    app: PartnerApp,
    scope: str,
    *,
    consent_id: uuid.UUID | str | None = None,
    pkce: Pkce | None = None,
    redirect_uri: str = "https://partner.example/callback",
    state: str | None = "xyz",
    **extra: str,
) -> Any:
    """POST /oauth2/par for `app` (the response, for the caller to check)."""
    pkce = pkce or Pkce()
    form: dict[str, str] = {
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **client_auth(client, app),
        **extra,
    }
    if state is not None:
        form["state"] = state
    if consent_id is not None:
        form["consent_id"] = str(consent_id)
    return client.post("/oauth2/par", data=form)


def approved_code(
    client: TestClient,
    db: Database,
    app: PartnerApp,
    request_uri: str,
    customer_id: uuid.UUID | str,
    clock: Clock | None = None,
) -> str:
    """Stand in for the customer approving on the pages: the code of the redirect."""
    now = (clock or server_clock(client)).now()

    def approve(session: Session) -> str:
        found = oauth.authorization_request(session, app.client_id, request_uri, now)
        return oauth.approve(session, found.id, uuid.UUID(str(customer_id)), now)

    redirect = unit_of_work(db, approve)
    return parse_qs(urlsplit(redirect).query)["code"][0]


def redeem(
    client: TestClient,
    app: PartnerApp,
    code: str,
    pkce: Pkce,
    dpop_key: DPoPKey,
    redirect_uri: str = "https://partner.example/callback",
) -> Any:
    """POST /oauth2/token with the code (the response, for the caller to check)."""
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.verifier,
            **client_auth(client, app),
        },
        headers={"DPoP": dpop_key.proof("POST", "/oauth2/token")},
    )


def customer_token(
    client: TestClient,
    db: Database,
    clock: Clock,
    app: PartnerApp,
    customer_id: uuid.UUID | str,
    consent_id: uuid.UUID | str | None,
    scope: str,
    dpop_key: DPoPKey | None = None,
    *,
    e_account_ids: Sequence[uuid.UUID] | None = None,
    permissions: Sequence[Permission] | None = None,
) -> Token:
    """A customer token, the way the bank's pages make one: PAR over HTTP naming the consent
    (which must still await authorisation), the customer authorising it (at the service
    layer: `e_account_ids` default to all their active e-accounts, `permissions` to all the
    consent asks for) and approving the request, then the code redeemed with DPoP.
    Scopes without a consent (lending) pass consent_id=None."""
    pkce = Pkce()
    pushed = push(client, app, scope, consent_id=consent_id, pkce=pkce)
    assert pushed.status_code == 201, pushed.text
    customer = uuid.UUID(str(customer_id))
    if consent_id is not None:
        consent = uuid.UUID(str(consent_id))

        def authorise(session: Session) -> None:
            asked = consents.get_consent(session, consent)
            if asked.status != "awaiting_authorisation":
                return
            accounts = e_account_ids
            if accounts is None:
                accounts = [a.e_account_id for a in consents.accounts_to_choose(session, customer)]
            consents.authorise(
                session,
                consent,
                asked.app_id,
                customer,
                accounts,
                permissions if permissions is not None else asked.permissions,
                clock.now(),
            )

        unit_of_work(db, authorise)
    code = approved_code(client, db, app, pushed.json()["request_uri"], customer, clock)
    dpop_key = dpop_key or DPoPKey(clock=clock)
    return _token_from(redeem(client, app, code, pkce, dpop_key), dpop_key)


def auth_headers(token: Token, method: str, url: str) -> dict[str, str]:
    """Authorization + DPoP headers of a resource call (`url` may be relative)."""
    return {
        "Authorization": f"DPoP {token.access_token}",
        "DPoP": token.dpop_key.proof(method, url, token.access_token),
    }

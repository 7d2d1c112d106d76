"""Partners and apps for platform tests: an onboarded partner, an app with its own key pair
(ES256 by default) and subscriptions, created through the operator API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.customers.helpers import PHONE, credit_code

Key = ECKey | RSAKey | OKPKey
REDIRECT_URI = "https://partner.example/callback"


def new_key(alg: str = "ES256") -> Key:
    """A fresh private key for `alg` (ES256, PS256 or EdDSA), with a kid."""
    kid = uuid.uuid4().hex[:16]
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256"})
    if alg == "PS256":
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "PS256"})
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters={"kid": kid, "alg": "EdDSA"})
    raise ValueError(alg)


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


@dataclass
class PartnerApp:
    partner_id: str
    app_id: str  # also the client_id
    key: Key  # the app's private key (private_key_jwt); its public half is registered
    environment: str

    @property
    def client_id(self) -> str:
        return self.app_id


def create_partner(client: TestClient, **fields: Any) -> str:
    body = {
        "legal_name": "测试电商平台有限公司",
        "unified_social_credit_code": credit_code(),
        "contact_name": "李四",
        "contact_email": "dev@partner.example",
        "contact_phone": PHONE,
        **fields,
    }
    response = client.post("/v1/partners", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_app(
    client: TestClient,
    partner_id: str | None = None,
    products: tuple[str, ...] = ("e_accounts", "payments"),
    environment: str = "sandbox",
    alg: str = "ES256",
    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
) -> PartnerApp:
    """An app (of a new partner unless one is named) with a fresh key pair."""
    partner_id = partner_id or create_partner(client)
    key = new_key(alg)
    response = client.post(
        f"/v1/partners/{partner_id}/apps",
        json={
            "name": "测试应用",
            "environment": environment,
            "redirect_uris": list(redirect_uris),
            "jwks": public_jwks(key),
            "products": list(products),
        },
    )
    assert response.status_code == 201, response.text
    return PartnerApp(
        partner_id=partner_id,
        app_id=str(response.json()["id"]),
        key=key,
        environment=environment,
    )

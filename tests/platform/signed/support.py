"""A partner's side of the signed gateway, written the way a partner's SDK would: keys made
with `cryptography` (RSA) and gmssl (SM2), the string to sign built here by the documented
rule, biz_content encrypted with the documented ciphers, answers checked with the bank's
public keys. Independent of the code under test except the SM2 helpers."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient

from openbank.core.clock import Clock
from openbank.core.settings import Settings
from openbank.platform.signed import crypto
from tests.customers.helpers import card_number, resident_id
from tests.platform.support import PartnerApp, create_app

_phones = itertools.count(secrets.randbelow(10**7))


def new_phone() -> str:
    """A mobile number no other test uses (one-time codes are per phone)."""
    return f"139{next(_phones) % 10**8:08d}"


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_public_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def string_to_sign(params: dict[str, str]) -> bytes:
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != ""
    ).encode()


@dataclass
class SignedApp:
    """An app with signed-gateway credentials, holding the partner's private keys."""

    app: PartnerApp
    rsa: rsa.RSAPrivateKey
    sm2_private: str
    sm2_public: str
    bank_rsa_public: str
    bank_sm2_public: str
    encryption: str
    encryption_key: bytes | None

    @property
    def app_id(self) -> str:
        return self.app.app_id


def signed_app(
    client: TestClient,
    products: tuple[str, ...] = ("e_accounts",),
    encryption: str = "none",
    environment: str = "sandbox",
    register: tuple[str, ...] = ("RSA2", "SM2"),
) -> SignedApp:
    app = create_app(client, products=products, environment=environment)
    key = rsa_key()
    sm2_private, sm2_public = crypto.generate_sm2_key()
    body: dict[str, Any] = {"encryption": encryption}
    if "RSA2" in register:
        body["rsa_public_key"] = rsa_public_b64(key)
    if "SM2" in register:
        body["sm2_public_key"] = "04" + sm2_public
    response = client.put(f"/v1/apps/{app.app_id}/gateway-credentials", json=body)
    assert response.status_code == 200, response.text
    issued = response.json()
    raw_key = issued["encryption_key"]
    return SignedApp(
        app=app,
        rsa=key,
        sm2_private=sm2_private,
        sm2_public=sm2_public,
        bank_rsa_public=issued["bank_rsa_public_key"],
        bank_sm2_public=issued["bank_sm2_public_key"],
        encryption=encryption,
        encryption_key=base64.b64decode(raw_key) if raw_key else None,
    )


def encrypt(encrypt_type: str, key: bytes, text: str) -> str:
    data = text.encode()
    if encrypt_type == "AES":
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, data, None)).decode()
    iv = secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt(encrypt_type: str, key: bytes, text: str) -> str:
    blob = base64.b64decode(text)
    if encrypt_type == "AES":
        return AESGCM(key).decrypt(blob[:12], blob[12:], None).decode()
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(blob[:16])).decryptor()
    padded = decryptor.update(blob[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


def timestamp(client: TestClient, at: datetime | None = None) -> str:
    clock: Clock = client.app.state.clock  # type: ignore[attr-defined]
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return (at or clock.now()).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S")


def sign_params(sapp: SignedApp, params: dict[str, str], sign_type: str) -> str:
    data = string_to_sign(params)
    if sign_type == "RSA2":
        signature = sapp.rsa.sign(data, asym_padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()
    return crypto.sign_sm2(sapp.sm2_private, data)


WRITES = frozenset(
    {"openbank.eaccount.open", "openbank.eaccount.topup", "openbank.eaccount.withdraw"}
)


def request_params(
    client: TestClient,
    sapp: SignedApp,
    method: str,
    biz: dict[str, Any],
    sign_type: str = "RSA2",
    encrypt_type: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The signed parameters of a request; `overrides` replace any before signing. A write
    without an `out_request_no` gets one derived from its method and content, as a partner's
    SDK would number a request once and keep the number across its retries."""
    if method in WRITES and "out_request_no" not in biz:
        digest = hashlib.sha256(json.dumps([method, biz], sort_keys=True).encode()).hexdigest()
        biz = {**biz, "out_request_no": f"t{digest[:31]}"}
    biz_content = json.dumps(biz, ensure_ascii=False)
    if encrypt_type is None and sapp.encryption != "none":
        encrypt_type = sapp.encryption
    params = {
        "app_id": sapp.app_id,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": sign_type,
        "timestamp": timestamp(client),
        "version": "1.0",
        "nonce": secrets.token_hex(16),
        "biz_content": biz_content,
    }
    if encrypt_type is not None:
        assert sapp.encryption_key is not None
        params["encrypt_type"] = encrypt_type
        params["biz_content"] = encrypt(encrypt_type, sapp.encryption_key, biz_content)
    params.update(overrides)
    params["sign"] = sign_params(sapp, params, sign_type)
    return params


def post(client: TestClient, params: dict[str, str], as_json: bool = False) -> httpx.Response:
    response: httpx.Response
    if as_json:
        response = client.post("/v1/gateway", json=params)
    else:
        response = client.post(
            "/v1/gateway",
            content=urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    return response


def call(
    client: TestClient,
    sapp: SignedApp,
    method: str,
    biz: dict[str, Any],
    sign_type: str = "RSA2",
    **overrides: str,
) -> httpx.Response:
    return post(client, request_params(client, sapp, method, biz, sign_type, **overrides))


def bank_signature_ok(sapp: SignedApp, response: httpx.Response) -> bool:
    """Whether the answer's X-Openbank-Sign verifies with the bank's public key for the app."""
    signature = response.headers.get("X-Openbank-Sign")
    if signature is None:
        return False
    if response.headers["X-Openbank-Sign-Type"] == "RSA2":
        der = base64.b64decode(sapp.bank_rsa_public)
        public = serialization.load_der_public_key(der)
        assert isinstance(public, rsa.RSAPublicKey)
        try:
            public.verify(
                base64.b64decode(signature),
                response.content,
                asym_padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return False
        return True
    return crypto.verify_sm2(sapp.bank_sm2_public, response.content, signature)


def data_of(sapp: SignedApp, response: httpx.Response) -> dict[str, Any]:
    """The `data` of a successful, signed answer (decrypted when the app encrypts)."""
    assert response.status_code == 200, response.text
    assert bank_signature_ok(sapp, response)
    body = response.json()
    assert (body["code"], body["msg"]) == ("10000", "Success")
    data = body["data"]
    if sapp.encryption != "none":
        assert isinstance(data, str)
        assert sapp.encryption_key is not None
        data = json.loads(decrypt(sapp.encryption, sapp.encryption_key, data))
    assert isinstance(data, dict)
    return data


@dataclass
class Opened:
    customer_id: str
    e_account_id: str
    consent_id: str
    phone: str
    id_number: str


def open_account(
    client: TestClient,
    sapp: SignedApp,
    sign_type: str = "RSA2",
    name: str = "王五",
    id_number: str | None = None,
    phone: str | None = None,
) -> Opened:
    """A class II e-account opened through the gateway (code sent, then the opening)."""
    phone = phone or new_phone()
    id_number = id_number or resident_id()
    challenge = data_of(sapp, call(client, sapp, "openbank.otp.send", {"phone": phone}, sign_type))
    opened = data_of(
        sapp,
        call(
            client,
            sapp,
            "openbank.eaccount.open",
            {
                "name": name,
                "id_number": id_number,
                "phone": phone,
                "otp_challenge_id": challenge["challenge_id"],
                "otp_code": challenge["sandbox_code"],
                "bound_card": {"number": card_number(), "bank_name": "中国工商银行"},
                "out_user_id": "user-1",
            },
            sign_type,
        ),
    )
    return Opened(
        customer_id=opened["customer_id"],
        e_account_id=opened["e_account_id"],
        consent_id=opened["consent_id"],
        phone=phone,
        id_number=id_number,
    )

"""Partners, apps and subscriptions, operators: the platform's public face.

Other contexts and the platform's own sub-areas (oauth, consents, gateway, webhooks, signed)
read apps through `get_app` / `active_app`; nobody else queries these tables."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbank.core.ids import new_id
from openbank.customers import service as customers
from openbank.platform import models
from openbank.platform.errors import (
    AppNotFound,
    InvalidCredentials,
    InvalidJwks,
    InvalidRedirectUri,
    OperatorExists,
    PartnerExists,
    PartnerNotActive,
    PartnerNotFound,
    UnknownProduct,
)
from openbank.platform.schemas import (
    App,
    AppCreate,
    Operator,
    OperatorCreate,
    OperatorSession,
    Partner,
    PartnerCreate,
)
from openbank.platform.scopes import PRODUCTS, allowed_scopes

# Only these signature algorithms cross the bank's boundary (FAPI 2.0; never HS256 or RS256).
ACCEPTED_ALGORITHMS = ("PS256", "ES256", "EdDSA")
OPERATOR_SESSION_LIFETIME = timedelta(hours=8)
_hasher = PasswordHasher()


# -- partners -------------------------------------------------------------------------------


def _partner_out(row: models.Partner) -> Partner:
    return Partner.model_validate(row, from_attributes=True)


def create_partner(session: Session, spec: PartnerCreate, now: datetime) -> Partner:
    # Refusals keep the customers context's codes (invalid_credit_code, invalid_phone).
    code = customers.validate_credit_code(spec.unified_social_credit_code)
    phone = customers.validate_mobile_phone(spec.contact_phone)
    if session.execute(
        select(models.Partner.id).where(models.Partner.unified_social_credit_code == code)
    ).first():
        raise PartnerExists(unified_social_credit_code=code)
    row = models.Partner(
        id=new_id(),
        legal_name=spec.legal_name,
        unified_social_credit_code=code,
        contact_name=spec.contact_name,
        contact_email=spec.contact_email,
        contact_phone=phone,
        status="active",
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent onboarding of the same code
        raise PartnerExists(unified_social_credit_code=code) from exc
    return _partner_out(row)


def _partner(session: Session, partner_id: uuid.UUID) -> models.Partner:
    row = session.get(models.Partner, partner_id)
    if row is None:
        raise PartnerNotFound(f"no partner {partner_id}")
    return row


def get_partner(session: Session, partner_id: uuid.UUID) -> Partner:
    return _partner_out(_partner(session, partner_id))


def list_partners(session: Session) -> list[Partner]:
    rows = session.execute(select(models.Partner).order_by(models.Partner.id)).scalars()
    return [_partner_out(row) for row in rows]


def set_partner_status(session: Session, partner_id: uuid.UUID, status: str) -> Partner:
    """Suspending or offboarding a partner stops all of its apps at their next call."""
    row = _partner(session, partner_id)
    row.status = status
    session.flush()
    return _partner_out(row)


# -- apps -----------------------------------------------------------------------------------


def _check_redirect_uri(uri: str, environment: str) -> str:
    parts = urlsplit(uri)
    local = parts.hostname in {"localhost", "127.0.0.1"}
    # http only to a sandbox app's own machine (developers' local callbacks).
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and local and environment == "sandbox"
    )
    if not secure or not parts.hostname or parts.fragment:
        raise InvalidRedirectUri(f"not an acceptable redirect URI: {uri}", redirect_uri=uri)
    return uri


def _rsa_bits(raw: object) -> int:
    return raw.key_size if isinstance(raw, rsa.RSAPublicKey) else 0


def validate_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """A public JWKS of PS256 (RSA ≥ 2048), ES256 (P-256) or EdDSA (Ed25519) keys, with kids."""
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidJwks(f"the JWKS does not parse: {exc}") from exc
    if not key_set.keys:
        raise InvalidJwks("the JWKS holds no keys")
    for key in key_set.keys:
        fields = key.as_dict(private=False)
        kid = fields.get("kid")
        if not kid:
            raise InvalidJwks("every key needs a kid")
        if key.is_private:
            raise InvalidJwks(f"key {kid} is a private key; register public keys only")
        alg = fields.get("alg")
        kty, crv = fields.get("kty"), fields.get("crv")
        fits = (
            (kty == "RSA" and alg in (None, "PS256") and _rsa_bits(key.raw_value) >= 2048)
            or (kty == "EC" and crv == "P-256" and alg in (None, "ES256"))
            or (kty == "OKP" and crv == "Ed25519" and alg in (None, "EdDSA", "Ed25519"))
        )
        if not fits:
            raise InvalidJwks(
                f"key {kid} ({kty} {crv or ''} {alg or ''}) is not a PS256, ES256 or EdDSA key"
            )
    return {"keys": [key.as_dict(private=False) for key in key_set.keys]}


def _products(session: Session, app_id: uuid.UUID) -> list[str]:
    return sorted(
        session.execute(
            select(models.Subscription.product).where(models.Subscription.app_id == app_id)
        ).scalars()
    )


def _app_out(row: models.App, products: list[str]) -> App:
    return App(
        id=row.id,
        client_id=str(row.id),
        partner_id=row.partner_id,
        name=row.name,
        environment=row.environment,
        redirect_uris=row.redirect_uris,
        jwks=row.jwks,
        jwks_uri=row.jwks_uri,
        status=row.status,
        products=products,
        scopes=sorted(allowed_scopes(set(products))),
        created_at=row.created_at,
    )


def _check_products(products: list[str]) -> list[str]:
    unknown = sorted(set(products) - set(PRODUCTS))
    if unknown:
        raise UnknownProduct(f"unknown products: {', '.join(unknown)}", known=list(PRODUCTS))
    return sorted(set(products))


def create_app(session: Session, partner_id: uuid.UUID, spec: AppCreate, now: datetime) -> App:
    partner = _partner(session, partner_id)
    if partner.status != "active":
        raise PartnerNotActive()
    if spec.jwks is None and spec.jwks_uri is None:
        raise InvalidJwks("an app needs a jwks or a jwks_uri for private_key_jwt")
    jwks = validate_jwks(spec.jwks) if spec.jwks is not None else None
    if spec.jwks_uri is not None:
        _check_redirect_uri(spec.jwks_uri, "production")
    products = _check_products(spec.products)
    row = models.App(
        id=new_id(),
        partner_id=partner.id,
        name=spec.name,
        environment=spec.environment,
        redirect_uris=[_check_redirect_uri(uri, spec.environment) for uri in spec.redirect_uris],
        jwks=jwks,
        jwks_uri=spec.jwks_uri,
        status="active",
        created_at=now,
    )
    session.add(row)
    session.flush()
    session.add_all(models.Subscription(app_id=row.id, product=p, created_at=now) for p in products)
    session.flush()
    return _app_out(row, products)


def _app(session: Session, app_id: uuid.UUID) -> models.App:
    row = session.get(models.App, app_id)
    if row is None:
        raise AppNotFound(f"no app {app_id}")
    return row


def get_app(session: Session, app_id: uuid.UUID) -> App:
    row = _app(session, app_id)
    return _app_out(row, _products(session, row.id))


def parse_client_id(client_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(client_id)
    except ValueError:
        return None


def subscribed_products(app_id: Any) -> Any:
    """A scalar subquery of the products an app (id or id column) subscribes to, as an array:
    lets a caller fold the app's subscriptions into a statement it runs anyway."""
    return (
        select(func.coalesce(func.array_agg(models.Subscription.product), text("'{}'")))
        .where(models.Subscription.app_id == app_id)
        .scalar_subquery()
    )


def usable_app(row: models.App | None, partner_status: str | None, products: list[str]) -> App:
    """The app of a row read with its partner's status, if both may call the bank now;
    otherwise AppNotFound (401/404 to the caller, never a hint that a disabled app exists)."""
    if row is None or row.status != "active" or partner_status != "active":
        raise AppNotFound("no such active app")
    return _app_out(row, sorted(products))


def active_app(session: Session, app_id: uuid.UUID) -> App:
    """The app, if it and its partner may call the bank now (one round trip)."""
    found = session.execute(
        select(models.App, models.Partner.status, subscribed_products(models.App.id))
        .join(models.Partner, models.Partner.id == models.App.partner_id)
        .where(models.App.id == app_id)
    ).first()
    if found is None:
        raise AppNotFound(f"no active app {app_id}")
    return usable_app(found[0], found[1], found[2])


def list_apps(session: Session, partner_id: uuid.UUID) -> list[App]:
    _partner(session, partner_id)
    rows = session.execute(
        select(models.App).where(models.App.partner_id == partner_id).order_by(models.App.id)
    ).scalars()
    return [_app_out(row, _products(session, row.id)) for row in rows]


def set_app_status(session: Session, app_id: uuid.UUID, status: str) -> App:
    row = _app(session, app_id)
    row.status = status
    session.flush()
    return _app_out(row, _products(session, row.id))


def set_subscriptions(
    session: Session, app_id: uuid.UUID, products: list[str], now: datetime
) -> App:
    """Replace the app's subscriptions; scopes of a dropped product stop at the next call."""
    row = _app(session, app_id)
    wanted = _check_products(products)
    session.query(models.Subscription).filter(models.Subscription.app_id == app_id).delete()
    session.add_all(models.Subscription(app_id=app_id, product=p, created_at=now) for p in wanted)
    session.flush()
    return _app_out(row, wanted)


# -- operators ------------------------------------------------------------------------------


def _operator_out(row: models.Operator) -> Operator:
    return Operator.model_validate(row, from_attributes=True)


def create_operator(session: Session, spec: OperatorCreate, now: datetime) -> Operator:
    if session.execute(
        select(models.Operator.id).where(models.Operator.username == spec.username)
    ).first():
        raise OperatorExists(username=spec.username)
    row = models.Operator(
        id=new_id(),
        username=spec.username,
        password_hash=_hasher.hash(spec.password),
        roles=sorted(set(spec.roles)),
        status="active",
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise OperatorExists(username=spec.username) from exc
    return _operator_out(row)


def list_operators(session: Session) -> list[Operator]:
    rows = session.execute(select(models.Operator).order_by(models.Operator.id)).scalars()
    return [_operator_out(row) for row in rows]


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def sign_in_operator(
    session: Session, username: str, password: str, now: datetime
) -> OperatorSession:
    """A bearer token for eight hours; the same answer for an unknown name and a wrong
    password, and a hash check in both cases so timing tells nothing."""
    row = session.execute(
        select(models.Operator).where(models.Operator.username == username)
    ).scalar_one_or_none()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except VerificationError as exc:
        raise InvalidCredentials() from exc
    if row is None or row.status != "active":
        raise InvalidCredentials()
    token = secrets.token_urlsafe(32)
    expires_at = now + OPERATOR_SESSION_LIFETIME
    session.add(
        models.OperatorSession(
            token_sha256=_token_digest(token),
            operator_id=row.id,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    session.flush()
    return OperatorSession(access_token=token, expires_at=expires_at, operator=_operator_out(row))


_DUMMY_HASH = _hasher.hash("not a password anyone has")


def operator_for_token(session: Session, token: str, now: datetime) -> Operator | None:
    """The signed-in operator a bearer token belongs to, or None."""
    found = session.execute(
        select(models.Operator)
        .join(models.OperatorSession, models.OperatorSession.operator_id == models.Operator.id)
        .where(
            models.OperatorSession.token_sha256 == _token_digest(token),
            models.OperatorSession.revoked_at.is_(None),
            models.OperatorSession.expires_at > now,
            models.Operator.status == "active",
        )
    ).scalar_one_or_none()
    return _operator_out(found) if found is not None else None


def sign_out_operator(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(models.OperatorSession)
        .where(models.OperatorSession.token_sha256 == _token_digest(token))
        .values(revoked_at=now)
    )

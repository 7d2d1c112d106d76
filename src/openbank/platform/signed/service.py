"""The signed gateway (POST /v1/gateway): app_id + timestamp + nonce + biz_content, signed with
RSA2 or SM2, optionally encrypted with AES or SM4, for partners used to Chinese bank open
platforms. Behind it sit the same service functions, checks and rate limits as the OAuth path.

A request is checked in a fixed order and refused at the first failure, each with its own
problem code: parameters (400 invalid_parameter), app (401 invalid_app), signature (401
invalid_signature), timestamp (401 stale_request), nonce (401 replayed_request), encryption
(400 encryption_required / decryption_failed), method (400 unknown_method), scope (403
insufficient_scope), rate limit (429); then the method runs. The signature is checked before
the timestamp and the nonce, so only the app itself can spend its nonces.

Every answer, success or problem, is signed by the bank with its own key for the app and the
request's sign type (headers X-Openbank-Sign-Type, X-Openbank-Sign), over the exact body bytes.
An answer to a request whose app_id names no app the bank has keys for cannot be signed: it
carries X-Openbank-Sign-Type but no X-Openbank-Sign.

Idempotency. The nonce makes every signed request single-use: it is recorded in a transaction
of its own before the method runs, so a replay is refused even when the first attempt failed
(a failed transfer must not succeed when an eavesdropper replays it later). Retrying a POST
that moves money or opens an account is therefore a NEW signed request (new nonce, new
timestamp); to make such retries safe the partner sends `out_request_no` in biz_content, as
with out_trade_no on Alipay: the first result for (app, out_request_no) is stored with the
work in one transaction (the shared kernel's idempotency records, scope `signed:<app_id>`,
kept `gateway_idempotency_hours`) and replayed for the same method and biz_content; another
request with the same number is 409 idempotency_key_reused. The gateway's
partner_idempotent_post is not used because it is keyed by the Idempotency-Key header and the
request path, which a signed request does not have.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.idempotency import request_fingerprint, run_once
from openbank.core.settings import Settings
from openbank.platform import service as platform
from openbank.platform.consents import service as consents
from openbank.platform.consents.schemas import TransactionPage
from openbank.platform.errors import AppNotFound
from openbank.platform.gateway import service as gateway
from openbank.platform.onboarding import service as onboarding
from openbank.platform.onboarding.schemas import EAccountOpen, OtpChallengeCreate
from openbank.platform.principal import PartnerCall
from openbank.platform.schemas import App
from openbank.platform.scopes import product_of_scope
from openbank.platform.signed import crypto, models
from openbank.platform.signed.errors import (
    CredentialsNotFound,
    DecryptionFailed,
    EncryptionRequired,
    InsufficientScope,
    InvalidApp,
    InvalidParameter,
    InvalidPublicKey,
    InvalidSignature,
    ReplayedRequest,
    StaleRequest,
    UnknownMethod,
)
from openbank.platform.signed.schemas import (
    AccountQuery,
    FundsMove,
    GatewayCredentials,
    GatewayCredentialsIssued,
    GatewayCredentialsSet,
    OutRequestNo,
    TransactionsQuery,
)

MAX_BODY_BYTES = 64 * 1024
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
NONCE = re.compile(r"[0-9A-Za-z_-]{8,64}")
REQUIRED = ("app_id", "method", "charset", "sign_type", "timestamp", "version", "nonce", "sign")
IDEMPOTENCY_SCOPE = "signed:{app_id}"
SUCCESS_CODE = "10000"
# About one request in this many also purges nonces older than the replay window.
PURGE_ONE_IN = 64

Encryption = Literal["none", "AES", "SM4"]


# -- credentials ----------------------------------------------------------------------------


def _credentials_out(row: models.GatewayCredentials) -> GatewayCredentials:
    return GatewayCredentials(
        app_id=row.app_id,
        rsa_public_key=row.rsa_public_key,
        sm2_public_key=row.sm2_public_key,
        encryption=cast(Encryption, row.encryption),
        bank_rsa_public_key=row.bank_rsa_public_key,
        bank_sm2_public_key=row.bank_sm2_public_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _locked_row(session: Session, app_id: uuid.UUID) -> models.GatewayCredentials | None:
    return session.execute(
        select(models.GatewayCredentials)
        .where(models.GatewayCredentials.app_id == app_id)
        .with_for_update()
    ).scalar_one_or_none()


def set_credentials(
    session: Session, app_id: uuid.UUID, spec: GatewayCredentialsSet, now: datetime
) -> GatewayCredentialsIssued:
    """Register the app's public keys and choose its encryption.

    The first call also makes the bank's own RSA2 and SM2 key pairs for the app (kept across
    later calls, so partners do not re-download them). A symmetric key is issued when
    encryption is switched on or changed, or on request, and shown in this answer only."""
    platform.get_app(session, app_id)  # 404 app_not_found
    try:
        rsa_key = (
            crypto.rsa_public_key_b64(crypto.load_rsa_public_key(spec.rsa_public_key))
            if spec.rsa_public_key
            else None
        )
        sm2_key = crypto.sm2_public_key(spec.sm2_public_key) if spec.sm2_public_key else None
    except crypto.InvalidKey as exc:
        raise InvalidPublicKey(str(exc)) from exc
    if rsa_key is None and sm2_key is None:
        raise InvalidPublicKey("give the app's rsa_public_key, sm2_public_key, or both")
    row = _locked_row(session, app_id)
    if row is None:
        rsa_private, rsa_public = crypto.generate_rsa_key()
        sm2_private, sm2_public = crypto.generate_sm2_key()
        session.execute(
            insert(models.GatewayCredentials)
            .values(
                app_id=app_id,
                encryption="none",
                encryption_key=None,
                bank_rsa_private_key=rsa_private,
                bank_rsa_public_key=rsa_public,
                bank_sm2_private_key=sm2_private,
                bank_sm2_public_key=sm2_public,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()  # a concurrent first call: theirs stands, update it
        )
        row = _locked_row(session, app_id)
        assert row is not None
    new_key: bytes | None = None
    if spec.encryption == "none":
        row.encryption_key = None
    elif spec.encryption != row.encryption or spec.rotate_encryption_key:
        new_key = crypto.new_encryption_key(spec.encryption)
        row.encryption_key = new_key
    row.encryption = spec.encryption
    row.rsa_public_key = rsa_key
    row.sm2_public_key = sm2_key
    row.updated_at = now
    session.flush()
    return GatewayCredentialsIssued(
        **_credentials_out(row).model_dump(),
        encryption_key=base64.b64encode(new_key).decode() if new_key is not None else None,
    )


def get_credentials(session: Session, app_id: uuid.UUID) -> GatewayCredentials:
    """The app's gateway keys without secrets (no symmetric key, no bank private keys)."""
    platform.get_app(session, app_id)
    row = session.get(models.GatewayCredentials, app_id)
    if row is None:
        raise CredentialsNotFound()
    return _credentials_out(row)


# -- the answer -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signer:
    """The bank's private keys for one app: every answer to it is signed with one of them."""

    rsa_private_key: str
    sm2_private_key: str
    sm2_public_key: str

    def sign(self, sign_type: crypto.SignType, body: bytes) -> str:
        if sign_type == "RSA2":
            return crypto.sign_rsa2(self.rsa_private_key, body)
        return crypto.sign_sm2(self.sm2_private_key, body, self.sm2_public_key)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the router sends: status, the exact body bytes, the headers (signature included),
    and, once the request was authenticated, the PartnerCall (for audit and rate limits)."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str]
    call: PartnerCall | None
    problem_code: str | None


def _dump(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document)


def _reply(
    status: int,
    document: Mapping[str, Any],
    sign_type: crypto.SignType,
    signer: Signer | None,
    call: PartnerCall | None,
    problem_code: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Reply:
    body = _dump(document)
    headers = {"X-Openbank-Sign-Type": sign_type, **(extra_headers or {})}
    if signer is not None:
        headers["X-Openbank-Sign"] = signer.sign(sign_type, body)
    return Reply(
        status=status,
        body=body,
        media_type="application/problem+json" if problem_code else "application/json",
        headers=headers,
        call=call,
        problem_code=problem_code,
    )


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    params: dict[str, str]
    app_id: uuid.UUID
    method: str
    sign_type: crypto.SignType
    timestamp: datetime
    nonce: str
    encrypt_type: crypto.EncryptType | None
    biz_content: str
    sign: str


def parse_params(body: bytes, content_type: str | None) -> dict[str, str]:
    """The request's parameters from a form (application/x-www-form-urlencoded) or a JSON
    object of strings; each name once."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidParameter(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    media = (content_type or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("the request body is not UTF-8") from None
    pairs: list[tuple[str, Any]]
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except ValueError:
            raise InvalidParameter("the form does not parse") from None
    elif media == "application/json":
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise InvalidParameter("the JSON body does not parse") from None
        if not isinstance(document, dict):
            raise InvalidParameter("the JSON body must be an object of strings")
        pairs = list(document.items())
    else:
        raise InvalidParameter(
            "send application/x-www-form-urlencoded or application/json",
            content_type=media or None,
        )
    params: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(value, str):
            raise InvalidParameter(f"{name} must be a string", parameter=name)
        if name in params:
            raise InvalidParameter(f"{name} is given twice", parameter=name)
        params[name] = value
    return params


def _parameter(params: Mapping[str, str], name: str, ok: bool, expected: str) -> None:
    if not ok:
        raise InvalidParameter(f"{name} must be {expected}", parameter=name)


def validate_params(params: Mapping[str, str], settings: Settings) -> SignedRequest:
    """Check each parameter's presence and form (nothing that needs the app yet)."""
    for name in REQUIRED:
        if not params.get(name):
            raise InvalidParameter(f"{name} is missing", parameter=name)
    if "biz_content" not in params:
        raise InvalidParameter("biz_content is missing", parameter="biz_content")
    app_id = platform.parse_client_id(params["app_id"])
    _parameter(params, "app_id", app_id is not None, "the app's id")
    _parameter(params, "format", params.get("format", "JSON").upper() == "JSON", "JSON")
    _parameter(params, "charset", params["charset"].lower() in ("utf-8", "utf8"), "utf-8")
    _parameter(params, "version", params["version"] == "1.0", "1.0")
    sign_type = params["sign_type"]
    _parameter(params, "sign_type", sign_type in crypto.SIGN_TYPES, "RSA2 or SM2")
    encrypt_type = params.get("encrypt_type") or None
    _parameter(
        params,
        "encrypt_type",
        encrypt_type is None or encrypt_type in crypto.ENCRYPT_TYPES,
        "AES or SM4 (or absent)",
    )
    _parameter(params, "nonce", bool(NONCE.fullmatch(params["nonce"])), "8 to 64 of [0-9A-Za-z_-]")
    _parameter(params, "method", len(params["method"]) <= 128, "at most 128 characters")
    try:
        timestamp = datetime.strptime(params["timestamp"], TIMESTAMP_FORMAT).replace(
            tzinfo=settings.tz
        )
    except ValueError:
        raise InvalidParameter(
            f"timestamp must be yyyy-MM-dd HH:mm:ss in {settings.bank_timezone}",
            parameter="timestamp",
        ) from None
    assert app_id is not None
    return SignedRequest(
        params=dict(params),
        app_id=app_id,
        method=params["method"],
        sign_type=cast(crypto.SignType, sign_type),
        timestamp=timestamp,
        nonce=params["nonce"],
        encrypt_type=cast(crypto.EncryptType | None, encrypt_type),
        biz_content=params["biz_content"],
        sign=params["sign"],
    )


# -- checks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    """What the gateway needs of the app's credentials for one request."""

    rsa_public_key: str | None
    sm2_public_key: str | None
    encryption: Encryption
    encryption_key: bytes | None
    signer: Signer


def _keys(row: models.GatewayCredentials) -> Keys:
    return Keys(
        rsa_public_key=row.rsa_public_key,
        sm2_public_key=row.sm2_public_key,
        encryption=cast(Encryption, row.encryption),
        encryption_key=row.encryption_key,
        signer=Signer(row.bank_rsa_private_key, row.bank_sm2_private_key, row.bank_sm2_public_key),
    )


def _load_keys(session: Session, app_id: uuid.UUID) -> Keys | None:
    row = session.get(models.GatewayCredentials, app_id)
    return _keys(row) if row is not None else None


def _load_app(session: Session, app_id: uuid.UUID) -> tuple[App, Keys | None]:
    try:
        app = platform.active_app(session, app_id)
    except AppNotFound:
        raise InvalidApp() from None
    return app, _load_keys(session, app_id)


def verify_signature(request: SignedRequest, keys: Keys | None) -> None:
    public_key = None
    if keys is not None:
        public_key = keys.rsa_public_key if request.sign_type == "RSA2" else keys.sm2_public_key
    if public_key is None:
        raise InvalidSignature(f"the app has no {request.sign_type} public key registered")
    if not crypto.verify(
        request.sign_type, public_key, crypto.canonical_string(request.params), request.sign
    ):
        raise InvalidSignature()


def check_timestamp(request: SignedRequest, now: datetime, settings: Settings) -> None:
    skew = timedelta(seconds=settings.gateway_signature_max_skew_seconds)
    if abs(now - request.timestamp) > skew:
        raise StaleRequest(
            f"timestamp is more than {settings.gateway_signature_max_skew_seconds} s from the"
            f" bank's clock ({now.astimezone(settings.tz):{TIMESTAMP_FORMAT}})",
            server_time=f"{now.astimezone(settings.tz):{TIMESTAMP_FORMAT}}",
        )


def replay_window(settings: Settings) -> timedelta:
    """How long a nonce is remembered: any request stamped within the skew of now was first
    seen at most twice the skew ago."""
    return timedelta(seconds=2 * settings.gateway_signature_max_skew_seconds)


def claim_nonce(
    session: Session, app_id: uuid.UUID, nonce: str, now: datetime, settings: Settings
) -> None:
    """Record the nonce or refuse a replay, in one statement: of two concurrent requests with
    one nonce the second waits for the first's row and then finds it taken. A row older than
    the replay window no longer counts (it is taken over, as if purged)."""
    statement = insert(models.GatewayNonce).values(app_id=app_id, nonce=nonce, seen_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[models.GatewayNonce.app_id, models.GatewayNonce.nonce],
        set_={"seen_at": statement.excluded.seen_at},
        where=models.GatewayNonce.seen_at < now - replay_window(settings),
    )
    if session.execute(statement.returning(models.GatewayNonce.nonce)).first() is None:
        raise ReplayedRequest()


def purge_nonces(session: Session, now: datetime, settings: Settings) -> int:
    """Forget nonces older than the replay window (a request that old is refused as stale)."""
    result = session.execute(
        delete(models.GatewayNonce).where(
            models.GatewayNonce.seen_at < now - replay_window(settings)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def decrypt_biz_content(request: SignedRequest, keys: Keys) -> str:
    if keys.encryption == "none":
        if request.encrypt_type is not None:
            raise DecryptionFailed(f"the app has no {request.encrypt_type} key")
        return request.biz_content
    if request.encrypt_type is None:
        raise EncryptionRequired(f"the app's biz_content must be encrypted with {keys.encryption}")
    if request.encrypt_type != keys.encryption or keys.encryption_key is None:
        raise DecryptionFailed(f"the app's encryption is {keys.encryption}")
    try:
        return crypto.decrypt(request.encrypt_type, keys.encryption_key, request.biz_content)
    except crypto.DecryptionFailed as exc:
        raise DecryptionFailed(str(exc)) from exc


def parse_biz_content(text: str) -> dict[str, Any]:
    try:
        document = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        raise InvalidParameter(
            "biz_content is not a JSON object", parameter="biz_content"
        ) from None
    if not isinstance(document, dict):
        raise InvalidParameter("biz_content is not a JSON object", parameter="biz_content")
    return document


# -- methods --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    call: PartnerCall
    now: datetime
    settings: Settings


Handler = Callable[[Session, Context, Any], BaseModel]


@dataclass(frozen=True, slots=True)
class Method:
    """A gateway method: the scope it needs, its biz_content, whether it acts for a customer
    under a consent (then biz_content names the consent), and whether it writes (then
    `out_request_no` makes retries safe)."""

    scope: str
    biz: type[BaseModel]
    handler: Handler
    for_customer: bool = False
    writes: bool = False


class SignedEAccountOpen(EAccountOpen):
    out_request_no: OutRequestNo  # required: a retried opening must not open twice


def _otp_send(session: Session, ctx: Context, biz: OtpChallengeCreate) -> BaseModel:
    return onboarding.send_otp(session, ctx.call, biz, ctx.now)


def _open(session: Session, ctx: Context, biz: SignedEAccountOpen) -> BaseModel:
    spec = EAccountOpen.model_validate(biz.model_dump(exclude={"out_request_no"}))
    return onboarding.open_e_account(session, ctx.call, spec, ctx.now, ctx.settings)


def _balance(session: Session, ctx: Context, biz: AccountQuery) -> BaseModel:
    return consents.get_balance(session, ctx.call, biz.e_account_id, ctx.now)


def _transactions(session: Session, ctx: Context, biz: TransactionsQuery) -> BaseModel:
    lines, next_cursor = consents.list_transactions(
        session, ctx.call, biz.e_account_id, biz.cursor, biz.limit, ctx.now
    )
    return TransactionPage(data=lines, next_cursor=next_cursor)


def _top_up(session: Session, ctx: Context, biz: FundsMove) -> BaseModel:
    return consents.top_up(session, ctx.call, biz.e_account_id, biz.amount, ctx.now, ctx.settings)


def _withdraw(session: Session, ctx: Context, biz: FundsMove) -> BaseModel:
    return consents.withdraw(session, ctx.call, biz.e_account_id, biz.amount, ctx.now, ctx.settings)


METHODS: dict[str, Method] = {
    "openbank.otp.send": Method("e_accounts", OtpChallengeCreate, _otp_send),
    "openbank.eaccount.open": Method("e_accounts", SignedEAccountOpen, _open, writes=True),
    "openbank.eaccount.balance.query": Method(
        "accounts", AccountQuery, _balance, for_customer=True
    ),
    "openbank.eaccount.transactions.query": Method(
        "accounts", TransactionsQuery, _transactions, for_customer=True
    ),
    "openbank.eaccount.topup": Method(
        "e_accounts", FundsMove, _top_up, for_customer=True, writes=True
    ),
    "openbank.eaccount.withdraw": Method(
        "e_accounts", FundsMove, _withdraw, for_customer=True, writes=True
    ),
}


def _biz(method: Method, document: dict[str, Any]) -> BaseModel:
    try:
        return method.biz.model_validate(document)
    except ValidationError as exc:
        problems = [
            {"loc": ["biz_content", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidParameter(
            "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems),
            parameter="biz_content",
            errors=problems,
        ) from None


def _run(
    session: Session,
    method_name: str,
    method: Method,
    biz: BaseModel,
    document: dict[str, Any],
    ctx: Context,
) -> tuple[dict[str, Any], PartnerCall]:
    """The method's work in the caller's transaction; a write with out_request_no runs at most
    once per (app, out_request_no) and its first result is replayed."""
    call = ctx.call
    if method.for_customer:
        # The consent names the customer: the signed path's equivalent of a customer token.
        # Another app's consent, or none, is 404 here, before anything is read.
        assert isinstance(biz, AccountQuery)
        call = consents.call_for_consent(session, call, biz.consent_id, ctx.now)
        ctx = dataclasses.replace(ctx, call=call)

    def work() -> tuple[int, Any]:
        return 200, method.handler(session, ctx, biz).model_dump(mode="json", by_alias=True)

    # Writes carry a required out_request_no (their schemas say so); reads run every time.
    out_request_no: str | None = getattr(biz, "out_request_no", None) if method.writes else None
    _, data, _ = run_once(
        session,
        IDEMPOTENCY_SCOPE.format(app_id=call.app_id),
        out_request_no,
        request_fingerprint(method_name, document),
        work,
        now=ctx.now,
        expired_before=ctx.now - timedelta(hours=ctx.settings.gateway_idempotency_hours),
    )
    return cast(dict[str, Any], data), call


# -- the gateway ----------------------------------------------------------------------------


def handle(
    db: Database, settings: Settings, now: datetime, body: bytes, content_type: str | None
) -> Reply:
    """Check, run and answer one signed request; never raises a DomainError (every refusal
    is a signed problem answer)."""
    sign_type: crypto.SignType = "RSA2"
    app_id: uuid.UUID | None = None
    keys: Keys | None = None
    call: PartnerCall | None = None
    try:
        params = parse_params(body, content_type)
        if params.get("sign_type") in crypto.SIGN_TYPES:
            sign_type = cast(crypto.SignType, params["sign_type"])
        app_id = platform.parse_client_id(params.get("app_id", ""))
        request = validate_params(params, settings)
        app, keys = unit_of_work(db, lambda s: _load_app(s, request.app_id))
        verify_signature(request, keys)
        assert keys is not None
        check_timestamp(request, now, settings)
        unit_of_work(db, lambda s: claim_nonce(s, request.app_id, request.nonce, now, settings))
        if secrets.randbelow(PURGE_ONE_IN) == 0:
            unit_of_work(db, lambda s: purge_nonces(s, now, settings))
        document = parse_biz_content(decrypt_biz_content(request, keys))
        method = METHODS.get(request.method)
        if method is None:
            raise UnknownMethod(f"no method {request.method}", known=sorted(METHODS))
        scopes = frozenset(app.scopes)
        call = PartnerCall(
            app_id=app.id,
            partner_id=app.partner_id,
            environment=app.environment,
            scopes=scopes,
            channel="signed",
        )
        if method.scope not in scopes:
            raise InsufficientScope(
                f"{request.method} needs the {product_of_scope(method.scope)} product"
            )
        gateway.enforce_rate_limit(db, app.id, product_of_scope(method.scope), now)
        biz = _biz(method, document)
        if isinstance(biz, AccountQuery):
            call = dataclasses.replace(call, consent_id=biz.consent_id)
        ctx = Context(call=call, now=now, settings=settings)
        data, call = _dispatch(db, request.method, method, biz, document, ctx)
    except DomainError as exc:
        if keys is None and app_id is not None:
            keys = unit_of_work(db, lambda s: _load_keys(s, app_id))
        return _reply(
            exc.status,
            exc.problem(instance="/v1/gateway"),
            sign_type,
            keys.signer if keys is not None else None,
            call,
            problem_code=exc.code,
            extra_headers=exc.headers,
        )
    payload: Any = data
    if request.encrypt_type is not None and keys.encryption_key is not None:
        payload = crypto.encrypt(request.encrypt_type, keys.encryption_key, _dump(data).decode())
    return _reply(
        200,
        {"code": SUCCESS_CODE, "msg": "Success", "data": payload},
        request.sign_type,
        keys.signer,
        call,
    )


def _dispatch(
    db: Database,
    method_name: str,
    method: Method,
    biz: BaseModel,
    document: dict[str, Any],
    ctx: Context,
) -> tuple[dict[str, Any], PartnerCall]:
    return unit_of_work(db, lambda s: _run(s, method_name, method, biz, document, ctx))

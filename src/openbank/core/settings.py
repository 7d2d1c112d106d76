"""The one settings object. Nothing else in openbank reads environment variables."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENBANK_", env_file=None, extra="ignore")

    home: Path = Field(
        default=Path("~/.openbank"),
        description="Where the embedded PostgreSQL and local state live.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means the embedded server under `home`.",
    )
    admin_token: str = Field(
        default="dev-admin-token",
        description="Bearer token for operator endpoints until operator sign-in exists.",
    )
    bank_timezone: str = Field(default="Asia/Shanghai", description="Time zone of business dates.")
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = Field(default=20, ge=1)
    ledger_batch_max: int = Field(
        default=2000, ge=1, description="Most transfers the ledger writer commits in one batch."
    )
    pending_sweep_seconds: float = Field(
        default=1.0, gt=0, description="How often `serve` releases expired pending transfers."
    )
    # PBoC e-account class limits, in fen.
    class_ii_non_bound_daily_limit: int = Field(default=1_000_000, ge=0)
    class_ii_non_bound_yearly_limit: int = Field(default=20_000_000, ge=0)
    class_iii_balance_limit: int = Field(default=200_000, ge=0)
    class_iii_outflow_daily_limit: int = Field(default=500_000, ge=0)
    class_iii_outflow_yearly_limit: int = Field(default=10_000_000, ge=0)

    # Lending.
    lending_apr_cap: Decimal = Field(
        default=Decimal("0.24"),
        ge=0,
        description="Quotes whose APR (IRR, nominal) is above this are flagged and refused.",
    )
    lending_penalty_rate_multiplier: Decimal = Field(
        default=Decimal("1.5"), ge=1, description="Overdue penalty rate = contract rate × this."
    )
    lending_allocation_order: str = Field(
        default="penalty,fee,interest,principal",
        description="Order in which a repayment pays down what is due.",
    )
    lending_debt_to_income_cap: Decimal = Field(
        default=Decimal("0.55"), gt=0, description="Most monthly debt service per monthly income."
    )
    lending_joint_partner_min_share: Decimal = Field(
        default=Decimal("0.30"), ge=0, le=1, description="Least share a joint-loan partner funds."
    )

    # The open platform.
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The bank's public base URL: the OAuth issuer and the base of every link.",
    )
    oauth_access_token_seconds: int = Field(default=300, ge=30, le=3600)
    oauth_refresh_token_days: int = Field(default=90, ge=1, le=365)
    oauth_code_seconds: int = Field(default=60, ge=5, le=60, description="FAPI 2.0: at most 60 s")
    oauth_request_uri_seconds: int = Field(
        default=300,
        ge=10,
        le=599,
        description="Lifetime of a PAR request_uri (under 600 s): the customer signs in, types"
        " the one-time code and decides within it",
    )
    oauth_proof_max_age_seconds: int = Field(
        default=60, ge=5, description="How old a DPoP proof or client assertion may be"
    )
    gateway_rate_limit_per_second: int = Field(
        default=50, ge=1, description="Default limit per app and product, all processes together"
    )
    gateway_rate_limit_burst: int = Field(
        default=100, ge=1, description="Requests an idle app may send at once"
    )
    gateway_idempotency_hours: int = Field(default=24, ge=24)
    gateway_signature_max_skew_seconds: int = Field(
        default=300, ge=30, description="Signed gateway: how far a timestamp may be from now"
    )
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_first_retry_seconds: float = Field(default=10.0, gt=0)
    webhook_max_retry_seconds: float = Field(default=3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    housekeeping_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often each API process runs the platform's chores (consent expiry,"
        " idempotency and token purges; one process at a time); 0 turns the thread off",
    )
    payments_order_lifetime_minutes: int = Field(
        default=120,
        ge=1,
        le=30 * 24 * 60,
        description="How long an unpaid payment order stays payable when the merchant gives no"
        " expiry",
    )
    payments_max_order_amount: int = Field(
        default=1_000_000_000,
        ge=1,
        le=2**53,
        description="The most one payment order may ask for, in fen (default 10,000,000 yuan)",
    )
    payments_authorization_hold_seconds: int = Field(
        default=7 * 86400,
        ge=60,
        le=30 * 86400,
        description="How long a manual-capture authorization holds the payer's money before"
        " the ledger releases it",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Deliver webhooks to loopback and private addresses (development and tests"
        " only: otherwise an endpoint could aim the dispatcher at the bank's own network)",
    )

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("lending_allocation_order")
    @classmethod
    def _allocation_order(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",")]
        if sorted(parts) != ["fee", "interest", "penalty", "principal"]:
            raise ValueError("must name penalty, fee, interest and principal once each")
        return ",".join(parts)

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("bank_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.bank_timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

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

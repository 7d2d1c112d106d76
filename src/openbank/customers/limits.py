"""PBoC e-account class limits as pure rules over plain numbers (all amounts in fen).

* Class I: no limits here.
* Class II: money in from and out to non-bound accounts, the two together, at most
  `class_ii_non_bound_daily_limit` per business day and `class_ii_non_bound_yearly_limit`
  per business year. Top-ups from and withdrawals to the bound card do not count.
* Class III: a balance of at most `class_iii_balance_limit` after any money in, and money out
  (withdrawals and transfers) at most `class_iii_outflow_daily_limit` per business day and
  `class_iii_outflow_yearly_limit` per business year.

Business days and years follow the bank's time zone; the caller sums the recorded movements
of the current windows into `Usage` while it holds the e-account's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from openbank.core.money import Money
from openbank.core.settings import Settings
from openbank.customers.vocabulary import AccountClass, Direction

CURRENCY = "CNY"


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """The limits of one class; None means that class has no such limit."""

    non_bound_daily: int | None = None
    non_bound_yearly: int | None = None
    balance: int | None = None
    outflow_daily: int | None = None
    outflow_yearly: int | None = None

    @property
    def windowed(self) -> bool:
        """Whether any limit counts movements over a day or a year."""
        return any(
            limit is not None
            for limit in (
                self.non_bound_daily,
                self.non_bound_yearly,
                self.outflow_daily,
                self.outflow_yearly,
            )
        )


def class_limits(account_class: AccountClass, settings: Settings) -> ClassLimits:
    if account_class == "II":
        return ClassLimits(
            non_bound_daily=settings.class_ii_non_bound_daily_limit,
            non_bound_yearly=settings.class_ii_non_bound_yearly_limit,
        )
    if account_class == "III":
        return ClassLimits(
            balance=settings.class_iii_balance_limit,
            outflow_daily=settings.class_iii_outflow_daily_limit,
            outflow_yearly=settings.class_iii_outflow_yearly_limit,
        )
    return ClassLimits()


@dataclass(frozen=True, slots=True)
class Usage:
    """What an e-account already used of its windows (today, this year; both in bank time)."""

    non_bound_today: int = 0
    non_bound_year: int = 0
    out_today: int = 0
    out_year: int = 0


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit the movement would break: which one, its size, and what of it remains."""

    limit: str
    description: str
    limit_amount: int
    remaining: int
    requested: int

    def detail(self) -> str:
        def cny(amount: int) -> str:
            return str(Money(amount, CURRENCY))

        return (
            f"{self.description} is {cny(self.limit_amount)}; {cny(self.remaining)} remains"
            f" and {cny(self.requested)} was requested"
        )


def _window(
    limit: int | None, used: int, amount: int, name: str, description: str
) -> Breach | None:
    if limit is None or used + amount <= limit:
        return None
    return Breach(name, description, limit, max(0, limit - used), amount)


def check_movement(
    account_class: AccountClass,
    limits: ClassLimits,
    usage: Usage,
    direction: Direction,
    counterparty_bound: bool,
    amount: int,
) -> Breach | None:
    """The first windowed limit that moving `amount` would break, or None if it fits."""
    label = f"class_{account_class.lower()}"
    if not counterparty_bound:
        for breach in (
            _window(
                limits.non_bound_daily,
                usage.non_bound_today,
                amount,
                f"{label}_non_bound_daily",
                f"the class {account_class} limit on money in from and out to non-bound"
                " accounts per business day",
            ),
            _window(
                limits.non_bound_yearly,
                usage.non_bound_year,
                amount,
                f"{label}_non_bound_yearly",
                f"the class {account_class} limit on money in from and out to non-bound"
                " accounts per year",
            ),
        ):
            if breach is not None:
                return breach
    if direction == "out":
        for breach in (
            _window(
                limits.outflow_daily,
                usage.out_today,
                amount,
                f"{label}_outflow_daily",
                f"the class {account_class} limit on money out per business day",
            ),
            _window(
                limits.outflow_yearly,
                usage.out_year,
                amount,
                f"{label}_outflow_yearly",
                f"the class {account_class} limit on money out per year",
            ),
        ):
            if breach is not None:
                return breach
    return None


def check_balance(
    account_class: AccountClass, limits: ClassLimits, balance_before: int, amount: int
) -> Breach | None:
    """Whether money in of `amount` onto `balance_before` stays within the balance cap."""
    if limits.balance is None or balance_before + amount <= limits.balance:
        return None
    return Breach(
        f"class_{account_class.lower()}_balance",
        f"the class {account_class} balance limit",
        limits.balance,
        max(0, limits.balance - balance_before),
        amount,
    )

"""A loan's state as a pure function of its frozen schedule, its events and a date.

Nothing here is stored incrementally: the state on any day is recomputed by replaying the
contract's events (repayments, prepayments, write-offs, minus reversed ones) in effective-date
order over the frozen schedule. A backdated repayment or a reversal therefore leaves exactly
the state a replay from scratch gives (the complaint most often raised against Fineract), and
the end-of-day batch is idempotent: the same inputs give the same state.

Conventions (those of PRC retail lending):
- An instalment due on day D and unpaid at the end of D is 1 day past due on D+1.
- Penalty interest (罚息, and 复利 on overdue interest) accrues daily on the overdue principal
  and interest at the penalty rate / 360. It is kept exact per instalment and rounded half-up
  to the fen only when shown or paid, so how often the state is computed changes nothing.
- A repayment pays instalments oldest first; within one, in the configured allocation order
  (penalty → fee → interest → principal by default). Money beyond what is due may pay the next
  instalment early; anything beyond that is a credit balance, which pays later instalments on
  the days they fall due.
- Interest is earned (accrued) pro rata over each period's days and in full on its due date;
  interest collected in advance counts as earned when collected.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from openbank.lending.schedules import (
    Instalment,
    LoanTerms,
    RepaymentMethod,
    build_schedule,
    daily_rate,
)

EventKind = Literal["repayment", "prepayment", "reversal", "write_off"]
PrepaymentMode = Literal["full", "shorter_term", "smaller_instalment"]
Component = Literal["penalty", "fee", "interest", "principal"]
LoanStatus = Literal["active", "overdue", "paid_off", "written_off"]
Bucket = Literal["current", "M1", "M2", "M3+"]

DEFAULT_ALLOCATION: tuple[Component, ...] = ("penalty", "fee", "interest", "principal")
_DAYS_PER_YEAR = Decimal(360)


def _fen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """What was agreed: the loan terms, the frozen schedule and the servicing rules."""

    terms: LoanTerms
    schedule: tuple[Instalment, ...]
    penalty_rate: Decimal
    allocation_order: tuple[Component, ...] = DEFAULT_ALLOCATION


@dataclass(frozen=True, slots=True)
class LoanEvent:
    id: uuid.UUID
    seq: int  # recording order; breaks ties between events of one effective date
    kind: EventKind
    effective_date: date
    amount: int = 0
    mode: PrepaymentMode | None = None
    reverses: uuid.UUID | None = None


@dataclass(slots=True)
class InstalmentState:
    period: int
    start_date: date  # the period's first day (the previous due date, or the value date)
    due_date: date
    principal: int
    interest: int
    fee: int
    paid_principal: int = 0
    paid_interest: int = 0
    paid_fee: int = 0
    penalty_exact: Decimal = field(default_factory=Decimal)
    paid_penalty: int = 0
    penalty_written_off: int = 0

    @property
    def penalty(self) -> int:
        return _fen(self.penalty_exact)

    def outstanding(self, component: Component) -> int:
        if component == "principal":
            return self.principal - self.paid_principal
        if component == "interest":
            return self.interest - self.paid_interest
        if component == "fee":
            return self.fee - self.paid_fee
        return self.penalty - self.paid_penalty - self.penalty_written_off

    def pay(self, component: Component, amount: int) -> None:
        if component == "principal":
            self.paid_principal += amount
        elif component == "interest":
            self.paid_interest += amount
        elif component == "fee":
            self.paid_fee += amount
        else:
            self.paid_penalty += amount

    @property
    def overdue_base(self) -> int:
        """What penalty interest accrues on once past due: unpaid principal and interest."""
        return self.outstanding("principal") + self.outstanding("interest")

    @property
    def settled(self) -> bool:
        return all(self.outstanding(c) == 0 for c in ("principal", "interest", "fee", "penalty"))


@dataclass(frozen=True, slots=True)
class Measures:
    """Cumulative money facts of a loan; the ledger is kept equal to these (see accounting)."""

    principal_collected: int = 0
    interest_earned: int = 0
    interest_collected: int = 0
    penalty_earned: int = 0
    penalty_collected: int = 0
    fee_billed: int = 0
    fee_collected: int = 0
    principal_written_off: int = 0
    interest_written_off: int = 0
    fee_written_off: int = 0
    penalty_written_off: int = 0
    money_in: int = 0  # repayments received (not reversed)


@dataclass(frozen=True, slots=True)
class LoanState:
    as_of: date
    status: LoanStatus
    instalments: tuple[InstalmentState, ...]
    outstanding_principal: int
    overdue_amount: int  # due and unpaid principal, interest, fees and penalty
    days_past_due: int
    bucket: Bucket
    next_due_date: date | None
    next_payment: int  # what the next not-yet-due instalment asks
    payable_now: int  # overdue amount plus the next instalment: the most a repayment takes
    payoff_amount: int  # everything owed if the loan were repaid in full today
    unallocated: int
    measures: Measures


def bucket_of(days_past_due: int) -> Bucket:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "M1"
    if days_past_due <= 60:
        return "M2"
    return "M3+"


class _Replay:
    def __init__(self, contract: ContractTerms) -> None:
        self.contract = contract
        self.penalty_daily = contract.penalty_rate / _DAYS_PER_YEAR
        starts = [contract.terms.start, *(i.due_date for i in contract.schedule[:-1])]
        self.rows = [
            InstalmentState(
                period=i.period,
                start_date=start,
                due_date=i.due_date,
                principal=i.principal,
                interest=i.interest,
                fee=i.fee,
            )
            for i, start in zip(contract.schedule, starts, strict=True)
        ]
        self.accrued_to = contract.terms.start
        self.unallocated = 0
        self.money_in = 0
        self.written_off_on: date | None = None
        self.principal_written_off = 0
        self.interest_written_off = 0
        self.fee_written_off = 0

    # -- time -----------------------------------------------------------------------------

    def accrue_penalty(self, until: date) -> None:
        """Penalty interest for the days from `accrued_to` up to `until` (exclusive of the
        due date itself: paying on the due date costs nothing)."""
        if until <= self.accrued_to or self.written_off_on is not None:
            self.accrued_to = max(self.accrued_to, until)
            return
        for row in self.rows:
            if row.due_date >= until:
                break
            base = row.overdue_base
            if base:
                days = (until - max(self.accrued_to, row.due_date)).days
                row.penalty_exact += base * self.penalty_daily * days
        self.accrued_to = until

    def advance(self, until: date) -> None:
        """Time passes to `until`: penalty accrues, and a credit balance (money received
        beyond what was due) pays each instalment on the day it falls due."""
        if self.unallocated and self.written_off_on is None:
            for row in self.rows:
                if self.accrued_to < row.due_date <= until:
                    self.accrue_penalty(row.due_date)
                    self.unallocated = self._pay_row(row, self.unallocated)
        self.accrue_penalty(until)

    # -- money ----------------------------------------------------------------------------

    def _pay_row(self, row: InstalmentState, amount: int) -> int:
        for component in self.contract.allocation_order:
            if amount == 0:
                break
            take = min(amount, row.outstanding(component))
            if take > 0:
                row.pay(component, take)
                amount -= take
        return amount

    def repay(self, on: date, amount: int) -> None:
        self.money_in += amount
        for row in self.rows:
            if amount == 0:
                break
            if row.due_date <= on:
                amount = self._pay_row(row, amount)
        next_row = self._next_row(on)
        if amount and next_row is not None:
            amount = self._pay_row(next_row, amount)
        self.unallocated += amount

    def _next_row(self, on: date) -> InstalmentState | None:
        return next((r for r in self.rows if r.due_date > on and not r.settled), None)

    def accrued_interest(self, row: InstalmentState, on: date) -> int:
        """Interest of the current period earned by `on`, pro rata by days."""
        if on >= row.due_date:
            return row.interest
        days = (row.due_date - row.start_date).days
        elapsed = max((on - row.start_date).days, 0)
        return _fen(Decimal(row.interest) * elapsed / days) if days else row.interest

    def prepay(self, on: date, amount: int, mode: PrepaymentMode) -> None:
        """Pay what is due, then the current period's interest to date, then principal; the
        rest of the schedule is rebuilt on what remains over the same due dates (smaller
        instalment) or fewer of them (shorter term)."""
        self.money_in += amount
        for row in self.rows:
            if row.due_date <= on:
                amount = self._pay_row(row, amount)
        future = [r for r in self.rows if r.due_date > on]
        if not future:
            self.unallocated += amount
            return
        # The current period closes today. Instalments paid early (in whole or in part) fold
        # into it, so what was paid on them stays paid.
        current = future[0]
        regular = Instalment(
            period=current.period,
            due_date=current.due_date,
            payment=current.principal + current.interest + current.fee,
            principal=current.principal,
            interest=current.interest,
            fee=current.fee,
            remaining=0,
        )
        due_dates = [r.due_date for r in future]
        paid_principal = sum(r.paid_principal for r in future)
        paid_interest = sum(r.paid_interest for r in future)
        paid_fee = sum(r.paid_fee for r in future)
        remaining = sum(r.principal for r in future) - paid_principal
        current.interest = max(self.accrued_interest(current, on), paid_interest)
        current.fee = current.paid_fee = paid_fee
        current.paid_interest = paid_interest
        current.paid_principal = paid_principal
        current.principal = paid_principal + remaining
        current.due_date = on
        self.rows = [r for r in self.rows if r.due_date <= on]
        self.unallocated += self._pay_row(current, amount)
        left = current.outstanding("principal")
        current.principal -= left
        if left:
            self.rows.extend(self._reschedule(on, left, due_dates, regular, mode))

    def _reschedule(
        self,
        on: date,
        principal: int,
        due_dates: list[date],
        regular: Instalment,
        mode: PrepaymentMode,
    ) -> list[InstalmentState]:
        terms = self.contract.terms
        if terms.method == RepaymentMethod.BULLET:
            # One payment at maturity: interest on what is left, by the days to get there.
            maturity = due_dates[-1]
            days = (maturity - on).days
            interest = _fen(principal * daily_rate(terms.annual_rate) * days)
            return [
                InstalmentState(
                    period=regular.period + 1,
                    start_date=on,
                    due_date=maturity,
                    principal=principal,
                    interest=interest,
                    fee=0,
                )
            ]

        def rebuilt(periods: int) -> tuple[Instalment, ...]:
            return build_schedule(
                replace(
                    terms,
                    principal=principal,
                    periods=periods,
                    start=on,
                    first_due=due_dates[0],
                    grace_periods=0,
                    upfront_fee=0,
                )
            ).instalments

        periods = len(due_dates)
        if mode == "shorter_term" and terms.method in _AMORTISING:
            periods = _fewest_periods(rebuilt, periods, regular, terms.method)
        instalments = rebuilt(periods)
        starts = [on, *(i.due_date for i in instalments[:-1])]
        return [
            InstalmentState(
                period=regular.period + 1 + k,
                start_date=start,
                due_date=i.due_date,
                principal=i.principal,
                interest=i.interest,
                fee=i.fee,
            )
            for k, (i, start) in enumerate(zip(instalments, starts, strict=True))
        ]

    def write_off(self, on: date) -> None:
        for row in self.rows:
            if row.due_date > on:
                # Interest not yet earned is not owed; what has accrued is written off.
                row.interest = max(self.accrued_interest(row, on), row.paid_interest)
                row.fee = row.paid_fee
        self.principal_written_off = sum(r.outstanding("principal") for r in self.rows)
        self.interest_written_off = sum(r.outstanding("interest") for r in self.rows)
        self.fee_written_off = sum(r.outstanding("fee") for r in self.rows)
        for row in self.rows:
            row.penalty_written_off = row.penalty - row.paid_penalty
        self.written_off_on = on

    # -- reading --------------------------------------------------------------------------

    def state(self, as_of: date) -> LoanState:
        rows = self.rows
        written_off = self.written_off_on is not None
        interest_earned = fee_billed = 0
        for row in rows:
            if row.due_date <= as_of or written_off:  # a write-off fixed what was earned
                interest_earned += row.interest
                fee_billed += row.fee
            else:
                earned = self.accrued_interest(row, as_of) if row.start_date < as_of else 0
                interest_earned += max(earned, row.paid_interest)
                fee_billed += row.paid_fee
        measures = Measures(
            principal_collected=sum(r.paid_principal for r in rows),
            interest_earned=interest_earned,
            interest_collected=sum(r.paid_interest for r in rows),
            penalty_earned=sum(r.penalty for r in rows),
            penalty_collected=sum(r.paid_penalty for r in rows),
            fee_billed=fee_billed,
            fee_collected=sum(r.paid_fee for r in rows),
            principal_written_off=self.principal_written_off,
            interest_written_off=self.interest_written_off,
            fee_written_off=self.fee_written_off,
            penalty_written_off=sum(r.penalty_written_off for r in rows),
            money_in=self.money_in,
        )
        due_rows = [r for r in rows if r.due_date <= as_of]
        components: tuple[Component, ...] = ("principal", "interest", "fee", "penalty")
        overdue = 0 if written_off else sum(r.outstanding(c) for r in due_rows for c in components)
        oldest_unpaid = next(
            (r.due_date for r in due_rows if not r.settled and r.due_date < as_of), None
        )
        days_past_due = 0 if written_off or oldest_unpaid is None else (as_of - oldest_unpaid).days
        next_row = None if written_off else self._next_row(as_of)
        next_payment = (
            sum(next_row.outstanding(c) for c in components) if next_row is not None else 0
        )
        outstanding_principal = 0 if written_off else sum(r.outstanding("principal") for r in rows)
        payoff = overdue
        if next_row is not None:
            payoff += max(self.accrued_interest(next_row, as_of) - next_row.paid_interest, 0)
            payoff += sum(r.outstanding("principal") for r in rows if r.due_date > as_of)
        status: LoanStatus
        if written_off:
            status = "written_off"
        elif all(r.settled for r in rows):
            status = "paid_off"
        elif days_past_due > 0:
            status = "overdue"
        else:
            status = "active"
        return LoanState(
            as_of=as_of,
            status=status,
            instalments=tuple(rows),
            outstanding_principal=outstanding_principal,
            overdue_amount=overdue,
            days_past_due=days_past_due,
            bucket=bucket_of(days_past_due),
            next_due_date=next_row.due_date if next_row is not None else None,
            next_payment=next_payment,
            payable_now=overdue + next_payment,
            payoff_amount=payoff,
            unallocated=self.unallocated,
            measures=measures,
        )


_AMORTISING = frozenset(
    {RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.FLAT}
)


def _fewest_periods(
    rebuilt: Callable[[int], tuple[Instalment, ...]],
    most: int,
    regular: Instalment,
    method: RepaymentMethod,
) -> int:
    """Shorter term: the fewest periods whose regular instalment is no larger than before
    (equal instalment), or whose principal per period is no larger (the other methods)."""

    def fits(periods: int) -> bool:
        instalments = rebuilt(periods)
        if len(instalments) < 2:
            return False
        second = instalments[1]  # the first may be irregular
        if method == RepaymentMethod.EQUAL_INSTALLMENT:
            return second.principal + second.interest <= regular.principal + regular.interest
        return second.principal <= regular.principal

    low, high = 1, most
    while low < high:  # instalments shrink as periods grow: binary search
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid + 1
    return low


def effective_events(events: Sequence[LoanEvent]) -> list[LoanEvent]:
    """The events that count, in the order they apply: reversed ones and reversals drop out."""
    reversed_ids = {e.reverses for e in events if e.kind == "reversal"}
    kept = [e for e in events if e.kind != "reversal" and e.id not in reversed_ids]
    return sorted(kept, key=lambda e: (e.effective_date, e.seq))


def replay(contract: ContractTerms, events: Sequence[LoanEvent], as_of: date) -> LoanState:
    """The loan's state at the end of `as_of`, from its schedule and events alone."""
    loan = _Replay(contract)
    for event in effective_events(events):
        if event.effective_date > as_of:
            break
        loan.advance(event.effective_date)
        if event.kind == "repayment":
            loan.repay(event.effective_date, event.amount)
        elif event.kind == "prepayment":
            loan.prepay(event.effective_date, event.amount, event.mode or "full")
        elif event.kind == "write_off":
            loan.write_off(event.effective_date)
    loan.advance(as_of)
    return loan.state(as_of)

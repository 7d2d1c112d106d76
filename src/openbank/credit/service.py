"""The credit context's public face: load a scorecard, score an applicant, explain the score
with reason codes, watch population stability, and set payment-flow limits (`flow_limit`).
Other contexts import only this module.

Scoring is a pure-Python points lookup (no optbinning, pandas or numpy), a few microseconds
per applicant.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from openbank.credit.flow_limit import (
    DailyFlow,
    FlowCut,
    FlowLimit,
    FlowSummary,
    MonthlyFlow,
    payment_flow_limit,
)
from openbank.credit.model import FORMAT, Scorecard, Value
from openbank.credit.psi import (
    PsiBin,
    PsiReport,
    Verdict,
    characteristic_psi,
    psi,
    score_psi,
    verdict,
)

__all__ = [
    "FORMAT",
    "MAX_REASONS",
    "REFERENCE_MODEL",
    "DailyFlow",
    "FeatureContribution",
    "FlowCut",
    "FlowLimit",
    "FlowSummary",
    "MonthlyFlow",
    "PsiBin",
    "PsiReport",
    "ScoreResult",
    "Scorecard",
    "Verdict",
    "characteristic_psi",
    "feature_names",
    "load_scorecard",
    "payment_flow_limit",
    "psi",
    "reason_code",
    "reason_label",
    "reference_scorecard",
    "score",
    "score_psi",
    "verdict",
]

REFERENCE_MODEL = "german_credit_v1.json"
MAX_REASONS = 4
REASON_PREFIX = "credit."


@dataclass(frozen=True)
class FeatureContribution:
    """One characteristic's part of a score: the points it gave and the most it could give."""

    feature: str
    label: str
    value: str | float | None
    points: int
    max_points: int


@dataclass(frozen=True)
class ScoreResult:
    model: str
    version: str
    score: int
    probability_of_default: float
    contributions: tuple[FeatureContribution, ...]
    # Up to MAX_REASONS codes ("credit.<feature>"): the characteristics whose points fall
    # furthest below their best bin, worst first; none for a characteristic at its best.
    reasons: tuple[str, ...]


def load_scorecard(path: str | Path) -> Scorecard:
    """A model file (`openbank.scorecard/1`), validated: bins must cover every value."""
    return Scorecard.load(path)


@functools.cache
def reference_scorecard() -> Scorecard:
    """The shipped model trained on German credit (scripts/train_german_credit.py)."""
    text = (resources.files("openbank.credit") / "scorecards" / REFERENCE_MODEL).read_text(
        encoding="utf-8"
    )
    return Scorecard.model_validate_json(text)


def feature_names(scorecard: Scorecard) -> list[str]:
    """The characteristics the scorecard scores, in its order."""
    return [f.name for f in scorecard.features]


def reason_code(feature: str) -> str:
    return REASON_PREFIX + feature


def reason_label(scorecard: Scorecard, code: str) -> str:
    """The human-readable name behind a reason code."""
    return scorecard.feature(code.removeprefix(REASON_PREFIX)).label


def _plain(value: Value) -> str | float | None:
    return float(value) if isinstance(value, int) else value


def score(scorecard: Scorecard, applicant: Mapping[str, Value]) -> ScoreResult:
    """Score one applicant. Keys the scorecard does not know are ignored; characteristics the
    applicant lacks score as missing."""
    contributions = []
    shortfalls = []
    for position, feature in enumerate(scorecard.features):
        value = applicant.get(feature.name)
        points = feature.points_of(value)
        best = feature.max_points
        contributions.append(
            FeatureContribution(feature.name, feature.label, _plain(value), points, best)
        )
        if points < best:
            shortfalls.append((points - best, position, feature.name))
    total = scorecard.intercept_points + sum(c.points for c in contributions)
    shortfalls.sort()
    return ScoreResult(
        model=scorecard.name,
        version=scorecard.version,
        score=total,
        probability_of_default=round(scorecard.probability_of_default(total), 6),
        contributions=tuple(contributions),
        reasons=tuple(reason_code(name) for _, _, name in shortfalls[:MAX_REASONS]),
    )

"""Population stability: has the population being scored drifted from the one the scorecard
was built on?

PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%). The usual reading:
below 0.1 stable, 0.1 to 0.25 watch, above 0.25 a shift that calls for a review or a rebuild.
The score PSI compares the score bands stored in the model file (training deciles) with the
scores of a new batch; the characteristic stability index (CSI) does the same per
characteristic over its bins, its missing bin and any unknown values. Pure Python, like scoring.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from openbank.credit.model import Scorecard, ScorecardFeature, Value

Verdict = Literal["stable", "watch", "shift"]

STABLE_BELOW = 0.1
SHIFT_ABOVE = 0.25
# An empty bin would make PSI infinite; shares are floored at this (0.01 %), the usual fix.
SHARE_FLOOR = 1e-4


def psi(
    expected_shares: Sequence[float], actual_shares: Sequence[float], floor: float = SHARE_FLOOR
) -> float:
    """PSI between two distributions over the same bins (shares, each summing to about 1)."""
    if len(expected_shares) != len(actual_shares):
        raise ValueError("expected and actual shares need the same bins")
    total = 0.0
    for expected, actual in zip(expected_shares, actual_shares, strict=True):
        e, a = max(expected, floor), max(actual, floor)
        total += (a - e) * math.log(a / e)
    return total


def verdict(value: float) -> Verdict:
    """stable below 0.1, watch from 0.1 to 0.25, shift above 0.25."""
    if value < STABLE_BELOW:
        return "stable"
    if value <= SHIFT_ABOVE:
        return "watch"
    return "shift"


@dataclass(frozen=True)
class PsiBin:
    label: str
    expected_share: float
    actual_share: float
    count: int
    contribution: float  # this bin's term of the PSI sum


@dataclass(frozen=True)
class PsiReport:
    psi: float
    bins: tuple[PsiBin, ...]
    verdict: Verdict
    count: int  # observations in the actual sample


def _report(labels: Sequence[str], expected: Sequence[float], counts: Sequence[int]) -> PsiReport:
    n = sum(counts)
    if n == 0:
        raise ValueError("no observations to compare")
    actual = [c / n for c in counts]
    bins = tuple(
        PsiBin(label, e, a, c, psi([e], [a]))
        for label, e, a, c in zip(labels, expected, actual, counts, strict=True)
    )
    value = psi(expected, actual)
    return PsiReport(value, bins, verdict(value), n)


def _band_label(lower: float | None, upper: float | None) -> str:
    low = "-inf" if lower is None else f"{lower:g}"
    high = "inf" if upper is None else f"{upper:g}"
    return f"[{low}, {high})"


def score_psi(model: Scorecard, scores: Iterable[float]) -> PsiReport:
    """PSI of a batch of scores against the model's training score bands."""
    bands = model.score_distribution
    if not bands:
        raise ValueError(f"model {model.name} has no training score distribution")
    cuts = [b.lower for b in bands[1:] if b.lower is not None]
    counts = [0] * len(bands)
    for s in scores:
        counts[bisect_right(cuts, s)] += 1
    return _report(
        [_band_label(b.lower, b.upper) for b in bands], [b.expected_share for b in bands], counts
    )


def _feature_psi(feature: ScorecardFeature, rows: int, values: Iterable[Value]) -> PsiReport:
    labels = [b.describe() for b in feature.bins] + ["missing", "unknown"]
    expected = [b.count / rows for b in feature.bins] + [feature.missing_count / rows, 0.0]
    counts = [0] * len(labels)
    for value in values:
        ref = feature.bin_of(value)
        counts[-2 if ref == "missing" else -1 if ref == "unknown" else ref] += 1
    return _report(labels, expected, counts)


def characteristic_psi(
    model: Scorecard, applicants: Sequence[Mapping[str, Value]]
) -> dict[str, PsiReport]:
    """The characteristic stability index of each of the model's characteristics."""
    rows = model.metrics.rows
    return {
        f.name: _feature_psi(f, rows, (a.get(f.name) for a in applicants)) for f in model.features
    }

"""Population stability index: the formula, the verdicts, and the model-based reports."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from openbank.credit import service
from openbank.credit.psi import SHARE_FLOOR, characteristic_psi, psi, score_psi, verdict

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with GERMAN.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_identical_distributions_give_zero() -> None:
    shares = [0.1, 0.2, 0.3, 0.4]
    assert psi(shares, shares) == 0.0
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0


def test_known_values() -> None:
    # sum of (a - e) * ln(a / e), worked by hand
    expected = (
        -0.15 * math.log(0.4) - 0.05 * math.log(0.8) + 0.05 * math.log(1.2) + 0.15 * math.log(1.6)
    )
    assert psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(expected)
    assert psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.228217, abs=1e-6)
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.878890, abs=1e-6)


def test_psi_is_symmetric_and_positive() -> None:
    a, b = [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]
    assert psi(a, b) == pytest.approx(psi(b, a))
    assert psi(a, b) > 0


def test_empty_bins_are_floored() -> None:
    value = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert math.isfinite(value)
    assert value == pytest.approx(
        2 * (-0.1 * math.log(0.8)) + (0.2 - SHARE_FLOOR) * math.log(0.2 / SHARE_FLOOR)
    )


def test_bins_must_match() -> None:
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "watch"),
        (0.2, "watch"),
        (0.25, "watch"),
        (0.2501, "shift"),
        (1.5, "shift"),
    ],
)
def test_verdict_thresholds(value: float, expected: str) -> None:
    assert verdict(value) == expected


def test_training_population_is_stable(rows: list[dict[str, str]]) -> None:
    model = service.reference_scorecard()
    scores = [service.score(model, row).score for row in rows]
    report = score_psi(model, scores)
    assert report.psi == pytest.approx(0.0, abs=1e-9)  # the bands' shares are these rows'
    assert report.verdict == "stable"
    assert report.count == 1000
    assert len(report.bins) == len(model.score_distribution)
    assert sum(b.count for b in report.bins) == 1000
    assert sum(b.contribution for b in report.bins) == pytest.approx(report.psi)


def test_shifted_scores_are_a_shift(rows: list[dict[str, str]]) -> None:
    model = service.reference_scorecard()
    scores = [service.score(model, row).score for row in rows]
    assert score_psi(model, [s - 40 for s in scores]).verdict == "shift"
    riskier = [s for s in scores if s < 520] + scores
    assert score_psi(model, riskier).verdict in {"watch", "shift"}


def test_characteristic_stability(rows: list[dict[str, str]]) -> None:
    model = service.reference_scorecard()
    same = characteristic_psi(model, rows)
    assert set(same) == set(service.feature_names(model))
    assert all(r.psi == pytest.approx(0.0, abs=1e-9) for r in same.values())
    # a batch where the purpose went missing and the term is unreadable
    drifted = [row | {"purpose": "", "duration_in_month": "?"} for row in rows]
    report = characteristic_psi(model, drifted)
    assert report["purpose"].verdict == "shift"
    assert report["purpose"].bins[-2].label == "missing"
    assert report["purpose"].bins[-2].count == 1000
    assert report["duration_in_month"].bins[-1].label == "unknown"
    assert report["duration_in_month"].bins[-1].count == 1000
    assert report["status_of_existing_checking_account"].verdict == "stable"


def test_service_re_exports() -> None:
    assert service.psi is psi
    assert service.score_psi is score_psi
    with pytest.raises(ValueError, match="no observations"):
        service.score_psi(service.reference_scorecard(), [])

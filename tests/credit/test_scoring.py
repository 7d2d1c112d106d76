"""The pure-Python points lookup against the training pipeline, and the service's results."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from openbank.credit import scorecard as sc
from openbank.credit import service
from openbank.credit.model import Scorecard

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def german() -> sc.TrainingData:
    return sc.load_training_data(GERMAN, "creditability", "bad")


@pytest.fixture(scope="module")
def fitted(german: sc.TrainingData) -> sc.FittedScorecard:
    return sc.fit_scorecard(german, name="german_test", version="7")


@pytest.fixture(scope="module")
def model(fitted: sc.FittedScorecard) -> Scorecard:
    """The model as a service would see it: through its JSON file."""
    return Scorecard.model_validate_json(fitted.scorecard.to_json())


@pytest.fixture(scope="module")
def csv_rows() -> list[dict[str, str]]:
    with GERMAN.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_lookup_matches_the_training_pipeline_exactly(
    german: sc.TrainingData,
    fitted: sc.FittedScorecard,
    model: Scorecard,
    csv_rows: list[dict[str, str]],
) -> None:
    pipeline = fitted.scores(german).tolist()
    assert [service.score(model, row).score for row in csv_rows] == pipeline  # CSV text
    records = german.frame.to_dict("records")
    assert [service.score(model, r).score for r in records] == pipeline  # numbers
    matrix = fitted.points_matrix(german)
    for i in (0, 1, 500, 999):
        points = [c.points for c in service.score(model, csv_rows[i]).contributions]
        assert points == matrix[i].tolist()


def test_result_shape(model: Scorecard, csv_rows: list[dict[str, str]]) -> None:
    result = service.score(model, csv_rows[1])
    assert (result.model, result.version) == ("german_test", "7")
    assert [c.feature for c in result.contributions] == service.feature_names(model)
    assert result.score == model.intercept_points + sum(c.points for c in result.contributions)
    duration = next(c for c in result.contributions if c.feature == "duration_in_month")
    assert duration.value == "48"
    assert duration.label == "Duration in month"
    assert all(c.points <= c.max_points for c in result.contributions)


def test_score_range_and_probability(model: Scorecard, csv_rows: list[dict[str, str]]) -> None:
    results = [service.score(model, row) for row in csv_rows]
    scores = [r.score for r in results]
    assert 380 < min(scores) < max(scores) < 680
    for r in results:
        assert 0 < r.probability_of_default < 1
        assert r.probability_of_default == pytest.approx(
            model.probability_of_default(r.score), abs=1e-6
        )
    ordered = sorted(results, key=lambda r: r.score)
    pds = [r.probability_of_default for r in ordered]
    assert pds == sorted(pds, reverse=True)
    # the model's PD is calibrated on its training rows: mean PD close to the 30 % bad rate
    assert sum(pds) / len(pds) == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("blank", [None, math.nan, "", "NA", "n/a", "null"])
def test_missing_scores_the_missing_bin(model: Scorecard, blank: str | float | None) -> None:
    for f in model.features:
        assert f.bin_of(blank) == "missing"
        assert f.points_of(blank) == f.missing_points
    result = service.score(model, dict.fromkeys(service.feature_names(model), blank))
    assert [c.points for c in result.contributions] == [f.missing_points for f in model.features]


def test_absent_features_count_as_missing_and_extra_keys_are_ignored(model: Scorecard) -> None:
    result = service.score(model, {"not_a_feature": "x", "credit_amount": 1000})
    for c in result.contributions:
        f = model.feature(c.feature)
        if c.feature == "credit_amount":
            assert c.value == 1000.0
            assert c.points == f.points_of(1000)
        else:
            assert c.value is None
            assert c.points == f.missing_points


def test_unknown_values_score_unknown_points(model: Scorecard) -> None:
    purpose = model.feature("purpose")
    assert purpose.bin_of("space travel") == "unknown"
    assert purpose.points_of("space travel") == purpose.unknown_points == 0  # neutral: WOE 0
    duration = model.feature("duration_in_month")
    assert duration.bin_of("twelve") == "unknown"
    assert duration.points_of("twelve") == duration.unknown_points


def test_numeric_bins_are_right_open(model: Scorecard) -> None:
    duration = model.feature("duration_in_month")
    for i, b in enumerate(duration.bins[:-1]):
        assert b.upper is not None
        assert duration.bin_of(b.upper) == i + 1  # the split point opens the next bin
        assert duration.bin_of(math.nextafter(b.upper, -math.inf)) == i
    assert duration.bin_of(-1e12) == 0
    assert duration.bin_of(math.inf) == len(duration.bins) - 1
    assert duration.bin_of("12") == duration.bin_of(12) == duration.bin_of(12.0)


def test_categorical_values_match_as_text(model: Scorecard) -> None:
    status = model.feature("status_of_existing_checking_account")
    assert status.bin_of("no checking account") == 0
    assert status.bin_of(" no checking account") == "unknown"  # exact, as training saw it


def test_reasons_are_the_largest_shortfalls_in_order(
    model: Scorecard, csv_rows: list[dict[str, str]]
) -> None:
    for row in csv_rows[:200]:
        result = service.score(model, row)
        by_feature = {c.feature: c for c in result.contributions}
        assert len(result.reasons) <= service.MAX_REASONS
        shortfalls = [
            by_feature[code.removeprefix("credit.")].max_points
            - by_feature[code.removeprefix("credit.")].points
            for code in result.reasons
        ]
        assert all(s > 0 for s in shortfalls)
        assert shortfalls == sorted(shortfalls, reverse=True)
        others = [
            c.max_points - c.points
            for c in result.contributions
            if service.reason_code(c.feature) not in result.reasons
        ]
        if others and shortfalls:
            assert max(others) <= min(shortfalls)
        if len(result.reasons) < service.MAX_REASONS:
            assert all(s == 0 for s in others)
    worst = service.score(model, csv_rows[1])
    assert worst.reasons[0] == "credit.duration_in_month"  # 48 months: the riskiest term bin
    assert service.reason_label(model, worst.reasons[0]) == "Duration in month"


def test_best_applicant_has_no_reasons(model: Scorecard) -> None:
    best: dict[str, str | float | None] = {}
    for f in model.features:
        top = max(f.bins, key=lambda b: b.points)
        if f.kind == "numeric":
            best[f.name] = top.lower if top.lower is not None else (top.upper or 0) - 1
        else:
            best[f.name] = (top.categories or [""])[0]
    result = service.score(model, best)
    assert result.reasons == ()
    assert result.score == model.intercept_points + sum(f.max_points for f in model.features)


def test_scoring_is_fast(model: Scorecard, csv_rows: list[dict[str, str]]) -> None:
    started = time.perf_counter()
    for row in csv_rows:
        service.score(model, row)
    per_applicant = (time.perf_counter() - started) / len(csv_rows)
    assert per_applicant < 1e-3


def test_scoring_needs_no_training_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from openbank.credit import service;"
        " service.score(service.reference_scorecard(), {});"
        " print(sorted(m for m in ('pandas', 'optbinning', 'sklearn', 'numpy')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_load_scorecard_validates_bins(model: Scorecard, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model.save(path)
    assert service.load_scorecard(path) == model
    broken = model.model_dump(mode="json")
    numeric = next(f for f in broken["features"] if f["kind"] == "numeric")
    numeric["bins"][1]["lower"] = numeric["bins"][1]["lower"] + 1  # a gap between bins
    with pytest.raises(ValidationError, match="contiguous"):
        Scorecard.model_validate(broken)
    wrong = model.model_dump(mode="json") | {"format": "openbank.scorecard/2"}
    with pytest.raises(ValidationError):
        Scorecard.model_validate(wrong)

"""Training on German credit: binning, selection, points, cross-validation without leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openbank.credit import scorecard as sc
from openbank.credit.model import Scorecard

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def german() -> sc.TrainingData:
    return sc.load_training_data(GERMAN, "creditability", "bad")


@pytest.fixture(scope="module")
def outcome(german: sc.TrainingData) -> sc.TrainingOutcome:
    return sc.train(german, folds=5, repeats=1, name="german_test")


@pytest.fixture(scope="module")
def with_missing() -> tuple[sc.TrainingData, sc.FittedScorecard]:
    """German credit with a fifth of the term and of the savings status blanked out, the
    blanks mostly among bads, so the missing bins carry evidence."""
    frame = pd.read_csv(GERMAN)
    rng = np.random.default_rng(7)
    bad = frame["creditability"] == "bad"
    blank = rng.random(len(frame)) < np.where(bad, 0.35, 0.12)
    frame.loc[blank, "duration_in_month"] = np.nan
    frame.loc[blank, "savings_account_and_bonds"] = np.nan
    data = sc.prepare(frame, "creditability", "bad")
    fitted = sc.fit_scorecard(data, sc.TrainingSettings(tune=False, min_iv=0.0))
    return data, fitted


def test_cross_validated_auc(outcome: sc.TrainingOutcome) -> None:
    cv = outcome.cv
    assert cv is not None
    assert len(cv.aucs) == 5
    assert cv.auc > 0.70
    assert 0.3 < cv.ks < 0.7
    metrics = outcome.scorecard.metrics
    assert metrics.cv_auc == pytest.approx(cv.auc, abs=1e-4)
    assert metrics.train_auc > cv.auc  # held-out folds are harder than the training rows
    assert (metrics.rows, metrics.bads) == (1000, 300)


def test_selection_by_information_value(outcome: sc.TrainingOutcome) -> None:
    model = outcome.scorecard
    floor = model.training["min_iv"]
    assert {c.name for c in model.candidates} == set(pd.read_csv(GERMAN, nrows=0).columns) - {
        "creditability"
    }
    kept = {c.name for c in model.candidates if c.selected}
    assert kept == {f.name for f in model.features}
    assert "status_of_existing_checking_account" in kept  # the strongest characteristic
    for f in model.features:
        assert f.iv >= floor
        assert f.coefficient < 0  # bad = 1 on WOE = ln(%good/%bad)
    for c in model.candidates:
        if not c.selected:
            assert c.reason


def test_points_follow_the_binning_trend(outcome: sc.TrainingOutcome) -> None:
    checked = 0
    for f in outcome.scorecard.features:
        rates = [b.bad_rate for b in f.bins]
        points = [b.points for b in f.bins]
        assert all(r is not None for r in rates)
        if f.trend == "ascending":
            assert rates == sorted(rates)  # type: ignore[type-var]
            assert points == sorted(points, reverse=True)
            checked += 1
        elif f.trend == "descending":
            assert points == sorted(points)
            checked += 1
        # every characteristic: more WOE never means fewer points
        by_woe = sorted(f.bins, key=lambda b: b.woe)
        assert [b.points for b in by_woe] == sorted(points)
    assert checked >= 3


def test_bins_cover_everything(german: sc.TrainingData, outcome: sc.TrainingOutcome) -> None:
    for f in outcome.scorecard.features:
        assert sum(b.count for b in f.bins) + f.missing_count == german.bad.size
        if f.kind == "numeric":
            assert f.bins[0].lower is None
            assert f.bins[-1].upper is None
            for left, right in zip(f.bins, f.bins[1:], strict=False):
                assert left.upper == right.lower
        else:
            categories = [c for b in f.bins for c in b.categories or []]
            assert len(categories) == len(set(categories))
            assert set(categories) == set(german.frame[f.name].dropna().astype(str))


def test_min_bin_size_respected(outcome: sc.TrainingOutcome) -> None:
    for f in outcome.scorecard.features:
        assert all(b.count >= 0.05 * 1000 for b in f.bins)
        assert all(0 < (b.bad_rate or 0) < 1 for b in f.bins)


def test_points_scale(outcome: sc.TrainingOutcome) -> None:
    """600 points at 50:1, 20 points to double the odds; the average applicant sits near the
    population odds (7:3)."""
    model = outcome.scorecard
    assert (model.base_score, model.base_odds, model.pdo) == (600, 50, 20)
    assert model.probability_of_default(600) == pytest.approx(1 / 51)
    assert model.probability_of_default(620) == pytest.approx(1 / 101)
    population_odds_score = 600 + 20 * np.log2((700 / 300) / 50)
    assert abs(model.intercept_points - population_odds_score) < 5
    assert sum(b.expected_share for b in model.score_distribution) == pytest.approx(1)


def test_missing_values_get_their_own_bin(
    with_missing: tuple[sc.TrainingData, sc.FittedScorecard],
) -> None:
    data, fitted = with_missing
    model = fitted.scorecard
    for name in ("duration_in_month", "savings_account_and_bonds"):
        f = model.feature(name)
        assert f.missing_count == int(data.frame[name].isna().sum()) > 0
        assert f.missing_bad_rate is not None
        assert f.missing_bad_rate > 0.4
        assert f.missing_woe < 0
        assert f.missing_points < 0
        assert f.missing_points == model.feature(name).points_of(None)
    # no missing values in training: the missing bin is empty and neutral
    status = model.feature("status_of_existing_checking_account")
    assert (status.missing_count, status.missing_woe, status.missing_points) == (0, 0.0, 0)


def test_pipeline_scores_missing_rows_like_the_lookup(
    with_missing: tuple[sc.TrainingData, sc.FittedScorecard],
) -> None:
    data, fitted = with_missing
    pipeline = fitted.scores(data)
    records = data.frame.to_dict("records")
    lookup = [fitted.scorecard.score_of(r) for r in records]
    assert pipeline.tolist() == lookup


def test_no_leakage_on_noise() -> None:
    """A target unrelated to every column: cross-validated AUC must stay near 0.5 even though
    the binning alone, fitted on all rows, would find patterns."""
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 100, n),
            "c": rng.choice([f"k{i}" for i in range(30)], n),
            "d": rng.choice(list("pqrstu"), n),
            "y": rng.choice(["bad", "good"], n, p=[0.3, 0.7]),
        }
    )
    data = sc.prepare(frame, "y", "bad")
    settings = sc.TrainingSettings(tune=False, min_iv=0.0)
    cv = sc.cross_validate(data, settings, folds=5)
    fitted = sc.fit_scorecard(data, settings)
    assert abs(cv.auc - 0.5) < 0.06
    assert fitted.scorecard.metrics.train_auc > cv.auc + 0.05


def test_training_is_deterministic(german: sc.TrainingData) -> None:
    settings = sc.TrainingSettings(tune=False)
    first = sc.fit_scorecard(german, settings).scorecard
    second = sc.fit_scorecard(german, settings).scorecard
    assert first.features == second.features
    assert first.intercept_points == second.intercept_points


def test_cv_splits_are_stratified_and_repeatable(german: sc.TrainingData) -> None:
    splits = sc.cv_splits(german.bad, folds=5, repeats=2, seed=1)
    assert len(splits) == 10
    for fit_rows, check_rows in splits:
        assert not set(fit_rows) & set(check_rows)
        assert german.bad[check_rows].mean() == pytest.approx(0.3, abs=0.01)
    again = sc.cv_splits(german.bad, folds=5, repeats=2, seed=1)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))


def test_progress_is_reported(german: sc.TrainingData) -> None:
    small = german.subset(np.arange(300, dtype=np.int64))
    ticks: list[tuple[int, int]] = []
    sc.cross_validate(
        small, sc.TrainingSettings(tune=False), folds=3, progress=lambda d, t: ticks.append((d, t))
    )
    assert ticks == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize(
    ("target", "bad_value", "message"),
    [
        ("nope", "bad", "no target column"),
        ("creditability", "defaulted", "never occurs"),
    ],
)
def test_training_data_errors(target: str, bad_value: str, message: str) -> None:
    with pytest.raises(sc.TrainingDataError, match=message):
        sc.load_training_data(GERMAN, target, bad_value)


def test_one_class_is_refused() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["bad", "bad", "bad"]})
    with pytest.raises(sc.TrainingDataError, match="one class"):
        sc.prepare(frame, "y", "bad")


def test_model_file_round_trip(outcome: sc.TrainingOutcome, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    outcome.scorecard.save(path)
    loaded = Scorecard.load(path)
    assert loaded == outcome.scorecard
    text = path.read_text()
    assert '"format": "openbank.scorecard/1"' in text
    assert "NaN" not in text
    assert "Infinity" not in text

"""The shipped German-credit scorecard: it loads, it discriminates, and the training script
reproduces its points."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from sklearn.metrics import roc_auc_score

from openbank.credit import service
from openbank.credit.model import Scorecard

ROOT = Path(__file__).resolve().parents[2]
GERMAN = ROOT / "data" / "german_credit.csv"
SHIPPED = ROOT / "src" / "openbank" / "credit" / "scorecards" / "german_credit_v1.json"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_german_credit", ROOT / "scripts" / "train_german_credit.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model() -> Scorecard:
    return service.reference_scorecard()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with GERMAN.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_model_loads(model: Scorecard) -> None:
    assert json.loads(SHIPPED.read_text())["format"] == "openbank.scorecard/1"
    assert model.format == "openbank.scorecard/1"
    assert (model.name, model.version) == ("german_credit", "1")
    assert (model.target, model.bad_value) == ("creditability", "bad")
    assert (model.base_score, model.base_odds, model.pdo) == (600, 50, 20)
    assert service.reference_scorecard() is model  # cached
    assert service.load_scorecard(SHIPPED) == model


def test_all_twenty_attributes_were_candidates(
    model: Scorecard, rows: list[dict[str, str]]
) -> None:
    columns = set(rows[0]) - {"creditability"}
    assert len(columns) == 20
    assert {c.name for c in model.candidates} == columns
    assert set(service.feature_names(model)) <= columns


def test_what_underwriting_can_supply_is_scored(model: Scorecard) -> None:
    """Lending maps the term, the age, the purpose and the amount onto these names."""
    names = service.feature_names(model)
    for name in ("duration_in_month", "age_in_years", "purpose", "credit_amount"):
        assert name in names
    assert model.feature("purpose").bin_of("car (new)") != "unknown"
    assert all(f.label and f.label != f.name for f in model.features)


def test_it_discriminates_on_german_credit(model: Scorecard, rows: list[dict[str, str]]) -> None:
    scores = [service.score(model, row).score for row in rows]
    bad = [row["creditability"] == "bad" for row in rows]
    auc = roc_auc_score(bad, [-s for s in scores])
    assert auc > 0.75
    assert auc == pytest.approx(model.metrics.train_auc, abs=1e-4)


def test_metrics_are_cross_validated(model: Scorecard) -> None:
    metrics = model.metrics
    assert metrics.cv_auc is not None
    assert metrics.cv_auc > 0.75
    assert metrics.cv_ks is not None
    assert metrics.cv_ks > 0.4
    assert (metrics.cv_folds, metrics.cv_repeats) == (5, 5)
    assert sum(b.expected_share for b in model.score_distribution) == pytest.approx(1)


def test_the_script_reproduces_the_points(model: Scorecard) -> None:
    rebuilt: Scorecard = load_script().build(folds=0)  # the points do not depend on the CV
    assert rebuilt.intercept_points == model.intercept_points
    assert rebuilt.features == model.features
    assert rebuilt.candidates == model.candidates
    assert rebuilt.score_distribution == model.score_distribution
    assert rebuilt.metrics.train_auc == model.metrics.train_auc

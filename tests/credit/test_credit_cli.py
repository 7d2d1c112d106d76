"""`openbank credit train | score | psi` through the typer sub-application."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from openbank.credit.cli import credit_app
from openbank.credit.model import FORMAT, Scorecard

runner = CliRunner()


def credit(*args: str | Path) -> Result:
    return runner.invoke(credit_app, [str(a) for a in args])


def synthetic_frame(n: int = 600, seed: int = 11) -> pd.DataFrame:
    """Income and age drive a 0/1 default; region a little; blanks and "NA" in places."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 0.5, n).round(2)
    age = rng.integers(18, 75, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    logit = -0.8 - 1.6 * (np.log(income) - 8) - 0.03 * (age - 40) + 0.7 * (region == "south")
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "income": income.astype(object),
            "age": age,
            "region": region.astype(object),
            "channel": rng.choice(["web", "branch", "app"], n),
            "default": default,
        }
    )
    frame.loc[rng.random(n) < 0.15, "income"] = ""
    frame.loc[rng.random(n) < 0.05, "income"] = "NA"
    frame.loc[rng.random(n) < 0.1, "region"] = ""
    return frame


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("credit_cli")


@pytest.fixture(scope="module")
def training_csv(workdir: Path) -> Path:
    path = workdir / "applications.csv"
    synthetic_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(training_csv: Path, workdir: Path) -> tuple[Path, dict[str, Any]]:
    model = workdir / "model.json"
    result = credit(
        "train",
        "--csv", training_csv,
        "--target", "default",
        "--bad-value", "1",
        "--exclude", "customer_id",
        "--folds", "3",
        "--out", model,
        "--name", "synthetic",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return model, summary


def test_train_json_output(trained: tuple[Path, dict[str, Any]]) -> None:
    _, summary = trained
    assert isinstance(summary["cv_auc"], float)
    assert isinstance(summary["cv_ks"], float)
    assert 0.6 < summary["cv_auc"] < 1
    assert 0 < summary["cv_ks"] < 1
    assert isinstance(summary["features"], list)
    assert "income" in summary["features"]
    assert "customer_id" not in summary["features"]
    assert all(isinstance(f, str) for f in summary["features"])
    assert summary["folds"] == 3


def test_train_writes_the_model_file(trained: tuple[Path, dict[str, Any]]) -> None:
    path, summary = trained
    raw = json.loads(path.read_text())
    assert raw["format"] == FORMAT
    assert raw["name"] == "synthetic"
    assert (raw["target"], raw["bad_value"]) == ("default", "1")
    model = Scorecard.load(path)
    assert [f.name for f in model.features] == summary["features"]
    income = model.feature("income")
    assert income.kind == "numeric"
    assert income.missing_count > 0  # blanks and "NA" both counted as missing
    assert model.metrics.cv_auc == summary["cv_auc"]


def test_train_human_output(training_csv: Path, workdir: Path) -> None:
    result = credit(
        "train", "--csv", training_csv, "--target", "default", "--bad-value", "1",
        "--exclude", "customer_id", "--folds", "0", "--no-tune", "--out", workdir / "h.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AUC" in result.stdout
    assert "wrote" in result.stdout


def test_score_json(trained: tuple[Path, dict[str, Any]], training_csv: Path) -> None:
    model, _ = trained
    result = credit("score", "--model", model, "--csv", training_csv, "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 600
    for r in records[:20]:
        assert set(r) >= {"score", "probability_of_default", "reasons"}
        assert isinstance(r["score"], int)
        assert 0 < r["probability_of_default"] < 1
        assert all(code.startswith("credit.") for code in r["reasons"])
        assert len(r["reasons"]) <= 4
    bads = pd.read_csv(training_csv)["default"].to_numpy()
    scores = np.array([r["score"] for r in records])
    assert scores[bads == 1].mean() < scores[bads == 0].mean()


def test_score_out_csv(
    trained: tuple[Path, dict[str, Any]], training_csv: Path, workdir: Path
) -> None:
    model, _ = trained
    out = workdir / "scored.csv"
    result = credit("score", "--model", model, "--csv", training_csv, "--out", out)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 600
    assert list(rows[0])[-3:] == ["score", "probability_of_default", "reasons"]
    assert rows[0]["customer_id"] == "C00000"
    assert int(rows[0]["score"]) > 0


def test_score_table(trained: tuple[Path, dict[str, Any]], training_csv: Path) -> None:
    model, _ = trained
    result = credit("score", "--model", model, "--csv", training_csv)
    assert result.exit_code == 0, result.output
    assert "score" in result.stdout
    assert "more rows" in result.stdout


def test_psi_json(trained: tuple[Path, dict[str, Any]], training_csv: Path) -> None:
    model, _ = trained
    result = credit("psi", "--model", model, "--csv", training_csv, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["psi"] == pytest.approx(0, abs=1e-9)
    assert report["verdict"] == "stable"
    assert report["rows"] == 600
    assert set(report["characteristics"]) == set(trained[1]["features"])
    human = credit("psi", "--model", model, "--csv", training_csv)
    assert human.exit_code == 0
    assert "stable" in human.stdout


def test_psi_detects_a_shift(trained: tuple[Path, dict[str, Any]], workdir: Path) -> None:
    model, _ = trained
    shifted = synthetic_frame(seed=5)
    shifted["income"] = (pd.to_numeric(shifted["income"], errors="coerce") * 4).round(2)
    path = workdir / "shifted.csv"
    shifted.to_csv(path, index=False)
    result = credit("psi", "--model", model, "--csv", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "shift"


def assert_clean_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def test_missing_target_column(training_csv: Path, workdir: Path) -> None:
    result = credit(
        "train", "--csv", training_csv, "--target", "defaulted", "--bad-value", "1",
        "--out", workdir / "x.json",
    )  # fmt: skip
    assert_clean_error(result, "target", "defaulted")
    assert not (workdir / "x.json").exists()


def test_bad_value_not_present(training_csv: Path, workdir: Path) -> None:
    result = credit(
        "train", "--csv", training_csv, "--target", "default", "--bad-value", "yes",
        "--out", workdir / "x.json", "--json",
    )  # fmt: skip
    assert_clean_error(result, "'yes'", "never occurs")


def test_one_class(workdir: Path) -> None:
    path = workdir / "one_class.csv"
    path.write_text("x,y\n1,bad\n2,bad\n3,bad\n")
    result = credit("train", "--csv", path, "--target", "y", "--bad-value", "bad", "--out", "o")
    assert_clean_error(result, "one class")


def test_unreadable_csv(workdir: Path) -> None:
    result = credit(
        "train", "--csv", workdir / "absent.csv", "--target", "y", "--bad-value", "1",
        "--out", workdir / "x.json",
    )  # fmt: skip
    assert_clean_error(result, "cannot read")
    result = credit("score", "--model", workdir / "absent.json", "--csv", workdir / "absent.csv")
    assert_clean_error(result, "cannot read model")


def test_invalid_model_file(workdir: Path, training_csv: Path) -> None:
    path = workdir / "not_a_model.json"
    path.write_text('{"format": "something else"}')
    assert_clean_error(
        credit("score", "--model", path, "--csv", training_csv), "not a valid scorecard model"
    )

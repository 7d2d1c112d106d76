"""Rebuild the shipped reference scorecard from data/german_credit.csv.

    .venv/bin/python scripts/train_german_credit.py            # writes the package's model file
    .venv/bin/python scripts/train_german_credit.py --out x.json

The same code path as `openbank credit train --csv data/german_credit.csv --target
creditability --bad-value bad --repeats 5`, with fixed seeds, so the points table comes out the
same every time. All 20 attributes stay candidates (the underwriting code maps applicants onto
them); information value, correlation and sign decide which ones score.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from openbank.credit.model import Scorecard
from openbank.credit.scorecard import TrainingSettings, load_training_data, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "german_credit.csv"
MODEL = ROOT / "src" / "openbank" / "credit" / "scorecards" / "german_credit_v1.json"
NAME, VERSION = "german_credit", "1"
TARGET, BAD_VALUE = "creditability", "bad"
FOLDS, REPEATS = 5, 5

# Labels for reason codes and reports, in the words a credit officer would use.
LABELS = {
    "status_of_existing_checking_account": "Checking account status",
    "duration_in_month": "Loan term (months)",
    "credit_history": "Credit history",
    "purpose": "Loan purpose",
    "credit_amount": "Loan amount",
    "savings_account_and_bonds": "Savings and bonds",
    "present_employment_since": "Time in current employment",
    "installment_rate_in_percentage_of_disposable_income": "Instalment as % of disposable income",
    "personal_status_and_sex": "Personal status",
    "other_debtors_or_guarantors": "Other debtors or guarantors",
    "present_residence_since": "Years at present residence",
    "property": "Property",
    "age_in_years": "Age",
    "other_installment_plans": "Other instalment plans",
    "housing": "Housing",
    "number_of_existing_credits_at_this_bank": "Existing credits at this bank",
    "job": "Job",
    "number_of_people_being_liable_to_provide_maintenance_for": "Dependants",
    "telephone": "Telephone",
    "foreign_worker": "Foreign worker",
}


def build(
    folds: int = FOLDS, repeats: int = REPEATS, trained_at: datetime | None = None
) -> Scorecard:
    """The reference scorecard; `folds=0` skips the cross-validation (the points do not
    depend on it, only the reported metrics do)."""
    data = load_training_data(DATA, TARGET, BAD_VALUE)
    outcome = train(
        data,
        TrainingSettings(),
        folds=folds,
        repeats=repeats,
        name=NAME,
        version=VERSION,
        labels=LABELS,
        trained_at=trained_at,
    )
    return outcome.scorecard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL)
    args = parser.parse_args()
    model = build()
    model.save(args.out)
    print(json.dumps({"out": str(args.out), **model.metrics.model_dump()}))


if __name__ == "__main__":
    main()

"""`openbank credit`: train a scorecard on a CSV, score a CSV with it, check its PSI.

Mounted by the main CLI as `openbank credit`. Training imports pandas, optbinning and
scikit-learn when it runs; scoring and PSI need only the model file.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openbank.credit import service
from openbank.credit.model import Scorecard

if TYPE_CHECKING:
    from openbank.credit.scorecard import TrainingOutcome

credit_app = typer.Typer(
    help="Credit scorecards: train one on a CSV (WOE binning + logistic regression + points),"
    " score applicants with it, and check population stability (PSI).",
    no_args_is_help=True,
)

console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOption = Annotated[Path, typer.Option("--model", help="Scorecard model file (JSON).")]
CsvOption = Annotated[Path, typer.Option("--csv", help="CSV with a header row.")]
TABLE_ROWS = 50


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _load_model(path: Path) -> Scorecard:
    try:
        return service.load_scorecard(path)
    except OSError as exc:
        _fail(f"cannot read model {path}: {exc.strerror or exc}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"{path} is not a valid scorecard model: {where}: {first['msg']}")


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The CSV's header and rows as text; empty cells and "NA" score as missing."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [dict(row) for row in reader]
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        _fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    if not header:
        _fail(f"{path} has no header row")
    return header, rows


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over the CV folds, on stderr so stdout stays clean."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("cross-validating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("folds", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def _training_summary(outcome: TrainingOutcome, out: Path) -> dict[str, Any]:
    model = outcome.scorecard
    cv = outcome.cv
    return {
        "cv_auc": round(cv.auc, 4) if cv else None,
        "cv_ks": round(cv.ks, 4) if cv else None,
        "cv_auc_std": round(cv.auc_std, 4) if cv else None,
        "cv_ks_std": round(cv.ks_std, 4) if cv else None,
        "folds": cv.folds if cv else 0,
        "repeats": cv.repeats if cv else 0,
        "features": service.feature_names(model),
        "dropped": {c.name: c.reason for c in model.candidates if not c.selected},
        "train_auc": model.metrics.train_auc,
        "train_ks": model.metrics.train_ks,
        "rows": model.metrics.rows,
        "bads": model.metrics.bads,
        "min_iv": model.training.get("min_iv"),
        "c": model.training.get("c"),
        "intercept_points": model.intercept_points,
        "model": str(out),
    }


@credit_app.command("train")
def train_command(
    csv_path: CsvOption,
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    bad_value: Annotated[
        str, typer.Option("--bad-value", help="The target value meaning bad (compared as text).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the model file.")],
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="A column not to use (repeatable).")
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Stratified CV folds (0: no cross-validation).")
    ] = 5,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="CV repetitions.")] = 1,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name (default: the CSV's stem).")
    ] = None,
    tune: Annotated[
        bool,
        typer.Option("--tune/--no-tune", help="Choose IV floor and regularisation by inner CV."),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold assignment.")] = 42,
    as_json: JsonFlag = False,
) -> None:
    """Train a scorecard on any CSV of numeric and categorical columns and write the model.

    Prints the cross-validated AUC and KS (held-out folds; binning refitted in each fold)."""
    from openbank.credit import scorecard

    if folds == 1 or folds < 0:
        _fail("--folds must be 0 (no cross-validation) or at least 2")
    settings = scorecard.TrainingSettings(tune=tune, seed=seed)
    try:
        data = scorecard.load_training_data(csv_path, target, bad_value, exclude or ())
        if folds:
            scorecard.cv_splits(data.bad, folds, repeats, seed)  # refuse too few rows early
        with _progress(not as_json) as tick:
            outcome = scorecard.train(
                data,
                settings,
                folds=folds,
                repeats=repeats,
                name=name or csv_path.stem,
                progress=tick,
            )
    except scorecard.TrainingDataError as exc:
        _fail(str(exc))
    try:
        outcome.scorecard.save(out)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    summary = _training_summary(outcome, out)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    model = outcome.scorecard
    if outcome.cv:
        cv = outcome.cv
        console.print(
            f"cross-validated ({cv.folds} folds x {cv.repeats}): "
            f"AUC {cv.auc:.4f} ± {cv.auc_std:.4f}, KS {cv.ks:.4f} ± {cv.ks_std:.4f}"
        )
    console.print(
        f"training rows {model.metrics.rows} (bad rate {model.metrics.bad_rate:.1%}): "
        f"AUC {model.metrics.train_auc:.4f}, KS {model.metrics.train_ks:.4f}"
    )
    table = Table(title=f"{model.name}: {len(model.features)} characteristics")
    for column in ("characteristic", "IV", "bins", "points", "trend"):
        table.add_column(column)
    for f in model.features:
        points = [b.points for b in f.bins]
        table.add_row(
            f.name, f"{f.iv:.3f}", str(len(f.bins)), f"{min(points)}..{max(points)}", f.trend
        )
    console.print(table)
    dropped = [c for c in model.candidates if not c.selected]
    if dropped:
        console.print("dropped:")
        for c in dropped:
            console.print(f"  {c.name}: {c.reason}", highlight=False)
    console.print(f"wrote {out}")


def _score_rows(model: Scorecard, rows: list[dict[str, str]]) -> list[service.ScoreResult]:
    return [service.score(model, row) for row in rows]


@credit_app.command("score")
def score_command(
    model_path: ModelOption,
    csv_path: CsvOption,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV with the scores appended.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Score each row of a CSV: score, probability of default and up to 4 reason codes."""
    model = _load_model(model_path)
    header, rows = _read_rows(csv_path)
    results = _score_rows(model, rows)
    if out is not None:
        added = ["score", "probability_of_default", "reasons"]
        try:
            with out.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([*header, *added])
                for row, result in zip(rows, results, strict=True):
                    writer.writerow(
                        [
                            *(row.get(h, "") for h in header),
                            result.score,
                            result.probability_of_default,
                            ";".join(result.reasons),
                        ]
                    )
        except OSError as exc:
            _fail(f"cannot write {out}: {exc.strerror or exc}")
    if as_json:
        records = [
            {
                "row": i,
                "score": r.score,
                "probability_of_default": r.probability_of_default,
                "reasons": list(r.reasons),
            }
            for i, r in enumerate(results, start=1)
        ]
        sys.stdout.write(json.dumps(records) + "\n")
        return
    if out is not None:
        console.print(f"scored {len(results)} rows with {model.name} v{model.version}: wrote {out}")
        return
    table = Table(title=f"{model.name} v{model.version}")
    for column in ("row", "score", "PD", "reasons"):
        table.add_column(column)
    for i, r in enumerate(results[:TABLE_ROWS], start=1):
        reasons = ", ".join(service.reason_label(model, code) for code in r.reasons)
        table.add_row(str(i), str(r.score), f"{r.probability_of_default:.2%}", reasons)
    console.print(table)
    if len(results) > TABLE_ROWS:
        console.print(f"... {len(results) - TABLE_ROWS} more rows: use --out or --json")


@credit_app.command("psi")
def psi_command(model_path: ModelOption, csv_path: CsvOption, as_json: JsonFlag = False) -> None:
    """Population stability (PSI) of a CSV's scores against the model's training scores.

    Also the stability of each characteristic over its bins (CSI)."""
    model = _load_model(model_path)
    _, rows = _read_rows(csv_path)
    if not rows:
        _fail(f"{csv_path} has no rows")
    report = service.score_psi(model, [r.score for r in _score_rows(model, rows)])
    characteristics = service.characteristic_psi(model, rows)
    if as_json:
        payload = {
            "psi": round(report.psi, 6),
            "verdict": report.verdict,
            "rows": report.count,
            "bins": [
                {
                    "band": b.label,
                    "expected_share": round(b.expected_share, 6),
                    "actual_share": round(b.actual_share, 6),
                    "count": b.count,
                }
                for b in report.bins
            ],
            "characteristics": {
                name: {"psi": round(r.psi, 6), "verdict": r.verdict}
                for name, r in characteristics.items()
            },
        }
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    table = Table(title=f"score PSI {report.psi:.4f}: {report.verdict} ({report.count} rows)")
    for column in ("score band", "expected", "actual", "PSI term"):
        table.add_column(column)
    for b in report.bins:
        table.add_row(
            b.label, f"{b.expected_share:.1%}", f"{b.actual_share:.1%}", f"{b.contribution:.4f}"
        )
    console.print(table)
    per_feature = Table(title="characteristic stability")
    for column in ("characteristic", "CSI", "verdict"):
        per_feature.add_column(column)
    for name, r in characteristics.items():
        per_feature.add_row(name, f"{r.psi:.4f}", r.verdict)
    console.print(per_feature)

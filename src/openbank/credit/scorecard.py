"""Training a credit scorecard, the way a credit risk analyst builds one by hand, automated:

1. optimal binning of each characteristic (optbinning, constraint programming): numeric values
   cut into at most `max_n_bins` intervals, categories grouped, each bin holding at least
   `min_bin_size` of the rows and some goods and bads, with a monotonic bad-rate trend (or one
   peak / valley) where optbinning's trend detector finds one; missing values get a bin of
   their own;
2. weight of evidence per bin, WOE = ln(%good / %bad), and information value per
   characteristic; those under the IV floor are dropped, and of two characteristics whose WOE
   columns correlate above `max_correlation` the one with less IV goes;
3. an L2-regularised logistic regression of bad (= 1) on the WOE columns; a characteristic
   whose coefficient comes out with the wrong sign (more WOE, more risk) is dropped and the
   regression refitted, so every points table reads the way its bad rates do;
4. points: score = offset + factor * ln(odds good), factor = PDO / ln 2, offset = base score -
   factor * ln(base odds); a bin scores round(-factor * coefficient * WOE).

The IV floor and the regularisation are chosen per training set by an inner stratified k-fold
(binning refitted in each inner fold), so cross-validation of the whole procedure never sees
its held-out rows. Nothing here is needed to *score*: see `openbank.credit.model`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise, product
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from optbinning import OptimalBinning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from openbank.credit.model import (
    MISSING_TOKENS,
    Candidate,
    Kind,
    Metrics,
    ScoreBand,
    Scorecard,
    ScorecardBin,
    ScorecardFeature,
    Trend,
    category_text,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Split = tuple[IntArray, IntArray]
Progress = Callable[[int, int], None]


class TrainingDataError(ValueError):
    """The CSV, its target or its columns cannot train a scorecard."""


@dataclass(frozen=True)
class TrainingSettings:
    """How a scorecard is built. The defaults are the ones the reference model uses."""

    max_n_bins: int = 8
    min_bin_size: float = 0.05  # share of the training rows a bin must hold
    monotonic_trend: str | None = "auto"  # optbinning: asc/desc/peak/valley as the data says
    min_iv: float = 0.02  # IV floor when not tuning (0.02: "not predictive" below)
    max_correlation: float = 0.7  # |Pearson| between WOE columns
    c: float = 1.0  # inverse L2 strength of the logistic regression when not tuning
    tune: bool = True  # choose min_iv and c by an inner k-fold
    tune_folds: int = 4
    tune_min_iv: tuple[float, ...] = (0.1, 0.05, 0.02)
    tune_c: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    base_score: float = 600.0
    base_odds: float = 50.0  # good:bad odds at the base score
    pdo: float = 20.0  # points to double the odds
    seed: int = 42


@contextmanager
def quiet() -> Iterator[None]:
    """Silence optbinning's, scikit-learn's and pandas' warnings, which would spam the CLI."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    """Candidate characteristics, the bad flag (1 = bad) and each column's kind."""

    frame: pd.DataFrame
    bad: IntArray
    kinds: dict[str, Kind]
    target: str = "bad"
    bad_value: str = "1"
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is no candidate

    def subset(self, rows: IntArray) -> TrainingData:
        return TrainingData(
            self.frame.iloc[rows].reset_index(drop=True),
            self.bad[rows],
            self.kinds,
            self.target,
            self.bad_value,
            self.skipped,
        )

    def column(self, name: str) -> npt.NDArray[Any]:
        """The column as optbinning wants it: floats, or objects (str and NaN)."""
        series = self.frame[name]
        if self.kinds[name] == "numeric":
            numbers: npt.NDArray[Any] = series.to_numpy(dtype=float, na_value=np.nan)
            return numbers
        return np.array([np.nan if pd.isna(v) else category_text(v) for v in series], dtype=object)


def read_csv(path: str | Path, target: str) -> pd.DataFrame:
    """The CSV with the target read as text and the usual missing markers as missing."""
    try:
        header = pd.read_csv(path, nrows=0)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}".splitlines()[0]) from exc
    if target not in header.columns:
        raise TrainingDataError(f"{path} has no target column {target!r}")
    try:
        return pd.read_csv(
            path,
            keep_default_na=False,
            na_values=sorted(MISSING_TOKENS),
            dtype={target: str},
            low_memory=False,
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}".splitlines()[0]) from exc


def prepare(
    frame: pd.DataFrame, target: str, bad_value: str, exclude: Sequence[str] = ()
) -> TrainingData:
    """Split a frame into candidates and the bad flag. The target is compared as text, so
    `bad_value="1"` works for a 0/1 column; every other non-missing value counts as good and
    rows with no target are left out."""
    if target not in frame.columns:
        raise TrainingDataError(f"no target column {target!r}")
    unknown = sorted(set(exclude) - set(frame.columns))
    if unknown:
        raise TrainingDataError(f"no column to exclude named {', '.join(map(repr, unknown))}")
    labels = frame[target]
    known = labels.notna().to_numpy()
    frame = frame.loc[known].reset_index(drop=True)
    text = frame[target].map(category_text)
    bad = (text == bad_value).to_numpy(dtype=np.int64)
    if not bad.any():  # "--bad-value 1" against a column written as 1.0
        as_number = pd.to_numeric(text, errors="coerce")
        with suppress(ValueError):
            bad = (as_number == float(bad_value)).to_numpy(dtype=np.int64)
    if not bad.any():
        raise TrainingDataError(f"bad value {bad_value!r} never occurs in column {target!r}")
    if bad.all():
        raise TrainingDataError(f"column {target!r} holds only {bad_value!r}: one class")
    kinds: dict[str, Kind] = {}
    skipped: dict[str, str] = {}
    for name in frame.columns:
        if name == target or name in exclude:
            continue
        series = frame[name]
        if series.isna().all():
            skipped[name] = "no values"
            continue
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        kinds[str(name)] = "numeric" if numeric else "categorical"
    if not kinds:
        raise TrainingDataError("no candidate characteristics left")
    return TrainingData(
        frame[list(kinds)], bad, kinds, target=target, bad_value=bad_value, skipped=skipped
    )


def load_training_data(
    path: str | Path, target: str, bad_value: str, exclude: Sequence[str] = ()
) -> TrainingData:
    return prepare(read_csv(path, target), target, bad_value, exclude)


# -- binning and WOE ---------------------------------------------------------------------------


def _woe(goods: float, bads: float, total_goods: float, total_bads: float) -> float:
    if goods <= 0 or bads <= 0:  # never after optbinning's constraints; keep it finite
        goods, bads = goods + 0.5, bads + 0.5
    return math.log((goods / total_goods) / (bads / total_bads))


def _trend(bad_rates: FloatArray) -> Trend:
    if len(bad_rates) < 2:
        return "none"
    steps = np.diff(bad_rates)
    if (steps >= 0).all():
        return "ascending"
    if (steps <= 0).all():
        return "descending"
    top, bottom = int(np.argmax(bad_rates)), int(np.argmin(bad_rates))
    if (steps[:top] >= 0).all() and (steps[top:] <= 0).all():
        return "peak"
    if (steps[:bottom] <= 0).all() and (steps[bottom:] >= 0).all():
        return "valley"
    return "none"


@dataclass(frozen=True, eq=False)
class Characteristic:
    """One column binned on a training set: bins, counts, WOE and IV."""

    name: str
    kind: Kind
    binning: Any  # a fitted optbinning OptimalBinning
    bounds: list[tuple[float | None, float | None]]  # numeric bins
    categories: list[list[str]]  # categorical bins
    goods: IntArray  # per regular bin
    bads: IntArray
    missing_goods: int
    missing_bads: int
    woe: FloatArray  # per regular bin
    missing_woe: float
    iv: float
    trend: Trend

    @property
    def n_bins(self) -> int:
        return len(self.goods)

    def bin_indices(self, x: npt.NDArray[Any]) -> IntArray:
        """Regular bins 0..n-1, the missing bin n, an unseen category -1."""
        index = self.binning.transform(x, metric="indices", metric_missing="empirical")
        index = np.asarray(index, dtype=np.int64)
        return np.where(index > self.n_bins, self.n_bins, index)  # n+1 is optbinning's missing

    def woe_of(self, x: npt.NDArray[Any]) -> FloatArray:
        """WOE per value; unseen categories get 0, the population's own odds."""
        table = np.append(self.woe, self.missing_woe)
        index = self.bin_indices(x)
        return np.where(index >= 0, table[np.maximum(index, 0)], 0.0)


def bin_characteristic(
    name: str, kind: Kind, x: npt.NDArray[Any], bad: IntArray, settings: TrainingSettings
) -> Characteristic:
    binning = OptimalBinning(
        name=name,
        dtype="numerical" if kind == "numeric" else "categorical",
        solver="cp",
        monotonic_trend=settings.monotonic_trend,
        max_n_bins=settings.max_n_bins,
        min_bin_size=settings.min_bin_size,
        min_bin_n_event=1,
        min_bin_n_nonevent=1,
    )
    binning.fit(x, bad)
    n_bad = np.asarray(binning.binning_table.n_event, dtype=np.int64)
    n_good = np.asarray(binning.binning_table.n_nonevent, dtype=np.int64)
    # optbinning's table: the regular bins, then one "Special" bin (unused), then "Missing".
    goods, bads = n_good[:-2], n_bad[:-2]
    missing_goods, missing_bads = int(n_good[-1]), int(n_bad[-1])
    total_goods, total_bads = float(n_good.sum()), float(n_bad.sum())
    woe = np.array([_woe(g, b, total_goods, total_bads) for g, b in zip(goods, bads, strict=True)])
    # The missing bin may be small: credibility-weight its bad rate towards the population's,
    # with the weight of a minimum-size bin, so an empty missing bin is exactly neutral (WOE 0).
    prior_rows = settings.min_bin_size * (total_goods + total_bads)
    population_rate = total_bads / (total_goods + total_bads)
    missing_rows = missing_goods + missing_bads
    rate = (missing_bads + prior_rows * population_rate) / (missing_rows + prior_rows)
    missing_woe = math.log((1 - rate) / rate * total_bads / total_goods)
    shares = np.append(goods, missing_goods) / total_goods - np.append(bads, missing_bads) / (
        total_bads
    )
    iv = float(np.sum(shares * np.append(woe, missing_woe)))
    if kind == "numeric":
        splits = [float(s) for s in binning.splits]
        edges: list[float | None] = [None, *splits, None]
        bounds = list(pairwise(edges))
        categories: list[list[str]] = []
    else:
        bounds = []
        categories = [[str(c) for c in group] for group in binning.splits]
    rates = bads / np.maximum(goods + bads, 1)
    return Characteristic(
        name,
        kind,
        binning,
        bounds,
        categories,
        goods,
        bads,
        missing_goods,
        missing_bads,
        woe,
        missing_woe,
        iv,
        _trend(rates.astype(np.float64)),
    )


def bin_all(data: TrainingData, settings: TrainingSettings) -> dict[str, Characteristic]:
    """Bin every candidate; one that optbinning cannot bin is left out."""
    binned: dict[str, Characteristic] = {}
    with quiet():
        for name, kind in data.kinds.items():
            try:
                binned[name] = bin_characteristic(name, kind, data.column(name), data.bad, settings)
            except (ValueError, TypeError):  # e.g. no values in this fold
                continue
    return binned


def woe_matrix(chars: Sequence[Characteristic], data: TrainingData) -> FloatArray:
    with quiet():
        columns = [c.woe_of(data.column(c.name)) for c in chars]
    return np.column_stack(columns) if columns else np.zeros((len(data.bad), 0))


# -- selection and regression ------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The characteristics kept, the regression on their WOE, and why the others went."""

    kept: list[Characteristic]
    intercept: float
    coefficients: FloatArray
    reasons: dict[str, str]


def select_and_fit(
    chars: Sequence[Characteristic],
    woe: FloatArray,
    bad: IntArray,
    *,
    min_iv: float,
    max_correlation: float,
    c: float,
) -> Selection:
    """IV floor, then the correlation filter by descending IV, then the regression, dropping
    wrong-signed characteristics until every coefficient reads the way its WOE does. `woe`
    holds one column per element of `chars`, in that order."""
    column = {ch.name: i for i, ch in enumerate(chars)}
    with quiet():
        corr: FloatArray | None = (
            np.nan_to_num(np.atleast_2d(np.corrcoef(woe, rowvar=False)))
            if woe.shape[1] > 1
            else None
        )
    reasons: dict[str, str] = {}
    kept: list[Characteristic] = []
    ranked = sorted(chars, key=lambda ch: (-ch.iv, ch.name))
    for ch in ranked:
        if ch.iv < min_iv:
            reasons[ch.name] = f"IV {ch.iv:.3f} below the floor {min_iv:g}"
            continue
        if corr is not None:
            clash = [
                (abs(corr[column[ch.name], column[k.name]]), k.name)
                for k in kept
                if abs(corr[column[ch.name], column[k.name]]) > max_correlation
            ]
            if clash:
                r, other = max(clash)
                reasons[ch.name] = f"WOE correlates {r:.2f} with {other} (higher IV)"
                continue
        kept.append(ch)
    if not kept:  # nothing reaches the floor: the single most informative one, if any
        best = ranked[0] if ranked and ranked[0].iv > 0 else None
        if best is None:
            raise TrainingDataError("no characteristic separates goods from bads")
        kept.append(best)
        reasons.pop(best.name, None)
    while True:
        model = LogisticRegression(C=c, max_iter=1000)
        with quiet():
            model.fit(woe[:, [column[ch.name] for ch in kept]], bad)
        coefficients = np.asarray(model.coef_[0], dtype=np.float64)
        # bad = 1 and WOE = ln(%good / %bad): a sound coefficient is negative.
        worst = int(np.argmax(coefficients))
        if coefficients[worst] < 0 or len(kept) == 1:
            break
        reasons[kept[worst].name] = (
            f"coefficient has the wrong sign ({coefficients[worst]:+.3f}) next to the others"
        )
        del kept[worst]
    for ch in kept:
        reasons[ch.name] = f"IV {ch.iv:.3f}"
    return Selection(kept, float(model.intercept_[0]), coefficients, reasons)


def _auc_ks(bad: IntArray, risk: FloatArray) -> tuple[float, float]:
    """AUC and KS of a risk measure (higher = riskier) against the bad flag."""
    auc = float(roc_auc_score(bad, risk))
    fpr, tpr, _ = roc_curve(bad, risk)
    return auc, float(np.max(tpr - fpr))


def tune(data: TrainingData, settings: TrainingSettings) -> tuple[float, float, dict[str, float]]:
    """Choose the IV floor and the regularisation by an inner stratified k-fold on `data`
    alone, binning refitted in each inner fold. Returns (min_iv, c, mean AUC per choice)."""
    grid = list(product(settings.tune_min_iv, settings.tune_c))
    smallest_class = int(min(data.bad.sum(), len(data.bad) - data.bad.sum()))
    if not settings.tune or smallest_class < 2 * settings.tune_folds or len(grid) == 1:
        return settings.min_iv, settings.c, {}
    aucs: dict[tuple[float, float], list[float]] = {choice: [] for choice in grid}
    splitter = StratifiedKFold(settings.tune_folds, shuffle=True, random_state=settings.seed)
    for fit_rows, check_rows in splitter.split(np.zeros(len(data.bad)), data.bad):
        fit, check = data.subset(fit_rows), data.subset(check_rows)
        chars = list(bin_all(fit, settings).values())
        woe_fit, woe_check = woe_matrix(chars, fit), woe_matrix(chars, check)
        position = {ch.name: i for i, ch in enumerate(chars)}
        for min_iv, c in grid:
            try:
                sel = select_and_fit(
                    chars,
                    woe_fit,
                    fit.bad,
                    min_iv=min_iv,
                    max_correlation=settings.max_correlation,
                    c=c,
                )
            except TrainingDataError:
                aucs[min_iv, c].append(0.5)
                continue
            index = [position[ch.name] for ch in sel.kept]
            risk = woe_check[:, index] @ sel.coefficients
            aucs[min_iv, c].append(float(roc_auc_score(check.bad, risk)))
    # The grid runs from the sparest choice (highest floor, strongest regularisation); a
    # richer one must do strictly better to win.
    best = max(
        grid, key=lambda choice: (round(float(np.mean(aucs[choice])), 4), -grid.index(choice))
    )
    table = {f"min_iv={m:g} C={c:g}": round(float(np.mean(aucs[m, c])), 4) for m, c in grid}
    return best[0], best[1], table


# -- the scorecard -----------------------------------------------------------------------------


def _label(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else name


@dataclass(frozen=True)
class CvResult:
    """Held-out AUC and KS of each fold."""

    folds: int
    repeats: int
    aucs: tuple[float, ...]
    kss: tuple[float, ...]

    @property
    def auc(self) -> float:
        return float(np.mean(self.aucs))

    @property
    def auc_std(self) -> float:
        return float(np.std(self.aucs))

    @property
    def ks(self) -> float:
        return float(np.mean(self.kss))

    @property
    def ks_std(self) -> float:
        return float(np.std(self.kss))


@dataclass(frozen=True)
class FittedScorecard:
    """The model file plus the fitted binnings, to score frames the way training did."""

    scorecard: Scorecard
    characteristics: dict[str, Characteristic]

    def points_matrix(self, data: TrainingData) -> IntArray:
        """Each row's points per characteristic, bins assigned by optbinning's transform."""
        columns = []
        with quiet():
            for feature in self.scorecard.features:
                ch = self.characteristics[feature.name]
                table = np.array(
                    [b.points for b in feature.bins] + [feature.missing_points], dtype=np.int64
                )
                index = ch.bin_indices(data.column(feature.name))
                columns.append(
                    np.where(index >= 0, table[np.maximum(index, 0)], feature.unknown_points)
                )
        matrix: IntArray = np.column_stack(columns).astype(np.int64)
        return matrix

    def scores(self, data: TrainingData) -> IntArray:
        total: IntArray = self.points_matrix(data).sum(axis=1) + self.scorecard.intercept_points
        return total


def score_bands(scores: IntArray, n_bands: int = 10) -> list[ScoreBand]:
    """Decile bands of the training scores (ties merge bands) with their exact shares."""
    edges = sorted({float(q) for q in np.quantile(scores, np.arange(1, n_bands) / n_bands)})
    edges = [e for e in edges if scores.min() < e <= scores.max()]
    bounds: list[float | None] = [None, *edges, None]
    bands = []
    for lower, upper in pairwise(bounds):
        inside = np.ones(len(scores), dtype=bool)
        if lower is not None:
            inside &= scores >= lower
        if upper is not None:
            inside &= scores < upper
        bands.append(ScoreBand(lower=lower, upper=upper, expected_share=float(inside.mean())))
    return bands


def fit_scorecard(
    data: TrainingData,
    settings: TrainingSettings | None = None,
    *,
    name: str = "scorecard",
    version: str = "1",
    labels: dict[str, str] | None = None,
    cv: CvResult | None = None,
    trained_at: datetime | None = None,
) -> FittedScorecard:
    """Bin, select, regress and scale `data` into a scorecard (tuning inside `data` only)."""
    settings = settings or TrainingSettings()
    labels = labels or {}
    min_iv, c, tuning = tune(data, settings)
    binned = bin_all(data, settings)
    chars = list(binned.values())
    sel = select_and_fit(
        chars,
        woe_matrix(chars, data),
        data.bad,
        min_iv=min_iv,
        max_correlation=settings.max_correlation,
        c=c,
    )
    factor = settings.pdo / math.log(2)
    offset = settings.base_score - factor * math.log(settings.base_odds)
    features = []
    for ch, coefficient in zip(sel.kept, sel.coefficients, strict=True):

        def points(woe: float, coefficient: float = float(coefficient)) -> int:
            return round(-factor * coefficient * woe)

        bins = [
            ScorecardBin(
                lower=ch.bounds[i][0] if ch.kind == "numeric" else None,
                upper=ch.bounds[i][1] if ch.kind == "numeric" else None,
                categories=ch.categories[i] if ch.kind == "categorical" else None,
                woe=round(float(ch.woe[i]), 6),
                points=points(float(ch.woe[i])),
                count=int(ch.goods[i] + ch.bads[i]),
                bad_rate=round(float(ch.bads[i] / (ch.goods[i] + ch.bads[i])), 6),
            )
            for i in range(ch.n_bins)
        ]
        missing_rows = ch.missing_goods + ch.missing_bads
        features.append(
            ScorecardFeature(
                name=ch.name,
                label=labels.get(ch.name, _label(ch.name)),
                kind=ch.kind,
                iv=round(ch.iv, 6),
                coefficient=round(float(coefficient), 6),
                trend=ch.trend,
                bins=bins,
                missing_woe=round(ch.missing_woe, 6),
                missing_points=points(ch.missing_woe),
                missing_count=missing_rows,
                missing_bad_rate=round(ch.missing_bads / missing_rows, 6) if missing_rows else None,
                unknown_points=0,
            )
        )
    candidates = [
        Candidate(
            name=name_,
            kind=kind,
            iv=round(binned[name_].iv, 6) if name_ in binned else 0.0,
            selected=any(ch.name == name_ for ch in sel.kept),
            reason=sel.reasons.get(name_, "could not be binned"),
        )
        for name_, kind in data.kinds.items()
    ]
    draft = Scorecard(
        name=name,
        version=version,
        trained_at=trained_at or datetime.now(UTC).replace(microsecond=0),
        target=data.target,
        bad_value=data.bad_value,
        base_score=settings.base_score,
        base_odds=settings.base_odds,
        pdo=settings.pdo,
        intercept_points=round(offset - factor * sel.intercept),
        features=features,
        metrics=Metrics(train_auc=0.5, train_ks=0.0, rows=0, bads=0, bad_rate=0.0),
        score_distribution=[],
        candidates=candidates,
        training={
            "settings": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()
            },
            "min_iv": min_iv,
            "c": c,
            "tuning_auc": tuning,
            "skipped": dict(data.skipped),
        },
    )
    fitted = FittedScorecard(draft, {ch.name: ch for ch in sel.kept})
    scores = fitted.scores(data)
    train_auc, train_ks = _auc_ks(data.bad, -scores.astype(np.float64))
    bads = int(data.bad.sum())
    metrics = Metrics(
        cv_auc=round(cv.auc, 4) if cv else None,
        cv_auc_std=round(cv.auc_std, 4) if cv else None,
        cv_ks=round(cv.ks, 4) if cv else None,
        cv_ks_std=round(cv.ks_std, 4) if cv else None,
        cv_folds=cv.folds if cv else 0,
        cv_repeats=cv.repeats if cv else 0,
        train_auc=round(train_auc, 4),
        train_ks=round(train_ks, 4),
        rows=len(data.bad),
        bads=bads,
        bad_rate=round(bads / len(data.bad), 4),
    )
    final = draft.model_copy(update={"metrics": metrics, "score_distribution": score_bands(scores)})
    return FittedScorecard(Scorecard.model_validate(final.model_dump()), fitted.characteristics)


# -- cross-validation --------------------------------------------------------------------------


def cv_splits(bad: IntArray, folds: int = 5, repeats: int = 1, seed: int = 42) -> list[Split]:
    """Stratified k-fold, optionally repeated, with fixed seeds (the bench shares these)."""
    if folds < 2:
        raise TrainingDataError("cross-validation needs at least 2 folds")
    smallest_class = int(min(bad.sum(), len(bad) - bad.sum()))
    if smallest_class < folds:
        raise TrainingDataError(
            f"{folds}-fold cross-validation needs at least {folds} rows of each class;"
            f" the smaller class has {smallest_class}"
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [
        (np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        for a, b in splitter.split(np.zeros(len(bad)), bad)
    ]


def cross_validate(
    data: TrainingData,
    settings: TrainingSettings | None = None,
    *,
    folds: int = 5,
    repeats: int = 1,
    splits: Sequence[Split] | None = None,
    progress: Progress | None = None,
) -> CvResult:
    """Held-out AUC and KS: everything (binning, tuning, selection, regression) is fitted on
    the training part of each fold and judged on its held-out part only."""
    settings = settings or TrainingSettings()
    splits = (
        list(splits) if splits is not None else cv_splits(data.bad, folds, repeats, settings.seed)
    )
    aucs, kss = [], []
    for done, (fit_rows, check_rows) in enumerate(splits, start=1):
        fitted = fit_scorecard(data.subset(fit_rows), settings)
        check = data.subset(check_rows)
        auc, ks = _auc_ks(check.bad, -fitted.scores(check).astype(np.float64))
        aucs.append(auc)
        kss.append(ks)
        if progress is not None:
            progress(done, len(splits))
    return CvResult(folds, repeats, tuple(aucs), tuple(kss))


@dataclass(frozen=True)
class TrainingOutcome:
    fitted: FittedScorecard
    cv: CvResult | None

    @property
    def scorecard(self) -> Scorecard:
        return self.fitted.scorecard


def train(
    data: TrainingData,
    settings: TrainingSettings | None = None,
    *,
    folds: int = 5,
    repeats: int = 1,
    name: str = "scorecard",
    version: str = "1",
    labels: dict[str, str] | None = None,
    progress: Progress | None = None,
    trained_at: datetime | None = None,
) -> TrainingOutcome:
    """Cross-validate (folds >= 2; 0 skips it), then fit the scorecard on all rows."""
    settings = settings or TrainingSettings()
    cv = (
        cross_validate(data, settings, folds=folds, repeats=repeats, progress=progress)
        if folds
        else None
    )
    fitted = fit_scorecard(
        data, settings, name=name, version=version, labels=labels, cv=cv, trained_at=trained_at
    )
    return TrainingOutcome(fitted, cv)

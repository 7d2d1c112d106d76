"""The scorecard model file (`openbank.scorecard/1`): a points table a credit analyst can read,
serialised as JSON, and the pure-Python lookup that scores with it.

Scoring needs nothing but this module: no optbinning, pandas or numpy, so a service can load a
model file and score an applicant in microseconds. Each characteristic maps a value to one bin:

* numeric: right-open intervals `[lower, upper)` cut at the training split points (the first
  bin is open below, the last open above);
* categorical: the bin whose `categories` hold the value;
* missing (None, NaN, an empty cell or a pandas missing marker such as "NA"): the missing bin's
  points; when training saw no missing values the missing bin is empty and scores as neutral;
* unknown (a category training never saw, or text where a number belongs): `unknown_points`,
  the neutral choice: a WOE of 0, i.e. the training population's average odds, so 0 points.

Points are relative to that neutral level: a bin scores `-factor * coefficient * WOE` where
`factor = PDO / ln 2`, and `intercept_points` carries the rest of the score, so 0 points on a
characteristic means "no evidence either way".
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

FORMAT: Final = "openbank.scorecard/1"

# The cells pandas reads as missing by default; the CLI reads CSVs with exactly these, and the
# lookup treats the same strings as missing, so training and scoring agree on what "missing" is.
MISSING_TOKENS: frozenset[str] = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

Kind = Literal["numeric", "categorical"]
Trend = Literal["ascending", "descending", "peak", "valley", "none"]
BinRef = int | Literal["missing", "unknown"]
Value = str | float | int | None


def is_missing(value: object) -> bool:
    """Whether a raw value counts as missing (None, NaN or a missing-value marker)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value in MISSING_TOKENS


def category_text(value: str | float | int) -> str:
    """The text a categorical value was stored as in a CSV: integral numbers lose their `.0`."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScorecardBin(_Frozen):
    """One row of a characteristic's points table."""

    lower: float | None = Field(
        default=None, description="numeric: inclusive lower bound; null = no lower bound"
    )
    upper: float | None = Field(
        default=None, description="numeric: exclusive upper bound; null = no upper bound"
    )
    categories: list[str] | None = Field(default=None, description="categorical: the values")
    woe: float = Field(description="weight of evidence, ln(%good / %bad); positive = lower risk")
    points: int
    count: int = Field(ge=0, description="training rows in the bin")
    bad_rate: float | None = Field(description="training bad rate; null for an empty bin")

    @model_serializer(mode="wrap")
    def _only_what_applies(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A numeric bin is written with its bounds, a categorical one with its categories."""
        data: dict[str, Any] = handler(self)
        drop = ("lower", "upper") if self.categories is not None else ("categories",)
        return {k: v for k, v in data.items() if k not in drop}

    def describe(self) -> str:
        """The bin as an analyst writes it: `[12, 24)` or `{rent, for free}`."""
        if self.categories is not None:
            return "{" + ", ".join(self.categories) + "}"
        low = "-inf" if self.lower is None else f"{self.lower:g}"
        high = "inf" if self.upper is None else f"{self.upper:g}"
        return f"[{low}, {high})"


class ScorecardFeature(_Frozen):
    """A characteristic: its bins with WOE and points, plus the missing and unknown cases."""

    name: str
    label: str = Field(description="human-readable name")
    kind: Kind
    iv: float = Field(description="information value of the binned characteristic")
    coefficient: float = Field(description="logistic-regression coefficient on WOE (bad = 1)")
    trend: Trend = Field(description="shape of the bad rate across the listed bins")
    bins: list[ScorecardBin] = Field(min_length=1)
    missing_woe: float
    missing_points: int
    missing_count: int = Field(ge=0)
    missing_bad_rate: float | None
    unknown_points: int = Field(description="points for an unseen category or unreadable number")

    _splits: list[float] = PrivateAttr(default_factory=list)
    _category_bin: dict[str, int] = PrivateAttr(default_factory=dict)
    _best: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _bins_cover_everything(self) -> ScorecardFeature:
        """Numeric bins must tile the real line in order; categorical bins must not overlap."""
        if self.kind == "numeric":
            if any(b.categories is not None for b in self.bins):
                raise ValueError(f"{self.name}: numeric bins have no categories")
            if self.bins[0].lower is not None or self.bins[-1].upper is not None:
                raise ValueError(f"{self.name}: numeric bins must be open at both ends")
            for left, right in zip(self.bins, self.bins[1:], strict=False):
                if left.upper is None or right.lower != left.upper:
                    raise ValueError(f"{self.name}: numeric bins must be contiguous")
                if right.upper is not None and right.upper <= right.lower:
                    raise ValueError(f"{self.name}: numeric bins must ascend")
        else:
            seen: set[str] = set()
            for b in self.bins:
                if b.categories is None or b.lower is not None or b.upper is not None:
                    raise ValueError(f"{self.name}: categorical bins list categories only")
                if seen & set(b.categories):
                    raise ValueError(f"{self.name}: a category is in two bins")
                seen |= set(b.categories)
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Compile the lookup once, so scoring is a bisect or a dict hit per characteristic."""
        if self.kind == "numeric":
            self._splits = [b.upper for b in self.bins[:-1] if b.upper is not None]
        else:
            self._category_bin = {
                category: i for i, b in enumerate(self.bins) for category in b.categories or ()
            }
        best = max(b.points for b in self.bins)
        self._best = max(best, self.missing_points) if self.missing_count else best

    @property
    def max_points(self) -> int:
        """The best points this characteristic gives (its best populated bin)."""
        return self._best

    def bin_of(self, value: Value) -> BinRef:
        """The bin index a raw value falls in, or "missing" / "unknown"."""
        if is_missing(value):
            return "missing"
        assert value is not None
        if self.kind == "numeric":
            try:
                number = float(value)
            except ValueError:
                return "unknown"
            if math.isnan(number):
                return "missing"
            return bisect_right(self._splits, number)
        index = self._category_bin.get(category_text(value))
        return "unknown" if index is None else index

    def points_of(self, value: Value) -> int:
        """The points a raw value scores on this characteristic."""
        ref = self.bin_of(value)
        if ref == "missing":
            return self.missing_points
        if ref == "unknown":
            return self.unknown_points
        return self.bins[ref].points


class ScoreBand(_Frozen):
    """One band of the training score distribution, the PSI baseline."""

    lower: float | None = Field(description="inclusive; null = no lower bound")
    upper: float | None = Field(description="exclusive; null = no upper bound")
    expected_share: float = Field(ge=0, le=1, description="share of training rows")


class Metrics(BaseModel):
    """Discrimination measured in training; cross-validated figures are on held-out folds."""

    model_config = ConfigDict(frozen=True, extra="allow")

    cv_auc: float | None = None
    cv_auc_std: float | None = None
    cv_ks: float | None = None
    cv_ks_std: float | None = None
    cv_folds: int = 0
    cv_repeats: int = 0
    train_auc: float
    train_ks: float
    rows: int
    bads: int
    bad_rate: float


class Candidate(_Frozen):
    """A column considered in training and what became of it."""

    name: str
    kind: Kind
    iv: float
    selected: bool
    reason: str = Field(description="why it was kept or dropped")


class Scorecard(_Frozen):
    """A trained scorecard: everything scoring needs, and the evidence behind it."""

    format: Literal["openbank.scorecard/1"] = FORMAT
    name: str
    version: str
    trained_at: datetime
    target: str
    bad_value: str
    base_score: float
    base_odds: float = Field(gt=0, description="good:bad odds at the base score")
    pdo: float = Field(gt=0, description="points to double the odds")
    intercept_points: int
    features: list[ScorecardFeature] = Field(min_length=1)
    metrics: Metrics
    score_distribution: list[ScoreBand]
    candidates: list[Candidate] = Field(default_factory=list)
    training: dict[str, Any] = Field(default_factory=dict, description="settings used")

    _by_name: dict[str, ScorecardFeature] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._by_name = {f.name: f for f in self.features}

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: PDO / ln 2."""
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        """The score at even odds (1:1): base score - factor * ln(base odds)."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def feature(self, name: str) -> ScorecardFeature:
        return self._by_name[name]

    def points(self, applicant: Mapping[str, Value]) -> list[int]:
        """Each characteristic's points, in the model's order; absent keys count as missing."""
        return [f.points_of(applicant.get(f.name)) for f in self.features]

    def score_of(self, applicant: Mapping[str, Value]) -> int:
        return self.intercept_points + sum(self.points(applicant))

    def probability_of_default(self, score: float) -> float:
        """The bad probability the score stands for: odds(good) = e^((score - offset) / factor)."""
        log_odds_good = (score - self.offset) / self.factor
        if log_odds_good >= 0:
            return math.exp(-log_odds_good) / (1.0 + math.exp(-log_odds_good))
        return 1.0 / (1.0 + math.exp(log_odds_good))

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Scorecard:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

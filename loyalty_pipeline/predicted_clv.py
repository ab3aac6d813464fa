"""The predicted-CLV step: BG/NBD and Gamma-Gamma fitted for every day a run restates.

For each reporting day d the models are fitted on the completed-order history up to d
(`loyalty_pipeline.clv`, docs/clv.md). A purchase is a purchase day (two orders of one
customer on one day are one purchase). The per-customer summaries on d — x (repeat purchase
days), t_x (days from the first to the last purchase day), T (days from the first purchase
day to d) and the revenue of the repeat purchase days — are computed by DuckDB for every day
of the run at once, and customers with the same summary collapse into one row with a count:
the fits are weighted by it and run over distinct rows only.

The warehouse is read in one read-only session, a span of SUMMARY_SPAN_DAYS days per query,
whose per-day results are spooled to a temporary Parquet file, and closed before any fitting:
the step never holds the warehouse open, and its memory is bounded by one span's summaries and
one day's distinct rows, not by the run's length.

A day's file records a digest of what its fit depended on; a later run that restates the day
with the same inputs (the usual case in the lookback: no late order changed that day's
history) reuses the recorded fit instead of fitting again, so a daily run fits about one day
whatever the lookback, and its cost does not grow with the days it restates.
"""

import dataclasses
import datetime as dt
import hashlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy

from loyalty_pipeline import clv
from loyalty_pipeline.partitions import chunks, partition_days
from loyalty_pipeline.resources import WAREHOUSE_POOL, ClvModel, Warehouse

DAILY_KEY = dg.AssetKey(["clv", "daily_predictions"])
CUSTOMERS_KEY = dg.AssetKey(["clv", "customer_predictions"])
PURCHASE_DAYS_KEY = dg.AssetKey(["int_customer_purchase_days"])
FIT_QUALITY_CHECK = "clv_fit_quality"
# The catalogue's horizon, and the holdout the calibration check predicts (a quarter).
HORIZON_MONTHS = 12
HOLDOUT_DAYS = 90
FITTED = "fitted"
_SPOOL_BATCH_ROWS = 500_000
# DuckDB would take up to 80 % of the machine for the summaries; past this it spills to the
# step's temporary folder. Measured with 1M customers and 36 days (11.4M summary rows): peak
# process memory 1.7 GiB without a limit, 0.8 GiB with this one, 2 s slower.
DUCKDB_MEMORY_LIMIT = "512MB"
# Days per summaries query. The query's memory grows with customers x days, and not all of it
# spills: at L a 90-day chunk's 125 days (689,000 customers) ran out of the limit above, 30 days
# ran within it; each span costs one more pass over the purchase days (about a second at L).
SUMMARY_SPAN_DAYS = 14

# Each customer's state on each summary day d from $summary_first to $summary_last: the
# customer's last purchase day up to d (the row of purchase_sequence with purchase_date <= d <
# next_purchase_date; after the last purchase, up to $last_day, the run's last day) carries x,
# t_x and the repeat revenue; T = d - first purchase day. later_purchase_days counts the
# purchase days after it up to $last_day: on the holdout's calibration day, the purchases to
# predict.
_CUSTOMER_STATES = """
with purchase_days as (
    select customer_id, purchase_date, revenue
    from int_customer_purchase_days
    where purchase_date <= $last_day
),

purchase_sequence as (
    select
        customer_id,
        purchase_date,
        lead(purchase_date, 1, cast($last_day as date) + 1) over customer_days as next_purchase_date,
        first_value(purchase_date) over customer_days as first_purchase_date,
        count(*) over customer_days - 1 as frequency,
        sum(revenue) over customer_days - first_value(revenue) over customer_days as repeat_revenue,
        count(*) over (partition by customer_id) - count(*) over customer_days as later_purchase_days
    from purchase_days
    window customer_days as (partition by customer_id order by purchase_date)
),

summary_days as (
    select cast(unnest(generate_series(
        cast($summary_first as timestamp), cast($summary_last as timestamp), interval 1 day
    )) as date) as summary_date
),

customer_states as (
    select
        summary_days.summary_date,
        purchase_sequence.customer_id,
        purchase_sequence.frequency,
        purchase_sequence.purchase_date - purchase_sequence.first_purchase_date as recency,
        summary_days.summary_date - purchase_sequence.first_purchase_date as age,
        purchase_sequence.repeat_revenue,
        case
            when summary_days.summary_date = cast($holdout_day as date) then purchase_sequence.later_purchase_days
            else 0
        end as holdout_purchases
    from summary_days
    inner join purchase_sequence
        on summary_days.summary_date >= purchase_sequence.purchase_date
        and summary_days.summary_date < purchase_sequence.next_purchase_date
)
"""

# One row per day and distinct state, with the number of customers in it: the fits' input.
SUMMARIES_SQL = (
    _CUSTOMER_STATES
    + """
select
    summary_date,
    frequency,
    recency,
    age,
    cast(repeat_revenue as double) as repeat_revenue,
    holdout_purchases,
    count(*) as customers
from customer_states
group by all
order by summary_date
"""
)

# One row per customer on the last day: the per-customer predictions' input.
CUSTOMER_SUMMARIES_SQL = (
    _CUSTOMER_STATES
    + """
select
    customer_id,
    frequency,
    recency,
    age,
    cast(repeat_revenue as double) as repeat_revenue
from customer_states
where summary_date = cast($last_day as date)
order by customer_id
"""
)

# The company's revenue and gross margin of completed orders up to each summary day.
MARGIN_SQL = """
with daily_totals as (
    select purchase_date, sum(revenue) as revenue, sum(gross_margin) as gross_margin
    from int_customer_purchase_days
    where purchase_date <= $last_day
    group by purchase_date
),

summary_days as (
    select cast(unnest(generate_series(
        cast($first_day as timestamp), cast($last_day as timestamp), interval 1 day
    )) as date) as summary_date
)

select
    summary_days.summary_date,
    cast(coalesce(sum(daily_totals.revenue), 0) as double) as revenue,
    cast(coalesce(sum(daily_totals.gross_margin), 0) as double) as gross_margin
from summary_days
left join daily_totals on daily_totals.purchase_date <= summary_days.summary_date
group by summary_days.summary_date
order by summary_days.summary_date
"""


@dataclass(frozen=True)
class DayFit:
    """The models fitted on the history up to one day, and the day's mean predicted CLV."""

    day: dt.date
    customers: int
    repeat_customers: int
    gross_margin_rate: float | None
    monthly_discount_rate: float
    bgnbd: clv.BGNBDModel | None = None
    gamma_gamma: clv.GammaGammaModel | None = None
    spend_frequency_correlation: float | None = None
    clv_sum: float | None = None
    status: str = FITTED

    @property
    def clv_mean(self) -> float | None:
        return self.clv_sum / self.customers if self.clv_sum is not None and self.customers else None

    @property
    def spend_model(self) -> clv.GammaGammaModel | None:
        """The Gamma-Gamma fit when its mean spend is finite (q > 1), else None."""
        return self.gamma_gamma if self.gamma_gamma is not None and self.gamma_gamma.q > 1 else None

    @property
    def converged(self) -> bool:
        """Every model fitted on the day converged (True when nothing was fitted)."""
        return all(model.converged for model in (self.bgnbd, self.gamma_gamma) if model is not None)

    def row(self) -> dict[str, Any]:
        """The day's row of the daily file (see DAILY_SCHEMA)."""
        bgnbd, gamma_gamma = self.bgnbd, self.gamma_gamma
        return {
            "as_of_date": self.day,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "clv_predicted_12m_sum": self.clv_sum,
            "clv_predicted_12m_avg": self.clv_mean,
            "gross_margin_rate": self.gross_margin_rate,
            "monthly_discount_rate": self.monthly_discount_rate,
            "fit_status": self.status,
            "bgnbd_r": bgnbd.r if bgnbd else None,
            "bgnbd_alpha": bgnbd.alpha if bgnbd else None,
            "bgnbd_a": bgnbd.a if bgnbd else None,
            "bgnbd_b": bgnbd.b if bgnbd else None,
            "bgnbd_log_likelihood": bgnbd.log_likelihood if bgnbd else None,
            "bgnbd_converged": bgnbd.converged if bgnbd else None,
            "gamma_gamma_p": gamma_gamma.p if gamma_gamma else None,
            "gamma_gamma_q": gamma_gamma.q if gamma_gamma else None,
            "gamma_gamma_gamma": gamma_gamma.gamma if gamma_gamma else None,
            "gamma_gamma_log_likelihood": gamma_gamma.log_likelihood if gamma_gamma else None,
            "gamma_gamma_converged": gamma_gamma.converged if gamma_gamma else None,
            "spend_frequency_correlation": self.spend_frequency_correlation,
        }


DAILY_SCHEMA = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("customers", pa.int64()),
        ("repeat_customers", pa.int64()),
        ("clv_predicted_12m_sum", pa.float64()),
        ("clv_predicted_12m_avg", pa.float64()),
        ("gross_margin_rate", pa.float64()),
        ("monthly_discount_rate", pa.float64()),
        ("fit_status", pa.string()),
        ("bgnbd_r", pa.float64()),
        ("bgnbd_alpha", pa.float64()),
        ("bgnbd_a", pa.float64()),
        ("bgnbd_b", pa.float64()),
        ("bgnbd_log_likelihood", pa.float64()),
        ("bgnbd_converged", pa.bool_()),
        ("gamma_gamma_p", pa.float64()),
        ("gamma_gamma_q", pa.float64()),
        ("gamma_gamma_gamma", pa.float64()),
        ("gamma_gamma_log_likelihood", pa.float64()),
        ("gamma_gamma_converged", pa.bool_()),
        ("spend_frequency_correlation", pa.float64()),
    ]
)

CUSTOMERS_SCHEMA = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("customer_id", pa.string()),
        ("frequency", pa.int64()),
        ("recency_days", pa.int64()),
        ("age_days", pa.int64()),
        ("mean_repeat_spend", pa.float64()),
        ("probability_alive", pa.float64()),
        ("expected_purchases_12m", pa.float64()),
        ("expected_spend_per_purchase", pa.float64()),
        ("clv_predicted_12m", pa.float64()),
    ]
)


# --- reading the warehouse --------------------------------------------------------------------


@dataclass(frozen=True)
class Summaries:
    """What the fits need from the warehouse, read in one session: per-day distinct summaries
    (spooled to a Parquet file, sorted by day), the last day's per-customer summaries, and the
    company's revenue and gross margin up to each day."""

    spool_path: Path
    customers: pd.DataFrame
    margins: pd.DataFrame

    def of_day(self, day: dt.date) -> pd.DataFrame:
        """The distinct (x, t_x, T, repeat revenue, holdout purchases) rows of one day with their counts.

        Sorted here (the spool is sorted by day only, which is cheaper): every sum the fits take
        then runs in one order, and the same data give bit-identical fits.
        """
        table = pq.read_table(self.spool_path, filters=[("summary_date", "=", day)]).drop_columns(["summary_date"])
        return table.to_pandas().sort_values(table.column_names, ignore_index=True)

    def margin(self, day: dt.date) -> tuple[float, float]:
        """Revenue and gross margin of the completed orders up to the day."""
        row = self.margins.loc[pd.Timestamp(day)]
        return float(row["revenue"]), float(row["gross_margin"])


def summary_spans(first_day: dt.date, last_day: dt.date, holdout_day: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The days to summarise, in order, as spans of at most SUMMARY_SPAN_DAYS days; the holdout's
    calibration day is a span of its own when it comes before the run's days."""
    spans = list(chunks(first_day, last_day, SUMMARY_SPAN_DAYS))
    return [(holdout_day, holdout_day), *spans] if holdout_day < first_day else spans


def read_summaries(
    warehouse_path: Path, first_day: dt.date, last_day: dt.date, holdout_day: dt.date, spool_dir: Path
) -> Summaries:
    """Run the summary queries against the warehouse (read-only) and close it before returning."""
    spool_path = spool_dir / "summaries.parquet"
    config = {"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(spool_dir / "duckdb")}
    with duckdb.connect(str(warehouse_path), read_only=True, config=config) as connection:
        writer: pq.ParquetWriter | None = None
        try:
            for span_first, span_last in summary_spans(first_day, last_day, holdout_day):
                parameters = {"summary_first": span_first, "summary_last": span_last}
                parameters |= {"last_day": last_day, "holdout_day": holdout_day}
                reader = connection.sql(SUMMARIES_SQL, params=parameters).to_arrow_reader(_SPOOL_BATCH_ROWS)
                writer = writer or pq.ParquetWriter(spool_path, reader.schema)
                for batch in reader:
                    writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
        customers = _customer_summaries(connection, last_day)
        margins = connection.execute(MARGIN_SQL, {"first_day": first_day, "last_day": last_day}).df()
    margins["summary_date"] = pd.to_datetime(margins["summary_date"])
    return Summaries(spool_path=spool_path, customers=customers, margins=margins.set_index("summary_date"))


def customer_summaries(warehouse_path: Path, day: dt.date) -> pd.DataFrame:
    """Each customer's (frequency, recency, age, repeat_revenue) as of the day, by customer_id."""
    with duckdb.connect(str(warehouse_path), read_only=True) as connection:
        return _customer_summaries(connection, day)


def _customer_summaries(connection: duckdb.DuckDBPyConnection, day: dt.date) -> pd.DataFrame:
    parameters = {"summary_first": day, "summary_last": day, "last_day": day, "holdout_day": day}
    return connection.execute(CUSTOMER_SUMMARIES_SQL, parameters).df()


# --- fitting ------------------------------------------------------------------------------------


def bgnbd_groups(rows: pd.DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, age) with their customers and the sum of their repeat revenue."""
    weighted = rows.assign(repeat_revenue=rows["repeat_revenue"].clip(lower=0) * rows["customers"])
    return (
        weighted.groupby(["frequency", "recency", "age"], sort=True)[["customers", "repeat_revenue"]]
        .sum()
        .reset_index()
    )


def weighted_correlation(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float | None:
    """Pearson correlation of x and y with row weights; None when either does not vary."""
    total = weights.sum()
    if total == 0:
        return None
    dx = x - (weights @ x) / total
    dy = y - (weights @ y) / total
    variance_x, variance_y = weights @ (dx * dx), weights @ (dy * dy)
    if variance_x <= 0 or variance_y <= 0:
        return None
    return float((weights @ (dx * dy)) / np.sqrt(variance_x * variance_y))


def fit_day(
    day: dt.date, rows: pd.DataFrame, revenue: float, gross_margin: float, monthly_discount_rate: float
) -> DayFit:
    """Fit both models on one day's summaries and compute the sum of the customers' predicted CLV.

    The sum is exact from the distinct (x, t_x, T) groups: a customer's CLV is
    margin x discounted purchases(x, t_x, T) x p (gamma + x m) / (p x + q - 1), linear in the
    repeat revenue x m, so a group's CLV sum needs only its count and its repeat revenue.
    """
    customers = int(rows["customers"].sum())
    repeat = rows[rows["frequency"] > 0]
    repeat_customers = int(repeat["customers"].sum())
    margin_rate = gross_margin / revenue if revenue > 0 else None
    fit = DayFit(
        day=day,
        customers=customers,
        repeat_customers=repeat_customers,
        gross_margin_rate=margin_rate,
        monthly_discount_rate=monthly_discount_rate,
    )
    if customers == 0:
        return replace(fit, status="no customers yet")
    if repeat_customers == 0:
        return replace(fit, status="no repeat purchases yet")
    groups = bgnbd_groups(rows)
    x = groups["frequency"].to_numpy(np.float64)
    t_x = groups["recency"].to_numpy(np.float64)
    age = groups["age"].to_numpy(np.float64)
    weights = groups["customers"].to_numpy(np.float64)
    try:
        bgnbd = clv.fit_bgnbd(x, t_x, age, weights=weights)
    except ValueError as error:
        return replace(fit, status=f"BG/NBD not fitted: {error}")
    spenders = repeat.groupby(["frequency", "repeat_revenue"], sort=True)["customers"].sum().reset_index()
    repeat_x = spenders["frequency"].to_numpy(np.float64)
    repeat_mean = spenders["repeat_revenue"].to_numpy(np.float64) / repeat_x
    repeat_weights = spenders["customers"].to_numpy(np.float64)
    correlation = weighted_correlation(repeat_x, repeat_mean, repeat_weights)
    fit = replace(fit, bgnbd=bgnbd, spend_frequency_correlation=correlation)
    # The Gamma-Gamma spend of a purchase is positive: repeat customers whose repeat days
    # brought no revenue cannot be fitted (their predictions use a mean spend of 0).
    spending = repeat_mean > 0
    try:
        gamma_gamma = clv.fit_gamma_gamma(repeat_x[spending], repeat_mean[spending], weights=repeat_weights[spending])
    except ValueError as error:
        return replace(fit, status=f"Gamma-Gamma not fitted: {error}")
    fit = replace(fit, gamma_gamma=gamma_gamma)
    if fit.spend_model is None:
        return replace(fit, status="Gamma-Gamma q <= 1: the expected spend is infinite")
    if margin_rate is None or not 0 <= margin_rate <= 1:
        return replace(fit, status=f"gross margin rate {margin_rate} is not a fraction in [0, 1]")
    by_month = clv.expected_purchases_by_period(bgnbd, x, t_x, age, periods=HORIZON_MONTHS)
    discounted_purchases = by_month @ clv.discount_factors(HORIZON_MONTHS, monthly_discount_rate)
    spend_share = gamma_gamma.p / (gamma_gamma.p * x + gamma_gamma.q - 1.0)
    spend_total = weights * gamma_gamma.gamma + groups["repeat_revenue"].to_numpy(np.float64)
    clv_sum = float(margin_rate * np.sum(discounted_purchases * spend_share * spend_total))
    if not np.isfinite(clv_sum):
        return replace(fit, status="the predicted CLV is not finite")
    return replace(fit, clv_sum=clv_sum)


# --- reusing the fits of unchanged days ------------------------------------------------------

# Keys of a daily file's Parquet metadata: the digest of the day's fit inputs, and the fit.
INPUTS_DIGEST_KEY = b"loyalty.clv.inputs_sha256"
FIT_KEY = b"loyalty.clv.fit"
FIT_INPUT_COLUMNS = ["frequency", "recency", "age", "repeat_revenue"]


def _code_digest() -> str:
    """The fitting code and the numerical libraries: a change to either invalidates recorded fits."""
    code = inspect.getsource(clv) + inspect.getsource(fit_day) + inspect.getsource(bgnbd_groups)
    return hashlib.sha256(f"{code}{np.__version__}{scipy.__version__}".encode()).hexdigest()


def fit_inputs_digest(rows: pd.DataFrame, revenue: float, gross_margin: float, monthly_discount_rate: float) -> str:
    """sha256 of everything fit_day reads: the day's distinct summaries with their customers
    (the holdout counts, which fit_day does not read, summed out), the company's revenue and
    gross margin, the discount rate, and the fitting code."""
    inputs = rows.groupby(FIT_INPUT_COLUMNS, sort=True)["customers"].sum().reset_index()
    digest = hashlib.sha256(_code_digest().encode())
    for column in [*FIT_INPUT_COLUMNS, "customers"]:
        values = np.ascontiguousarray(inputs[column].to_numpy())
        digest.update(f"{column}:{values.dtype.str}:{len(values)}".encode())
        digest.update(values.tobytes())
    digest.update(repr((float(revenue), float(gross_margin), float(monthly_discount_rate))).encode())
    return digest.hexdigest()


def fit_to_json(fit: DayFit) -> str:
    """The fit as JSON; floats keep every bit (repr round-trips), the day is ISO."""
    return json.dumps(dataclasses.asdict(fit), default=dt.date.isoformat)


def fit_from_json(text: str) -> DayFit:
    """The DayFit fit_to_json wrote."""
    fields = json.loads(text)
    bgnbd, gamma_gamma = fields.pop("bgnbd"), fields.pop("gamma_gamma")
    return DayFit(
        **{**fields, "day": dt.date.fromisoformat(fields["day"])},
        bgnbd=clv.BGNBDModel(**bgnbd) if bgnbd else None,
        gamma_gamma=clv.GammaGammaModel(**gamma_gamma) if gamma_gamma else None,
    )


def recorded_fit(path: Path, inputs_digest: str) -> DayFit | None:
    """The fit a day's file records, when it was fitted on inputs with this digest; else None."""
    if not path.exists():
        return None
    metadata = pq.read_schema(path).metadata or {}
    if metadata.get(INPUTS_DIGEST_KEY, b"").decode() != inputs_digest or FIT_KEY not in metadata:
        return None
    return fit_from_json(metadata[FIT_KEY].decode())


def daily_table(fit: DayFit, inputs_digest: str) -> pa.Table:
    """The day's one-row file, with its fit and the digest of its inputs in the file's metadata."""
    schema = DAILY_SCHEMA.with_metadata({INPUTS_DIGEST_KEY: inputs_digest.encode(), FIT_KEY: fit_to_json(fit).encode()})
    return pa.Table.from_pylist([fit.row()], schema=schema)


def predict_customers(fit: DayFit, summaries: pd.DataFrame) -> pa.Table:
    """Every customer's summary and predictions as of the fit's day (null where a model is missing)."""
    n = len(summaries)
    x = summaries["frequency"].to_numpy(np.float64)
    t_x = summaries["recency"].to_numpy(np.float64)
    age = summaries["age"].to_numpy(np.float64)
    repeat_revenue = summaries["repeat_revenue"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_spend = np.where(x > 0, repeat_revenue / x, np.nan)
    spend_input = np.where(x > 0, np.maximum(np.nan_to_num(mean_spend), 0.0), 0.0)
    missing = np.full(n, np.nan)
    alive = purchases = spend = value = missing
    if fit.bgnbd is not None and n:
        alive = clv.probability_alive(fit.bgnbd, x, t_x, age)
        purchases = clv.expected_purchases(fit.bgnbd, HORIZON_MONTHS * clv.DAYS_PER_MONTH, x, t_x, age)
    if fit.spend_model is not None and n:
        spend = clv.expected_spend_per_purchase(fit.spend_model, x, spend_input)
    if fit.clv_sum is not None and n:
        value = clv.predicted_clv(
            fit.bgnbd,
            fit.spend_model,
            x,
            t_x,
            age,
            spend_input,
            margin_rate=fit.gross_margin_rate,
            months=HORIZON_MONTHS,
            monthly_discount_rate=fit.monthly_discount_rate,
        )
    columns = {
        "as_of_date": pa.array([fit.day] * n, pa.date32()),
        "customer_id": pa.array(summaries["customer_id"], pa.string()),
        "frequency": pa.array(summaries["frequency"], pa.int64()),
        "recency_days": pa.array(summaries["recency"], pa.int64()),
        "age_days": pa.array(summaries["age"], pa.int64()),
        "mean_repeat_spend": pa.array(mean_spend, pa.float64(), from_pandas=True),
        "probability_alive": pa.array(alive, pa.float64(), from_pandas=True),
        "expected_purchases_12m": pa.array(purchases, pa.float64(), from_pandas=True),
        "expected_spend_per_purchase": pa.array(spend, pa.float64(), from_pandas=True),
        "clv_predicted_12m": pa.array(value, pa.float64(), from_pandas=True),
    }
    return pa.table(columns, schema=CUSTOMERS_SCHEMA)


@dataclass(frozen=True)
class Holdout:
    """The calibration check of the last day: fitted up to `calibration_day`, predicting the next HOLDOUT_DAYS."""

    calibration_day: dt.date
    check: clv.HoldoutCheck | None
    status: str


def holdout(calibration_day: dt.date, rows: pd.DataFrame, fitted: clv.BGNBDModel | None) -> Holdout:
    """Predicted against actual repeat purchase days in the HOLDOUT_DAYS after calibration_day.

    `rows` are the calibration day's summaries with each group's purchase days after it;
    `fitted` is that day's BG/NBD fit when the run made it already (the same data, the same fit).
    """
    model = fitted
    if model is None:
        groups = bgnbd_groups(rows)
        try:
            model = clv.fit_bgnbd(groups["frequency"], groups["recency"], groups["age"], weights=groups["customers"])
        except ValueError as error:
            return Holdout(calibration_day, None, f"not available: BG/NBD not fitted on {calibration_day}: {error}")
    check = clv.holdout_check(
        model,
        rows["frequency"],
        rows["recency"],
        rows["age"],
        HOLDOUT_DAYS,
        rows["holdout_purchases"],
        weights=rows["customers"],
    )
    return Holdout(calibration_day, check, FITTED)


# --- files ------------------------------------------------------------------------------------


def write_parquet_atomically(table: pa.Table, path: Path) -> None:
    """Replace path with the table: written beside it and renamed over it, so readers see one or the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)


def restated_days(window: dg.TimeWindow, warehouse: Warehouse) -> list[dt.date]:
    """The run's partition days and the lookback before them: the days kpi_daily rewrites."""
    days = partition_days(window)
    start = dt.date.fromisoformat(warehouse.start_date)
    first = max(start, days[0] - dt.timedelta(days=warehouse.lookback_days))
    return [first + dt.timedelta(days=offset) for offset in range((days[-1] - first).days + 1)]


@dataclass(frozen=True)
class RunOutcome:
    """What one materialisation fitted and wrote, and where its time went."""

    fits: dict[dt.date, DayFit]
    holdout: Holdout
    customer_rows: int
    seconds: dict[str, float]
    # Days whose recorded fit was reused because their inputs had not changed.
    reused: frozenset[dt.date] = frozenset()


def predict(warehouse_path: Path, clv_model: ClvModel, days: Sequence[dt.date], log: Any | None = None) -> RunOutcome:
    """Fit every day of `days` (consecutive), write their daily files and the last day's customer file."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now

    last = days[-1]
    calibration_day = last - dt.timedelta(days=HOLDOUT_DAYS)
    clv_model.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".summaries-", dir=clv_model.root) as spool_dir:
        summaries = read_summaries(warehouse_path, days[0], last, calibration_day, Path(spool_dir))
        lap("summaries_sql")
        fits, reused = {}, set()
        for day in days:
            rows = summaries.of_day(day)
            revenue, gross_margin = summaries.margin(day)
            digest = fit_inputs_digest(rows, revenue, gross_margin, clv_model.monthly_discount_rate)
            path = clv_model.daily_path(day.isoformat())
            recorded = recorded_fit(path, digest)
            if recorded is not None:
                fits[day] = recorded
                reused.add(day)
                continue
            fits[day] = fit_day(day, rows, revenue, gross_margin, clv_model.monthly_discount_rate)
            write_parquet_atomically(daily_table(fits[day], digest), path)
            if log is not None and fits[day].status != FITTED:
                log.info(f"predicted CLV {day}: {fits[day].status}")
        lap("daily_fits")
        calibrated = fits.get(calibration_day)
        calibration = holdout(
            calibration_day, summaries.of_day(calibration_day), calibrated.bgnbd if calibrated else None
        )
        lap("holdout")
        customers = predict_customers(fits[last], summaries.customers)
    write_parquet_atomically(customers, clv_model.customers_path(last.isoformat()))
    lap("customer_predictions")
    seconds["total"] = round(sum(seconds.values()), 3)
    return RunOutcome(fits, calibration, customers.num_rows, seconds, frozenset(reused))


# --- the Dagster asset ------------------------------------------------------------------------


def fit_quality(fits: Sequence[DayFit], max_correlation: float) -> dg.AssetCheckResult:
    """Warn when a day's fit did not converge or frequency and spend correlate (Gamma-Gamma assumes not)."""
    fitted = [fit for fit in fits if fit.bgnbd is not None]
    not_converged = [fit.day.isoformat() for fit in fitted if not fit.converged]
    correlated = {
        fit.day.isoformat(): round(fit.spend_frequency_correlation, 4)
        for fit in fitted
        if fit.spend_frequency_correlation is not None and abs(fit.spend_frequency_correlation) > max_correlation
    }
    problems = []
    if not_converged:
        problems.append(f"the fit did not converge on {len(not_converged)} day(s), first {not_converged[0]}")
    if correlated:
        first = next(iter(correlated))
        problems.append(
            f"|corr(frequency, mean repeat spend)| exceeds {max_correlation} on {len(correlated)} day(s), "
            f"first {first} ({correlated[first]})"
        )
    return dg.AssetCheckResult(
        asset_key=DAILY_KEY,
        check_name=FIT_QUALITY_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "days_judged": len(fits),
            "days_fitted": len(fitted),
            "days_not_converged": dg.MetadataValue.json(not_converged),
            "days_correlated": dg.MetadataValue.json(correlated),
            "max_spend_frequency_correlation": max_correlation,
        },
    )


def diagnostics(outcome: RunOutcome) -> dict[str, Any]:
    """Asset metadata: the last day's fit, the holdout check, and how the run went."""
    last = outcome.fits[max(outcome.fits)]
    statuses: dict[str, int] = {}
    for fit in outcome.fits.values():
        statuses[fit.status] = statuses.get(fit.status, 0) + 1
    metadata: dict[str, Any] = {
        "as_of_date": last.day.isoformat(),
        "fit_status": last.status,
        "customers": last.customers,
        "repeat_customers": last.repeat_customers,
        "clv_predicted_12m_avg": last.clv_mean,
        "gross_margin_rate": last.gross_margin_rate,
        "monthly_discount_rate": last.monthly_discount_rate,
        "spend_frequency_correlation": last.spend_frequency_correlation,
        "days": f"{min(outcome.fits)}..{max(outcome.fits)}",
        "days_fitted": statuses.get(FITTED, 0),
        "days_reused_unchanged": len(outcome.reused),
        "days_by_status": dg.MetadataValue.json(statuses),
        "seconds": outcome.seconds["total"],
        "seconds_by_phase": dg.MetadataValue.json(outcome.seconds),
    }
    if last.bgnbd is not None:
        metadata.update({f"bgnbd_{name}": value for name, value in last.bgnbd.params.items()})
        metadata["bgnbd_log_likelihood"] = last.bgnbd.log_likelihood
        metadata["bgnbd_converged"] = last.bgnbd.converged
    if last.gamma_gamma is not None:
        metadata.update({f"gamma_gamma_{name}": value for name, value in last.gamma_gamma.params.items()})
        metadata["gamma_gamma_log_likelihood"] = last.gamma_gamma.log_likelihood
        metadata["gamma_gamma_converged"] = last.gamma_gamma.converged
    check = outcome.holdout.check
    metadata["holdout_calibration_day"] = outcome.holdout.calibration_day.isoformat()
    metadata["holdout_days"] = HOLDOUT_DAYS
    if check is None:
        metadata["holdout_status"] = outcome.holdout.status
    else:
        metadata.update(
            {
                "holdout_customers": check.n_customers,
                "holdout_predicted_repeat_purchases": check.predicted_total,
                "holdout_actual_repeat_purchases": check.actual_total,
                "holdout_relative_error": check.relative_error,
                "holdout_mean_absolute_error": check.mean_absolute_error,
            }
        )
    return {name: value for name, value in metadata.items() if value is not None}


def build_clv_assets(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The predicted-CLV files as one step with two assets, and its fit-quality check."""

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key=DAILY_KEY,
                deps=[PURCHASE_DAYS_KEY],
                group_name="clv",
                kinds={"python", "parquet"},
                description=(
                    "One row per reporting day d a run restates (its partitions and the lookback before them), "
                    "`clv/daily/<d>.parquet`: BG/NBD and Gamma-Gamma fitted on the completed-order history up "
                    "to d, their diagnostics, and the mean predicted 12-month CLV over customers with a "
                    "completed order (`clv_predicted_12m_avg` in kpi_daily). See docs/clv.md."
                ),
            ),
            dg.AssetSpec(
                key=CUSTOMERS_KEY,
                deps=[PURCHASE_DAYS_KEY],
                group_name="clv",
                kinds={"python", "parquet"},
                description=(
                    "One row per customer with a completed order, as of the run's last day, "
                    "`clv/customers/<d>.parquet`: frequency, recency, age, mean repeat spend, probability "
                    "alive, expected purchases and spend, predicted 12-month CLV (customer_value's columns)."
                ),
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                FIT_QUALITY_CHECK,
                asset=DAILY_KEY,
                description=(
                    "Warns when a day's BG/NBD or Gamma-Gamma fit did not converge, or when the correlation "
                    "of purchase frequency and mean repeat spend (which Gamma-Gamma assumes to be near zero) "
                    "exceeds LOYALTY_CLV_MAX_SPEND_FREQUENCY_CORRELATION. Never blocks publishing."
                ),
            )
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="predicted_clv",
        pool=WAREHOUSE_POOL,
    )
    def predicted_clv(
        context: dg.AssetExecutionContext, warehouse: Warehouse, clv_model: ClvModel
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        days = restated_days(context.partition_time_window, warehouse)
        if "shop" in warehouse.disabled_sources:
            # No orders, so nothing to fit; dbt reads no files then (the KPI is absent).
            context.log.info("the shop source is switched off: no predicted CLV")
            for key in (DAILY_KEY, CUSTOMERS_KEY):
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"dagster/row_count": 0, "skipped": "the shop source is switched off"}
                )
            yield fit_quality([], clv_model.max_spend_frequency_correlation)
            return
        outcome = predict(warehouse.database_path, clv_model, days, log=context.log)
        last = outcome.fits[days[-1]]
        context.log.info(
            f"predicted CLV for {len(days)} day(s) {days[0]}..{days[-1]} in {outcome.seconds['total']:.1f}s; "
            f"{days[-1]}: {last.status}, mean {last.clv_mean}"
        )
        yield dg.MaterializeResult(
            asset_key=DAILY_KEY,
            metadata={
                "dagster/row_count": len(outcome.fits),
                "location": str(clv_model.root / "daily"),
                **diagnostics(outcome),
            },
        )
        yield dg.MaterializeResult(
            asset_key=CUSTOMERS_KEY,
            metadata={
                "dagster/row_count": outcome.customer_rows,
                "location": str(clv_model.customers_path(days[-1].isoformat())),
            },
        )
        # The run's own partitions: the lookback days were judged when their partitions ran.
        partitions = partition_days(context.partition_time_window)
        yield fit_quality([outcome.fits[day] for day in partitions], clv_model.max_spend_frequency_correlation)

    return predicted_clv

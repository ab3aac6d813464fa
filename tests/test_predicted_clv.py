"""The predicted-CLV step (loyalty_pipeline/predicted_clv.py) through Dagster and dbt, on the small generated sources.

Each customer's summary is recomputed here in pandas from the raw orders, independently of
the step's SQL, and the predictions from it with `loyalty_pipeline.clv` and the parameters
the step stored in its daily file: they must be what customer_value publishes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from loyalty_pipeline import clv, predicted_clv
from loyalty_pipeline.definitions import build_definitions
from loyalty_pipeline.predicted_clv import CUSTOMERS_KEY, DAILY_KEY, FIT_QUALITY_CHECK, FITTED
from loyalty_pipeline.runner import run_range
from loyalty_pipeline.settings import Settings
from tests.helpers import SMALL, day, source_settings, warehouse_query

LAST = day(SMALL.start, SMALL.days - 1)


@pytest.fixture(scope="module")
def clv_run(tmp_path_factory: pytest.TempPathFactory, small_sources: Path) -> Settings:
    """The whole small period materialised in one run: extraction, dbt, predicted CLV, dbt, checks, publish."""
    settings = source_settings(tmp_path_factory.mktemp("predicted_clv") / "data", small_sources, SMALL.start)
    run_range(settings, SMALL.start, LAST, chunk_days=SMALL.days, echo=lambda _: None)
    return settings


def _materialize_clv(settings: Settings, partition: dt.date) -> dg.ExecuteInProcessResult:
    """Re-run only the predicted-CLV step for one partition, over the warehouse the run built."""
    defs = build_definitions(settings)
    asset = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and DAILY_KEY in a.keys)
    return dg.materialize([asset], resources=defs.resources, partition_key=partition.isoformat())


def _raw(settings: Settings, table: str) -> pd.DataFrame:
    paths = sorted((settings.raw_dir / "shop" / table).glob("*.parquet"))
    return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)


def _latest(frame: pd.DataFrame, key: list[str], order: list[str]) -> pd.DataFrame:
    return frame.sort_values(key + order).drop_duplicates(key, keep="last")


def completed_orders(settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """Completed orders up to as_of with revenue and COGS, from the latest delivered version of each order and line."""
    orders = _latest(_raw(settings, "orders"), ["order_id"], ["updated_at", "_partition_date", "_extracted_at"])
    items = _latest(_raw(settings, "order_items"), ["order_id", "line_number"], ["_partition_date", "_extracted_at"])
    items["revenue"] = items["quantity"] * items["unit_price"] - items["discount_amount"]
    items["cogs"] = items["quantity"] * items["unit_cost"]
    totals = items.groupby("order_id")[["revenue", "cogs"]].sum()
    completed = orders[orders["status"] == "completed"].join(totals, on="order_id")
    completed["purchase_date"] = completed["ordered_at"].dt.date  # reporting time zone UTC
    return completed[completed["purchase_date"] <= as_of]


def summaries_in_pandas(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """x, t_x, T (days) and mean repeat spend per customer: a purchase is a purchase day."""
    days = orders.groupby(["customer_id", "purchase_date"])["revenue"].sum().reset_index()
    rows = []
    for customer_id, history in days.groupby("customer_id"):
        history = history.sort_values("purchase_date")
        first, last = history["purchase_date"].iloc[0], history["purchase_date"].iloc[-1]
        repeat = history["revenue"].iloc[1:]
        rows.append(
            {
                "customer_id": customer_id,
                "frequency": len(history) - 1,
                "recency_days": (last - first).days,
                "age_days": (as_of - first).days,
                "mean_repeat_spend": repeat.mean() if len(repeat) else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("customer_id").sort_index()


def models_of(daily: pd.Series) -> tuple[clv.BGNBDModel, clv.GammaGammaModel]:
    """The fitted models as the step stored them in its daily file."""
    common = {"iterations": 0, "message": "", "n_unique_rows": 0}
    bgnbd = clv.BGNBDModel(
        r=daily["bgnbd_r"],
        alpha=daily["bgnbd_alpha"],
        a=daily["bgnbd_a"],
        b=daily["bgnbd_b"],
        log_likelihood=daily["bgnbd_log_likelihood"],
        converged=bool(daily["bgnbd_converged"]),
        n_customers=int(daily["customers"]),
        **common,
    )
    gamma_gamma = clv.GammaGammaModel(
        p=daily["gamma_gamma_p"],
        q=daily["gamma_gamma_q"],
        gamma=daily["gamma_gamma_gamma"],
        log_likelihood=daily["gamma_gamma_log_likelihood"],
        converged=bool(daily["gamma_gamma_converged"]),
        n_customers=int(daily["repeat_customers"]),
        **common,
    )
    return bgnbd, gamma_gamma


def test_customer_value_holds_the_predictions_of_independently_computed_summaries(clv_run: Settings) -> None:
    daily = pd.read_parquet(clv_run.clv_dir / "daily" / f"{LAST}.parquet").iloc[0]
    assert daily["fit_status"] == FITTED
    orders = completed_orders(clv_run, LAST)
    expected = summaries_in_pandas(orders, LAST)
    margin_rate = (orders["revenue"] - orders["cogs"]).sum() / orders["revenue"].sum()
    assert daily["gross_margin_rate"] == pytest.approx(margin_rate, rel=1e-12)
    assert daily["customers"] == len(expected)
    assert daily["repeat_customers"] == (expected["frequency"] > 0).sum()

    # The step's own per-customer summaries (its SQL) are the pandas ones.
    stored = pd.read_parquet(clv_run.clv_dir / "customers" / f"{LAST}.parquet").set_index("customer_id").sort_index()
    assert stored.index.equals(expected.index)
    for column in ("frequency", "recency_days", "age_days"):
        assert (stored[column] == expected[column]).all(), column
    np.testing.assert_allclose(stored["mean_repeat_spend"], expected["mean_repeat_spend"], rtol=1e-12)
    assert expected["frequency"].max() >= 2, "the small sources have customers with several repeat days"

    # customer_value publishes what loyalty_pipeline.clv predicts from them.
    published = pd.DataFrame(
        warehouse_query(
            clv_run,
            "select customer_id, completed_orders, probability_alive, expected_purchases_12m,"
            " expected_spend_per_purchase, clv_predicted_12m from customer_value order by customer_id",
        ),
        columns=["customer_id", "completed_orders", "alive", "purchases", "spend", "value"],
    ).set_index("customer_id")
    buyers = published[published["completed_orders"] > 0]
    assert buyers.index.equals(expected.index)
    assert buyers[["alive", "purchases", "spend", "value"]].notna().all().all()
    assert published.loc[published["completed_orders"] == 0, ["alive", "value"]].isna().all().all()
    assert ((buyers["alive"] >= 0) & (buyers["alive"] <= 1)).all()

    bgnbd, gamma_gamma = models_of(daily)
    x, t_x, age = (expected[column].to_numpy(float) for column in ("frequency", "recency_days", "age_days"))
    spend = expected["mean_repeat_spend"].fillna(0).to_numpy()
    np.testing.assert_allclose(buyers["alive"], clv.probability_alive(bgnbd, x, t_x, age), rtol=1e-9)
    twelve_months = clv.expected_purchases(bgnbd, 12 * clv.DAYS_PER_MONTH, x, t_x, age)
    np.testing.assert_allclose(buyers["purchases"], twelve_months, rtol=1e-9)
    np.testing.assert_allclose(buyers["spend"], clv.expected_spend_per_purchase(gamma_gamma, x, spend), rtol=1e-9)
    value = clv.predicted_clv(bgnbd, gamma_gamma, x, t_x, age, spend, margin_rate=margin_rate)
    np.testing.assert_allclose(buyers["value"], value, rtol=1e-9)

    # The daily KPI is the mean over the same customers.
    (kpi,) = warehouse_query(
        clv_run,
        "select value, numerator, denominator from kpi_daily"
        f" where kpi = 'clv_predicted_12m_avg' and segment_type = 'all' and date = '{LAST}'",
    )
    assert kpi[0] == pytest.approx(buyers["value"].mean(), rel=1e-9)
    assert kpi[2] == len(buyers)


def test_every_restated_day_has_the_kpi_and_a_fit(clv_run: Settings) -> None:
    rows = warehouse_query(
        clv_run,
        "select date, stage, segment_type, value, numerator, denominator from kpi_daily"
        " where kpi = 'clv_predicted_12m_avg' order by date",
    )
    assert [row[0] for row in rows] == [day(SMALL.start, n) for n in range(SMALL.days)]
    assert {(row[1], row[2]) for row in rows} == {("efficiency", "all")}, "company level only"
    daily = pd.read_parquet(clv_run.clv_dir / "daily").set_index("as_of_date").sort_index()
    for date, _, _, value, numerator, denominator in rows:
        fit = daily.loc[date]
        assert denominator == fit["customers"]
        if fit["fit_status"] == FITTED:
            assert numerator == pytest.approx(fit["clv_predicted_12m_sum"], rel=1e-12)
            assert value == pytest.approx(numerator / denominator, rel=1e-12)
        else:  # e.g. no repeat purchases yet: null, never an error
            assert (value, numerator) == (None, None), date
    assert rows[-1][3] is not None


def test_rerunning_a_partition_rewrites_identical_files(clv_run: Settings, tmp_path: Path) -> None:
    before = tmp_path / "before"
    shutil.copytree(clv_run.clv_dir, before, ignore=shutil.ignore_patterns(".*"))

    result = _materialize_clv(clv_run, LAST)

    assert result.success
    files = sorted(path.relative_to(before) for path in before.rglob("*.parquet"))
    assert len(files) == SMALL.days + 1  # a daily file per restated day and the customers of the last
    for name in files:
        assert (clv_run.clv_dir / name).read_bytes() == (before / name).read_bytes(), name
    assert not list(clv_run.clv_dir.glob(".summaries-*")), "the spooled summaries are removed"
    (daily,) = [event for event in result.get_asset_materialization_events() if event.asset_key == DAILY_KEY]
    metadata = daily.materialization.metadata
    assert {"bgnbd_r", "gamma_gamma_q", "bgnbd_converged", "customers", "holdout_status", "seconds"} <= set(metadata)


def _copy_of_run(settings: Settings, folder: Path, with_fits: bool) -> Settings:
    """The run's warehouse, and its predicted-CLV files when asked, in a data folder of their own."""
    copy = dataclasses.replace(settings, data_dir=folder)
    (folder / "warehouse").mkdir(parents=True)
    shutil.copyfile(settings.warehouse_path, copy.warehouse_path)
    if with_fits:
        shutil.copytree(settings.clv_dir, copy.clv_dir)
    return copy


def _daily_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    (daily,) = [event for event in result.get_asset_materialization_events() if event.asset_key == DAILY_KEY]
    return {name: value.value for name, value in daily.materialization.metadata.items()}


def test_a_day_is_fitted_again_only_when_its_inputs_changed(clv_run: Settings, tmp_path: Path) -> None:
    """A re-run reuses the recorded fit of every restated day whose history is unchanged; a changed
    purchase refits its day and every later one, and the files equal those of fitting from nothing."""
    first = max(SMALL.start, day(LAST, -clv_run.lookback_days))
    restated = [day(first, offset) for offset in range((LAST - first).days + 1)]
    settings = _copy_of_run(clv_run, tmp_path / "reused", with_fits=True)

    unchanged = _daily_metadata(_materialize_clv(settings, LAST))

    assert unchanged["days_reused_unchanged"] == len(restated)
    changed_day = day(LAST, -10)
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        (deleted,) = connection.execute(
            "delete from int_customer_purchase_days where purchase_date = ?"
            " and customer_id = (select min(customer_id) from int_customer_purchase_days where purchase_date = ?)"
            " returning customer_id",
            [changed_day, changed_day],
        ).fetchall()
    assert deleted
    before = {path.name: path.read_bytes() for path in (settings.clv_dir / "daily").glob("*.parquet")}

    changed = _daily_metadata(_materialize_clv(settings, LAST))

    assert changed["days_reused_unchanged"] == restated.index(changed_day)
    rewritten = {
        path.name for path in (settings.clv_dir / "daily").glob("*.parquet") if path.read_bytes() != before[path.name]
    }
    assert rewritten == {f"{d}.parquet" for d in restated if d >= changed_day}
    # Fitting the same warehouse with no recorded fits gives the very same files.
    fresh = _copy_of_run(settings, tmp_path / "fresh", with_fits=False)
    assert _daily_metadata(_materialize_clv(fresh, LAST))["days_reused_unchanged"] == 0
    for d in restated:
        name = Path("daily") / f"{d}.parquet"
        assert (fresh.clv_dir / name).read_bytes() == (settings.clv_dir / name).read_bytes(), d
    customers = Path("customers") / f"{LAST}.parquet"
    assert (fresh.clv_dir / customers).read_bytes() == (settings.clv_dir / customers).read_bytes()


def test_the_fit_check_warns_above_the_correlation_threshold(clv_run: Settings) -> None:
    def evaluation(threshold: float) -> dg.AssetCheckEvaluation:
        settings = dataclasses.replace(clv_run, clv_max_spend_frequency_correlation=threshold)
        (check,) = _materialize_clv(settings, LAST).get_asset_check_evaluations()
        assert check.asset_check_key == dg.AssetCheckKey(DAILY_KEY, FIT_QUALITY_CHECK)
        return check

    correlation = pd.read_parquet(clv_run.clv_dir / "daily" / f"{LAST}.parquet").iloc[0]["spend_frequency_correlation"]
    strict = evaluation(0.0)
    assert not strict.passed
    assert strict.severity == dg.AssetCheckSeverity.WARN
    assert "exceeds 0.0" in strict.description
    assert strict.metadata["days_correlated"].value == {LAST.isoformat(): pytest.approx(correlation, abs=1e-4)}
    assert evaluation(1.0).metadata["days_correlated"].value == {}


def test_with_the_shop_switched_off_the_kpi_is_absent_not_an_error(clv_run: Settings, tmp_path: Path) -> None:
    """No clv files at all: the step skips, and the marts that read them build without the KPI."""
    settings = dataclasses.replace(clv_run, data_dir=tmp_path / "data", disabled_sources=frozenset({"shop"}))
    (settings.data_dir / "warehouse").mkdir(parents=True)
    shutil.copyfile(clv_run.warehouse_path, settings.warehouse_path)
    defs = build_definitions(settings)
    selected = [
        asset
        for asset in defs.assets
        if isinstance(asset, dg.AssetsDefinition) and {DAILY_KEY, dg.AssetKey(["kpi_daily"])} & set(asset.keys)
    ]

    result = dg.materialize(selected, resources=defs.resources, partition_key=LAST.isoformat())

    assert result.success
    assert not settings.clv_dir.exists()
    assert warehouse_query(settings, "select count(*) from kpi_daily where kpi = 'clv_predicted_12m_avg'") == [(0,)]
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert {DAILY_KEY, CUSTOMERS_KEY, dg.AssetKey(["customer_value"])} <= materialized


def test_clv_settings_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOYALTY_DATA_DIR": str(tmp_path),
            "LOYALTY_CLV_MONTHLY_DISCOUNT_RATE": "0.02",
            "LOYALTY_CLV_MAX_SPEND_FREQUENCY_CORRELATION": "0.5",
        }
    )
    assert (settings.clv_monthly_discount_rate, settings.clv_max_spend_frequency_correlation) == (0.02, 0.5)
    resource = build_definitions(settings).resources["clv_model"]
    assert (resource.monthly_discount_rate, resource.max_spend_frequency_correlation) == (0.02, 0.5)
    assert Settings.from_env({}).clv_monthly_discount_rate == 0.01
    with pytest.raises(ValueError, match="LOYALTY_CLV_MONTHLY_DISCOUNT_RATE"):
        Settings.from_env({"LOYALTY_CLV_MONTHLY_DISCOUNT_RATE": "-0.5"})


@pytest.mark.parametrize(
    ("first", "holdout"),
    [(day(SMALL.start, 5), day(LAST, -6)), (day(LAST, -4), day(SMALL.start, 8))],
    ids=["holdout day among the run's days", "holdout day before them, as in a daily run"],
)
def test_summaries_queried_in_spans_equal_one_query(
    clv_run: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: dt.date, holdout: dt.date
) -> None:
    """The summaries are read a span of days per query (memory); spans of 3 days give what one span gives."""
    spools = {}
    for span_days in (3, 1000):
        monkeypatch.setattr(predicted_clv, "SUMMARY_SPAN_DAYS", span_days)
        spool = tmp_path / f"span-{span_days}"
        spool.mkdir()
        read = predicted_clv.read_summaries(clv_run.warehouse_path, first, LAST, holdout, spool)
        spools[span_days] = pd.read_parquet(read.spool_path)
    assert len(predicted_clv.summary_spans(first, LAST, holdout)) == 1 + (holdout < first)
    by_three, at_once = (frame.sort_values(list(frame.columns), ignore_index=True) for frame in spools.values())
    pd.testing.assert_frame_equal(by_three, at_once)
    assert set(by_three["summary_date"]) == {day(first, n) for n in range((LAST - first).days + 1)} | {holdout}
    # The purchases to predict after the holdout's calibration day are counted on that day only.
    holdout_rows = by_three["summary_date"] == holdout
    assert by_three.loc[~holdout_rows, "holdout_purchases"].eq(0).all()
    assert by_three.loc[holdout_rows, "holdout_purchases"].sum() > 0

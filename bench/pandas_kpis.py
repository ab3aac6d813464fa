"""The script a small team would otherwise write: five KPIs from the raw Parquet store with pandas.

Reads every raw file with pandas, keeps each record's latest delivery, and computes per day
(company level, docs/kpis.md definitions): revenue, mrr, subscriber_churn_rate_30d, nps_30d
and session_conversion_rate. A comparison point for bench/pipeline.py, not part of the pipeline.

Run: .venv/bin/python bench/pandas_kpis.py RAW_DIR FIRST_DAY LAST_DAY OUT.parquet
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DELIVERY_ORDER = ["_partition_date", "_extracted_at"]


def read_table(raw_dir: Path, source: str, table: str, columns: list[str]) -> pd.DataFrame:
    """Every daily file of one raw table, concatenated."""
    files = sorted((raw_dir / source / table).glob("*.parquet"))
    return pd.concat([pd.read_parquet(path, columns=columns + DELIVERY_ORDER) for path in files], ignore_index=True)


def latest(frame: pd.DataFrame, key: list[str], version: str | None = None) -> pd.DataFrame:
    """The latest delivered version of each key: by version column, then later delivery."""
    order = ([version] if version else []) + DELIVERY_ORDER
    return frame.sort_values(order, na_position="first").drop_duplicates(key, keep="last")


def daily_revenue(raw_dir: Path) -> pd.Series:
    """Σ revenue of completed orders per order day."""
    orders = latest(
        read_table(raw_dir, "shop", "orders", ["order_id", "ordered_at", "status", "updated_at"]),
        ["order_id"],
        "updated_at",
    )
    items = latest(
        read_table(
            raw_dir, "shop", "order_items", ["order_id", "line_number", "quantity", "unit_price", "discount_amount"]
        ),
        ["order_id", "line_number"],
    )
    items["revenue"] = items["quantity"] * items["unit_price"].astype(float) - items["discount_amount"].astype(float)
    completed = orders[orders["status"] == "completed"]
    merged = completed.merge(items.groupby("order_id", as_index=False)["revenue"].sum(), on="order_id", how="left")
    merged["day"] = merged["ordered_at"].dt.normalize()
    return merged.groupby("day")["revenue"].sum()


def mrr_and_churn(raw_dir: Path, days: pd.DatetimeIndex) -> tuple[pd.Series, pd.Series]:
    """MRR at the end of each day, and the 30-day subscriber churn rate."""
    periods = latest(
        read_table(
            raw_dir,
            "shop",
            "subscription_periods",
            [
                "subscription_period_id",
                "customer_id",
                "started_at",
                "ended_at",
                "billing_period",
                "price",
                "updated_at",
            ],
        ),
        ["subscription_period_id"],
        "updated_at",
    )
    periods["monthly"] = np.where(
        periods["billing_period"] == "year", periods["price"].astype(float) / 12, periods["price"].astype(float)
    )
    mrr, subscribers = {}, {}
    for day in days:
        end = day + pd.Timedelta(days=1)
        live = periods[(periods["started_at"] < end) & (periods["ended_at"].isna() | (periods["ended_at"] >= end))]
        per_customer = live.groupby("customer_id")["monthly"].sum()
        mrr[day] = per_customer.sum()
        subscribers[day] = set(per_customer[per_customer > 0].index)
    churn = {}
    for day in days:
        before = day - pd.Timedelta(days=30)
        if subscribers.get(before):
            churn[day] = len(subscribers[before] - subscribers[day]) / len(subscribers[before])
    return pd.Series(mrr), pd.Series(churn, dtype=float)


def nps_30d(raw_dir: Path, days: pd.DatetimeIndex) -> pd.Series:
    """100 * (promoters - detractors) / answers of likelihood_to_recommend in the 30 days."""
    responses = latest(
        read_table(raw_dir, "survey_tool", "survey_responses", ["response_id", "question", "score", "responded_at"]),
        ["response_id"],
    )
    answers = responses[responses["question"] == "likelihood_to_recommend"].copy()
    answers["day"] = answers["responded_at"].dt.normalize()
    answers["net"] = np.where(answers["score"] >= 9, 1, np.where(answers["score"] <= 6, -1, 0))
    daily = answers.groupby("day").agg(net=("net", "sum"), answers=("net", "size")).reindex(days, fill_value=0)
    window = daily.rolling(30, min_periods=1).sum()
    return (100 * window["net"] / window["answers"].replace(0, np.nan)).dropna()


def session_conversion(raw_dir: Path) -> pd.Series:
    """Sessions named by an order that is not cancelled / sessions, per session start day."""
    sessions = latest(read_table(raw_dir, "web_analytics", "sessions", ["session_id", "started_at"]), ["session_id"])
    orders = latest(
        read_table(raw_dir, "shop", "orders", ["order_id", "session_id", "status", "updated_at"]),
        ["order_id"],
        "updated_at",
    )
    converted = set(orders.loc[orders["status"] != "cancelled", "session_id"].dropna())
    sessions["converted"] = sessions["session_id"].isin(converted)
    sessions["day"] = sessions["started_at"].dt.normalize()
    return sessions.groupby("day")["converted"].mean()


def compute(raw_dir: Path, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The five KPIs per day first..last, long format (date, kpi, value)."""
    days = pd.date_range(first, last, freq="D")
    mrr, churn = mrr_and_churn(raw_dir, days)
    kpis = {
        "revenue": daily_revenue(raw_dir).reindex(days, fill_value=0.0),
        "mrr": mrr,
        "subscriber_churn_rate_30d": churn,
        "nps_30d": nps_30d(raw_dir, days),
        "session_conversion_rate": session_conversion(raw_dir),
    }
    frames = [
        pd.DataFrame({"date": series.index, "kpi": name, "value": series.to_numpy(dtype=float)})
        for name, series in kpis.items()
    ]
    result = pd.concat(frames, ignore_index=True)
    return result[(result["date"] >= pd.Timestamp(first)) & (result["date"] <= pd.Timestamp(last))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw_dir", type=Path)
    parser.add_argument("first_day", type=dt.date.fromisoformat)
    parser.add_argument("last_day", type=dt.date.fromisoformat)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    compute(args.raw_dir, args.first_day, args.last_day).to_parquet(args.output, index=False)


if __name__ == "__main__":
    main()

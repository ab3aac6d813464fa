"""Benchmark: the predicted-CLV step (loyalty_pipeline.predicted_clv.predict) on simulated purchase days.

Simulates customers' purchase days over two years (BG/NBD purchases and dropout with the CDNOW
parameters in days, Gamma-Gamma spend, a 40 % gross margin), writes them as the warehouse table
int_customer_purchase_days, and runs the step for a daily run's window: one partition and the
35-day lookback (36 daily fits), plus the holdout fit and every customer's predictions. Reports
each phase's seconds and the peak memory of the process.

Run: .venv/bin/python bench/clv_daily.py [--customers 1000000] [--days 36] [--keep DIR]
Writes bench/results/clv_daily.json (not committed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from loyalty_pipeline.predicted_clv import predict
from loyalty_pipeline.resources import ClvModel

RESULTS = Path(__file__).parent / "results" / "clv_daily.json"
BGNBD_DAYS = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
HISTORY_DAYS = 730
LAST_DAY = dt.date(2026, 6, 30)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(n: int, seed: int) -> pd.DataFrame:
    """One row per customer and purchase day up to LAST_DAY: (customer_id, purchase_date, revenue, gross_margin)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, HISTORY_DAYS, n)
    rate = rng.gamma(BGNBD_DAYS["r"], 1.0 / BGNBD_DAYS["alpha"], n)
    allowed = rng.geometric(rng.beta(BGNBD_DAYS["a"], BGNBD_DAYS["b"], n)) - 1
    horizon = HISTORY_DAYS - first
    arrivals = rng.poisson(rate * horizon)
    owner = np.repeat(np.arange(n), arrivals)
    offset = 1 + (rng.random(owner.size) * (horizon[owner] - 1)).astype(np.int64)
    order = np.lexsort((offset, owner))
    owner, offset = owner[order], offset[order]
    rank = np.arange(owner.size) - np.searchsorted(owner, owner)
    keep = rank < allowed[owner]
    customer = np.concatenate([np.arange(n), owner[keep]])
    day = np.concatenate([first, first[owner[keep]] + offset[keep]])
    scale = rng.gamma(GAMMA_GAMMA["q"], 1.0 / GAMMA_GAMMA["gamma"], n)
    spend = np.round(rng.gamma(GAMMA_GAMMA["p"], 1.0 / scale[customer]), 2) + 0.01
    frame = pd.DataFrame({"customer": customer, "day": day, "revenue": spend})
    frame = frame.groupby(["customer", "day"], as_index=False)["revenue"].sum()
    start = LAST_DAY - dt.timedelta(days=HISTORY_DAYS - 1)
    return pd.DataFrame(
        {
            "customer_id": [f"c-{number:07d}" for number in frame["customer"]],
            "purchase_date": pd.to_datetime(start) + pd.to_timedelta(frame["day"], unit="D"),
            "revenue": frame["revenue"],
            "gross_margin": np.round(frame["revenue"] * 0.4, 4),
        }
    )


def write_warehouse(purchases: pd.DataFrame, path: Path) -> None:
    """The warehouse table the step reads, typed like dbt builds it."""
    with duckdb.connect(str(path)) as connection:
        connection.register("purchases", purchases)
        connection.execute(
            "create table int_customer_purchase_days as select customer_id, cast(purchase_date as date) as"
            " purchase_date, 1 as completed_orders, cast(revenue as decimal(38, 4)) as revenue,"
            " cast(gross_margin as decimal(38, 4)) as gross_margin from purchases"
        )


def main() -> None:
    """Run the benchmark and write its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=36, help="days fitted: a daily run is 1 + the 35-day lookback")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        warehouse = root / "loyalty.duckdb"
        began = time.perf_counter()
        if not warehouse.exists():
            write_warehouse(simulate(args.customers, args.seed), warehouse)
        simulated = round(time.perf_counter() - began, 1)
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            (purchase_days,) = connection.execute("select count(*) from int_customer_purchase_days").fetchone()
        rss_before = peak_rss_mib()
        days = [LAST_DAY - dt.timedelta(days=offset) for offset in reversed(range(args.days))]
        outcome = predict(warehouse, ClvModel(data_dir=str(root / "data")), days)
        last = outcome.fits[LAST_DAY]
        figures = {
            "customers": args.customers,
            "purchase_days": purchase_days,
            "days_fitted": len(days),
            "simulate_and_write_seconds": simulated,
            "seconds": outcome.seconds,
            "seconds_per_day": round(outcome.seconds["daily_fits"] / len(days), 2),
            "peak_rss_mib_before_step": round(rss_before, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "last_day": {
                "status": last.status,
                "customers": last.customers,
                "repeat_customers": last.repeat_customers,
                "bgnbd": last.bgnbd.params if last.bgnbd else None,
                "bgnbd_converged": last.bgnbd.converged if last.bgnbd else None,
                "bgnbd_unique_rows": last.bgnbd.n_unique_rows if last.bgnbd else None,
                "gamma_gamma": last.gamma_gamma.params if last.gamma_gamma else None,
                "clv_predicted_12m_avg": last.clv_mean,
            },
            "days_not_converged": sum(not fit.converged for fit in outcome.fits.values()),
            "holdout_relative_error": outcome.holdout.check.relative_error if outcome.holdout.check else None,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: simulate customers in days, compress, fit BG/NBD and Gamma-Gamma, predict CLV; time and peak memory.

Run: .venv/bin/python bench/clv_fit.py [--customers 1000000] [--uncompressed]
Writes bench/results/clv_fit.json (not committed).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from loyalty_pipeline import clv

RESULTS = Path(__file__).parent / "results" / "clv_fit.json"
# CDNOW's published fits (weeks), with alpha converted to days.
BGNBD_TRUE = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
GAMMA_GAMMA_TRUE = {"p": 6.25, "q": 3.74, "gamma": 15.44}
HISTORY_DAYS = 730


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(timings: dict[str, float], name: str, step: Callable[[], Any]) -> Any:
    """Run one step and record its wall-clock seconds."""
    start = time.perf_counter()
    result = step()
    timings[name] = round(time.perf_counter() - start, 3)
    print(f"{name:>24}: {timings[name]:8.2f} s   peak RSS {peak_rss_mib():8.1f} MiB", flush=True)
    return result


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Customers with whole-day ages up to two years, BG/NBD purchases and Gamma-Gamma mean spend in cents."""
    rng = np.random.default_rng(seed)
    age = rng.integers(0, HISTORY_DAYS + 1, n).astype(np.float64)
    x, t_x, age = clv.simulate_bgnbd(BGNBD_TRUE, age, rng)
    t_x = np.minimum(np.ceil(t_x), age)
    scale = rng.gamma(GAMMA_GAMMA_TRUE["q"], 1.0 / GAMMA_GAMMA_TRUE["gamma"], n)
    shape = GAMMA_GAMMA_TRUE["p"] * np.maximum(x, 1.0)
    spend = rng.gamma(shape, 1.0 / (scale * np.maximum(x, 1.0)))
    spend = np.where(x > 0, np.maximum(np.round(spend, 2), 0.01), 0.0)
    return x, t_x, age, spend


def relative_errors(fitted: dict[str, float], true: dict[str, float]) -> dict[str, float]:
    """Fitted minus true, relative to true, per parameter."""
    return {k: round(fitted[k] / true[k] - 1.0, 4) for k in true}


def main() -> None:
    """Run the benchmark and write its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--uncompressed", action="store_true", help="fit on every customer row instead")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    timings: dict[str, float] = {}
    x, t_x, age, spend = timed(timings, "simulate", lambda: simulate(args.customers, args.seed))
    if args.uncompressed:
        bg_rows, bg_counts = [x, t_x, age], None
        gg_rows, gg_counts = [x, spend], None
    else:
        bg_rows, bg_counts = timed(timings, "compress (x, t_x, T)", lambda: clv.compress_rows(x, t_x, age))
        repeat = x > 0
        gg_rows, gg_counts = timed(timings, "compress (x, spend)", lambda: clv.compress_rows(x[repeat], spend[repeat]))
    bgnbd = timed(timings, "fit BG/NBD", lambda: clv.fit_bgnbd(*bg_rows, weights=bg_counts))
    gamma_gamma = timed(timings, "fit Gamma-Gamma", lambda: clv.fit_gamma_gamma(*gg_rows, weights=gg_counts))
    alive = timed(timings, "P(alive)", lambda: clv.probability_alive(bgnbd, x, t_x, age))
    purchases = timed(
        timings, "E[purchases 12 months]", lambda: clv.expected_purchases(bgnbd, 12 * clv.DAYS_PER_MONTH, x, t_x, age)
    )
    value = timed(
        timings,
        "predicted CLV",
        lambda: clv.predicted_clv(bgnbd, gamma_gamma, x, t_x, age, spend, margin_rate=0.3),
    )
    fit_seconds = sum(v for k, v in timings.items() if k.startswith(("compress", "fit")))
    figures = {
        "customers": args.customers,
        "repeat_customers": int((x > 0).sum()),
        "compressed": not args.uncompressed,
        "bgnbd_unique_rows": bgnbd.n_unique_rows,
        "gamma_gamma_unique_rows": gamma_gamma.n_unique_rows,
        "seconds": timings,
        "compress_and_fit_seconds": round(fit_seconds, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "bgnbd": {**bgnbd.params, "log_likelihood": bgnbd.log_likelihood, "converged": bgnbd.converged},
        "bgnbd_relative_error": relative_errors(bgnbd.params, BGNBD_TRUE),
        "bgnbd_iterations": bgnbd.iterations,
        "gamma_gamma": {**gamma_gamma.params, "log_likelihood": gamma_gamma.log_likelihood},
        "gamma_gamma_converged": gamma_gamma.converged,
        "gamma_gamma_relative_error": relative_errors(gamma_gamma.params, GAMMA_GAMMA_TRUE),
        "mean_probability_alive": float(alive.mean()),
        "mean_expected_purchases_12_months": float(purchases.mean()),
        "mean_predicted_clv": float(value.mean()),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Predicted customer lifetime value: BG/NBD and Gamma-Gamma models fitted by maximum likelihood with scipy.

The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way") describes repeat purchases
and dropout; the Gamma-Gamma model (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value") describes
the spend per repeat purchase. Inputs are per-customer summaries in one time unit of the caller's choosing:
``frequency`` (repeat purchases, x), ``recency`` (age at the last repeat purchase, t_x; 0 when x = 0) and
``age`` (time since the first purchase, T). The pipeline uses days. See docs/clv.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
ArrayLike = npt.ArrayLike

DAYS_PER_MONTH = 365.25 / 12
"""The length of a month in days (30.4375), the default period for `predicted_clv`."""

_LOG_BOUND = 25.0
_GRADIENT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BGNBDModel:
    """A fitted BG/NBD model with its fit diagnostics; parameters are in the caller's time unit."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    n_customers: int
    n_unique_rows: int

    @property
    def params(self) -> dict[str, float]:
        """The four model parameters by name."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class GammaGammaModel:
    """A fitted Gamma-Gamma spend model with its fit diagnostics (repeat customers only)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    converged: bool
    iterations: int
    message: str
    n_customers: int
    n_unique_rows: int

    @property
    def params(self) -> dict[str, float]:
        """The three model parameters by name."""
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean_spend(self) -> float:
        """The mean spend per purchase across customers, p * gamma / (q - 1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted against actual repeat purchases in a holdout period of length `holdout_length`."""

    holdout_length: float
    n_customers: int
    predicted_total: float
    actual_total: float
    total_error: float
    relative_error: float
    mean_absolute_error: float
    root_mean_squared_error: float


def _as_float(values: ArrayLike, name: str) -> FloatArray:
    """One input column as a 1-D float array, refusing missing or infinite values."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has missing or infinite values")
    return array


def _summaries(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validated (x, t_x, T) arrays: x >= 0, 0 <= t_x <= T, and t_x = 0 for customers with no repeat purchase."""
    x = _as_float(frequency, "frequency")
    t_x = _as_float(recency, "recency")
    big_t = _as_float(age, "age")
    if not (x.shape == t_x.shape == big_t.shape):
        raise ValueError("frequency, recency and age must have the same length")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t):
        raise ValueError("expected frequency >= 0 and 0 <= recency <= age")
    return x, np.where(x > 0, t_x, 0.0), big_t


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Row weights (customer counts); ones when none are given."""
    if weights is None:
        return np.ones(n)
    w = _as_float(weights, "weights")
    if w.shape != (n,) or np.any(w < 0):
        raise ValueError("weights must be non-negative, one per row")
    return w


def compress_rows(*columns: ArrayLike) -> tuple[list[FloatArray], FloatArray]:
    """The distinct rows of the given columns and how many times each occurs, for weighted fitting."""
    frame = pd.DataFrame({i: _as_float(column, f"column {i}") for i, column in enumerate(columns)})
    counts = frame.groupby(list(frame.columns), sort=True).size()
    unique = counts.index.to_frame(index=False)
    return [unique[i].to_numpy(dtype=np.float64) for i in frame.columns], counts.to_numpy(dtype=np.float64)


def bgnbd_log_likelihood_terms(
    params: tuple[float, float, float, float], frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> FloatArray:
    """Each customer's BG/NBD log-likelihood, ln A1 + ln A2 + ln(A3 + [x > 0] A4) (FHL 2005, eq. 6)."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    rows = _BGNBDRows.of(x, t_x, big_t, np.ones(x.size))
    terms = _bgnbd_terms(np.asarray(params, dtype=np.float64), rows)
    return terms.log_a1_a2[rows.x_index] + terms.log_mix


@dataclass(frozen=True)
class _BGNBDRows:
    """Weighted (x, t_x, T) rows with their distinct x: the terms of x alone (the gamma and digamma
    functions, most of the likelihood's cost) are computed once per distinct x and weighted by its rows."""

    t_x: FloatArray
    big_t: FloatArray
    w: FloatArray
    x_values: FloatArray
    x_index: IntArray
    x_weight: FloatArray

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray) -> _BGNBDRows:
        x_values, x_index = np.unique(x, return_inverse=True)
        x_weight = np.bincount(x_index, weights=w, minlength=x_values.size)
        return cls(t_x, big_t, w, x_values, x_index, x_weight)


@dataclass(frozen=True)
class _BGNBDTerms:
    """The likelihood's pieces at one parameter point: per distinct x, ln A1 + ln A2 and b + x - 1;
    per row, ln(A3 + A4), the A4 term's share of it, and the logs of alpha + T and alpha + t_x."""

    log_a1_a2: FloatArray
    b_x_1: FloatArray
    r_x: FloatArray
    log_mix: FloatArray
    share_a4: FloatArray
    log_alpha_t: FloatArray
    log_alpha_tx: FloatArray


def _bgnbd_terms(params: FloatArray, rows: _BGNBDRows) -> _BGNBDTerms:
    r, alpha, a, b = params
    x = rows.x_values
    repeat = x > 0
    # ln A1 + ln A2, each a difference taken first: for x = 0 the ln B terms cancel exactly.
    log_a1_a2 = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)) + (betaln(a, b + x) - betaln(a, b))
    b_x_1 = np.where(repeat, b + x - 1.0, 1.0)
    log_a4_factor = np.where(repeat, np.log(a) - np.log(b_x_1), -np.inf)
    r_x = (r + x)[rows.x_index]
    log_alpha_t = np.log(alpha + rows.big_t)
    log_alpha_tx = np.log(alpha + rows.t_x)
    log_a3 = -r_x * log_alpha_t
    log_a4 = log_a4_factor[rows.x_index] - r_x * log_alpha_tx
    log_mix = np.logaddexp(log_a3, log_a4)
    share_a4 = np.exp(log_a4 - log_mix)
    return _BGNBDTerms(log_a1_a2, b_x_1, r_x, log_mix, share_a4, log_alpha_t, log_alpha_tx)


def _bgnbd_objective(log_params: FloatArray, rows: _BGNBDRows) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood per customer and its gradient in log-parameters."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    terms = _bgnbd_terms(params, rows)
    x, x_weight, total = rows.x_values, rows.x_weight, rows.w.sum()
    w4 = rows.w * terms.share_a4  # each row's weight on the A4 term, and on the A3 term
    w3 = rows.w - w4
    log_likelihood = x_weight @ terms.log_a1_a2 + rows.w @ terms.log_mix
    d_r = x_weight @ (digamma(r + x) - digamma(r) + np.log(alpha)) - w3 @ terms.log_alpha_t - w4 @ terms.log_alpha_tx
    d_alpha = total * r / alpha - terms.r_x @ (w3 / (alpha + rows.big_t) + w4 / (alpha + rows.t_x))
    d_a = x_weight @ (digamma(a + b) - digamma(a + b + x)) + w4.sum() / a
    d_b = x_weight @ (digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x))
    d_b -= w4 @ (1.0 / terms.b_x_1)[rows.x_index]
    grad = np.array([d_r, d_alpha, d_a, d_b]) * params
    return float(-log_likelihood / total), -grad / total


def _minimize(
    objective: Callable[..., tuple[float, FloatArray]], start: FloatArray, args: tuple[object, ...]
) -> tuple[FloatArray, float, bool, int, str]:
    """L-BFGS-B on log-parameters, then a second pass from its optimum; returns params, mean NLL and status."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    options = {"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20}
    result = minimize(objective, start, args=args, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    iterations = int(result.nit)
    polish = minimize(objective, result.x, args=args, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    iterations += int(polish.nit)
    if polish.fun < result.fun:
        result = polish
    gradient_ok = bool(np.max(np.abs(result.jac)) < _GRADIENT_TOLERANCE)
    interior = bool(np.all(np.abs(result.x) < _LOG_BOUND - 1e-6))
    converged = gradient_ok and interior and bool(np.isfinite(result.fun))
    message = str(result.message) if interior else f"{result.message}; a parameter reached its bound"
    return np.exp(result.x), float(result.fun), converged, iterations, message


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike, weights: ArrayLike | None = None) -> BGNBDModel:
    """Fit the BG/NBD model by maximum likelihood; `weights` counts customers sharing one (x, t_x, T) row."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    w = _weights(weights, x.size)
    keep = w > 0
    x, t_x, big_t, w = x[keep], t_x[keep], big_t[keep], w[keep]
    if w.sum() == 0 or (w @ x) == 0 or (w @ big_t) == 0:
        raise ValueError("the BG/NBD model needs customers with repeat purchases and a positive age")
    start = np.log([1.0, (w @ big_t) / (w @ x), 1.0, 1.0])
    rows = _BGNBDRows.of(x, t_x, big_t, w)
    params, mean_nll, converged, iterations, message = _minimize(_bgnbd_objective, start, (rows,))
    r, alpha, a, b = (float(v) for v in params)
    return BGNBDModel(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=-mean_nll * float(w.sum()),
        converged=converged,
        iterations=iterations,
        message=message,
        n_customers=round(float(w.sum())),
        n_unique_rows=int(x.size),
    )


@dataclass(frozen=True)
class _GammaGammaRows:
    """Weighted (x, m) rows of repeat customers with their distinct x (the gamma and digamma functions
    of p x are computed once per distinct x), and the logs that do not depend on the parameters."""

    x: FloatArray
    w: FloatArray
    xm: FloatArray
    log_m: FloatArray
    log_xm: FloatArray
    x_values: FloatArray
    x_index: IntArray
    x_weight: FloatArray

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _GammaGammaRows:
        x_values, x_index = np.unique(x, return_inverse=True)
        x_weight = np.bincount(x_index, weights=w, minlength=x_values.size)
        log_m = np.log(m)
        return cls(x, w, x * m, log_m, np.log(x) + log_m, x_values, x_index, x_weight)


def _gamma_gamma_objective(log_params: FloatArray, rows: _GammaGammaRows) -> tuple[float, FloatArray]:
    """Mean negative Gamma-Gamma log-likelihood per repeat customer and its gradient in log-parameters.

    A customer's term, lnG(px + q) - lnG(px) - lnG(q) + q ln(gamma) + (px - 1) ln m + px ln x
    - (px + q) ln(gamma + x m), is summed as its gamma-function part per distinct x plus the rest per
    row, each row's logs combined first (px ln(x m / (gamma + x m)), q ln(gamma / (gamma + x m))):
    summed apart, large sums cancel and the noise costs the line search extra evaluations.
    """
    params = np.exp(log_params)
    p, q, gamma = params
    x, x_weight, total = rows.x_values, rows.x_weight, rows.w.sum()
    px = p * x
    log_gamma_xm = np.log(gamma + rows.xm)
    log_share = rows.log_xm - log_gamma_xm
    log_gamma_share = np.log(gamma) - log_gamma_xm
    log_likelihood = x_weight @ (gammaln(px + q) - gammaln(px) - gammaln(q)) + rows.w @ (
        p * rows.x * log_share + q * log_gamma_share - rows.log_m
    )
    psi_pxq = digamma(px + q)
    d_p = x_weight @ (x * (psi_pxq - digamma(px))) + rows.w @ (rows.x * log_share)
    d_q = x_weight @ (psi_pxq - digamma(q)) + rows.w @ log_gamma_share
    d_gamma = rows.w @ (q / gamma - (p * rows.x + q) / (gamma + rows.xm))
    grad = np.array([d_p, d_q, d_gamma]) * params
    return float(-log_likelihood / total), -grad / total


def fit_gamma_gamma(
    frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None
) -> GammaGammaModel:
    """Fit the Gamma-Gamma model by maximum likelihood on the customers with frequency > 0 (others are ignored)."""
    x = _as_float(frequency, "frequency")
    m = np.asarray(monetary_value, dtype=np.float64).reshape(-1)
    w = _weights(weights, x.size)
    if m.shape != x.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    keep = (x > 0) & (w > 0)
    x, m, w = x[keep], m[keep], w[keep]
    if x.size == 0:
        raise ValueError("the Gamma-Gamma model needs customers with repeat purchases")
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("monetary_value must be positive and finite for customers with repeat purchases")
    start = np.log([1.0, 2.0, float(w @ m) / float(w.sum())])
    params, mean_nll, converged, iterations, message = _minimize(
        _gamma_gamma_objective, start, (_GammaGammaRows.of(x, m, w),)
    )
    p, q, gamma = (float(v) for v in params)
    return GammaGammaModel(
        p=p,
        q=q,
        gamma=gamma,
        log_likelihood=-mean_nll * float(w.sum()),
        converged=converged,
        iterations=iterations,
        message=message,
        n_customers=round(float(w.sum())),
        n_unique_rows=int(x.size),
    )


def probability_alive(model: BGNBDModel, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    repeat = x > 0
    b_x_1 = np.where(repeat, model.b + x - 1.0, 1.0)
    log_odds_dead = (
        np.log(model.a) - np.log(b_x_1) + (model.r + x) * np.log((model.alpha + big_t) / (model.alpha + t_x))
    )
    return np.where(repeat, expit(-log_odds_dead), 1.0)


def _one_minus_scaled_hyp2f1(model: BGNBDModel, x: FloatArray, z: FloatArray) -> FloatArray:
    """1 - (1 - z)^(r + x) 2F1(r + x, b + x; a + b + x - 1; z), via Euler's transformation to keep 2F1 bounded.

    When a is very large (a fit whose dropout probability runs towards 0, the NBD limit, as on data with
    little observed dropout), (1 - z)^(a - 1) underflows while the transformed 2F1 overflows. There the
    direct form is used: its 2F1 stays bounded as a and b grow together, and x is then moderate.
    """
    r, a, b = model.r, model.a, model.b
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.power(1.0 - z, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    failed = ~np.isfinite(scaled)
    if np.any(failed):
        x_f, z_f = x[failed], z[failed]
        scaled[failed] = np.power(1.0 - z_f, r + x_f) * hyp2f1(r + x_f, b + x_f, a + b + x_f - 1.0, z_f)
    return 1.0 - scaled


def expected_purchases_unconditional(model: BGNBDModel, t: ArrayLike) -> FloatArray:
    """E[X(t)] for a new customer in the first t time units after the first purchase (FHL 2005, eq. 9)."""
    t_arr = _as_float(t, "t")
    z = t_arr / (model.alpha + t_arr)
    factor = (model.a + model.b - 1.0) / (model.a - 1.0)
    return factor * _one_minus_scaled_hyp2f1(model, np.zeros_like(t_arr), z)


def expected_purchases(
    model: BGNBDModel, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in the next t time units (FHL 2005, eq. 10)."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    horizon = np.broadcast_to(_as_float(t, "t"), x.shape) if np.ndim(t) else np.full(x.shape, float(t))
    if np.any(horizon < 0):
        raise ValueError("t must be non-negative")
    return np.maximum(probability_alive(model, x, t_x, big_t) * _purchases_if_alive(model, x, big_t, horizon), 0.0)


def _purchases_if_alive(model: BGNBDModel, x: FloatArray, big_t: FloatArray, horizon: ArrayLike) -> FloatArray:
    """E[Y(t) | x, t_x, T] / P(alive): (a + b + x - 1) / (a - 1) (1 - scaled 2F1), a function of x, T and t only."""
    z = horizon / (model.alpha + big_t + horizon)
    return (model.a + model.b + x - 1.0) / (model.a - 1.0) * _one_minus_scaled_hyp2f1(model, x, z)


def _distinct_pairs(first: FloatArray, second: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """The distinct (first, second) pairs, and each row's position among them."""
    order = np.lexsort((second, first))
    first_sorted, second_sorted = first[order], second[order]
    new = np.ones(first.size, dtype=bool)
    new[1:] = (first_sorted[1:] != first_sorted[:-1]) | (second_sorted[1:] != second_sorted[:-1])
    index = np.empty(first.size, dtype=np.intp)
    index[order] = np.cumsum(new) - 1
    return first_sorted[new], second_sorted[new], index


def expected_spend_per_purchase(model: GammaGammaModel, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
    """E[M | x, mean spend]: (gamma + x m) p / (p x + q - 1); the population mean for customers with x = 0."""
    if model.q <= 1.0:
        raise ValueError("the Gamma-Gamma mean spend is infinite when q <= 1")
    x = _as_float(frequency, "frequency")
    m = np.asarray(monetary_value, dtype=np.float64).reshape(-1)
    if m.shape != x.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    xm = np.where(x > 0, x * np.nan_to_num(m, nan=0.0), 0.0)
    return (model.gamma + xm) * model.p / (model.p * x + model.q - 1.0)


def expected_purchases_by_period(
    model: BGNBDModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    *,
    periods: int = 12,
    period_length: float = DAYS_PER_MONTH,
) -> FloatArray:
    """Expected repeat purchases in each of the next `periods` periods, shape (customers, periods).

    The costly part, 2F1, depends on x and T only, which summaries in whole days share across many
    customers: it is evaluated once per distinct (x, T) and period.
    """
    x, t_x, big_t = _summaries(frequency, recency, age)
    distinct_x, distinct_t, index = _distinct_pairs(x, big_t)
    alive = probability_alive(model, x, t_x, big_t)
    by_period = np.empty((x.size, periods), order="F")  # filled a column at a time
    previous = np.zeros_like(x)
    for k in range(1, periods + 1):
        if_alive = _purchases_if_alive(model, distinct_x, distinct_t, k * period_length)
        cumulative = np.maximum(alive * if_alive[index], 0.0)
        by_period[:, k - 1] = cumulative - previous
        previous = cumulative
    return by_period


def discount_factors(months: int, monthly_discount_rate: float) -> FloatArray:
    """1 / (1 + rate)^m for m = 1..months: cash flows discounted at the end of each month."""
    return 1.0 / (1.0 + monthly_discount_rate) ** np.arange(1, months + 1)


def predicted_clv(
    bgnbd: BGNBDModel,
    gamma_gamma: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    monetary_value: ArrayLike,
    *,
    margin_rate: float,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    period_length: float = DAYS_PER_MONTH,
) -> FloatArray:
    """Margin-based CLV: sum over months m of E[purchases in m] * E[spend] * margin / (1 + rate)^m."""
    if not 0.0 <= margin_rate <= 1.0:
        raise ValueError("margin_rate must be between 0 and 1")
    if monthly_discount_rate <= -1.0 or months < 1 or period_length <= 0:
        raise ValueError("expected months >= 1, period_length > 0 and monthly_discount_rate > -1")
    x, t_x, big_t = _summaries(frequency, recency, age)
    spend = expected_spend_per_purchase(gamma_gamma, x, monetary_value)
    by_month = expected_purchases_by_period(bgnbd, x, t_x, big_t, periods=months, period_length=period_length)
    return by_month @ discount_factors(months, monthly_discount_rate) * spend * margin_rate


def holdout_check(
    model: BGNBDModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    holdout_length: float,
    actual_holdout_purchases: ArrayLike,
    weights: ArrayLike | None = None,
) -> HoldoutCheck:
    """Compare E[Y(holdout_length) | calibration summary] with the purchases each customer actually made."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    actual = _as_float(actual_holdout_purchases, "actual_holdout_purchases")
    if actual.shape != x.shape:
        raise ValueError("actual_holdout_purchases must have one value per customer")
    w = _weights(weights, x.size)
    predicted = expected_purchases(model, holdout_length, x, t_x, big_t)
    errors = predicted - actual
    n = float(w.sum())
    predicted_total, actual_total = float(w @ predicted), float(w @ actual)
    return HoldoutCheck(
        holdout_length=float(holdout_length),
        n_customers=round(n),
        predicted_total=predicted_total,
        actual_total=actual_total,
        total_error=predicted_total - actual_total,
        relative_error=(predicted_total - actual_total) / actual_total if actual_total else float("nan"),
        mean_absolute_error=float(w @ np.abs(errors)) / n,
        root_mean_squared_error=float(np.sqrt((w @ errors**2) / n)),
    )


def simulate_bgnbd(
    params: dict[str, float], age: ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw (frequency, recency, age) from the BG/NBD model for customers observed for `age` time units."""
    big_t = _as_float(age, "age")
    n = big_t.size
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    arrivals = rng.poisson(rate * big_t).astype(np.float64)
    survives = rng.geometric(np.clip(dropout, 1e-12, 1.0)).astype(np.float64)
    x = np.minimum(arrivals, survives)
    order = rng.beta(np.maximum(x, 1.0), np.maximum(arrivals - x + 1.0, 1.0))
    t_x = np.where(x > 0, big_t * order, 0.0)
    return x, t_x, big_t

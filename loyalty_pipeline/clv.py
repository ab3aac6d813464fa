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
    return _bgnbd_terms(np.asarray(params, dtype=np.float64), x, t_x, big_t)[0]


def _bgnbd_terms(
    params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood plus the pieces its gradient needs (weight on the A4 term, logs of alpha + T/t_x)."""
    r, alpha, a, b = params
    repeat = x > 0
    log_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    log_a2 = betaln(a, b + x) - betaln(a, b)
    log_alpha_t = np.log(alpha + big_t)
    log_alpha_tx = np.log(alpha + t_x)
    log_a3 = -(r + x) * log_alpha_t
    b_x_1 = np.where(repeat, b + x - 1.0, 1.0)
    log_a4 = np.where(repeat, np.log(a) - np.log(b_x_1) - (r + x) * log_alpha_tx, -np.inf)
    log_mix = np.logaddexp(log_a3, log_a4)
    weight_a4 = np.exp(log_a4 - log_mix)
    return log_a1 + log_a2 + log_mix, weight_a4, log_alpha_t, log_alpha_tx, b_x_1


def _bgnbd_objective(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood per customer and its gradient in log-parameters."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    ll, w4, log_alpha_t, log_alpha_tx, b_x_1 = _bgnbd_terms(params, x, t_x, big_t)
    w3 = 1.0 - w4
    total = w.sum()
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_alpha_t - w4 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + big_t) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / b_x_1
    grad = np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) * params
    return float(-(w @ ll) / total), -grad / total


def _minimize(
    objective: Callable[..., tuple[float, FloatArray]], start: FloatArray, args: tuple[FloatArray, ...]
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
    params, mean_nll, converged, iterations, message = _minimize(_bgnbd_objective, start, (x, t_x, big_t, w))
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


def _gamma_gamma_objective(
    log_params: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray
) -> tuple[float, FloatArray]:
    """Mean negative Gamma-Gamma log-likelihood per repeat customer and its gradient in log-parameters."""
    params = np.exp(log_params)
    p, q, gamma = params
    px = p * x
    log_gamma_xm = np.log(gamma + x * m)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_gamma_xm
    )
    psi_pxq = digamma(px + q)
    d_p = x * (psi_pxq - digamma(px) + np.log(m) + np.log(x) - log_gamma_xm)
    d_q = psi_pxq - digamma(q) + np.log(gamma) - log_gamma_xm
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    total = w.sum()
    grad = np.array([w @ d_p, w @ d_q, w @ d_gamma]) * params
    return float(-(w @ ll) / total), -grad / total


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
    params, mean_nll, converged, iterations, message = _minimize(_gamma_gamma_objective, start, (x, m, w))
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
    """1 - (1 - z)^(r + x) 2F1(r + x, b + x; a + b + x - 1; z), via Euler's transformation to keep 2F1 bounded."""
    r, a, b = model.r, model.a, model.b
    scaled = np.power(1.0 - z, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
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
    z = horizon / (model.alpha + big_t + horizon)
    factor = (model.a + model.b + x - 1.0) / (model.a - 1.0)
    expected = probability_alive(model, x, t_x, big_t) * factor * _one_minus_scaled_hyp2f1(model, x, z)
    return np.maximum(expected, 0.0)


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
    """Expected repeat purchases in each of the next `periods` periods, shape (customers, periods)."""
    x, t_x, big_t = _summaries(frequency, recency, age)
    cumulative = [np.zeros_like(x)]
    cumulative += [expected_purchases(model, k * period_length, x, t_x, big_t) for k in range(1, periods + 1)]
    return np.diff(np.stack(cumulative, axis=1), axis=1)


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
    discounted_purchases = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in range(1, months + 1):
        cumulative = expected_purchases(bgnbd, month * period_length, x, t_x, big_t)
        discounted_purchases += (cumulative - previous) / (1.0 + monthly_discount_rate) ** month
        previous = cumulative
    return discounted_purchases * spend * margin_rate


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

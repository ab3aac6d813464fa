"""The CLV models reproduce the published CDNOW maximum-likelihood fits and conditional expectations.

Published values and where they come from:
- BG/NBD on the 2,357-customer CDNOW cohort, weeks: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
  LL = -9582.4 (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2), the
  parameter table; the same numbers are asserted in lifetimes' tests/test_estimation.py and in CLVTools'
  tests/testthat/test_correctness_bgnbd.R "As reported in Fader, Hardie, Lee (2005)").
- E[Y(39) | x = 2, t_x = 30.43, T = 38.86] = 1.226 (FHL 2005 and Hardie's BG/NBD Excel implementation; quoted in
  lifetimes' tests as "test_conditional_expectation_returns_same_value_as_Hardie_excel_sheet").
- E[X(t)] at t = 0.1429, 1, 3, 31.8571, 32, 78 weeks = 0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576 (Hardie's
  BG/NBD Excel sheet, quoted in lifetimes' tests as "test_expectation_returns_same_value_Hardie_excel_sheet").
- Gamma-Gamma on the 946 CDNOW repeat customers: p = 6.25, q = 3.74, gamma = 15.44 (Fader & Hardie 2013,
  "The Gamma-Gamma model of monetary value", brucehardie.com note 025; quoted in lifetimes' tests and in
  CLVTools' tests/testthat/test_correctness_gg.R, which also gives LL = -4055.9177 for the same data).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln, gammaln

from loyalty_pipeline import clv

CDNOW = Path(__file__).parent / "data" / "cdnow"
HOLDOUT_WEEKS = 39.0


def assert_sig(actual: float | np.ndarray, published: str | list[str], digits: int = 3) -> None:
    """Assert agreement to `digits` significant figures (or to the printed precision, if fewer were printed)."""
    for a, text in zip(np.atleast_1d(actual), np.atleast_1d(published), strict=True):
        p = float(text)
        printed_decimals = len(text.split(".")[1]) if "." in text else 0
        tolerance = 0.5 * max(10 ** (math.floor(math.log10(abs(p))) - digits + 1), 10**-printed_decimals)
        assert abs(a - p) <= tolerance, f"{a} differs from the published {text} at {digits} significant figures"


def assert_published_digits(actual: float, published: str) -> None:
    """Assert that `actual` rounds to the published number at the precision it was published with."""
    decimals = len(published.split(".")[1]) if "." in published else 0
    assert round(actual, decimals) == pytest.approx(float(published), abs=10 ** -(decimals + 3)), (actual, published)


def three_customers() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, mean spend) for a one-off buyer and CDNOW-like customers with 2 and 7 repeat purchases (weeks)."""
    return np.array([0.0, 2, 7]), np.array([0.0, 30.43, 29.43]), np.full(3, 38.86), np.array([0.0, 22.3, 73.7])


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The CDNOW calibration summary (weeks) with exact mean repeat spend and holdout repeat purchases."""
    summary = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    derived = pd.read_csv(CDNOW / "cdnow_derived.csv", index_col="ID")
    assert (summary["x"] == derived["x"]).all()
    return summary.join(derived[["m_x", "x_holdout"]])


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> clv.BGNBDModel:
    """BG/NBD fitted on the 2,357 CDNOW customers."""
    return clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> clv.GammaGammaModel:
    """Gamma-Gamma fitted on the CDNOW repeat customers, with their unrounded mean repeat spend."""
    return clv.fit_gamma_gamma(cdnow["x"], cdnow["m_x"])


def test_bgnbd_reproduces_the_published_cdnow_fit(bgnbd: clv.BGNBDModel) -> None:
    for name, published in {"r": "0.243", "alpha": "4.414", "a": "0.793", "b": "2.426"}.items():
        assert_published_digits(bgnbd.params[name], published)
        assert_sig(bgnbd.params[name], published)
    assert_published_digits(bgnbd.log_likelihood, "-9582.4")
    assert bgnbd.converged
    assert bgnbd.n_customers == bgnbd.n_unique_rows == 2357
    assert bgnbd.iterations > 0


def test_bgnbd_log_likelihood_matches_the_paper_formula(cdnow: pd.DataFrame, bgnbd: clv.BGNBDModel) -> None:
    """The fitted LL is the sum of FHL 2005 eq. 6 written out term by term."""
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    x, t_x, big_t = (cdnow[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    a1 = np.exp(gammaln(r + x) - gammaln(r) + r * np.log(alpha))
    a2 = np.exp(betaln(a, b + x) - betaln(a, b))
    a3 = (alpha + big_t) ** -(r + x)
    a4 = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * (alpha + t_x) ** -(r + x), 0.0)
    direct = np.log(a1 * a2 * (a3 + a4))
    terms = clv.bgnbd_log_likelihood_terms((r, alpha, a, b), x, t_x, big_t)
    np.testing.assert_allclose(terms, direct, rtol=1e-10)
    assert terms.sum() == pytest.approx(bgnbd.log_likelihood, rel=1e-12)


def test_bgnbd_published_conditional_expectation(bgnbd: clv.BGNBDModel) -> None:
    expected = clv.expected_purchases(bgnbd, 39, [2], [30.43], [38.86])
    assert_published_digits(float(expected[0]), "1.226")


def test_bgnbd_published_unconditional_expectations(bgnbd: clv.BGNBDModel) -> None:
    times = [0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0]
    published = ["0.0078", "0.0532", "0.1506", "1.0405", "1.0437", "1.8576"]
    assert_sig(clv.expected_purchases_unconditional(bgnbd, times), published)


def test_probability_alive_is_the_posterior_share_of_the_alive_term(bgnbd: clv.BGNBDModel) -> None:
    """P(alive) = A3 / (A3 + A4) (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model")."""
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    x = np.array([0.0, 1.0, 2.0, 7.0, 7.0, 30.0])
    t_x = np.array([0.0, 1.71, 30.43, 29.43, 10.0, 38.0])
    big_t = np.full(x.size, 38.86)
    a3 = (alpha + big_t) ** -(r + x) * np.exp(betaln(a, b + x))
    a4 = np.where(x > 0, (alpha + t_x) ** -(r + x) * np.exp(betaln(a + 1, np.maximum(b + x - 1, 1e-9))), 0.0)
    alive = clv.probability_alive(bgnbd, x, t_x, big_t)
    np.testing.assert_allclose(alive, a3 / (a3 + a4), rtol=1e-10)
    assert alive[0] == 1.0
    assert alive[3] > alive[4]  # same frequency, more recent last purchase: more likely alive
    assert np.all((alive >= 0) & (alive <= 1))


def test_conditional_expectation_matches_the_untransformed_formula(bgnbd: clv.BGNBDModel) -> None:
    """Euler's transformation gives eq. 10 as written in FHL 2005 wherever the direct form is well behaved."""
    from scipy.special import hyp2f1

    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    x, t_x, big_t, t = np.array([0.0, 1, 2, 5, 12]), np.array([0, 5, 30.43, 20, 38]), np.full(5, 38.86), 52.0
    z = t / (alpha + big_t + t)
    direct = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        / (1 + (x > 0) * a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))
    )
    np.testing.assert_allclose(clv.expected_purchases(bgnbd, t, x, t_x, big_t), direct, rtol=1e-9)


def test_conditional_expectation_stays_finite_for_heavy_buyers(bgnbd: clv.BGNBDModel) -> None:
    x = np.array([100.0, 1_000.0, 10_000.0, 10_000.0])
    t_x = np.array([38.86, 38.86, 38.86, 1.0])
    expected = clv.expected_purchases(bgnbd, 39, x, t_x, np.full(4, 38.86))
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected[:3]) > 0)
    assert expected[3] < 1e-6
    assert clv.expected_purchases(bgnbd, 0, [3], [10], [20])[0] == 0.0


def test_conditional_expectation_in_the_no_dropout_limit() -> None:
    """A fit whose dropout runs towards 0 (huge a and b, seen on data with little dropout) still predicts.

    With a = 1.24e8 and b = 7.2e10 the dropout probability p ~ Beta(a, b + x) is a/(a + b) = 0.00172 to
    within a relative spread of 1e-4, so E[Y(t) | alive] = E_p[(1 - ((alpha + T)/(alpha + T + p t))^(r + x))
    / p] (FHL 2005, the posterior of eq. 10) is that expression at p = a/(a + b + x) to about 1e-8.
    """
    model = clv.BGNBDModel(
        r=1.4937, alpha=101.68, a=1.2393e8, b=7.2005e10, log_likelihood=0.0, converged=False, iterations=0,
        message="", n_customers=0, n_unique_rows=0,
    )  # fmt: skip
    x, t_x, big_t, t = np.array([0.0, 3, 17]), np.array([0.0, 60, 170]), np.array([5.0, 179, 179]), 365.25
    p = model.a / (model.a + model.b + x)
    limit = -np.expm1(-(model.r + x) * np.log1p(p * t / (model.alpha + big_t))) / p
    alive = clv.probability_alive(model, x, t_x, big_t)
    np.testing.assert_allclose(clv.expected_purchases(model, t, x, t_x, big_t), alive * limit, rtol=1e-7)


def test_gamma_gamma_reproduces_the_published_cdnow_fit(gamma_gamma: clv.GammaGammaModel) -> None:
    for name, published in {"p": "6.25", "q": "3.74", "gamma": "15.44"}.items():
        assert_published_digits(gamma_gamma.params[name], published)
        assert_sig(gamma_gamma.params[name], published)
    assert gamma_gamma.log_likelihood == pytest.approx(-4055.9177, abs=1e-3)
    assert gamma_gamma.converged
    assert gamma_gamma.n_customers == 946


def test_gamma_gamma_on_the_rounded_lifetimes_summary(cdnow: pd.DataFrame) -> None:
    """With spend rounded to cents (as lifetimes ships it) the fit still agrees to three significant figures."""
    model = clv.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert_sig([model.p, model.q, model.gamma], ["6.25", "3.74", "15.44"])
    # Conditional mean spend for CDNOW customers 1, 2, 3 (x = 0), 6 and 9: the values printed by lifetimes'
    # Quickstart for the same data (an independent implementation of Fader & Hardie 2013, eq. for E(M | x, m_x)).
    spend = clv.expected_spend_per_purchase(model, cdnow["x"].loc[[1, 2, 3, 6, 9]], cdnow["zbar"].loc[[1, 2, 3, 6, 9]])
    assert_sig(spend, ["24.658619", "18.911489", "35.170981", "71.462843", "27.282408"], digits=5)


def test_expected_spend_shrinks_towards_the_population_mean(gamma_gamma: clv.GammaGammaModel) -> None:
    p, q, gamma = gamma_gamma.p, gamma_gamma.q, gamma_gamma.gamma
    spend = clv.expected_spend_per_purchase(gamma_gamma, [0, 1, 10, 1000], [np.nan, 100.0, 100.0, 100.0])
    assert spend[0] == pytest.approx(p * gamma / (q - 1)) == pytest.approx(gamma_gamma.population_mean_spend)
    assert spend[0] < spend[1] < spend[2] < spend[3] < 100.0
    assert spend[1] == pytest.approx((gamma + 100.0) * p / (p + q - 1))


def test_holdout_check_on_the_cdnow_holdout(cdnow: pd.DataFrame, bgnbd: clv.BGNBDModel) -> None:
    """Weeks 40-78 of the CDNOW cohort: 1,882 actual repeat purchases against the model's conditional forecast."""
    check = clv.holdout_check(bgnbd, cdnow["x"], cdnow["t_x"], cdnow["T"], HOLDOUT_WEEKS, cdnow["x_holdout"])
    assert check.actual_total == 1882
    assert check.n_customers == 2357
    assert_sig(check.predicted_total, "1653.4", digits=4)
    assert check.total_error == pytest.approx(check.predicted_total - check.actual_total)
    assert check.relative_error == pytest.approx(check.total_error / 1882)
    assert -0.15 < check.relative_error < 0
    assert 0 < check.mean_absolute_error < check.root_mean_squared_error


def test_compressed_rows_give_the_same_fit(cdnow: pd.DataFrame, bgnbd: clv.BGNBDModel) -> None:
    (x, t_x, big_t), counts = clv.compress_rows(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert counts.sum() == 2357
    assert x.size < 1100
    compressed = clv.fit_bgnbd(x, t_x, big_t, weights=counts)
    np.testing.assert_allclose(list(compressed.params.values()), list(bgnbd.params.values()), rtol=1e-5)
    assert compressed.log_likelihood == pytest.approx(bgnbd.log_likelihood, abs=1e-6)
    assert compressed.n_customers == 2357
    assert compressed.n_unique_rows == x.size


def test_gamma_gamma_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(1, 6, 300).astype(float)
    m = np.round(rng.gamma(4.0, 8.0, 300), 2)
    counts = rng.integers(1, 4, 300)
    weighted = clv.fit_gamma_gamma(x, m, weights=counts)
    repeated = clv.fit_gamma_gamma(np.repeat(x, counts), np.repeat(m, counts))
    np.testing.assert_allclose(list(weighted.params.values()), list(repeated.params.values()), rtol=1e-5)
    assert weighted.n_customers == counts.sum()


def test_fit_recovers_simulated_parameters() -> None:
    true = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    rng = np.random.default_rng(0)
    x, t_x, big_t = clv.simulate_bgnbd(true, rng.uniform(13, 78, 20_000), rng)
    model = clv.fit_bgnbd(x, t_x, big_t)
    # The simulator agrees with the model's own unconditional mean (FHL 2005, eq. 9).
    assert x.mean() == pytest.approx(clv.expected_purchases_unconditional(model, big_t).mean(), rel=0.03)
    assert model.converged
    assert model.r == pytest.approx(true["r"], rel=0.1)
    assert model.alpha == pytest.approx(true["alpha"], rel=0.1)
    assert model.a == pytest.approx(true["a"], rel=0.25)
    assert model.b == pytest.approx(true["b"], rel=0.25)
    assert model.a / (model.a + model.b) == pytest.approx(0.8 / 3.3, rel=0.1)


def test_predicted_clv_is_the_discounted_monthly_sum(bgnbd: clv.BGNBDModel, gamma_gamma: clv.GammaGammaModel) -> None:
    x, t_x, big_t, m = three_customers()
    month = clv.DAYS_PER_MONTH / 7  # the CDNOW summaries are in weeks
    value = clv.predicted_clv(bgnbd, gamma_gamma, x, t_x, big_t, m, margin_rate=0.3, period_length=month)
    spend = clv.expected_spend_per_purchase(gamma_gamma, x, m)
    by_hand = np.zeros(3)
    for k in range(1, 13):
        purchases = clv.expected_purchases(bgnbd, k * month, x, t_x, big_t)
        purchases -= clv.expected_purchases(bgnbd, (k - 1) * month, x, t_x, big_t)
        by_hand += purchases * spend * 0.3 / 1.01**k
    np.testing.assert_allclose(value, by_hand, rtol=1e-12)
    undiscounted = clv.predicted_clv(
        bgnbd, gamma_gamma, x, t_x, big_t, m, margin_rate=1.0, monthly_discount_rate=0.0, period_length=month
    )
    np.testing.assert_allclose(undiscounted, clv.expected_purchases(bgnbd, 12 * month, x, t_x, big_t) * spend)
    per_month = clv.expected_purchases_by_period(bgnbd, x, t_x, big_t, periods=12, period_length=month)
    assert per_month.shape == (3, 12)
    np.testing.assert_allclose(per_month @ (1.01 ** -np.arange(1, 13)) * spend * 0.3, value, rtol=1e-12)
    assert np.all(value < undiscounted * 0.3)


def test_time_unit_is_the_callers_choice(bgnbd: clv.BGNBDModel, gamma_gamma: clv.GammaGammaModel) -> None:
    """The same customers in days, with alpha in days, give the same predictions as in weeks."""
    in_days = dataclasses.replace(bgnbd, alpha=bgnbd.alpha * 7)
    x, t_x, big_t, m = three_customers()
    weeks = clv.predicted_clv(
        bgnbd, gamma_gamma, x, t_x, big_t, m, margin_rate=0.25, period_length=clv.DAYS_PER_MONTH / 7
    )
    days = clv.predicted_clv(in_days, gamma_gamma, x, t_x * 7, big_t * 7, m, margin_rate=0.25)
    np.testing.assert_allclose(days, weeks, rtol=1e-10)
    np.testing.assert_allclose(
        clv.probability_alive(in_days, x, t_x * 7, big_t * 7), clv.probability_alive(bgnbd, x, t_x, big_t)
    )


def test_invalid_summaries_are_refused() -> None:
    with pytest.raises(ValueError, match="recency <= age"):
        clv.fit_bgnbd([1, 2], [5.0, 9.0], [4.0, 10.0])
    with pytest.raises(ValueError, match="missing"):
        clv.fit_bgnbd([1, np.nan], [1.0, 2.0], [4.0, 10.0])
    with pytest.raises(ValueError, match="positive"):
        clv.fit_gamma_gamma([1, 2], [10.0, 0.0])


def test_analytic_gradients_match_finite_differences(cdnow: pd.DataFrame) -> None:
    from scipy.optimize import approx_fprime

    x, t_x, big_t, m = (cdnow[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "m_x"))
    bg_args = (clv._BGNBDRows.of(x, t_x, big_t, np.ones(x.size)),)
    point = np.log([0.3, 5.0, 0.7, 2.0])
    numeric = approx_fprime(point, lambda v: clv._bgnbd_objective(v, *bg_args)[0], 1e-7)
    np.testing.assert_allclose(clv._bgnbd_objective(point, *bg_args)[1], numeric, rtol=1e-4, atol=1e-6)
    repeat = x > 0
    gg_args = (clv._GammaGammaRows.of(x[repeat], m[repeat], np.ones(repeat.sum())),)
    point = np.log([5.0, 3.0, 12.0])
    numeric = approx_fprime(point, lambda v: clv._gamma_gamma_objective(v, *gg_args)[0], 1e-7)
    np.testing.assert_allclose(clv._gamma_gamma_objective(point, *gg_args)[1], numeric, rtol=1e-4, atol=1e-6)

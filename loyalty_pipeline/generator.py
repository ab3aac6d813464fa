"""Deterministic, vectorised generator of the demo source systems.

It writes the four source systems of ``docs/source-contract.md`` (shop database, web
analytics sessions, survey exports, back-office exports) for the period
``[start, start + days)``, with the behaviour every KPI of ``docs/kpi-catalogue.md`` needs:
repeat purchases with customer heterogeneity and dropout (BG/NBD-like), cross-sell and
upsell, refunds and cancellations, subscriptions with plan changes, churn and reactivation,
abandoned carts, support tickets re-delivered when resolved, and surveys whose answers are
driven by a latent satisfaction.

Internally every instant is an ``int64`` of Unix seconds (UTC) and every entity an integer
index; ids and timestamps are only materialised when the frames are built, so the whole
generation stays vectorised (Python loops run over months, days or products, never rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from loyalty_pipeline.contract import load_contract
from loyalty_pipeline.settings import REPOSITORY_DBT_PROJECT_DIR

__all__ = [
    "CATALOGUE",
    "CONTRACT_COLUMNS",
    "LANDING_FOLDERS",
    "SHOP_TABLES",
    "GeneratorConfig",
    "SourceData",
    "generate",
    "generate_sources",
    "write_sources",
]

DAY = 86_400
# numpy's NaT seen as int64: a null instant in the second arrays converts to NaT for free.
NULL_TIME = np.iinfo(np.int64).min
NEVER = np.iinfo(np.int64).max

# --------------------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------------------

# The columns, keys and landing folders come from the source contract as the dbt sources
# declare it, so the generator cannot drift from what extraction checks.
_CONTRACT = {table.name: table for table in load_contract(REPOSITORY_DBT_PROJECT_DIR)}
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {name: tuple(table.column_names) for name, table in _CONTRACT.items()}
SHOP_TABLES = tuple(name for name, table in _CONTRACT.items() if table.source == "shop")
# Landing-zone folder and file format of each file-based source (sessions as Parquet, the others CSV).
LANDING_FOLDERS: dict[str, tuple[str, str]] = {
    name: (table.landing_path, "parquet" if name == "sessions" else "csv")
    for name, table in _CONTRACT.items()
    if table.landing_path
}
_PRIMARY_KEYS: dict[str, tuple[str, ...]] = {name: _CONTRACT[name].primary_key for name in SHOP_TABLES}

# --------------------------------------------------------------------------------------
# Vocabulary and behaviour parameters
# --------------------------------------------------------------------------------------

COUNTRIES = ("DE", "FR", "NL", "GB", "US", "ES", "IT")
COUNTRY_WEIGHTS = (0.30, 0.16, 0.10, 0.12, 0.14, 0.09, 0.09)
CHANNELS = ("organic", "paid_search", "social", "referral", "email")
ACQUISITION_WEIGHTS = (0.36, 0.24, 0.18, 0.12, 0.10)
# Sessions that end in an order come more from referral and email (visitors with intent);
# paid search and social bring many visitors who only browse.
CONVERTING_CHANNEL_WEIGHTS = (0.30, 0.14, 0.08, 0.20, 0.28)
BROWSING_CHANNEL_WEIGHTS = (0.27, 0.38, 0.25, 0.04, 0.06)
DEVICES = ("desktop", "mobile", "tablet")
DEVICE_WEIGHTS = (0.48, 0.43, 0.09)
SEGMENTS = ("consumer", "business")
ACCOUNT_MANAGERS = (
    "Anna Becker",
    "Louis Martin",
    "Sanne de Vries",
    "James Carter",
    "Lucia Garcia",
    "Marco Rossi",
)
ORDER_STATUSES = ("completed", "refunded", "cancelled")
BILLING_PERIODS = ("month", "year")
TICKET_CHANNELS = ("email", "chat", "phone")
TICKET_CHANNEL_WEIGHTS = (0.45, 0.35, 0.20)
HANDLING_COST = (4.0, 7.0, 12.0)  # mean cost to serve one ticket, per ticket channel
SURVEYS = ("nps", "csat", "ces", "relationship")
QUESTIONS = (
    "likelihood_to_recommend",
    "likelihood_to_switch",
    "likelihood_to_repurchase",
    "overall_experience",
    "satisfaction",
    "effort",
)
QUESTION_SCALES: dict[str, tuple[int, int]] = {
    "likelihood_to_recommend": (0, 10),
    "likelihood_to_switch": (0, 10),
    "likelihood_to_repurchase": (0, 10),
    "overall_experience": (0, 10),
    "satisfaction": (1, 5),
    "effort": (1, 10),
}
SPEND_PROGRAMS = (  # (program, channel, share of the program's budget), in key order
    ("acquisition", "email", 0.09),
    ("acquisition", "paid_search", 0.45),
    ("acquisition", "referral", 0.18),
    ("acquisition", "social", 0.28),
    ("retention", "email", 0.35),
    ("retention", "loyalty", 0.65),
)
ACQUISITION_SPEND_PER_CUSTOMER = 38.0
RETENTION_SPEND_PER_CUSTOMER_DAY = 0.03
COMMENTS = {  # free-text comments by the sentiment of the answer they come with
    "positive": (
        "Great coffee and fast delivery.",
        "Support solved my problem right away.",
        "Love the subscription, I never run out of beans.",
        "The app makes brewing at home easy.",
    ),
    "neutral": (
        "Okay overall, delivery could be faster.",
        "Good products, but a bit pricey.",
        "Fine, nothing special.",
    ),
    "negative": (
        "The order arrived late and nobody answered my emails.",
        "Too expensive for what you get.",
        "Had to contact support three times, very frustrating.",
        "The machine broke after two weeks.",
    ),
}
# Relative traffic by hour of day (UTC): quiet nights, evening peak.
HOURLY_WEIGHTS = np.array(
    [
        1.0,
        0.6,
        0.4,
        0.3,
        0.3,
        0.4,
        0.8,
        1.5,
        2.5,
        3.0,
        3.2,
        3.3,
        3.5,
        3.3,
        3.2,
        3.3,
        3.6,
        4.0,
        4.5,
        5.0,
        5.0,
        4.2,
        3.0,
        1.8,
    ]
)

GROWTH = 1.5  # daily sign-ups at the end of the period are 1 + GROWTH times those at the start
P_BUSINESS = 0.15
P_ACCOUNT_MANAGER = 0.6  # of business customers
P_MANAGER_LATER = 0.5  # of those, assigned after sign-up (a second customer version)
P_NEVER_BUY = 0.07
P_SUBSCRIBER = 0.36  # of buyers
P_SUBSCRIBE_AT_SIGNUP = 0.55  # of subscribers; the others subscribe later (a cross-sell)
SUBSCRIPTION_LINE_WEIGHTS = (0.7, 0.3)  # coffee_club, brew_app
P_YEARLY = 0.2
P_CHURN_MONTHLY = 0.05  # at each monthly renewal
P_CHURN_YEARLY = 0.25  # at each yearly renewal
P_UPGRADE = 0.03  # per subscription and month
P_DOWNGRADE = 0.02
# The subscription simulation steps a week at a time: at most one renewal per step, and a
# reactivation (at least a step after the churn) always falls into a later step.
STEP_DAYS = 7
STEP_SHARE_OF_MONTH = STEP_DAYS / 30.44
P_AT_MIDNIGHT = 0.2  # plan changes at exactly 00:00:00 UTC (edge case of "MRR at end of day")
P_REACTIVATE = 0.5
# BG/NBD: purchase rate per day ~ Gamma(r, 1/alpha), dropout after a purchase ~ Beta(a, b).
RATE_SHAPE, RATE_SCALE = 0.9, 1 / 45
DROPOUT_A, DROPOUT_B = 2.0, 5.0
SUBSCRIBER_RATE_FACTOR = 0.5  # subscribers get their coffee by subscription
ITEMS_PER_ORDER = (0.62, 0.28, 0.10)  # 1, 2 or 3 lines
P_FAVOURITE_LINE = 0.8  # an item of a repeat order is from the favourite line (else cross-sell)
P_FAVOURITE_LINE_EXTRA = 0.45  # same for the 2nd and 3rd line of an order
OTHER_LINE_WEIGHTS = (0.55, 0.15, 0.30)  # beans, equipment, accessories
TIER_DRIFT = 0.12  # per earlier order, chance of having moved up one tier (upsell)
P_DISCOUNT = 0.08
DISCOUNT_RATES = (0.05, 0.10, 0.15, 0.20)
P_OFFLINE = 0.05
P_CANCELLED = 0.03
P_REFUNDED = 0.05
TARGET_CONVERSION = 0.05  # share of sessions that convert
BROWSE_PER_DAY = 0.004  # logged-in sessions without an order, per customer and day ...
BROWSE_PER_ORDER = 1.5  # ... plus this many per web order of the customer
SESSIONS_PER_ANONYMOUS_VISITOR = 1.7
P_ADD_TO_CART = 0.30  # of non-converting sessions
P_CHECKOUT = 0.35  # of non-converting sessions with a cart
TICKETS_PER_DAY = 0.005  # per customer
P_SLOW_RESOLUTION = 0.08
P_TICKET_SURVEY = 0.4
NPS_PER_DAY = 0.003  # per customer at least 30 days old
RELATIONSHIP_PER_DAY = 0.0015
P_COMMENT = 0.12
# Survey answers from one latent value per submission (customer mood, ticket experience):
# (question, intercept, slope, noise sd) on the question's scale before rounding. One latent
# behind all relationship answers makes overall_experience correlate with the others.
CSAT_MODEL = (("satisfaction", 3.9, 0.9, 0.5),)
CES_MODEL = (("effort", 3.4, -1.7, 1.0),)  # lower effort is better
NPS_MODEL = (("likelihood_to_recommend", 7.8, 1.9, 1.1),)
RELATIONSHIP_MODEL = (
    ("overall_experience", 7.2, 1.8, 1.2),
    ("likelihood_to_recommend", 7.6, 1.9, 1.2),
    ("likelihood_to_switch", 3.2, -1.6, 1.5),
    ("likelihood_to_repurchase", 7.5, 1.6, 1.3),
)

# --------------------------------------------------------------------------------------
# Product catalogue
# --------------------------------------------------------------------------------------

PRODUCT_LINES = ("coffee_beans", "equipment", "accessories", "coffee_club", "brew_app")
ONE_OFF_LINES = 3  # the first three lines are bought one-off, the others are subscriptions
# (name, product_line, tier, billing_period, list_price, unit_cost); product_id is p-001...
CATALOGUE: tuple[tuple[str, str, int, str | None, float, float], ...] = (
    ("House Blend Beans 1 kg", "coffee_beans", 1, None, 17.90, 8.40),
    ("Single Origin Beans 1 kg", "coffee_beans", 2, None, 27.90, 12.90),
    ("Reserve Micro-Lot Beans 1 kg", "coffee_beans", 3, None, 44.90, 20.70),
    ("Hand Grinder", "equipment", 1, None, 69.00, 33.00),
    ("Home Espresso Machine", "equipment", 2, None, 349.00, 189.00),
    ("Dual Boiler Espresso Machine", "equipment", 3, None, 1190.00, 655.00),
    ("Milk Pitcher", "accessories", 1, None, 14.90, 4.20),
    ("Barista Tool Kit", "accessories", 2, None, 49.90, 17.50),
    ("Coffee Club Discovery, monthly", "coffee_club", 1, "month", 19.90, 9.90),
    ("Coffee Club Discovery, yearly", "coffee_club", 1, "year", 199.00, 118.80),
    ("Coffee Club Connoisseur, monthly", "coffee_club", 2, "month", 29.90, 14.60),
    ("Coffee Club Connoisseur, yearly", "coffee_club", 2, "year", 299.00, 175.20),
    ("Coffee Club Reserve, monthly", "coffee_club", 3, "month", 44.90, 22.40),
    ("Coffee Club Reserve, yearly", "coffee_club", 3, "year", 449.00, 268.80),
    ("Brew App Plus, monthly", "brew_app", 1, "month", 4.99, 0.60),
    ("Brew App Plus, yearly", "brew_app", 1, "year", 49.90, 7.20),
    ("Brew App Pro, monthly", "brew_app", 2, "month", 9.99, 1.10),
    ("Brew App Pro, yearly", "brew_app", 2, "year", 99.90, 13.20),
)
_MONTH, _YEAR = 1, 2  # billing codes; 0 = not a subscription


@dataclass(frozen=True)
class GeneratorConfig:
    """Size, period and seed of the generated demo data."""

    customers: int = 5_000
    days: int = 180
    seed: int = 42
    start: dt.date = dt.date(2026, 1, 1)


@dataclass(frozen=True)
class SourceData:
    """The four generated source systems as frames, columns as in the source contract."""

    shop: dict[str, pd.DataFrame]
    sessions: pd.DataFrame
    survey_responses: pd.DataFrame
    support_tickets: pd.DataFrame  # every delivered version, plus the file_date it is in
    marketing_spend: pd.DataFrame


@dataclass(frozen=True)
class _Catalogue:
    """The product catalogue as arrays indexed by product number."""

    line: np.ndarray
    tier: np.ndarray
    billing: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    lookup: np.ndarray  # [line, tier, billing code] -> product number, -1 if none
    max_tier: np.ndarray  # per line


@dataclass(frozen=True)
class _Customers:
    """Customer attributes, and the latent traits that drive their behaviour."""

    created: np.ndarray
    updated: np.ndarray
    country: np.ndarray
    channel: np.ndarray
    business: np.ndarray
    manager: np.ndarray  # -1: none
    device: np.ndarray  # preferred device
    favourite_line: np.ndarray  # one-off product line
    base_tier: np.ndarray  # tier the customer starts buying at
    rate: np.ndarray  # BG/NBD purchases per day while alive
    dropout: np.ndarray  # BG/NBD probability of dropping out after a purchase
    mood: np.ndarray  # latent satisfaction behind survey answers


@dataclass(frozen=True)
class _Orders:
    """All orders in final order-id order, and their items."""

    customer: np.ndarray
    time: np.ndarray
    web: np.ndarray  # placed in a web session
    first: np.ndarray  # the customer's first order
    status: np.ndarray
    refunded: np.ndarray
    updated: np.ndarray
    item_order: np.ndarray
    item_line_number: np.ndarray
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_price: np.ndarray
    item_discount: np.ndarray


@dataclass(frozen=True)
class _Tickets:
    """Support tickets in ticket-id order."""

    customer: np.ndarray
    opened: np.ndarray
    resolved: np.ndarray  # NULL_TIME while open
    channel: np.ndarray
    cost: np.ndarray


# --------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------


def _bounds(config: GeneratorConfig) -> tuple[int, int]:
    """First instant of the period and first instant after it, in Unix seconds."""
    start = int(np.datetime64(config.start, "s").astype(np.int64))
    return start, start + config.days * DAY


def _id_array(prefix: str, numbers: np.ndarray, min_width: int) -> pa.Array:
    """Zero-padded text ids built byte-wise, without a Python string per row."""
    numbers = np.asarray(numbers, dtype=np.int64)
    width = max(min_width, len(str(int(numbers.max()))) if numbers.size else 0)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.empty((numbers.size, head.size + width), dtype=np.uint8)
    chars[:, : head.size] = head
    rest = numbers.copy()
    for position in range(chars.shape[1] - 1, head.size - 1, -1):
        chars[:, position] = rest % 10 + ord("0")
        rest //= 10
    offsets = np.arange(numbers.size + 1, dtype=np.int64) * chars.shape[1]
    return pa.Array.from_buffers(
        pa.large_string(),
        numbers.size,
        [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))],
    )


def _text(values: pa.Array, index: np.ndarray | None = None) -> pd.Series:
    """A text column of ``values[index]``; a negative index gives a null."""
    if index is not None:
        index = np.asarray(index, dtype=np.int64)
        values = values.take(pa.array(index, mask=index < 0))
    return pd.Series(values, dtype="str")


def _labels(names: Sequence[str], codes: np.ndarray) -> pd.Series:
    """A text column of ``names[codes]``; a negative code gives a null."""
    return _text(pa.array(list(names), pa.large_string()), codes)


def _timestamps(seconds: np.ndarray) -> pd.Series:
    """A naive UTC timestamp column from Unix seconds (NULL_TIME gives NaT)."""
    stamps = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[us]")
    return pd.Series(stamps, copy=False)


def _money(values: np.ndarray) -> np.ndarray:
    """Amounts rounded to cents."""
    return np.round(np.asarray(values, dtype=np.float64), 2)


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal, adjacent keys."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def _inverse(permutation: np.ndarray) -> np.ndarray:
    """Position of each element after applying ``permutation``."""
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(permutation.size)
    return inverse


def _day_weights(config: GeneratorConfig) -> np.ndarray:
    """Probability of each day for a new customer or visitor: growth plus busier weekends."""
    day = np.arange(config.days)
    weekday = (np.datetime64(config.start, "D").astype(np.int64) + day + 3) % 7  # Monday = 0
    weights = (1 + GROWTH * day / max(config.days, 1)) * np.where(weekday >= 5, 1.15, 1.0)
    return weights / weights.sum()


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight following the hourly traffic profile."""
    hour = rng.choice(24, size=n, p=HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum())
    return hour * 3600 + rng.integers(0, 3600, n)


def _uniform_between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Whole seconds drawn uniformly from ``[low, high)`` (``low`` where empty)."""
    span = np.maximum(high - low, 0)
    return low + (rng.random(low.size) * span).astype(np.int64)


def _add_months(seconds: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Same day of month and time of day ``months`` later, clipped to the month's end."""
    stamp = seconds.astype("datetime64[s]")
    day = stamp.astype("datetime64[D]")
    month = stamp.astype("datetime64[M]")
    day_of_month = (day - month.astype("datetime64[D]")).astype(np.int64)
    time_of_day = (stamp - day.astype("datetime64[s]")).astype(np.int64)
    target = month + np.asarray(months).astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    target_day = target.astype("datetime64[D]") + np.minimum(day_of_month, length - 1)
    return target_day.astype("datetime64[s]").astype(np.int64) + time_of_day


def _steps(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into half-open steps of STEP_DAYS (the last one may be shorter)."""
    lows = range(start, end, STEP_DAYS * DAY)
    return [(low, min(low + STEP_DAYS * DAY, end)) for low in lows]


def _pick(state: dict[str, np.ndarray], selector: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of a struct of arrays chosen by a mask or an index."""
    return {key: value[selector] for key, value in state.items()}


def _stack(*states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of several structs of arrays with the same keys, one after the other."""
    return {key: np.concatenate([state[key] for state in states]) for key in states[0]}


# --------------------------------------------------------------------------------------
# Catalogue and customers
# --------------------------------------------------------------------------------------


def _catalogue() -> _Catalogue:
    """Arrays of the fixed product catalogue."""
    line = np.array([PRODUCT_LINES.index(row[1]) for row in CATALOGUE])
    tier = np.array([row[2] for row in CATALOGUE])
    billing = np.array([0 if row[3] is None else 1 + BILLING_PERIODS.index(row[3]) for row in CATALOGUE])
    lookup = np.full((len(PRODUCT_LINES), tier.max() + 1, 3), -1)
    lookup[line, tier, billing] = np.arange(len(CATALOGUE))
    max_tier = np.zeros(len(PRODUCT_LINES), dtype=np.int64)
    np.maximum.at(max_tier, line, tier)
    return _Catalogue(
        line=line,
        tier=tier,
        billing=billing,
        price=np.array([row[4] for row in CATALOGUE]),
        cost=np.array([row[5] for row in CATALOGUE]),
        lookup=lookup,
        max_tier=max_tier,
    )


def _customers(config: GeneratorConfig, rng: np.random.Generator) -> _Customers:
    """Customers created over the period (growing), in creation order, with latent traits."""
    n = config.customers
    start, end = _bounds(config)
    day = rng.choice(config.days, size=n, p=_day_weights(config))
    created = np.sort(start + day * DAY + _time_of_day(rng, n))
    business = rng.random(n) < P_BUSINESS
    has_manager = business & (rng.random(n) < P_ACCOUNT_MANAGER)
    manager = np.where(has_manager, rng.integers(0, len(ACCOUNT_MANAGERS), n), -1)
    # A manager assigned after sign-up gives the record a later version; none if too late.
    assigned = created + 3600 + rng.exponential(30 * DAY, n).astype(np.int64)
    later = has_manager & (rng.random(n) < P_MANAGER_LATER)
    manager[later & (assigned >= end)] = -1
    updated = np.where(later & (assigned < end), assigned, created)
    return _Customers(
        created=created,
        updated=updated,
        country=rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS),
        channel=rng.choice(len(CHANNELS), size=n, p=ACQUISITION_WEIGHTS),
        business=business,
        manager=manager,
        device=rng.choice(len(DEVICES), size=n, p=DEVICE_WEIGHTS),
        favourite_line=rng.choice(ONE_OFF_LINES, size=n, p=(0.6, 0.2, 0.2)),
        base_tier=1 + rng.binomial(2, 0.25, n),
        rate=rng.gamma(RATE_SHAPE, RATE_SCALE, n),
        dropout=rng.beta(DROPOUT_A, DROPOUT_B, n),
        mood=rng.standard_normal(n),
    )


# --------------------------------------------------------------------------------------
# Purchases and subscriptions
# --------------------------------------------------------------------------------------


def _purchase_plan(
    config: GeneratorConfig, customers: _Customers, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One-off orders (customer, time) and first subscription starts (customer, time)."""
    n = customers.created.size
    _, end = _bounds(config)
    created = customers.created
    day_end = created - created % DAY + DAY - 1
    first = np.minimum(np.minimum(created + rng.integers(120, 900, n), day_end), end - 1)
    buyer = rng.random(n) >= P_NEVER_BUY
    subscriber = buyer & (rng.random(n) < P_SUBSCRIBER)
    at_signup = subscriber & (rng.random(n) < P_SUBSCRIBE_AT_SIGNUP)
    later = created + ((7 + rng.exponential(45, n)) * DAY).astype(np.int64)
    subscribed = np.where(at_signup, first, later)
    subscriber &= subscribed < end

    # BG/NBD repeat purchases: a Poisson process at the customer's rate, cut after the
    # Geometric number of purchases the customer makes before dropping out.
    rate = customers.rate * np.where(subscriber, SUBSCRIBER_RATE_FACTOR, 1.0)
    allowed = rng.geometric(customers.dropout) - 1
    horizon = np.maximum(end - 1 - first, 0)
    count = np.where(buyer, rng.poisson(rate * horizon / DAY), 0)
    owner = np.repeat(np.arange(n), count)
    times = first[owner] + 1 + (rng.random(owner.size) * horizon[owner]).astype(np.int64)
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    keep = (_rank_in_group(owner) < allowed[owner]) & (times < end)

    first_one_off = buyer & ~at_signup
    one_off = {
        "customer": np.concatenate([np.flatnonzero(first_one_off), owner[keep]]),
        "time": np.concatenate([first[first_one_off], times[keep]]),
    }
    starts = {"customer": np.flatnonzero(subscriber), "time": subscribed[subscriber]}
    return one_off, starts


def _new_plans(
    customer: np.ndarray,
    time: np.ndarray,
    line: np.ndarray | None,
    catalogue: _Catalogue,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Subscriptions to start: a line (random unless given), entry-heavy tier, billing."""
    n = customer.size
    if line is None:
        line = ONE_OFF_LINES + rng.choice(2, size=n, p=SUBSCRIPTION_LINE_WEIGHTS)
    tier = 1 + rng.binomial(catalogue.max_tier[line] - 1, 0.3)
    billing = np.where(rng.random(n) < P_YEARLY, _YEAR, _MONTH)
    return {"customer": customer, "time": time, "line": line, "tier": tier, "billing": billing}


def _activate(new: dict[str, np.ndarray], first_number: int, catalogue: _Catalogue) -> dict[str, np.ndarray]:
    """Running-subscription state for new subscriptions, numbered from ``first_number``."""
    months = np.where(new["billing"] == _YEAR, 12, 1)
    return {
        "subscription": first_number + np.arange(new["customer"].size),
        "customer": new["customer"],
        "line": new["line"],
        "tier": new["tier"],
        "billing": new["billing"],
        "product": catalogue.lookup[new["line"], new["tier"], new["billing"]],
        "row_start": new["time"],
        "anchor": new["time"],
        "cycle": np.ones(new["customer"].size, dtype=np.int64),
        "next_bill": _add_months(new["time"], months),
    }


def _step_events(
    active: dict[str, np.ndarray],
    low: int,
    high: int,
    catalogue: _Catalogue,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], list[dict], list[dict], dict[str, np.ndarray]]:
    """Renewals, churn and plan changes of one step: (state, rows, invoices, churned)."""
    n = active["customer"].size
    yearly = active["billing"] == _YEAR
    bills = active["next_bill"] < high
    bill_at = np.where(bills, active["next_bill"], NEVER)
    churn = bills & (rng.random(n) < np.where(yearly, P_CHURN_YEARLY, P_CHURN_MONTHLY))
    renew = bills & ~churn

    draw = rng.random(n)
    p_up, p_down = P_UPGRADE * STEP_SHARE_OF_MONTH, P_DOWNGRADE * STEP_SHARE_OF_MONTH
    up = (draw < p_up) & (active["tier"] < catalogue.max_tier[active["line"]])
    down = (draw >= p_up) & (draw < p_up + p_down) & (active["tier"] > 1)
    earliest = np.maximum(low, active["row_start"] + 1)
    at = _uniform_between(rng, earliest, np.full(n, high))
    midnight = at - at % DAY
    at = np.where((rng.random(n) < P_AT_MIDNIGHT) & (midnight >= earliest), midnight, at)
    # A subscription that ends at its renewal cannot change plan afterwards.
    change = (up | down) & (earliest < high) & ~(churn & (at >= bill_at))
    tier = np.where(change, active["tier"] + up - down, active["tier"])
    product = catalogue.lookup[active["line"], tier, active["billing"]]
    row_start = np.where(change, at, active["row_start"])

    rows = [
        {
            "subscription": active["subscription"][change],
            "customer": active["customer"][change],
            "product": active["product"][change],
            "start": active["row_start"][change],
            "end": at[change],
        },
        {
            "subscription": active["subscription"][churn],
            "customer": active["customer"][churn],
            "product": product[churn],
            "start": row_start[churn],
            "end": bill_at[churn],
        },
    ]
    # The renewal invoice is for the plan in force at the renewal instant.
    invoice_product = np.where(change & (at <= bill_at), product, active["product"])
    invoices = [
        {
            "customer": active["customer"][renew],
            "subscription": active["subscription"][renew],
            "product": invoice_product[renew],
            "time": bill_at[renew],
            "first": np.zeros(int(renew.sum()), dtype=bool),
        }
    ]

    cycle = active["cycle"] + renew
    months = np.where(yearly, 12, 1)
    next_bill = np.where(renew, _add_months(active["anchor"], cycle * months), active["next_bill"])
    state = dict(active, tier=tier, product=product, row_start=row_start, cycle=cycle, next_bill=next_bill)
    churned = {"customer": active["customer"][churn], "line": active["line"][churn], "time": bill_at[churn]}
    return _pick(state, ~churn), rows, invoices, churned


def _reactivations(
    churned: dict[str, np.ndarray], catalogue: _Catalogue, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Some churned customers come back after a gap of weeks, as a new subscription."""
    n = churned["customer"].size
    back = rng.random(n) < P_REACTIVATE
    gap = ((STEP_DAYS + 1 + rng.exponential(14, n)) * DAY).astype(np.int64)
    switch = rng.random(n) < 0.15  # some come back to the other subscription line
    line = np.where(switch, 2 * ONE_OFF_LINES + 1 - churned["line"], churned["line"])
    plans = _new_plans(churned["customer"], churned["time"] + gap, line, catalogue, rng)
    return _pick(plans, back)


def _subscriptions(
    config: GeneratorConfig,
    catalogue: _Catalogue,
    starts: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Step-by-step (weekly) subscription simulation: (period rows, invoices)."""
    start, end = _bounds(config)
    pending = _new_plans(starts["customer"], starts["time"], None, catalogue, rng)
    active = _activate(_pick(pending, np.zeros(0, dtype=np.int64)), 0, catalogue)
    rows: list[dict] = []
    invoices: list[dict] = []
    numbered = 0
    for low, high in _steps(start, end):
        due = pending["time"] < high
        new = _pick(pending, due)
        pending = _pick(pending, ~due)
        new = _pick(new, np.lexsort((new["customer"], new["time"])))
        fresh = _activate(new, numbered, catalogue)
        numbered += new["customer"].size
        invoices.append(
            {
                "customer": fresh["customer"],
                "subscription": fresh["subscription"],
                "product": fresh["product"],
                "time": fresh["row_start"],
                "first": np.ones(new["customer"].size, dtype=bool),
            }
        )
        active, step_rows, step_invoices, churned = _step_events(_stack(active, fresh), low, high, catalogue, rng)
        rows += step_rows
        invoices += step_invoices
        # Gaps exceed a step, so a reactivation always falls into a later step.
        pending = _stack(pending, _reactivations(churned, catalogue, rng))
    rows.append(
        {
            "subscription": active["subscription"],
            "customer": active["customer"],
            "product": active["product"],
            "start": active["row_start"],
            "end": np.full(active["customer"].size, NULL_TIME),
        }
    )
    return _stack(*rows), _stack(*invoices)


def _one_off_items(
    customer: np.ndarray,
    sequence: np.ndarray,
    customers: _Customers,
    catalogue: _Catalogue,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """1-3 lines per one-off order: favourite line mostly, tiers drifting up with experience."""
    lines_per_order = 1 + rng.choice(3, size=customer.size, p=ITEMS_PER_ORDER)
    order = np.repeat(np.arange(customer.size), lines_per_order)
    position = _rank_in_group(order)
    buyer = customer[order]
    n = order.size
    p_favourite = np.where(position > 0, P_FAVOURITE_LINE_EXTRA, np.where(sequence[order] == 0, 1.0, P_FAVOURITE_LINE))
    other = rng.choice(ONE_OFF_LINES, size=n, p=OTHER_LINE_WEIGHTS)
    line = np.where(rng.random(n) < p_favourite, customers.favourite_line[buyer], other)
    tier = customers.base_tier[buyer] + rng.binomial(sequence[order], TIER_DRIFT)
    tier = np.clip(tier, 1, catalogue.max_tier[line])
    product = catalogue.lookup[line, tier, 0]

    # One line per product in an order: keep the first occurrence, in line order.
    _, first = np.unique(order * len(CATALOGUE) + product, return_index=True)
    keep = np.sort(first)
    order, product, buyer = order[keep], product[keep], buyer[keep]
    n = order.size
    line = catalogue.line[product]
    extra = np.select(
        [line == 0, line == 2],
        [rng.binomial(2, 0.3, n) + customers.business[buyer] * rng.poisson(2, n), rng.binomial(1, 0.25, n)],
        0,
    )
    quantity = 1 + extra
    price = catalogue.price[product]
    rate = np.where(rng.random(n) < P_DISCOUNT, rng.choice(DISCOUNT_RATES, size=n), 0.0)
    return {
        "order": order,
        "product": product,
        "quantity": quantity,
        "price": price,
        "discount": _money(quantity * price * rate),
    }


def _statuses(
    time: np.ndarray, one_off: np.ndarray, end: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order status, refunded_at and updated_at; subscription invoices stay completed."""
    n = time.size
    draw = rng.random(n)
    cancelled = one_off & (draw < P_CANCELLED)
    refunded_at = time + ((1 + 13 * rng.random(n)) * DAY).astype(np.int64)
    # A refund after the end of the period has not happened yet: the order stays completed.
    refunded = one_off & (draw >= P_CANCELLED) & (draw < P_CANCELLED + P_REFUNDED) & (refunded_at < end)
    cancelled_at = np.minimum(time + rng.integers(300, 6 * 3600, n), end - 1)
    status = np.select([refunded, cancelled], [1, 2], 0)
    updated = np.select([refunded, cancelled], [refunded_at, cancelled_at], time)
    return status, np.where(refunded, refunded_at, NULL_TIME), updated


def _orders(
    config: GeneratorConfig,
    customers: _Customers,
    catalogue: _Catalogue,
    one_off: dict[str, np.ndarray],
    invoices: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> _Orders:
    """One-off orders and subscription invoices as one order table, ids in time order."""
    _, end = _bounds(config)
    # A customer's n-th one-off order: tiers drift up with it.
    by_customer = np.lexsort((one_off["time"], one_off["customer"]))
    one_off = _pick(one_off, by_customer)
    sequence = _rank_in_group(one_off["customer"])
    items = _one_off_items(one_off["customer"], sequence, customers, catalogue, rng)

    n_one_off = one_off["customer"].size
    customer = np.concatenate([one_off["customer"], invoices["customer"]])
    time = np.concatenate([one_off["time"], invoices["time"]])
    is_one_off = np.arange(customer.size) < n_one_off
    web = np.concatenate([rng.random(n_one_off) >= P_OFFLINE, invoices["first"]])
    status, refunded, updated = _statuses(time, is_one_off, end, rng)

    # Order ids follow ordered_at; sort the items by their order's new position.
    order = np.lexsort((np.arange(customer.size), customer, time))
    position = _inverse(order)
    customer, time, web = customer[order], time[order], web[order]
    by_customer = np.argsort(customer, kind="stable")  # in time order within a customer
    first = np.empty(customer.size, dtype=bool)
    first[by_customer] = _rank_in_group(customer[by_customer]) == 0

    n_invoices = invoices["customer"].size
    item_order = np.concatenate([position[items["order"]], position[n_one_off:]])
    item_product = np.concatenate([items["product"], invoices["product"]])
    item_sort = np.lexsort((np.arange(item_order.size), item_order))
    item_order = item_order[item_sort]
    return _Orders(
        customer=customer,
        time=time,
        web=web,
        first=first,
        status=status[order],
        refunded=refunded[order],
        updated=updated[order],
        item_order=item_order,
        item_line_number=_rank_in_group(item_order) + 1,
        item_product=item_product[item_sort],
        item_quantity=np.concatenate([items["quantity"], np.ones(n_invoices, np.int64)])[item_sort],
        item_price=np.concatenate([items["price"], catalogue.price[invoices["product"]]])[item_sort],
        item_discount=np.concatenate([items["discount"], np.zeros(n_invoices)])[item_sort],
    )


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def _converting_sessions(
    config: GeneratorConfig, customers: _Customers, orders: _Orders, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One session per web order, starting a few minutes before it."""
    start, end = _bounds(config)
    index = np.flatnonzero(orders.web)
    n = index.size
    customer, time, first = orders.customer[index], orders.time[index], orders.first[index]
    own_channel = first | (rng.random(n) < 0.35)
    return _session_fields(
        customer=customer,
        began=np.maximum(time - rng.integers(120, 1500, n), start),
        ended=np.minimum(time + rng.integers(20, 240, n), end - 1),
        channel=np.where(
            own_channel, customers.channel[customer], rng.choice(len(CHANNELS), size=n, p=CONVERTING_CHANNEL_WEIGHTS)
        ),
        device=np.where(
            rng.random(n) < 0.75, customers.device[customer], rng.choice(len(DEVICES), size=n, p=DEVICE_WEIGHTS)
        ),
        pageviews=3 + rng.poisson(5, n),
        cart=np.ones(n, dtype=bool),
        checkout=np.ones(n, dtype=bool),
        order=index,
    )


def _browsing_sessions(
    config: GeneratorConfig, customers: _Customers, orders: _Orders, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Logged-in customers visiting without buying, more often the more they buy."""
    _, end = _bounds(config)
    n_customers = customers.created.size
    web_orders = np.bincount(orders.customer[orders.web], minlength=n_customers)
    expected = BROWSE_PER_ORDER * web_orders + BROWSE_PER_DAY * (end - customers.created) / DAY
    customer = np.repeat(np.arange(n_customers, dtype=np.int32), rng.poisson(expected))
    n = customer.size
    began = _uniform_between(rng, customers.created[customer], np.full(n, end - 1))
    return _idle_sessions(
        customer,
        began,
        end,
        np.where(
            rng.random(n) < 0.4,
            customers.channel[customer],
            rng.choice(len(CHANNELS), size=n, p=BROWSING_CHANNEL_WEIGHTS),
        ),
        np.where(rng.random(n) < 0.75, customers.device[customer], rng.choice(len(DEVICES), size=n, p=DEVICE_WEIGHTS)),
        rng,
    )


def _anonymous_sessions(
    config: GeneratorConfig, sessions: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """About ``sessions`` sessions of anonymous visitors, some returning.

    Returns the sessions, the visitor number of each and the number of visitors.
    """
    start, end = _bounds(config)
    visitors = int(np.ceil(sessions / SESSIONS_PER_ANONYMOUS_VISITOR))
    first_day = rng.choice(config.days, size=visitors, p=_day_weights(config))
    first = start + first_day * DAY + _time_of_day(rng, visitors)
    visitor = np.repeat(
        np.arange(visitors, dtype=np.int32), 1 + rng.poisson(SESSIONS_PER_ANONYMOUS_VISITOR - 1, visitors)
    )
    rank = _rank_in_group(visitor)
    gap = np.where(rank == 0, 0.0, 1800 + rng.exponential(5 * DAY, visitor.size))
    elapsed = np.cumsum(gap)
    del gap
    elapsed -= elapsed[np.arange(visitor.size) - rank]  # restart the running sum per visitor
    del rank
    began = first[visitor] + elapsed.astype(np.int64)
    del elapsed
    keep = began < end - 1
    visitor, began = visitor[keep], began[keep]
    device_of_visitor = rng.choice(len(DEVICES), size=visitors, p=DEVICE_WEIGHTS)
    fields = _idle_sessions(
        np.full(visitor.size, -1, dtype=np.int32),
        began,
        end,
        rng.choice(len(CHANNELS), size=visitor.size, p=BROWSING_CHANNEL_WEIGHTS),
        device_of_visitor[visitor],
        rng,
    )
    return fields, visitor, visitors


def _idle_sessions(
    customer: np.ndarray,
    began: np.ndarray,
    end: int,
    channel: np.ndarray,
    device: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Sessions without an order: some fill a cart, fewer start checking out."""
    n = customer.size
    cart = rng.random(n) < P_ADD_TO_CART
    checkout = cart & (rng.random(n) < P_CHECKOUT)
    pageviews = 1 + rng.poisson(2.0, n) + 2 * cart + checkout
    duration = (pageviews * rng.uniform(20, 75, n) + rng.uniform(5, 40, n)).astype(np.int64)
    began = np.minimum(began, end - 2)  # leave room for a strictly later end
    return _session_fields(
        customer=customer,
        began=began,
        ended=np.minimum(began + duration, end - 1),
        channel=channel,
        device=device,
        pageviews=pageviews,
        cart=cart,
        checkout=checkout,
        order=np.full(n, -1),
    )


def _session_fields(**fields: np.ndarray) -> dict[str, np.ndarray]:
    """Session fields in compact dtypes: sessions are by far the largest source."""
    dtypes = {
        "customer": np.int32,
        "began": np.int64,
        "ended": np.int64,
        "channel": np.int8,
        "device": np.int8,
        "pageviews": np.int32,
        "cart": bool,
        "checkout": bool,
        "order": np.int32,
    }
    return {key: np.asarray(fields[key], dtype=dtype) for key, dtype in dtypes.items()}


def _sessions(
    config: GeneratorConfig,
    customers: _Customers,
    orders: _Orders,
    customer_ids: pa.Array,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pa.Array, np.ndarray]:
    """Sessions in id (= start) order, their ids, and each order's session (-1: none)."""
    converting = _converting_sessions(config, customers, orders, rng)
    browsing = _browsing_sessions(config, customers, orders, rng)
    n_known = converting["order"].size + browsing["order"].size
    target = round(converting["order"].size / TARGET_CONVERSION) - n_known
    anonymous, anonymous_visitor, n_anonymous = _anonymous_sessions(config, max(target, 0), rng)

    # Every customer has one visitor id and so has every anonymous visitor; the visitor
    # numbers are shuffled so that they reveal nothing.
    n_customers = customers.created.size
    visitor_number = (1 + rng.permutation(n_customers + n_anonymous)).astype(np.int32)
    visitor = np.concatenate(
        [
            visitor_number[converting["customer"]],
            visitor_number[browsing["customer"]],
            visitor_number[n_customers + anonymous_visitor],
        ]
    )
    del anonymous_visitor
    # Column by column, so that the parts are freed as the whole is built (memory peak).
    parts = (converting, browsing, anonymous)
    every = {key: np.concatenate([part.pop(key) for part in parts]) for key in list(converting)}
    every["visitor"] = visitor
    every["ended"] = np.maximum(every["ended"], every["began"] + 1)
    order = np.argsort(every["began"], kind="stable")
    for key in every:
        every[key] = every[key][order]
    session_of_order = np.full(orders.customer.size, -1)
    web_order = np.flatnonzero(every["order"] >= 0)
    session_of_order[every["order"][web_order]] = web_order

    session_ids = _id_array("s-", np.arange(1, order.size + 1), 8)
    frame = pd.DataFrame(
        {
            "session_id": _text(session_ids),
            "visitor_id": _text(_id_array("v-", every.pop("visitor"), 8)),
            "customer_id": _text(customer_ids, every.pop("customer")),
            "started_at": _timestamps(every.pop("began")),
            "ended_at": _timestamps(every.pop("ended")),
            "channel": _labels(CHANNELS, every.pop("channel")),
            "device": _labels(DEVICES, every.pop("device")),
            "pageviews": every.pop("pageviews").astype(np.int64),
            "added_to_cart": every.pop("cart"),
            "started_checkout": every.pop("checkout"),
        }
    )
    return frame, session_ids, session_of_order


# --------------------------------------------------------------------------------------
# Support tickets and surveys
# --------------------------------------------------------------------------------------


def _tickets(config: GeneratorConfig, customers: _Customers, rng: np.random.Generator) -> _Tickets:
    """Tickets opened after sign-up; most resolved within five days."""
    _, end = _bounds(config)
    horizon = (end - customers.created) / DAY
    customer = np.repeat(np.arange(customers.created.size), rng.poisson(TICKETS_PER_DAY * horizon))
    n = customer.size
    opened = _uniform_between(rng, customers.created[customer], np.full(n, end))
    channel = rng.choice(len(TICKET_CHANNELS), size=n, p=TICKET_CHANNEL_WEIGHTS)
    cost = _money(np.asarray(HANDLING_COST)[channel] * rng.lognormal(0.0, 0.3, n))
    delay_days = np.where(
        rng.random(n) < P_SLOW_RESOLUTION, rng.uniform(5, 12, n), np.minimum(rng.gamma(1.3, 0.8, n), 5.0)
    )
    resolved = opened + 600 + (delay_days * DAY).astype(np.int64)
    resolved = np.where(resolved < end, resolved, NULL_TIME)
    order = np.lexsort((customer, opened))
    return _Tickets(
        customer=customer[order],
        opened=opened[order],
        resolved=resolved[order],
        channel=channel[order],
        cost=cost[order],
    )


def _ticket_versions(
    config: GeneratorConfig, tickets: _Tickets, ticket_ids: pa.Array, customer_ids: pa.Array
) -> pd.DataFrame:
    """Every delivered ticket version: when opened, and again when resolved on a later day."""
    start, _ = _bounds(config)
    resolved = tickets.resolved != NULL_TIME
    opened_day = (tickets.opened - start) // DAY
    resolved_day = np.where(resolved, (tickets.resolved - start) // DAY, -1)
    # A ticket resolved on the day it was opened is only delivered once, resolved.
    open_version = np.flatnonzero(~resolved | (resolved_day != opened_day))
    resolved_version = np.flatnonzero(resolved)
    ticket = np.concatenate([open_version, resolved_version])
    is_resolved = np.r_[np.zeros(open_version.size, bool), np.ones(resolved_version.size, bool)]
    file_day = np.where(is_resolved, resolved_day[ticket], opened_day[ticket])
    order = np.lexsort((file_day, ticket))
    ticket, is_resolved, file_day = ticket[order], is_resolved[order], file_day[order]
    resolved_at = np.where(is_resolved, tickets.resolved[ticket], NULL_TIME)
    dates = np.array([config.start + dt.timedelta(days=d) for d in range(config.days)], dtype=object)
    return pd.DataFrame(
        {
            "ticket_id": _text(ticket_ids, ticket),
            "customer_id": _text(customer_ids, tickets.customer[ticket]),
            "opened_at": _timestamps(tickets.opened[ticket]),
            "resolved_at": _timestamps(resolved_at),
            "channel": _labels(TICKET_CHANNELS, tickets.channel[ticket]),
            "handling_cost": tickets.cost[ticket],
            "updated_at": _timestamps(np.where(is_resolved, resolved_at, tickets.opened[ticket])),
            "file_date": pd.Series(dates[file_day], dtype=object),
        }
    )


def _score(mean: float | np.ndarray, noise: np.ndarray, question: str) -> np.ndarray:
    """Round a latent answer onto the question's integer scale."""
    low, high = QUESTION_SCALES[question]
    return np.clip(np.rint(mean + noise), low, high).astype(np.int64)


def _answers(
    model: Sequence[tuple[str, float, float, float]], latent: np.ndarray, rng: np.random.Generator
) -> list[tuple[str, np.ndarray]]:
    """Scores of each question of a survey model, driven by one latent value per submission."""
    return [
        (question, _score(intercept + slope * latent, rng.normal(0, noise, latent.size), question))
        for question, intercept, slope, noise in model
    ]


def _sentiment(question: np.ndarray, score: np.ndarray) -> np.ndarray:
    """0 positive, 1 neutral, 2 negative, by the scale of each answer's question."""
    satisfaction = question == QUESTIONS.index("satisfaction")
    effort = question == QUESTIONS.index("effort")
    switch = question == QUESTIONS.index("likelihood_to_switch")
    good = np.select([satisfaction, effort, switch], [score >= 4, score <= 3, score <= 3], score >= 9)
    bad = np.select([satisfaction, effort, switch], [score <= 2, score >= 7, score >= 7], score <= 6)
    return np.where(good, 0, np.where(bad, 2, 1))


class _SurveyLog:
    """Survey submissions and their answers, collected survey by survey."""

    def __init__(self, end: int) -> None:
        self.end = end
        self.submissions: list[dict[str, np.ndarray]] = []
        self.answers: list[dict[str, np.ndarray]] = []
        self.count = 0

    def add(
        self,
        survey: str,
        customer: np.ndarray,
        time: np.ndarray,
        ticket: np.ndarray,
        scored: list[tuple[str, np.ndarray]],
    ) -> None:
        """Record the submissions inside the period, one answer per (question, scores)."""
        keep = time < self.end
        number = self.count + np.arange(int(keep.sum()))
        self.count += number.size
        self.submissions.append(
            {
                "customer": customer[keep],
                "time": time[keep],
                "ticket": ticket[keep],
                "survey": np.full(number.size, SURVEYS.index(survey)),
            }
        )
        for position, (question, score) in enumerate(scored):
            self.answers.append(
                {
                    "submission": number,
                    "position": np.full(number.size, position),
                    "question": np.full(number.size, QUESTIONS.index(question)),
                    "score": score[keep],
                }
            )

    def frame(self, ticket_ids: pa.Array, customer_ids: pa.Array, rng: np.random.Generator) -> pd.DataFrame:
        """Answers in response-id order (= time order), with occasional comments."""
        submissions, answers = _stack(*self.submissions), _stack(*self.answers)
        by_time = np.lexsort((np.arange(self.count), submissions["time"]))
        rank = _inverse(by_time)
        answer = _pick(answers, np.lexsort((answers["position"], rank[answers["submission"]])))
        submission = answer["submission"]
        n = submission.size
        # A comment goes with the first (main) answer of some submissions, in its sentiment.
        commented = (answer["position"] == 0) & (rng.random(n) < P_COMMENT)
        sentiment = _sentiment(answer["question"], answer["score"])
        kinds = ("positive", "neutral", "negative")
        texts = [text for kind in kinds for text in COMMENTS[kind]]
        sizes = np.array([len(COMMENTS[kind]) for kind in kinds])
        offsets = np.cumsum(sizes) - sizes
        pick = offsets[sentiment] + (rng.random(n) * sizes[sentiment]).astype(np.int64)
        return pd.DataFrame(
            {
                "response_id": _text(_id_array("r-", np.arange(1, n + 1), 8)),
                "submission_id": _text(_id_array("sv-", rank[submission] + 1, 7)),
                "customer_id": _text(customer_ids, submissions["customer"][submission]),
                "survey": _labels(SURVEYS, submissions["survey"][submission]),
                "question": _labels(QUESTIONS, answer["question"]),
                "score": answer["score"].astype(np.int64),
                "responded_at": _timestamps(submissions["time"][submission]),
                "ticket_id": _text(ticket_ids, submissions["ticket"][submission]),
                "comment": _labels(texts, np.where(commented, pick, -1)),
            }
        )


def _surveys(
    config: GeneratorConfig,
    customers: _Customers,
    tickets: _Tickets,
    ticket_ids: pa.Array,
    customer_ids: pa.Array,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """CSAT/CES after resolved tickets, NPS and relationship surveys of established customers."""
    _, end = _bounds(config)
    log = _SurveyLog(end)

    # After some resolved tickets: a CSAT then a CES submission, both driven by one latent
    # experience that a slow resolution spoils.
    ticket = np.flatnonzero((tickets.resolved != NULL_TIME) & (rng.random(tickets.opened.size) < P_TICKET_SURVEY))
    n = ticket.size
    customer = tickets.customer[ticket]
    wait_days = (tickets.resolved[ticket] - tickets.opened[ticket]) / DAY
    experience = 0.6 * customers.mood[customer] + rng.normal(0, 0.8, n) - 0.12 * wait_days
    csat_at = tickets.resolved[ticket] + 60 + rng.exponential(8 * 3600, n).astype(np.int64)
    log.add("csat", customer, csat_at, ticket, _answers(CSAT_MODEL, experience, rng))
    ces_at = csat_at + rng.integers(15, 240, n)
    log.add("ces", customer, ces_at, ticket, _answers(CES_MODEL, experience, rng))

    # NPS and relationship surveys go to accounts at least 30 days old.
    eligible_from = customers.created + 30 * DAY
    window = np.maximum(end - eligible_from, 0) / DAY
    for survey, per_day, model in (
        ("nps", NPS_PER_DAY, NPS_MODEL),
        ("relationship", RELATIONSHIP_PER_DAY, RELATIONSHIP_MODEL),
    ):
        customer = np.repeat(np.arange(window.size), rng.poisson(per_day * window))
        n = customer.size
        time = _uniform_between(rng, eligible_from[customer], np.full(n, end))
        mood = customers.mood[customer] + rng.normal(0, 0.5, n)
        log.add(survey, customer, time, np.full(n, -1), _answers(model, mood, rng))
    return log.frame(ticket_ids, customer_ids, rng)


# --------------------------------------------------------------------------------------
# Marketing spend
# --------------------------------------------------------------------------------------


def _marketing_spend(config: GeneratorConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Daily spend per program and channel, following the expected sign-ups and base."""
    weights = _day_weights(config)
    new_customers = config.customers * weights
    customer_base = np.cumsum(new_customers)
    day = np.repeat(np.arange(config.days), len(SPEND_PROGRAMS))
    program = np.tile(np.arange(len(SPEND_PROGRAMS)), config.days)
    share = np.array([row[2] for row in SPEND_PROGRAMS])[program]
    acquisition = np.array([row[0] == "acquisition" for row in SPEND_PROGRAMS])[program]
    budget = np.where(
        acquisition,
        new_customers[day] * ACQUISITION_SPEND_PER_CUSTOMER,
        customer_base[day] * RETENTION_SPEND_PER_CUSTOMER_DAY,
    )
    amount = np.maximum(_money(budget * share * rng.lognormal(0.0, 0.18, day.size)), 0.01)
    dates = np.array([config.start + dt.timedelta(days=d) for d in range(config.days)], dtype=object)
    return pd.DataFrame(
        {
            "spend_date": pd.Series(dates[day], dtype=object),
            "program": _labels([row[0] for row in SPEND_PROGRAMS], program),
            "channel": _labels([row[1] for row in SPEND_PROGRAMS], program),
            "amount": amount,
        }
    )


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------


def _products_frame(config: GeneratorConfig) -> pd.DataFrame:
    """The product catalogue, last updated at the start of the period."""
    start, _ = _bounds(config)
    n = len(CATALOGUE)
    return pd.DataFrame(
        {
            "product_id": _text(_id_array("p-", np.arange(1, n + 1), 3)),
            "name": pd.Series([row[0] for row in CATALOGUE], dtype="str"),
            "product_line": pd.Series([row[1] for row in CATALOGUE], dtype="str"),
            "tier": np.array([row[2] for row in CATALOGUE], dtype=np.int64),
            "is_subscription": np.array([row[3] is not None for row in CATALOGUE]),
            "billing_period": pd.Series([row[3] for row in CATALOGUE], dtype="str"),
            "list_price": np.array([row[4] for row in CATALOGUE]),
            "unit_cost": np.array([row[5] for row in CATALOGUE]),
            "updated_at": _timestamps(np.full(n, start)),
        }
    )


def _customers_frame(customers: _Customers, customer_ids: pa.Array) -> pd.DataFrame:
    """Final state of every customer record."""
    return pd.DataFrame(
        {
            "customer_id": _text(customer_ids),
            "created_at": _timestamps(customers.created),
            "country": _labels(COUNTRIES, customers.country),
            "acquisition_channel": _labels(CHANNELS, customers.channel),
            "segment": _labels(SEGMENTS, customers.business.astype(np.int64)),
            "account_manager": _labels(ACCOUNT_MANAGERS, customers.manager),
            "updated_at": _timestamps(customers.updated),
        }
    )


def _order_frames(
    orders: _Orders,
    session_of_order: np.ndarray,
    customer_ids: pa.Array,
    session_ids: pa.Array,
    product_ids: pa.Array,
    catalogue: _Catalogue,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The orders and order_items tables."""
    order_ids = _id_array("o-", np.arange(1, orders.customer.size + 1), 7)
    frame = pd.DataFrame(
        {
            "order_id": _text(order_ids),
            "customer_id": _text(customer_ids, orders.customer),
            "session_id": _text(session_ids, session_of_order),
            "ordered_at": _timestamps(orders.time),
            "status": _labels(ORDER_STATUSES, orders.status),
            "refunded_at": _timestamps(orders.refunded),
            "updated_at": _timestamps(orders.updated),
        }
    )
    items = pd.DataFrame(
        {
            "order_id": _text(order_ids, orders.item_order),
            "line_number": orders.item_line_number.astype(np.int64),
            "product_id": _text(product_ids, orders.item_product),
            "quantity": orders.item_quantity.astype(np.int64),
            "unit_price": _money(orders.item_price),
            "unit_cost": _money(catalogue.cost[orders.item_product]),
            "discount_amount": _money(orders.item_discount),
        }
    )
    return frame, items


def _subscription_frame(
    rows: dict[str, np.ndarray],
    catalogue: _Catalogue,
    customer_ids: pa.Array,
    product_ids: pa.Array,
) -> pd.DataFrame:
    """Subscription periods in id (= start) order."""
    order = np.lexsort((rows["subscription"], rows["start"]))
    rows = _pick(rows, order)
    n = order.size
    ended = rows["end"] != NULL_TIME
    return pd.DataFrame(
        {
            "subscription_period_id": _text(_id_array("sp-", np.arange(1, n + 1), 7)),
            "subscription_id": _text(_id_array("sub-", rows["subscription"] + 1, 6)),
            "customer_id": _text(customer_ids, rows["customer"]),
            "product_id": _text(product_ids, rows["product"]),
            "started_at": _timestamps(rows["start"]),
            "ended_at": _timestamps(rows["end"]),
            "billing_period": _labels(BILLING_PERIODS, catalogue.billing[rows["product"]] - 1),
            "price": _money(catalogue.price[rows["product"]]),
            "updated_at": _timestamps(np.where(ended, rows["end"], rows["start"])),
        }
    )


def generate_sources(config: GeneratorConfig) -> SourceData:
    """Generate the four source systems for the configured period, deterministically."""
    streams = [np.random.default_rng(seed) for seed in np.random.SeedSequence(config.seed).spawn(8)]
    catalogue = _catalogue()
    customers = _customers(config, streams[0])
    one_off, starts = _purchase_plan(config, customers, streams[1])
    periods, invoices = _subscriptions(config, catalogue, starts, streams[2])
    orders = _orders(config, customers, catalogue, one_off, invoices, streams[3])
    customer_ids = _id_array("c-", np.arange(1, customers.created.size + 1), 7)
    sessions, session_ids, session_of_order = _sessions(config, customers, orders, customer_ids, streams[4])
    tickets = _tickets(config, customers, streams[5])
    product_ids = _id_array("p-", np.arange(1, len(CATALOGUE) + 1), 3)
    ticket_ids = _id_array("t-", np.arange(1, tickets.opened.size + 1), 7)
    order_frame, item_frame = _order_frames(orders, session_of_order, customer_ids, session_ids, product_ids, catalogue)
    return SourceData(
        shop={
            "customers": _customers_frame(customers, customer_ids),
            "products": _products_frame(config),
            "orders": order_frame,
            "order_items": item_frame,
            "subscription_periods": _subscription_frame(periods, catalogue, customer_ids, product_ids),
        },
        sessions=sessions,
        survey_responses=_surveys(config, customers, tickets, ticket_ids, customer_ids, streams[6]),
        support_tickets=_ticket_versions(config, tickets, ticket_ids, customer_ids),
        marketing_spend=_marketing_spend(config, streams[7]),
    )


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

_SQL_TYPES: dict[str, dict[str, sa.types.TypeEngine]] = {
    "customers": {
        "customer_id": sa.Text(),
        "created_at": sa.DateTime(),
        "country": sa.Text(),
        "acquisition_channel": sa.Text(),
        "segment": sa.Text(),
        "account_manager": sa.Text(),
        "updated_at": sa.DateTime(),
    },
    "products": {
        "product_id": sa.Text(),
        "name": sa.Text(),
        "product_line": sa.Text(),
        "tier": sa.Integer(),
        "is_subscription": sa.Boolean(),
        "billing_period": sa.Text(),
        "list_price": sa.Numeric(18, 4),
        "unit_cost": sa.Numeric(18, 4),
        "updated_at": sa.DateTime(),
    },
    "orders": {
        "order_id": sa.Text(),
        "customer_id": sa.Text(),
        "session_id": sa.Text(),
        "ordered_at": sa.DateTime(),
        "status": sa.Text(),
        "refunded_at": sa.DateTime(),
        "updated_at": sa.DateTime(),
    },
    "order_items": {
        "order_id": sa.Text(),
        "line_number": sa.Integer(),
        "product_id": sa.Text(),
        "quantity": sa.Integer(),
        "unit_price": sa.Numeric(18, 4),
        "unit_cost": sa.Numeric(18, 4),
        "discount_amount": sa.Numeric(18, 4),
    },
    "subscription_periods": {
        "subscription_period_id": sa.Text(),
        "subscription_id": sa.Text(),
        "customer_id": sa.Text(),
        "product_id": sa.Text(),
        "started_at": sa.DateTime(),
        "ended_at": sa.DateTime(),
        "billing_period": sa.Text(),
        "price": sa.Numeric(18, 4),
        "updated_at": sa.DateTime(),
    },
}
_SESSION_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("visitor_id", pa.string()),
        ("customer_id", pa.string()),
        ("started_at", pa.timestamp("us")),
        ("ended_at", pa.timestamp("us")),
        ("channel", pa.string()),
        ("device", pa.string()),
        ("pageviews", pa.int64()),
        ("added_to_cart", pa.bool_()),
        ("started_checkout", pa.bool_()),
    ]
)
# The column that decides each landing file's day.
_FILE_DAY_COLUMNS = {
    "sessions": "started_at",
    "survey_responses": "responded_at",
    "support_tickets": "file_date",
    "marketing_spend": "spend_date",
}
_SQL_CHUNK_ROWS = 20_000


def _index_statements(table: str) -> list[str]:
    """DDL for the indexes extraction relies on: primary key, updated_at, item joins."""
    key = ", ".join(_PRIMARY_KEYS[table])
    statements = [f"CREATE UNIQUE INDEX ux_{table}_key ON {table} ({key})"]
    if "updated_at" in CONTRACT_COLUMNS[table]:
        statements.append(f"CREATE INDEX ix_{table}_updated_at ON {table} (updated_at)")
    if table == "order_items":
        statements.append("CREATE INDEX ix_order_items_order_id ON order_items (order_id)")
    return statements


def _write_shop(shop: dict[str, pd.DataFrame], url: str) -> dict[str, int]:
    """Replace the five shop tables (and their indexes) in the database at ``url``."""
    engine = sa.create_engine(url)
    counts = {}
    try:
        with engine.begin() as connection:
            for table in SHOP_TABLES:
                frame = shop[table].loc[:, list(CONTRACT_COLUMNS[table])]
                frame.to_sql(
                    table,
                    connection,
                    if_exists="replace",
                    index=False,
                    chunksize=_SQL_CHUNK_ROWS,
                    dtype=_SQL_TYPES[table],
                )
                for statement in _index_statements(table):
                    connection.execute(sa.text(statement))
                counts[table] = len(frame)
    finally:
        engine.dispose()
    return counts


def shop_as_of(shop: Mapping[str, pd.DataFrame], until: dt.datetime) -> dict[str, pd.DataFrame]:
    """The shop's tables as the live database held them at `until` (naive UTC), for replays.

    The generated tables hold each record's final version. The version before it follows from
    how the generator changes records: a customer was created without the account manager
    assigned later, a refunded order was completed (and had no refund), an ended subscription
    period had no end, each updated when it was created; a cancelled order appears at its
    cancellation. Records not created yet are absent; order lines travel with their order.
    """
    moment = pd.Timestamp(until)
    customers = _earlier_versions(shop["customers"], moment, created="created_at", reset={"account_manager": None})
    orders = shop["orders"]
    orders = _earlier_versions(
        orders[(orders["status"] == "refunded") | (orders["updated_at"] <= moment)],
        moment,
        created="ordered_at",
        reset={"status": "completed", "refunded_at": pd.NaT},
    )
    periods = _earlier_versions(shop["subscription_periods"], moment, created="started_at", reset={"ended_at": pd.NaT})
    items = shop["order_items"]
    return {
        "customers": customers,
        "products": shop["products"][shop["products"]["updated_at"] <= moment],
        "orders": orders,
        "order_items": items[items["order_id"].isin(orders["order_id"])],
        "subscription_periods": periods,
    }


def _earlier_versions(
    frame: pd.DataFrame, until: pd.Timestamp, created: str, reset: Mapping[str, object]
) -> pd.DataFrame:
    """Rows created by `until`; those updated after it in their first version (reset columns, updated at creation)."""
    frame = frame[frame[created] <= until].copy()
    earlier = frame["updated_at"] > until
    for column, value in reset.items():
        frame.loc[earlier, column] = value
    frame.loc[earlier, "updated_at"] = frame.loc[earlier, created]
    return frame.reset_index(drop=True)


def write_shop_as_of(data: SourceData, url: str, until: dt.datetime) -> dict[str, int]:
    """Replace the shop database at `url` with its state at `until` (see shop_as_of)."""
    return _write_shop(shop_as_of(data.shop, until), url)


def _period_of(data: SourceData) -> tuple[dt.date, int]:
    """First day and length of the period; the spend export has rows for every day of it."""
    dates = data.marketing_spend["spend_date"]
    first, last = min(dates), max(dates)
    return first, (last - first).days + 1


def _file_days(frame: pd.DataFrame, column: str, first: dt.date) -> np.ndarray:
    """Day number (0 = first day of the period) of each row's landing file."""
    values = frame[column]
    if values.dtype == object:  # datetime.date values
        values = pd.to_datetime(values)
    days = values.to_numpy(dtype="datetime64[D]")
    return (days - np.datetime64(first, "D")).astype(np.int64)


def _iso(values: pd.Series) -> pd.Series:
    """ISO-8601 UTC text (``YYYY-MM-DDTHH:MM:SSZ``) of a timestamp column, empty if null."""
    stamps = values.to_numpy(dtype="datetime64[s]")
    text = np.strings.add(np.datetime_as_string(stamps, unit="s"), "Z")
    return pd.Series(np.where(np.isnat(stamps), "", text), index=values.index, dtype="str")


def _csv_ready(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The contract's columns with timestamps as ISO-8601 text."""
    out = frame.loc[:, list(columns)].copy()
    for column in columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = _iso(out[column])
    return out


def _clear(folder: Path) -> None:
    """Create ``folder``, removing files left by an earlier run."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file():
            path.unlink()


def _write_parquet_days(table: pa.Table, bounds: np.ndarray, paths: list[Path]) -> None:
    """One Parquet file per day from a table sorted by file day (an empty day keeps the schema)."""
    for day, path in enumerate(paths):
        pq.write_table(table.slice(bounds[day], bounds[day + 1] - bounds[day]), path)


def _write_csv_days(frame: pd.DataFrame, bounds: np.ndarray, paths: list[Path]) -> None:
    """One CSV file per day from a frame sorted by file day (an empty day gets the header)."""
    for day, path in enumerate(paths):
        frame.iloc[bounds[day] : bounds[day + 1]].to_csv(path, index=False, lineterminator="\n", float_format="%.2f")


def _write_landing(data: SourceData, landing: Path) -> dict[str, int]:
    """One file per day of the period for each file-based source, empty days included."""
    first, days = _period_of(data)
    frames = {
        "sessions": data.sessions,
        "survey_responses": data.survey_responses,
        "support_tickets": data.support_tickets,
        "marketing_spend": data.marketing_spend,
    }
    counts = {}
    for name, frame in frames.items():
        folder_name, extension = LANDING_FOLDERS[name]
        folder = landing / folder_name
        _clear(folder)
        paths = [folder / f"{first + dt.timedelta(days=day)}.{extension}" for day in range(days)]
        file_day = _file_days(frame, _FILE_DAY_COLUMNS[name], first)
        order = np.argsort(file_day, kind="stable")
        bounds = np.searchsorted(file_day[order], np.arange(days + 1))
        columns = list(CONTRACT_COLUMNS[name])
        if extension == "parquet":
            table = pa.Table.from_pandas(frame.iloc[order][columns], schema=_SESSION_SCHEMA, preserve_index=False)
            # Without pandas metadata: a plain analytics export, the same whatever wrote it.
            _write_parquet_days(table.replace_schema_metadata(None), bounds, paths)
        else:
            _write_csv_days(_csv_ready(frame.iloc[order], columns), bounds, paths)
        counts[name] = int(bounds[days] - bounds[0])
    return counts


def write_sources(data: SourceData, out_dir: Path, shop_db_url: str | None = None) -> dict[str, int]:
    """Write the four source systems; return rows written per table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if shop_db_url is None:
        database = out_dir / "shop.sqlite"
        database.unlink(missing_ok=True)
        shop_db_url = f"sqlite:///{database}"
    counts = _write_shop(data.shop, shop_db_url)
    counts.update(_write_landing(data, out_dir / "landing"))
    return counts


def generate(config: GeneratorConfig, out_dir: Path, shop_db_url: str | None = None) -> dict[str, int]:
    """generate_sources + write_sources."""
    return write_sources(generate_sources(config), out_dir, shop_db_url)

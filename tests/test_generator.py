"""Tests of the demo source generator: determinism, the source contract, realism, writing."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from loyalty_pipeline.generator import (
    CONTRACT_COLUMNS,
    LANDING_FOLDERS,
    QUESTION_SCALES,
    SHOP_TABLES,
    GeneratorConfig,
    SourceData,
    generate,
    generate_sources,
    write_sources,
)

SMALL = GeneratorConfig(customers=300, days=60, seed=7)
REALISTIC = GeneratorConfig(customers=1_000, days=120, seed=42)
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
KEYS = {
    "customers": ["customer_id"],
    "products": ["product_id"],
    "orders": ["order_id"],
    "order_items": ["order_id", "line_number"],
    "subscription_periods": ["subscription_period_id"],
    "sessions": ["session_id"],
    "survey_responses": ["response_id"],
    "support_tickets": ["ticket_id", "file_date"],
    "marketing_spend": ["spend_date", "program", "channel"],
}
TIMESTAMPS = {
    "customers": ["created_at", "updated_at"],
    "orders": ["ordered_at", "refunded_at", "updated_at"],
    "subscription_periods": ["started_at", "ended_at", "updated_at"],
    "sessions": ["started_at", "ended_at"],
    "survey_responses": ["responded_at"],
    "support_tickets": ["opened_at", "resolved_at", "updated_at"],
}
SURVEY_QUESTIONS = {
    "nps": {"likelihood_to_recommend"},
    "csat": {"satisfaction"},
    "ces": {"effort"},
    "relationship": {
        "overall_experience",
        "likelihood_to_recommend",
        "likelihood_to_switch",
        "likelihood_to_repurchase",
    },
}


def tables(data: SourceData) -> dict[str, pd.DataFrame]:
    """Every generated table by its contract name."""
    return {
        **data.shop,
        "sessions": data.sessions,
        "survey_responses": data.survey_responses,
        "support_tickets": data.support_tickets,
        "marketing_spend": data.marketing_spend,
    }


def period(config: GeneratorConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First instant of the period and first instant after it."""
    start = pd.Timestamp(config.start)
    return start, start + pd.Timedelta(days=config.days)


def converted(data: SourceData) -> pd.Series:
    """Whether each session is named by an order that was not cancelled."""
    orders = data.shop["orders"]
    return data.sessions["session_id"].isin(orders.loc[orders["status"] != "cancelled", "session_id"])


def plan_changes(data: SourceData) -> pd.DataFrame:
    """Consecutive period rows of one subscription: the old row with the next tier."""
    products = data.shop["products"][["product_id", "product_line", "tier"]]
    periods = data.shop["subscription_periods"].merge(products, on="product_id")
    periods = periods.sort_values(["subscription_id", "started_at"])
    following = periods.groupby("subscription_id")
    periods["next_tier"] = following["tier"].shift(-1)
    periods["next_started_at"] = following["started_at"].shift(-1)
    periods["next_line"] = following["product_line"].shift(-1)
    periods["next_billing_period"] = following["billing_period"].shift(-1)
    return periods[periods["next_tier"].notna()]


def completed_lines(data: SourceData) -> pd.DataFrame:
    """Items of completed orders with line, tier and the order's place in its customer's sequence."""
    orders = data.shop["orders"]
    done = orders[orders["status"] == "completed"].sort_values(["customer_id", "ordered_at", "order_id"])
    done = done.assign(sequence=done.groupby("customer_id").cumcount())
    products = data.shop["products"][["product_id", "product_line", "tier"]]
    return (
        data.shop["order_items"]
        .merge(products, on="product_id")
        .merge(done[["order_id", "customer_id", "sequence"]], on="order_id")
    )


@pytest.fixture(scope="module")
def small() -> SourceData:
    """A small data set for contract checks."""
    return generate_sources(SMALL)


@pytest.fixture(scope="module")
def realistic() -> SourceData:
    """A data set large enough for every phenomenon to show up."""
    return generate_sources(REALISTIC)


@pytest.fixture(params=["small", "realistic"])
def case(request: pytest.FixtureRequest) -> tuple[GeneratorConfig, SourceData]:
    """Each data set with its config."""
    config = SMALL if request.param == "small" else REALISTIC
    return config, request.getfixturevalue(request.param)


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_equal_frames(small: SourceData) -> None:
    again = generate_sources(SMALL)
    for name, frame in tables(small).items():
        pd.testing.assert_frame_equal(frame, tables(again)[name], obj=name)


def test_different_seed_gives_different_data(small: SourceData) -> None:
    other = generate_sources(GeneratorConfig(customers=300, days=60, seed=8))
    assert not small.shop["orders"].equals(other.shop["orders"])
    assert not small.sessions.equals(other.sessions)


def test_written_files_are_byte_identical(tmp_path: Path) -> None:
    generate(SMALL, tmp_path / "a")
    generate(SMALL, tmp_path / "b")
    csvs = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.csv"))
    assert len(csvs) == 3 * SMALL.days
    for relative in csvs:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    for relative in (tmp_path / "a").rglob("*.parquet"):
        first = pq.read_table(relative)
        assert first.equals(pq.read_table(tmp_path / "b" / relative.relative_to(tmp_path / "a")))


# ------------------------------------------------------------------------------- contract


def test_columns_are_exactly_the_contract(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    assert set(data.shop) == set(SHOP_TABLES)
    for name, frame in tables(data).items():
        expected = list(CONTRACT_COLUMNS[name])
        if name == "support_tickets":
            expected.append("file_date")
        assert list(frame.columns) == expected, name


def test_keys_are_unique_and_sorted(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    for name, frame in tables(data).items():
        key = KEYS[name]
        assert not frame.duplicated(key).any(), name
        assert frame[key].notna().all().all(), name
        sorted_keys = frame[key].sort_values(key, kind="stable")
        assert sorted_keys.index.equals(frame.index), f"{name} not sorted by its key"


def test_foreign_keys_resolve(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    shop = data.shop
    customers = set(shop["customers"]["customer_id"])
    products = set(shop["products"]["product_id"])
    orders = shop["orders"]
    sessions = data.sessions.set_index("session_id")
    tickets = set(data.support_tickets["ticket_id"])
    assert set(orders["customer_id"]) <= customers
    assert set(shop["order_items"]["order_id"]) == set(orders["order_id"])  # no empty order
    assert set(shop["order_items"]["product_id"]) <= products
    assert set(shop["subscription_periods"]["customer_id"]) <= customers
    assert set(shop["subscription_periods"]["product_id"]) <= products
    assert set(data.sessions["customer_id"].dropna()) <= customers
    assert set(data.survey_responses["customer_id"]) <= customers
    assert set(data.survey_responses["ticket_id"].dropna()) <= tickets
    assert set(data.support_tickets["customer_id"]) <= customers
    # A web order names its own session, placed by the same customer shortly before.
    web = orders.dropna(subset=["session_id"])
    assert not web["session_id"].duplicated().any()
    session = sessions.loc[web["session_id"]]
    assert (session["customer_id"].to_numpy() == web["customer_id"].to_numpy()).all()
    assert (session["started_at"].to_numpy() < web["ordered_at"].to_numpy()).all()
    assert session["added_to_cart"].all()
    assert session["started_checkout"].all()


def test_values_are_inside_their_domains(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    shop = data.shop
    customers, products = shop["customers"], shop["products"]
    assert customers["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert set(customers["acquisition_channel"]) <= {"organic", "paid_search", "social", "referral", "email"}
    assert set(customers["segment"]) == {"consumer", "business"}
    managed = customers["account_manager"].notna()
    assert (customers.loc[managed, "segment"] == "business").all()
    assert (products["tier"] >= 1).all()
    assert (products["is_subscription"] == products["billing_period"].notna()).all()
    assert set(products["billing_period"].dropna()) == {"month", "year"}
    assert (products["unit_cost"] < products["list_price"]).all()
    assert set(shop["orders"]["status"]) <= {"completed", "refunded", "cancelled"}
    assert set(shop["subscription_periods"]["billing_period"]) <= {"month", "year"}
    assert set(data.sessions["device"]) <= {"desktop", "mobile", "tablet"}
    assert (data.sessions["pageviews"] >= 1).all()
    assert not (data.sessions["started_checkout"] & ~data.sessions["added_to_cart"]).any()
    assert set(data.support_tickets["channel"]) <= {"email", "chat", "phone"}
    spend = data.marketing_spend
    assert set(zip(spend["program"], spend["channel"], strict=True)) == {
        ("acquisition", "paid_search"),
        ("acquisition", "social"),
        ("acquisition", "email"),
        ("acquisition", "referral"),
        ("retention", "email"),
        ("retention", "loyalty"),
    }


def test_amounts_are_non_negative_cents(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    items = data.shop["order_items"]
    money = {
        "products": ["list_price", "unit_cost"],
        "order_items": ["unit_price", "unit_cost", "discount_amount"],
        "subscription_periods": ["price"],
        "support_tickets": ["handling_cost"],
        "marketing_spend": ["amount"],
    }
    for name, columns in money.items():
        for column in columns:
            values = tables(data)[name][column]
            assert (values >= 0).all(), (name, column)
            assert np.allclose(values, values.round(2)), (name, column)
    assert (data.marketing_spend["amount"] > 0).all()
    assert (items["quantity"] >= 1).all()
    assert (items["line_number"] >= 1).all()
    assert (items["discount_amount"] < items["quantity"] * items["unit_price"]).all()
    # Prices are list prices (the subscription period's price for invoices), costs the product's.
    products = data.shop["products"].set_index("product_id")
    assert np.allclose(items["unit_cost"], products.loc[items["product_id"], "unit_cost"])


def test_survey_answers_fit_their_scales(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    answers = data.survey_responses
    assert set(answers["survey"]) <= set(SURVEY_QUESTIONS)
    for question, (low, high) in QUESTION_SCALES.items():
        scores = answers.loc[answers["question"] == question, "score"]
        assert scores.between(low, high).all(), question
    asked = answers.groupby("submission_id").agg(
        survey=("survey", "first"),
        questions=("question", frozenset),
        surveys=("survey", "nunique"),
        customers=("customer_id", "nunique"),
    )
    assert (asked["surveys"] == 1).all()
    assert (asked["customers"] == 1).all()
    assert (asked["questions"] == asked["survey"].map(SURVEY_QUESTIONS)).all()
    with_ticket = answers["ticket_id"].notna()
    assert set(answers.loc[with_ticket, "survey"]) == {"csat", "ces"}
    assert answers.loc[answers["survey"].isin(["csat", "ces"]), "ticket_id"].notna().all()


def test_order_statuses_and_versions(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    orders = data.shop["orders"]
    refunded = orders["status"] == "refunded"
    assert (orders["refunded_at"].notna() == refunded).all()
    assert (orders.loc[refunded, "updated_at"] == orders.loc[refunded, "refunded_at"]).all()
    assert (orders.loc[refunded, "refunded_at"] > orders.loc[refunded, "ordered_at"]).all()
    completed = orders["status"] == "completed"
    assert (orders.loc[completed, "updated_at"] == orders.loc[completed, "ordered_at"]).all()
    assert (orders["updated_at"] >= orders["ordered_at"]).all()
    customers = data.shop["customers"]
    assert (customers["updated_at"] >= customers["created_at"]).all()


def test_intervals_are_ordered(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    assert (data.sessions["ended_at"] > data.sessions["started_at"]).all()
    periods = data.shop["subscription_periods"]
    ended = periods["ended_at"].notna()
    assert (periods.loc[ended, "ended_at"] > periods.loc[ended, "started_at"]).all()
    expected_update = periods["ended_at"].fillna(periods["started_at"])
    assert (periods["updated_at"] == expected_update).all()
    tickets = data.support_tickets
    resolved = tickets["resolved_at"].notna()
    assert (tickets.loc[resolved, "resolved_at"] > tickets.loc[resolved, "opened_at"]).all()
    assert (tickets["updated_at"] == tickets["resolved_at"].fillna(tickets["opened_at"])).all()


def test_subscription_periods_chain(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    changes = plan_changes(data)
    assert (changes["next_started_at"] == changes["ended_at"]).all()
    assert (changes["next_line"] == changes["product_line"]).all()
    assert (changes["next_billing_period"] == changes["billing_period"]).all()
    assert (changes["next_tier"] != changes["tier"]).all()
    periods = data.shop["subscription_periods"]
    assert (periods.groupby("subscription_id")["customer_id"].nunique() == 1).all()
    # A customer never has two subscriptions running at once.
    spans = periods.groupby("subscription_id").agg(
        customer_id=("customer_id", "first"),
        started_at=("started_at", "min"),
        ended_at=("ended_at", lambda ends: ends.max() if ends.notna().all() else pd.NaT),
    )
    spans = spans.sort_values(["customer_id", "started_at"])
    previous_end = spans.groupby("customer_id")["ended_at"].shift()
    later = previous_end.notna() | spans["customer_id"].duplicated()
    assert (spans.loc[later, "started_at"] > previous_end[later]).all()


def test_nothing_outside_the_period(case: tuple[GeneratorConfig, SourceData]) -> None:
    config, data = case
    start, end = period(config)
    for name, columns in TIMESTAMPS.items():
        for column in columns:
            values = tables(data)[name][column].dropna()
            assert values.between(start, end, inclusive="left").all(), (name, column)
            assert (values == values.dt.floor("s")).all(), (name, column)
    assert (data.shop["products"]["updated_at"] == start).all()
    days = pd.date_range(start, end, inclusive="left").date
    assert set(data.marketing_spend["spend_date"]) == set(days)
    assert set(data.support_tickets["file_date"]) <= set(days)


def test_ticket_versions_follow_their_file_day(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    tickets = data.support_tickets
    assert (tickets["updated_at"].dt.date == tickets["file_date"]).all()
    versions = tickets.groupby("ticket_id").agg(
        count=("file_date", "size"),
        resolved=("resolved_at", "count"),
        opened=("opened_at", "first"),
        last_update=("updated_at", "max"),
    )
    assert versions["count"].isin([1, 2]).all()
    # Two versions: first open, then resolved on a later day; a same-day one comes resolved.
    twice = versions[versions["count"] == 2]
    assert (twice["resolved"] == 1).all()
    once = tickets[tickets["ticket_id"].isin(versions.index[versions["count"] == 1])]
    same_day = once["resolved_at"].notna()
    assert (once.loc[same_day, "resolved_at"].dt.date == once.loc[same_day, "file_date"]).all()
    assert (once.loc[~same_day, "opened_at"].dt.date == once.loc[~same_day, "file_date"]).all()


def test_customers_buy_on_their_creation_day(case: tuple[GeneratorConfig, SourceData]) -> None:
    _, data = case
    customers = data.shop["customers"].set_index("customer_id")
    first_order = data.shop["orders"].groupby("customer_id")["ordered_at"].min()
    created = customers.loc[first_order.index, "created_at"]
    assert (first_order >= created).all()
    same_day = first_order.dt.date == created.dt.date
    assert same_day.mean() > 0.8
    assert 0.8 < len(first_order) / len(customers) < 1.0  # some never buy


# -------------------------------------------------------------------------------- realism


def test_orders_show_refunds_cancellations_renewals(realistic: SourceData) -> None:
    orders = realistic.shop["orders"]
    refunded = orders[orders["status"] == "refunded"]
    assert (refunded["updated_at"] > refunded["ordered_at"]).any()
    assert (orders["status"] == "cancelled").any()
    shares = orders["status"].value_counts(normalize=True)
    assert shares["completed"] > 0.85
    items = realistic.shop["order_items"].merge(realistic.shop["products"], on="product_id")
    subscription_orders = set(items.loc[items["is_subscription"], "order_id"])
    without_session = orders[orders["session_id"].isna()]
    renewals = without_session["order_id"].isin(subscription_orders)
    assert renewals.sum() > 50
    assert (~renewals).any()  # offline one-off orders
    assert (
        orders.loc[orders["order_id"].isin(subscription_orders) & orders["session_id"].notna(), "status"] == "completed"
    ).all()
    assert items.groupby("order_id").size().max() >= 3


def test_purchase_frequency_is_heterogeneous(realistic: SourceData) -> None:
    orders = realistic.shop["orders"]
    one_off = orders[
        orders["session_id"].notna()
        | ~orders["order_id"].isin(
            realistic.shop["order_items"]
            .merge(realistic.shop["products"], on="product_id")
            .query("is_subscription")["order_id"]
        )
    ]
    per_customer = one_off.groupby("customer_id").size()
    assert (per_customer == 1).mean() > 0.3
    assert per_customer.max() >= 5


def test_subscriptions_change_churn_and_come_back(realistic: SourceData) -> None:
    periods = realistic.shop["subscription_periods"]
    customers = realistic.shop["customers"]
    assert 0.2 < periods["customer_id"].nunique() / len(customers) < 0.4
    assert (periods["billing_period"] == "year").any()
    assert periods["ended_at"].isna().any()
    changes = plan_changes(realistic)
    assert (changes["next_tier"] > changes["tier"]).any()
    assert (changes["next_tier"] < changes["tier"]).any()
    assert (changes["ended_at"] == changes["ended_at"].dt.normalize()).any()  # at midnight
    subscriptions = periods.groupby("customer_id")["subscription_id"].nunique()
    assert (subscriptions > 1).any()  # a reactivation is a new subscription


def test_customers_cross_sell_and_upsell(realistic: SourceData) -> None:
    lines = completed_lines(realistic)
    first_of_line = lines.groupby(["customer_id", "product_line"])["sequence"].min()
    assert (first_of_line > 0).sum() > 10  # a line bought for the first time in a later order
    keys = ["customer_id", "product_line"]
    tiers = lines.groupby([*keys, "sequence"])["tier"].max().reset_index()
    tiers["highest"] = tiers.groupby(keys)["tier"].cummax()
    tiers["before"] = tiers.groupby(keys)["highest"].shift()
    assert (tiers["tier"] > tiers["before"]).sum() > 10


def test_sessions_convert_a_few_percent(realistic: SourceData) -> None:
    sessions = realistic.sessions.assign(converted=converted(realistic))
    assert 0.02 < sessions["converted"].mean() < 0.10
    idle = sessions[~sessions["converted"]]
    assert 0.2 < idle["added_to_cart"].mean() < 0.4
    abandoned = idle["added_to_cart"] & idle["started_checkout"]
    assert abandoned.any()
    by_channel = sessions.groupby("channel")["converted"].mean()
    assert by_channel["referral"] > by_channel["paid_search"]
    assert by_channel["email"] > by_channel["social"]
    anonymous = sessions[sessions["customer_id"].isna()]
    assert len(anonymous) > len(sessions) / 2
    visits = anonymous.assign(day=anonymous["started_at"].dt.floor("D"))
    assert visits.drop_duplicates(["visitor_id", "day"])["visitor_id"].duplicated().any()
    known = sessions.dropna(subset=["customer_id"])
    assert (known.groupby("customer_id")["visitor_id"].nunique() == 1).all()
    assert not set(known["visitor_id"]) & set(anonymous["visitor_id"])


def test_tickets_and_surveys_behave(realistic: SourceData) -> None:
    tickets = realistic.support_tickets
    assert tickets["ticket_id"].duplicated().any()  # re-delivered when resolved
    cost = tickets.drop_duplicates("ticket_id").groupby("channel")["handling_cost"].mean()
    assert cost["email"] < cost["chat"] < cost["phone"]
    answers = realistic.survey_responses
    assert answers.loc[answers["survey"] == "csat", "ticket_id"].notna().any()
    assert answers.loc[answers["survey"] == "ces", "ticket_id"].notna().any()
    assert answers["comment"].notna().any()
    recommend = answers.loc[answers["question"] == "likelihood_to_recommend", "score"]
    assert (recommend >= 9).any()  # promoters
    assert recommend.between(7, 8).any()  # passives
    assert (recommend <= 6).any()  # detractors
    customers = realistic.shop["customers"].set_index("customer_id")
    nps = answers[answers["survey"] == "nps"]
    age = nps["responded_at"].to_numpy() - customers.loc[nps["customer_id"], "created_at"]
    assert (age >= pd.Timedelta(days=30)).all()


def test_relationship_answers_correlate(realistic: SourceData) -> None:
    answers = realistic.survey_responses
    relationship = answers[answers["survey"] == "relationship"].pivot(
        index="submission_id", columns="question", values="score"
    )
    assert len(relationship) >= 20
    correlation = relationship.corr()["overall_experience"]
    assert correlation["likelihood_to_recommend"] > 0.4
    assert correlation["likelihood_to_repurchase"] > 0.4
    assert correlation["likelihood_to_switch"] < -0.4
    # CES is lower (better) when the same ticket's satisfaction is high.
    ticket_scores = answers.dropna(subset=["ticket_id"]).pivot_table(
        index="ticket_id", columns="question", values="score"
    )
    assert ticket_scores["satisfaction"].corr(ticket_scores["effort"]) < 0


def test_customers_grow_and_get_account_managers(realistic: SourceData) -> None:
    customers = realistic.shop["customers"]
    start, end = period(REALISTIC)
    middle = start + (end - start) / 2
    assert (customers["created_at"] >= middle).sum() > (customers["created_at"] < middle).sum()
    assert (customers["updated_at"] > customers["created_at"]).any()
    assert 0.05 < (customers["segment"] == "business").mean() < 0.3


# -------------------------------------------------------------------------------- writing


def test_write_sources_lays_out_every_day(tmp_path: Path, small: SourceData) -> None:
    stale = tmp_path / "landing" / "surveys" / "1999-01-01.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    counts = write_sources(small, tmp_path)
    assert not stale.exists()
    for name, frame in tables(small).items():
        assert counts[name] == len(frame), name
    days = [str(day) for day in pd.date_range(SMALL.start, periods=SMALL.days).date]
    landing = tmp_path / "landing"
    for name, (folder, extension) in LANDING_FOLDERS.items():
        files = sorted(p.name for p in (landing / folder).iterdir())
        assert files == [f"{day}.{extension}" for day in days], name

    surveys = [pd.read_csv(landing / "surveys" / f"{day}.csv", dtype=str) for day in days]
    assert all(list(frame.columns) == list(CONTRACT_COLUMNS["survey_responses"]) for frame in surveys)
    assert any(frame.empty for frame in surveys)  # header-only files for quiet days
    written = pd.concat(surveys)
    assert written["response_id"].tolist() == small.survey_responses["response_id"].tolist()
    assert written["responded_at"].str.match(ISO_UTC).all()
    for day, frame in zip(days, surveys, strict=True):
        assert frame["responded_at"].str.startswith(day).all()

    tickets = pd.concat(
        pd.read_csv(landing / "support_tickets" / f"{day}.csv", dtype=str).assign(file_day=day) for day in days
    )
    assert list(tickets.columns[:-1]) == list(CONTRACT_COLUMNS["support_tickets"])
    assert len(tickets) == len(small.support_tickets)
    assert tickets["updated_at"].str.match(ISO_UTC).all()
    assert (tickets["resolved_at"].isna() | tickets["resolved_at"].str.match(ISO_UTC)).all()
    assert (tickets["file_day"] == tickets["updated_at"].str[:10]).all()

    sessions = pq.read_table(landing / "sessions").to_pandas()
    assert list(sessions.columns) == list(CONTRACT_COLUMNS["sessions"])
    assert str(pq.read_schema(landing / "sessions" / f"{days[0]}.parquet").field("started_at").type) == "timestamp[us]"
    assert len(sessions) == len(small.sessions)
    assert sessions["session_id"].tolist() == small.sessions["session_id"].tolist()
    for day in (days[0], days[-1]):
        one_day = pq.read_table(landing / "sessions" / f"{day}.parquet").to_pandas()
        assert (one_day["started_at"].dt.date.astype(str) == day).all()

    spend = pd.read_csv(landing / "marketing_spend" / f"{days[0]}.csv", dtype=str)
    assert list(spend.columns) == list(CONTRACT_COLUMNS["marketing_spend"])
    assert (spend["spend_date"] == days[0]).all()


def test_write_sources_fills_the_shop_database(tmp_path: Path, small: SourceData) -> None:
    write_sources(small, tmp_path)
    write_sources(small, tmp_path)  # replaces the file
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}")
    try:
        inspector = sa.inspect(engine)
        for table in SHOP_TABLES:
            columns = [column["name"] for column in inspector.get_columns(table)]
            assert columns == list(CONTRACT_COLUMNS[table]), table
            indexed = {tuple(index["column_names"]) for index in inspector.get_indexes(table)}
            if "updated_at" in columns:
                assert ("updated_at",) in indexed, table
        assert ("order_id",) in {tuple(index["column_names"]) for index in inspector.get_indexes("order_items")}
        with engine.connect() as connection:
            orders = pd.read_sql_table("orders", connection)
            products = pd.read_sql_table("products", connection)
            since = dt.datetime.combine(SMALL.start + dt.timedelta(days=30), dt.time())
            recent = connection.execute(
                sa.text("select count(*) from orders where updated_at >= :since"), {"since": since}
            ).scalar_one()
    finally:
        engine.dispose()
    expected = small.shop["orders"]
    assert len(orders) == len(expected)
    assert orders["order_id"].tolist() == expected["order_id"].tolist()
    assert (orders["ordered_at"] == expected["ordered_at"]).all()
    assert orders["refunded_at"].isna().sum() == expected["refunded_at"].isna().sum()
    assert recent == (expected["updated_at"] >= since).sum()
    assert products["is_subscription"].tolist() == small.shop["products"]["is_subscription"].tolist()


def test_write_sources_to_a_database_url(tmp_path: Path, small: SourceData) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    counts = write_sources(small, tmp_path / "out", shop_db_url=url)
    assert not (tmp_path / "out" / "shop.sqlite").exists()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("select count(*) from order_items")).scalar_one()
    finally:
        engine.dispose()
    assert rows == counts["order_items"] == len(small.shop["order_items"])


@pytest.mark.postgres
def test_write_sources_to_postgresql(postgres_url: str, tmp_path: Path, small: SourceData) -> None:
    """PostgreSQL gets typed columns; a private database keeps other tests' tables intact."""
    database = f"generator_test_{os.getpid()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    url = sa.make_url(postgres_url).set(database=database)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"drop database if exists {database}"))
            connection.execute(sa.text(f"create database {database}"))
        write_sources(small, tmp_path, shop_db_url=url.render_as_string(hide_password=False))
        counts = write_sources(small, tmp_path, shop_db_url=url.render_as_string(hide_password=False))
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                types = dict(
                    connection.execute(
                        sa.text(
                            "select table_name || '.' || column_name, data_type || coalesce("
                            "'(' || numeric_precision || ',' || numeric_scale || ')', '') "
                            "from information_schema.columns where table_schema = 'public'"
                        )
                    ).all()
                )
                orders = connection.execute(sa.text("select count(*) from orders")).scalar_one()
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"drop database if exists {database}"))
        admin.dispose()
    assert orders == counts["orders"] == len(small.shop["orders"])
    assert types["orders.ordered_at"] == "timestamp without time zone"
    assert types["order_items.unit_price"] == "numeric(18,4)"
    assert types["order_items.quantity"] == "integer(32,0)"
    assert types["products.is_subscription"] == "boolean"
    assert types["customers.customer_id"] == "text"

"""The KPI report: one static HTML page of charts over the published tables, readable offline.

Charting is Plotly (PyPI ``plotly``). Its wheel ships plotly.js, which is inlined once in the
page, so the report opens without internet and nothing is fetched from a CDN at install or run
time. It covers every chart the report needs (lines, filled bands, stacked bars, a funnel, a
heatmap) with hover, zoom and legends, while the figures stay plain Python objects here. A
smaller library vendored from npm would make a lighter page (plotly.js is about 5 MB), but it
would need plugins for the funnel and the heatmap and hand-written JS for every chart.

The page holds the figures as JSON and draws them with a few lines of JS: the charts of the
hidden period (last 90 days / all time) are drawn when first shown, so they get the width of
their card. Element ids are fixed, so equal inputs (and ``generated_at``) give identical HTML.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from loyalty_pipeline.names import quote_identifier

WINDOW_DAYS = 90
COHORT_COLUMNS = ("cohort_month", "months_since", "cohort_size", "retained_share")

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE = "#0072B2"
SKY = "#56B4E9"
GREEN = "#009E73"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#616e7c"
FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

# A small template instead of Plotly's default, which would repeat ~10 kB of styling per figure.
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT_STACK, "size": 12, "color": "#1f2933"},
        "colorway": [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, GREY],
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "xaxis": {"gridcolor": "#e4e7eb", "linecolor": "#9aa5b1", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#e4e7eb", "zerolinecolor": "#9aa5b1", "automargin": True},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "x": 0, "y": -0.15, "yanchor": "top"},
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
    }
)
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
CHART_HEIGHT = 340
# Plotly syncs a second axis's ticks to the first's grid, which gives values like 9.82: ticks of
# its own instead, and no grid of its own to clash with the first axis's.
SECONDARY_AXIS = {"tickmode": "auto", "showgrid": False}

_MOVEMENTS = (  # column, label, colour, sign in the stacked bars
    ("new_mrr", "New", BLUE, 1),
    ("reactivation_mrr", "Reactivation", SKY, 1),
    ("expansion_mrr", "Expansion", GREEN, 1),
    ("contraction_mrr", "Contraction", ORANGE, -1),
    ("churned_mrr", "Churned", VERMILLION, -1),
)


@dataclass(frozen=True)
class Period:
    """A reporting window: its key for element ids, its label and its inclusive dates."""

    key: str
    label: str
    start: dt.date | None
    end: dt.date | None


@dataclass(frozen=True)
class ReportData:
    """The published data the charts need, company level, as pandas frames."""

    kpis: pd.DataFrame  # index: every day of the range; columns: (field, kpi), field in value/numerator/denominator
    movements: pd.DataFrame  # mrr_movements_monthly, amounts as floats
    cohorts: pd.DataFrame  # COHORT_COLUMNS
    first: dt.date | None
    last: dt.date | None


@dataclass
class Chart:
    """One card of the report: a title, what it shows, its figure and the KPIs it lacks."""

    key: str
    title: str
    caption: str
    figure: go.Figure
    missing: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Reading the published tables
# --------------------------------------------------------------------------------------


def _table(schema: str, table: str) -> str:
    """A quoted, schema-qualified table name."""
    return ".".join(quote_identifier(name) for name in (schema, table))


def _exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the published table is in the connection's database (a fresh warehouse may lack some)."""
    sql = (
        "select count(*) from information_schema.tables"
        " where table_catalog = current_database() and table_schema = ? and table_name = ?"
    )
    return connection.execute(sql, [schema, table]).fetchone()[0] > 0


def _read(connection: duckdb.DuckDBPyConnection, sql: str, columns: list[str]) -> pd.DataFrame:
    """Run a query into a frame; an empty result keeps its columns."""
    frame = connection.execute(sql).df()
    return frame if len(frame) else pd.DataFrame(columns=columns)


def read_kpis(connection: duckdb.DuckDBPyConnection, schema: str) -> pd.DataFrame:
    """Company-level kpi_daily, wide: one row per day of the range, columns (field, kpi)."""
    fields = ["value", "numerator", "denominator"]
    if not _exists(connection, schema, "kpi_daily"):
        return pd.DataFrame(index=pd.DatetimeIndex([]))
    long = _read(
        connection,
        f"select date, kpi, value, numerator, denominator from {_table(schema, 'kpi_daily')}"
        " where segment_type = 'all' and segment_value = 'all' order by date, kpi",
        ["date", "kpi", *fields],
    )
    long["date"] = pd.to_datetime(long["date"])
    wide = long.pivot(index="date", columns="kpi", values=fields).astype(float)
    if wide.empty:
        return wide
    # Every day of the range, so a day without a row shows as a gap, not as a straight line.
    return wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="D"))


def read_movements(connection: duckdb.DuckDBPyConnection, schema: str) -> pd.DataFrame:
    """mrr_movements_monthly with the amounts as floats (they are exact decimals in the table)."""
    columns = ["month", *(column for column, *_ in _MOVEMENTS), "closing_mrr"]
    if not _exists(connection, schema, "mrr_movements_monthly"):
        return pd.DataFrame(columns=columns)
    amounts = ", ".join(f"cast({column} as double) as {column}" for column in columns[1:])
    frame = _read(
        connection, f"select month, {amounts} from {_table(schema, 'mrr_movements_monthly')} order by month", columns
    )
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def read_cohorts(connection: duckdb.DuckDBPyConnection, schema: str) -> pd.DataFrame:
    """Monthly cohort retention from customer_value and customer_profitability_monthly.

    A cohort is the month of a customer's first completed order (customer_value); the
    customer is retained in a later month when they have revenue from completed orders in
    it (customer_profitability_monthly, whose revenue is that of completed orders, 0
    otherwise). Only months of the published range count, so cohorts start in the range.
    """
    if not (
        _exists(connection, schema, "customer_value") and _exists(connection, schema, "customer_profitability_monthly")
    ):
        return pd.DataFrame(columns=list(COHORT_COLUMNS))
    value, monthly = _table(schema, "customer_value"), _table(schema, "customer_profitability_monthly")
    frame = _read(
        connection,
        f"""
        with months as (select distinct month from {monthly}),
        cohorts as (
            select customer_id, cast(date_trunc('month', first_order_date) as date) as cohort_month
            from {value}
            where first_order_date is not null
        ),
        sizes as (
            select cohort_month, count(*) as cohort_size from cohorts
            where cohort_month >= (select min(month) from months)
            group by cohort_month
        ),
        retained as (
            select cohorts.cohort_month, monthly.month, count(distinct monthly.customer_id) as customers
            from {monthly} as monthly
            inner join cohorts on monthly.customer_id = cohorts.customer_id
            where monthly.revenue > 0
            group by all
        )
        select
            sizes.cohort_month,
            cast(datediff('month', sizes.cohort_month, months.month) as integer) as months_since,
            sizes.cohort_size,
            coalesce(retained.customers, 0) / sizes.cohort_size as retained_share
        from sizes
        inner join months on months.month >= sizes.cohort_month
        left join retained on retained.cohort_month = sizes.cohort_month and retained.month = months.month
        order by all
        """,
        list(COHORT_COLUMNS),
    )
    return frame


def _checked_cohorts(cohorts: pd.DataFrame) -> pd.DataFrame:
    """A caller's cohort matrix, with the columns the heatmap needs."""
    missing = [column for column in COHORT_COLUMNS if column not in cohorts.columns]
    if missing:
        raise ValueError(f"the cohort matrix lacks the columns {missing}; expected {list(COHORT_COLUMNS)}")
    return cohorts.loc[:, list(COHORT_COLUMNS)].copy()


def read_report_data(
    connection: duckdb.DuckDBPyConnection, schema: str, cohorts: pd.DataFrame | None = None
) -> ReportData:
    """Everything the report shows, read from the published tables of `schema`."""
    kpis = read_kpis(connection, schema)
    cohort_frame = read_cohorts(connection, schema) if cohorts is None else _checked_cohorts(cohorts)
    cohort_frame["cohort_month"] = pd.to_datetime(cohort_frame["cohort_month"])
    first = kpis.index.min().date() if len(kpis.index) else None
    last = kpis.index.max().date() if len(kpis.index) else None
    return ReportData(kpis, read_movements(connection, schema), cohort_frame, first, last)


# --------------------------------------------------------------------------------------
# Periods and series
# --------------------------------------------------------------------------------------


def periods(first: dt.date | None, last: dt.date | None) -> list[Period]:
    """The last 90 days and all time, both ending at the last published day."""
    recent_start = None if last is None else max(first, last - dt.timedelta(days=WINDOW_DAYS - 1))
    return [
        Period("last90", f"Last {WINDOW_DAYS} days", recent_start, last),
        Period("all", "All time", first, last),
    ]


def series(data: ReportData, period: Period, kpi: str, value: str = "value") -> pd.Series:
    """One company-level KPI over the period; all NaN when the KPI is absent."""
    kpis = data.kpis
    if period.start is None:
        return pd.Series(dtype=float)
    window = kpis.loc[pd.Timestamp(period.start) : pd.Timestamp(period.end)]
    if (value, kpi) not in kpis.columns:
        return pd.Series(float("nan"), index=window.index, name=kpi)
    return window[(value, kpi)].rename(kpi)


def has_data(values: pd.Series) -> bool:
    """Whether a series has at least one value."""
    return bool(values.notna().any())


def latest(data: ReportData, kpi: str) -> float | None:
    """The KPI's value on the last published day, None when absent or null."""
    if data.last is None or ("value", kpi) not in data.kpis.columns:
        return None
    value = data.kpis[("value", kpi)].iloc[-1]
    return None if pd.isna(value) else float(value)


def _x_range(period: Period) -> list[str]:
    """The period's dates as an axis range, half a day wider so end points are not clipped."""
    start = pd.Timestamp(period.start) - pd.Timedelta(hours=12)
    end = pd.Timestamp(period.end) + pd.Timedelta(hours=12)
    return [start.isoformat(), end.isoformat()]


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def _styled(figure: go.Figure, height: int = CHART_HEIGHT) -> go.Figure:
    """Apply the report's template and height."""
    figure.update_layout(template=TEMPLATE, height=height)
    return figure


def empty_figure(message: str) -> go.Figure:
    """A figure that says there is no data, in place of a chart."""
    figure = go.Figure()
    figure.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15, "color": GREY}
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(hovermode=False)
    return _styled(figure)


def _money_hover(currency: str) -> str:
    """Hover text of an amount: two decimals and the currency code."""
    return "%{y:,.2f} " + currency


def _line(values: pd.Series, name: str, colour: str, hover: str, dash: str = "solid") -> go.Scatter:
    """A daily line; gaps stay gaps."""
    return go.Scatter(
        x=values.index,
        y=values.to_numpy(),
        name=name,
        mode="lines",
        line={"color": colour, "width": 2, "dash": dash},
        hovertemplate=hover,
        connectgaps=False,
    )


def two_axis_figure(
    left: tuple[pd.Series, go.Scatter | go.Bar],
    right: tuple[pd.Series, go.Scatter | go.Bar],
    left_axis: dict[str, object],
    right_axis: dict[str, object],
) -> go.Figure:
    """Two (values, trace) pairs on their own y axes; one without data leaves its axis out."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    for (values, trace), axis, secondary in ((left, left_axis, False), (right, right_axis, True)):
        if not has_data(values):
            figure.update_yaxes(visible=False, secondary_y=secondary)
            continue
        figure.add_trace(trace, secondary_y=secondary)
        figure.update_yaxes(**axis, **(SECONDARY_AXIS if secondary else {}), secondary_y=secondary)
    return figure


def mrr_chart(data: ReportData, period: Period, currency: str) -> Chart:
    """MRR by day, with its monthly movements as stacked bars below."""
    chart = Chart("mrr", "MRR and its monthly movements", f"Monthly recurring revenue ({currency})", go.Figure())
    mrr = series(data, period, "mrr")
    movements = data.movements
    if period.start is not None:
        # A month counts when it ends inside the period.
        month_ends = movements["month"] + pd.offsets.MonthEnd(0)
        movements = movements[month_ends >= pd.Timestamp(period.start)]
    if not has_data(mrr):
        chart.missing.append("MRR")
    if movements.empty:
        chart.missing.append("monthly movements (no month has ended in the period)")
    if not has_data(mrr) and movements.empty:
        chart.figure = empty_figure("No MRR data for this period")
        return chart
    if movements.empty:
        # No bars to share the axis with (an empty second row makes Plotly warn of a loop).
        figure = go.Figure(_line(mrr, "MRR", BLUE, _money_hover(currency)))
        figure.update_xaxes(range=_x_range(period))
        figure.update_yaxes(title_text=currency, tickformat=",.0f")
        chart.figure = _styled(figure)
        return chart
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45], vertical_spacing=0.06)
    figure.add_trace(_line(mrr, "MRR", BLUE, _money_hover(currency)), row=1, col=1)
    for column, label, colour, sign in _MOVEMENTS:
        figure.add_trace(
            go.Bar(
                x=movements["month"],
                y=sign * movements[column].to_numpy(),
                name=label if sign > 0 else f"\N{MINUS SIGN}{label.lower()}",
                marker_color=colour,
                xperiod="M1",
                xperiodalignment="middle",
                hovertemplate=_money_hover(currency),
            ),
            row=2,
            col=1,
        )
    start = min(pd.Timestamp(period.start), movements["month"].min()) - pd.Timedelta(hours=12)
    figure.update_xaxes(range=[start.isoformat(), _x_range(period)[1]])
    figure.update_yaxes(title_text=currency, tickformat=",.0f", row=1, col=1)
    figure.update_yaxes(title_text=f"{currency} / month", tickformat=",.0f", row=2, col=1)
    figure.update_layout(barmode="relative")
    chart.figure = _styled(figure, height=440)
    return chart


def subscribers_chart(data: ReportData, period: Period) -> Chart:
    """Subscribers (a stock) and the 30-day subscriber churn rate on a second axis."""
    chart = Chart("subscribers", "Subscribers and churn", "Subscribers at day end; churn over 30 days", go.Figure())
    subscribers = series(data, period, "subscribers")
    churn = series(data, period, "subscriber_churn_rate_30d")
    chart.missing += [name for name, values in (("subscribers", subscribers), ("churn", churn)) if not has_data(values)]
    if len(chart.missing) == 2:
        chart.figure = empty_figure("No subscription data for this period")
        return chart
    figure = two_axis_figure(
        (subscribers, _line(subscribers, "Subscribers", BLUE, "%{y:,.0f}")),
        (churn, _line(churn, "Churn rate (30 days)", VERMILLION, "%{y:.1%}", dash="dot")),
        {"title_text": "Subscribers", "tickformat": ",.0f", "rangemode": "tozero"},
        {"title_text": "Churn rate", "tickformat": ".0%", "rangemode": "tozero"},
    )
    figure.update_xaxes(range=_x_range(period))
    chart.figure = _styled(figure)
    return chart


def nps_chart(data: ReportData, period: Period) -> Chart:
    """NPS over 30 days with its 95 % margin of error as a band."""
    chart = Chart("nps", "Net Promoter Score", "NPS over 30 days, with its 95 % margin of error", go.Figure())
    nps = series(data, period, "nps_30d")
    margin = series(data, period, "nps_30d_margin_of_error")
    if not has_data(nps):
        chart.missing.append("NPS")
        chart.figure = empty_figure("No NPS data for this period")
        return chart
    # The band stops at the scale's ends; a null margin draws no band that day.
    upper, lower = (nps + margin).clip(upper=100), (nps - margin).clip(lower=-100)
    band = {"mode": "lines", "line": {"width": 0}, "hoverinfo": "skip", "connectgaps": False}
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=upper.index, y=upper.to_numpy(), name="Upper", showlegend=False, **band))
    figure.add_trace(
        go.Scatter(
            x=lower.index,
            y=lower.to_numpy(),
            name="95 % margin of error",
            fill="tonexty",
            fillcolor="rgba(86, 180, 233, 0.3)",
            **band,
        )
    )
    trace = _line(nps, "NPS", BLUE, "%{y:.0f}")
    trace.update(mode="lines+markers", marker={"size": 4})
    figure.add_trace(trace)
    figure.update_xaxes(range=_x_range(period))
    figure.update_yaxes(title_text="NPS", range=[-100, 100], zeroline=True)
    if not has_data(margin):
        chart.missing.append("margin of error")
    chart.figure = _styled(figure)
    return chart


def satisfaction_chart(data: ReportData, period: Period) -> Chart:
    """CSAT (a share) and CES (a score from 1 to 10, lower is better) on two axes."""
    chart = Chart("satisfaction", "CSAT and CES", "Over 30 days; CES from 1 to 10, lower is better", go.Figure())
    csat = series(data, period, "csat_30d")
    ces = series(data, period, "ces_30d")
    chart.missing += [name for name, values in (("CSAT", csat), ("CES", ces)) if not has_data(values)]
    if len(chart.missing) == 2:
        chart.figure = empty_figure("No CSAT or CES data for this period")
        return chart
    figure = two_axis_figure(
        (csat, _line(csat, "CSAT", GREEN, "%{y:.1%}")),
        (ces, _line(ces, "CES", ORANGE, "%{y:.2f}", dash="dash")),
        {"title_text": "CSAT", "tickformat": ".0%", "range": [0, 1.02]},
        # The whole scale from 1 to 10, so a change of a tenth does not look like a swing.
        {"title_text": "CES", "range": [1, 10]},
    )
    figure.update_xaxes(range=_x_range(period))
    chart.figure = _styled(figure)
    return chart


def funnel_stages(data: ReportData, period: Period) -> list[tuple[str, float]]:
    """Totals of the acquisition funnel over the period; a stage whose KPI is absent is left out."""
    stages = [
        ("Sessions", series(data, period, "sessions")),
        # Sessions that added to cart: the denominator of cart_abandonment_rate.
        ("Sessions with a cart", series(data, period, "cart_abandonment_rate", "denominator")),
        # Converted sessions: the numerator of session_conversion_rate.
        ("Converted sessions", series(data, period, "session_conversion_rate", "numerator")),
        ("New customers", series(data, period, "new_customers")),
    ]
    return [(label, float(values.sum())) for label, values in stages if has_data(values)]


def _ratio(data: ReportData, period: Period, kpi: str) -> float | None:
    """A flow ratio over the period, re-aggregated as Σ numerator / Σ denominator."""
    denominator = series(data, period, kpi, "denominator").sum()
    return float(series(data, period, kpi, "numerator").sum() / denominator) if denominator else None


def funnel_chart(data: ReportData, period: Period) -> Chart:
    """Acquisition funnel over the period: sessions to new customers."""
    chart = Chart("funnel", "Acquisition funnel", "Totals over the period", go.Figure())
    stages = funnel_stages(data, period)
    if not stages:
        chart.missing.append("acquisition KPIs")
        chart.figure = empty_figure("No acquisition data for this period")
        return chart
    rates = [
        f"{label} {value:.1%}"
        for label, value in (
            ("session conversion", _ratio(data, period, "session_conversion_rate")),
            ("cart abandonment", _ratio(data, period, "cart_abandonment_rate")),
        )
        if value is not None
    ]
    chart.caption = "; ".join(["Totals over the period", *rates])
    labels, values = zip(*stages, strict=True)
    figure = go.Figure(
        go.Funnel(
            y=list(labels),
            x=list(values),
            textinfo="value+percent initial",
            texttemplate="%{value:,.0f} (%{percentInitial:.1%})",
            marker={"color": [BLUE, SKY, GREEN, ORANGE][: len(values)]},
            connector={"fillcolor": "#e4e7eb", "line": {"width": 0}},
            hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
        )
    )
    figure.update_layout(hovermode="closest")
    chart.figure = _styled(figure)
    return chart


def revenue_chart(data: ReportData, period: Period, currency: str) -> Chart:
    """Daily revenue as bars and the average customer profitability score as a line."""
    chart = Chart("revenue", "Revenue and CPS", f"Daily revenue; average CPS over 30 days ({currency})", go.Figure())
    revenue = series(data, period, "revenue")
    cps = series(data, period, "cps_avg_30d")
    chart.missing += [name for name, values in (("revenue", revenue), ("CPS", cps)) if not has_data(values)]
    if len(chart.missing) == 2:
        chart.figure = empty_figure("No revenue data for this period")
        return chart
    bars = go.Bar(
        x=revenue.index, y=revenue.to_numpy(), name="Revenue", marker_color=SKY, hovertemplate=_money_hover(currency)
    )
    figure = two_axis_figure(
        (revenue, bars),
        (cps, _line(cps, "Average CPS (30 days)", VERMILLION, _money_hover(currency))),
        {"title_text": f"Revenue ({currency})", "tickformat": ",.0f"},
        {"title_text": f"CPS ({currency})", "tickformat": ",.0f"},
    )
    figure.update_xaxes(range=_x_range(period))
    chart.figure = _styled(figure)
    return chart


def ltv_chart(data: ReportData, period: Period, currency: str) -> Chart:
    """Historical LTV, formula LTV and predicted 12-month CLV, each when published."""
    chart = Chart("ltv", "Customer lifetime value", f"Average per customer ({currency})", go.Figure())
    lines = [
        ("ltv_historical_avg", "Historical LTV", BLUE, "solid"),
        ("ltv_formula", "Formula LTV", ORANGE, "dash"),
        ("clv_predicted_12m_avg", "Predicted 12-month CLV", GREEN, "dot"),
    ]
    figure = go.Figure()
    for kpi, label, colour, dash in lines:
        values = series(data, period, kpi)
        if has_data(values):
            trace = _line(values, label, colour, _money_hover(currency), dash=dash)
            # ltv_formula has single days between nulls: markers keep them visible.
            trace.update(mode="lines+markers", marker={"size": 4})
            figure.add_trace(trace)
        else:
            chart.missing.append(label)
    if len(chart.missing) == len(lines):
        chart.figure = empty_figure("No LTV data for this period")
        return chart
    figure.update_xaxes(range=_x_range(period))
    figure.update_yaxes(title_text=currency, tickformat=",.0f")
    chart.figure = _styled(figure)
    return chart


def cohort_chart(data: ReportData, period: Period) -> Chart:
    """Share of each monthly cohort with a completed order n months after its first."""
    chart = Chart(
        "cohorts",
        "Cohort retention",
        "Customers by month of first completed order: share with a completed order n months later",
        go.Figure(),
    )
    cohorts = data.cohorts
    if period.start is not None:
        cohorts = cohorts[cohorts["cohort_month"] >= pd.Timestamp(period.start).to_period("M").to_timestamp()]
    if cohorts.empty:
        chart.missing.append("cohorts")
        chart.figure = empty_figure("No cohort data for this period")
        return chart
    matrix = cohorts.pivot(index="cohort_month", columns="months_since", values="retained_share").sort_index()
    sizes = cohorts.groupby("cohort_month")["cohort_size"].first().reindex(matrix.index)
    labels = [f"{month:%Y-%m} ({int(size):,})" for month, size in sizes.items()]
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=[int(column) for column in matrix.columns],
            y=labels,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            texttemplate="%{z:.0%}",
            hovertemplate="Cohort %{y}, month %{x}: %{z:.1%}<extra></extra>",
            colorbar={"tickformat": ".0%", "thickness": 12},
            xgap=2,
            ygap=2,
        )
    )
    figure.update_xaxes(title_text="Months since first order", dtick=1, showgrid=False)
    figure.update_yaxes(title_text="Cohort (customers)", autorange="reversed", showgrid=False, type="category")
    figure.update_layout(hovermode="closest")
    chart.caption += "; the latest month is in progress"
    chart.figure = _styled(figure, height=max(CHART_HEIGHT, 90 + 34 * len(labels)))
    return chart


def charts(data: ReportData, period: Period, currency: str) -> list[Chart]:
    """Every chart of one period, in reading order."""
    return [
        mrr_chart(data, period, currency),
        subscribers_chart(data, period),
        nps_chart(data, period),
        satisfaction_chart(data, period),
        funnel_chart(data, period),
        revenue_chart(data, period, currency),
        ltv_chart(data, period, currency),
        cohort_chart(data, period),
    ]


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #0072B2; --page: #f5f7fa; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--page); color: var(--ink);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.05rem; margin: 0; }
.meta { color: var(--muted); margin: 0 0 20px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-bottom: 20px; }
.tile, .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; }
.tile { padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 0.8rem; }
.tile .value { font-size: 1.35rem; font-weight: 600; margin-top: 4px; font-variant-numeric: tabular-nums; }
.tile .value.none { color: var(--muted); font-weight: 400; font-size: 1rem; }
.toggle { display: inline-flex; border: 1px solid var(--accent); border-radius: 8px; overflow: hidden;
  margin-bottom: 16px; }
.toggle button { font: inherit; border: 0; padding: 8px 16px; background: #fff; color: var(--accent); cursor: pointer; }
.toggle button[aria-selected="true"] { background: var(--accent); color: #fff; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; padding-bottom: 32px; }
.card { padding: 16px; min-width: 0; }
.card.wide { grid-column: 1 / -1; }
.card p { margin: 2px 0 10px; color: var(--muted); font-size: 0.85rem; }
.card .missing { margin: 8px 0 0; font-size: 0.8rem; }
.chart { width: 100%; }
footer { color: var(--muted); font-size: 0.8rem; max-width: 1280px; margin: 0 auto; padding: 0 24px 24px; }
@media (max-width: 600px) { .grid { grid-template-columns: 1fr; } }
"""

# Draws the figures of a period when it is first shown (hidden divs have no width to size a chart to)
# and marks each chart drawn, which is also what the browser test waits for.
SCRIPT = """
(function () {
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  var config = JSON.parse(document.getElementById("report-config").textContent);
  function draw(section) {
    section.querySelectorAll(".chart").forEach(function (div) {
      if (div.dataset.rendered) { Plotly.Plots.resize(div); return; }
      var figure = figures[div.id];
      Plotly.newPlot(div, figure.data, figure.layout, config).then(function () {
        div.dataset.rendered = "true";
      });
    });
  }
  function show(key) {
    document.querySelectorAll("[data-period-section]").forEach(function (section) {
      var visible = section.dataset.periodSection === key;
      section.hidden = !visible;
      if (visible) { draw(section); }
    });
    document.querySelectorAll("[data-period]").forEach(function (button) {
      button.setAttribute("aria-selected", String(button.dataset.period === key));
    });
  }
  document.querySelectorAll("[data-period]").forEach(function (button) {
    button.addEventListener("click", function () { show(button.dataset.period); });
  });
  show(document.querySelector("[data-period]").dataset.period);
})();
"""


def _script_json(text: str) -> str:
    """JSON safe inside a <script> element ("</" would end it)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _format_money(value: float | None, currency: str) -> str | None:
    """A whole amount with thousands separators and the currency code."""
    return None if value is None else f"{value:,.0f} {currency}"


def _format_rate(value: float | None) -> str | None:
    """A fraction as a percentage with one decimal."""
    return None if value is None else f"{value:.1%}"


def _format_number(value: float | None, digits: int = 0) -> str | None:
    """A number with thousands separators."""
    return None if value is None else f"{value:,.{digits}f}"


def headline_values(data: ReportData, currency: str) -> list[tuple[str, str | None]]:
    """The latest value of the main KPIs, as (label, formatted value or None)."""
    nps, margin = latest(data, "nps_30d"), latest(data, "nps_30d_margin_of_error")
    nps_text = _format_number(nps)
    if nps_text is not None and margin is not None:
        nps_text += f" ± {margin:.0f}"
    revenue = series(data, Period("last30", "", _shifted(data.last, -29), data.last), "revenue")
    return [
        ("MRR", _format_money(latest(data, "mrr"), currency)),
        ("Subscribers", _format_number(latest(data, "subscribers"))),
        ("Subscriber churn (30 days)", _format_rate(latest(data, "subscriber_churn_rate_30d"))),
        ("NPS (30 days)", nps_text),
        ("CSAT (30 days)", _format_rate(latest(data, "csat_30d"))),
        ("CES (30 days)", _format_number(latest(data, "ces_30d"), 1)),
        ("Revenue (last 30 days)", _format_money(float(revenue.sum()), currency) if has_data(revenue) else None),
        ("Historical LTV", _format_money(latest(data, "ltv_historical_avg"), currency)),
    ]


def _shifted(day: dt.date | None, days: int) -> dt.date | None:
    """The day moved by `days`, None stays None."""
    return None if day is None else day + dt.timedelta(days=days)


def _tiles_html(data: ReportData, currency: str) -> str:
    """The row of headline numbers."""
    tiles = []
    for label, value in headline_values(data, currency):
        shown = f'<div class="value">{html.escape(value)}</div>' if value else '<div class="value none">no data</div>'
        tiles.append(f'<div class="tile"><div class="label">{html.escape(label)}</div>{shown}</div>')
    return '<section class="tiles" aria-label="Latest values">' + "".join(tiles) + "</section>"


def chart_id(period: Period, chart: Chart) -> str:
    """The fixed element id of a chart, e.g. chart-last90-mrr."""
    return f"chart-{period.key}-{chart.key}"


def _card_html(period: Period, chart: Chart) -> str:
    """One chart card: title, caption, the chart's div and a note of missing KPIs."""
    wide = " wide" if chart.key in ("mrr", "cohorts") else ""
    missing = ""
    if chart.missing:
        missing = f'<p class="missing">No data: {html.escape(", ".join(chart.missing))}</p>'
    return (
        f'<article class="card{wide}"><h2>{html.escape(chart.title)}</h2><p>{html.escape(chart.caption)}</p>'
        f'<div class="chart" id="{chart_id(period, chart)}" role="img" aria-label="{html.escape(chart.title)}"></div>'
        f"{missing}</article>"
    )


def _range_text(data: ReportData) -> str:
    """The data range for the header."""
    if data.first is None:
        return "No published KPI data yet"
    days = (data.last - data.first).days + 1
    return f"Data from {data.first:%Y-%m-%d} to {data.last:%Y-%m-%d} ({days} days)"


def _generated_text(generated_at: dt.datetime) -> str:
    """Generation time in UTC when it has a time zone, as given otherwise."""
    if generated_at.tzinfo is not None:
        return f"{generated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    return f"{generated_at:%Y-%m-%d %H:%M}"


def render_report(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    *,
    generated_at: dt.datetime | None = None,
    currency: str = "EUR",
    cohorts: pd.DataFrame | None = None,
) -> str:
    """The complete report page for the published tables in `schema`.

    `generated_at` is shown in the header (now when omitted: pass it for reproducible
    output). `cohorts`, with the columns COHORT_COLUMNS, replaces the cohort matrix the
    report otherwise derives from customer_value and customer_profitability_monthly.
    """
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency must be an ISO 4217 code such as EUR, not {currency!r}")
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    data = read_report_data(connection, schema, cohorts)
    sections, buttons, figures = [], [], {}
    for period in periods(data.first, data.last):
        period_charts = charts(data, period, currency)
        figures.update({chart_id(period, chart): pio.to_json(chart.figure) for chart in period_charts})
        cards = "".join(_card_html(period, chart) for chart in period_charts)
        sections.append(f'<section class="grid" data-period-section="{period.key}" hidden>{cards}</section>')
        buttons.append(
            f'<button type="button" role="tab" data-period="{period.key}">{html.escape(period.label)}</button>'
        )
    figures_json = "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in figures.items()) + "}"
    title = "Customer loyalty KPIs"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title><style>{STYLE}</style>",
            # plotly.js from the plotly wheel, inline: the page needs no network.
            f"<script>{get_plotlyjs()}</script>",
            "</head><body>",
            f"<header><h1>{title}</h1>",
            f'<p class="meta">{html.escape(_range_text(data))} · company level · amounts in {currency}'
            f" · generated {html.escape(_generated_text(generated_at))}</p>",
            _tiles_html(data, currency),
            f'<div class="toggle" role="tablist" aria-label="Period">{"".join(buttons)}</div></header>',
            f"<main>{''.join(sections)}</main>",
            "<footer>Definitions: docs/kpis.md. Rates over 30 days end on the day shown.</footer>",
            f'<script type="application/json" id="report-figures">{_script_json(figures_json)}</script>',
            f'<script type="application/json" id="report-config">{json.dumps(PLOTLY_CONFIG)}</script>',
            f"<script>{SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )


def write_report(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    path: Path,
    *,
    generated_at: dt.datetime | None = None,
    currency: str = "EUR",
    cohorts: pd.DataFrame | None = None,
) -> Path:
    """Write the report to `path` atomically, so a reader never sees half a page."""
    page = render_report(connection, schema, generated_at=generated_at, currency=currency, cohorts=cohorts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file is beside the target: os.replace is atomic only within one file system.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private; the report is for whoever can read the folder.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path

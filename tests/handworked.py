"""A small dataset written by hand in contract format, whose KPIs are worked out by hand.

Three customers over 1 January - 2 March 2026, reporting time zone UTC. The expected values
in tests/test_kpis.py are derived from these rows and kpi-catalogue.md alone.

Customers: c-1 consumer/DE/organic, c-2 business/FR/paid_search, c-3 consumer/DE/email.

Products: bean1 (coffee_beans tier 1), bean2 (coffee_beans tier 2), mach (equipment tier 1),
club-m (coffee_club tier 1, monthly 30), club-y (coffee_club tier 2, yearly 360),
club2-m (coffee_club tier 2, monthly 50).

Orders (revenue / COGS / margin):
  o-1  c-1 01-01 09:00 completed  2 x bean1 @10, discount 2      18 /   8 /  10  (session s-1)
  o-2  c-2 01-02 10:00 completed  club-m @30                     30 /  10 /  20  (s-3)
  o-3  c-1 01-05 12:00 completed  bean2 @20                      20 /   8 /  12  upsell (s-4)
  o-4  c-3 01-05 13:00 refunded 01-08  mach @100                  -- not completed (s-5)
  o-5  c-1 01-10 09:00 completed  mach @100                     100 /  60 /  40  cross-sell, offline
  o-6  c-3 01-10 10:00 cancelled  bean1 @10                       -- (s-6, so s-6 is not converted)
  o-11 c-3 01-15 08:00 completed  club-y @360                   360 / 120 / 240  first order of c-3
  o-10 c-2 01-20 10:00 completed  bean1 @10                      10 /   4 /   6  cross-sell (s-7)
  o-9  c-2 01-20 10:00 completed  bean2 @20                      20 /   8 /  12  upsell (s-8)
  o-7  c-2 02-02 10:00 completed  club-m @30 (renewal)           30 /  10 /  20
  (o-10 and o-9 tie on ordered_at: 'o-10' < 'o-9' by code point, so o-10 comes first.)

Subscription periods:
  sp-1 c-2 club-m  monthly 30  01-02 10:00 .. 02-05 00:00 (plan change at midnight)
  sp-2 c-2 club2-m monthly 50  02-05 00:00 .. running
  sp-3 c-3 club-y  yearly 360  01-15 08:00 .. 02-10 00:00 (cancelled)

Sessions: 01-01 s-1 (v-1, c-1, cart, converted by o-1), s-2 (v-9 anonymous, cart, abandoned);
  01-02 s-3 (v-2, c-2, cart, o-2); 01-05 s-4 (v-1, cart, o-3), s-5 (v-3, cart, o-4 refunded
  still converts), s-10 (v-1, no cart); 01-10 s-6 (v-3, cart, only a cancelled order);
  01-20 s-7 and s-8 (v-2, cart, o-10 and o-9).

Surveys: 01-06 nps c-1 recommend 9, nps c-2 recommend 7; 01-12 relationship c-3 (overall 8,
  recommend 6, switch 3, repurchase 7), csat c-1 satisfaction 4, ces c-1 effort 2;
  01-13 csat c-2 satisfaction 3, ces c-2 effort 5; 01-14 csat c-3 satisfaction 5.

Tickets: t-1 c-1 opened 01-11 10:00 (resolved 01-12, re-delivered), cost 5; t-2 c-2 opened
  01-13 08:00, cost 12; t-3 c-3 opened 01-14 08:00, cost 7.

Spend: every day, acquisition/paid_search 10 and retention/email 3.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from loyalty_pipeline.generator import SourceData

START = dt.date(2026, 1, 1)
END = dt.date(2026, 3, 2)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-{text}")


def _frame(rows: list[dict], timestamp_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in timestamp_columns:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def customers() -> pd.DataFrame:
    rows = [
        ("c-1", "01-01 08:00", "DE", "organic", "consumer", None),
        ("c-2", "01-02 09:00", "FR", "paid_search", "business", "Ann Lee"),
        ("c-3", "01-05 12:00", "DE", "email", "consumer", None),
    ]
    return _frame(
        [
            {
                "customer_id": customer_id,
                "created_at": _ts(created),
                "country": country,
                "acquisition_channel": channel,
                "segment": segment,
                "account_manager": manager,
                "updated_at": _ts(created),
            }
            for customer_id, created, country, channel, segment, manager in rows
        ],
        ("created_at", "updated_at"),
    )


PRODUCTS = {
    # product_id: (product_line, tier, billing_period, list_price, unit_cost)
    "bean1": ("coffee_beans", 1, None, 10.0, 4.0),
    "bean2": ("coffee_beans", 2, None, 20.0, 8.0),
    "mach": ("equipment", 1, None, 100.0, 60.0),
    "club-m": ("coffee_club", 1, "month", 30.0, 10.0),
    "club-y": ("coffee_club", 2, "year", 360.0, 120.0),
    "club2-m": ("coffee_club", 2, "month", 50.0, 15.0),
}


def products() -> pd.DataFrame:
    return _frame(
        [
            {
                "product_id": product_id,
                "name": product_id,
                "product_line": line,
                "tier": tier,
                "is_subscription": billing is not None,
                "billing_period": billing,
                "list_price": price,
                "unit_cost": cost,
                "updated_at": pd.Timestamp("2025-12-01"),
            }
            for product_id, (line, tier, billing, price, cost) in PRODUCTS.items()
        ],
        ("updated_at",),
    )


# order_id, customer, session, ordered_at, status, refunded_at, (product, quantity, discount)
ORDERS = [
    ("o-1", "c-1", "s-1", "01-01 09:00", "completed", None, ("bean1", 2, 2.0)),
    ("o-2", "c-2", "s-3", "01-02 10:00", "completed", None, ("club-m", 1, 0.0)),
    ("o-3", "c-1", "s-4", "01-05 12:00", "completed", None, ("bean2", 1, 0.0)),
    ("o-4", "c-3", "s-5", "01-05 13:00", "refunded", "01-08 09:00", ("mach", 1, 0.0)),
    ("o-5", "c-1", None, "01-10 09:00", "completed", None, ("mach", 1, 0.0)),
    ("o-6", "c-3", "s-6", "01-10 10:00", "cancelled", None, ("bean1", 1, 0.0)),
    ("o-11", "c-3", None, "01-15 08:00", "completed", None, ("club-y", 1, 0.0)),
    ("o-10", "c-2", "s-7", "01-20 10:00", "completed", None, ("bean1", 1, 0.0)),
    ("o-9", "c-2", "s-8", "01-20 10:00", "completed", None, ("bean2", 1, 0.0)),
    ("o-7", "c-2", None, "02-02 10:00", "completed", None, ("club-m", 1, 0.0)),
]


def orders() -> pd.DataFrame:
    rows = []
    for order_id, customer_id, session_id, ordered, status, refunded, _ in ORDERS:
        updated = refunded or (f"{ordered[:-2]}05" if status == "cancelled" else ordered)
        rows.append(
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "session_id": session_id,
                "ordered_at": _ts(ordered),
                "status": status,
                "refunded_at": _ts(refunded) if refunded else pd.NaT,
                "updated_at": _ts(updated),
            }
        )
    return _frame(rows, ("ordered_at", "refunded_at", "updated_at"))


def order_items() -> pd.DataFrame:
    return _frame(
        [
            {
                "order_id": order_id,
                "line_number": 1,
                "product_id": product_id,
                "quantity": quantity,
                "unit_price": PRODUCTS[product_id][3],
                "unit_cost": PRODUCTS[product_id][4],
                "discount_amount": discount,
            }
            for order_id, *_, (product_id, quantity, discount) in ORDERS
        ]
    )


def subscription_periods() -> pd.DataFrame:
    rows = [
        ("sp-1", "sub-1", "c-2", "club-m", "01-02 10:00", "02-05 00:00", "month", 30.0),
        ("sp-2", "sub-1", "c-2", "club2-m", "02-05 00:00", None, "month", 50.0),
        ("sp-3", "sub-2", "c-3", "club-y", "01-15 08:00", "02-10 00:00", "year", 360.0),
    ]
    return _frame(
        [
            {
                "subscription_period_id": period_id,
                "subscription_id": subscription_id,
                "customer_id": customer_id,
                "product_id": product_id,
                "started_at": _ts(started),
                "ended_at": _ts(ended) if ended else pd.NaT,
                "billing_period": billing,
                "price": price,
                "updated_at": _ts(ended or started),
            }
            for period_id, subscription_id, customer_id, product_id, started, ended, billing, price in rows
        ],
        ("started_at", "ended_at", "updated_at"),
    )


def sessions() -> pd.DataFrame:
    rows = [
        ("s-1", "v-1", "c-1", "01-01 08:50", True),
        ("s-2", "v-9", None, "01-01 11:00", True),
        ("s-3", "v-2", "c-2", "01-02 09:50", True),
        ("s-4", "v-1", "c-1", "01-05 11:50", True),
        ("s-5", "v-3", "c-3", "01-05 12:50", True),
        ("s-10", "v-1", "c-1", "01-05 18:00", False),
        ("s-6", "v-3", "c-3", "01-10 09:50", True),
        ("s-7", "v-2", "c-2", "01-20 09:40", True),
        ("s-8", "v-2", "c-2", "01-20 09:50", True),
    ]
    frame = _frame(
        [
            {
                "session_id": session_id,
                "visitor_id": visitor_id,
                "customer_id": customer_id,
                "started_at": _ts(started),
                "ended_at": _ts(started) + pd.Timedelta(minutes=5),
                "channel": "organic",
                "device": "desktop",
                "pageviews": 3,
                "added_to_cart": cart,
                "started_checkout": cart,
            }
            for session_id, visitor_id, customer_id, started, cart in rows
        ],
        ("started_at", "ended_at"),
    )
    frame["customer_id"] = frame["customer_id"].astype("string")
    return frame


def survey_responses() -> pd.DataFrame:
    rows = [
        ("r-1", "sv-1", "c-1", "nps", "likelihood_to_recommend", 9, "01-06 10:00", None),
        ("r-2", "sv-2", "c-2", "nps", "likelihood_to_recommend", 7, "01-06 11:00", None),
        ("r-3", "sv-3", "c-3", "relationship", "overall_experience", 8, "01-12 10:00", None),
        ("r-4", "sv-3", "c-3", "relationship", "likelihood_to_recommend", 6, "01-12 10:00", None),
        ("r-5", "sv-3", "c-3", "relationship", "likelihood_to_switch", 3, "01-12 10:00", None),
        ("r-6", "sv-3", "c-3", "relationship", "likelihood_to_repurchase", 7, "01-12 10:00", None),
        ("r-7", "sv-4", "c-1", "csat", "satisfaction", 4, "01-12 12:00", "t-1"),
        ("r-8", "sv-5", "c-1", "ces", "effort", 2, "01-12 12:00", "t-1"),
        ("r-9", "sv-6", "c-2", "csat", "satisfaction", 3, "01-13 12:00", "t-2"),
        ("r-10", "sv-7", "c-2", "ces", "effort", 5, "01-13 12:00", "t-2"),
        ("r-11", "sv-8", "c-3", "csat", "satisfaction", 5, "01-14 12:00", "t-3"),
    ]
    return _frame(
        [
            {
                "response_id": response_id,
                "submission_id": submission_id,
                "customer_id": customer_id,
                "survey": survey,
                "question": question,
                "score": score,
                "responded_at": _ts(responded),
                "ticket_id": ticket_id,
                "comment": None,
            }
            for response_id, submission_id, customer_id, survey, question, score, responded, ticket_id in rows
        ],
        ("responded_at",),
    )


def support_tickets() -> pd.DataFrame:
    # (ticket, customer, opened, resolved, channel, cost, file day of this version)
    rows = [
        ("t-1", "c-1", "01-11 10:00", None, "email", 5.0, "01-11"),
        ("t-1", "c-1", "01-11 10:00", "01-12 09:00", "email", 5.0, "01-12"),
        ("t-2", "c-2", "01-13 08:00", "01-13 11:00", "phone", 12.0, "01-13"),
        ("t-3", "c-3", "01-14 08:00", "01-14 10:00", "chat", 7.0, "01-14"),
    ]
    frame = _frame(
        [
            {
                "ticket_id": ticket_id,
                "customer_id": customer_id,
                "opened_at": _ts(opened),
                "resolved_at": _ts(resolved) if resolved else pd.NaT,
                "channel": channel,
                "handling_cost": cost,
                "updated_at": _ts(resolved or opened),
                "file_date": _ts(file_day).date(),
            }
            for ticket_id, customer_id, opened, resolved, channel, cost, file_day in rows
        ],
        ("opened_at", "resolved_at", "updated_at"),
    )
    return frame


def marketing_spend() -> pd.DataFrame:
    days = [START + dt.timedelta(days=offset) for offset in range((END - START).days + 1)]
    rows = [{"spend_date": day, "program": "acquisition", "channel": "paid_search", "amount": 10.0} for day in days]
    rows += [{"spend_date": day, "program": "retention", "channel": "email", "amount": 3.0} for day in days]
    return pd.DataFrame(rows)


def source_data() -> SourceData:
    """The whole hand-written dataset."""
    return SourceData(
        shop={
            "customers": customers(),
            "products": products(),
            "orders": orders(),
            "order_items": order_items(),
            "subscription_periods": subscription_periods(),
        },
        sessions=sessions(),
        survey_responses=survey_responses(),
        support_tickets=support_tickets(),
        marketing_spend=marketing_spend(),
    )

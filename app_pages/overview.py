"""Overview: month to date against budgets, the forecast to month end, daily spend, top spenders, anomalies, live."""

import datetime as dt

import altair as alt
import polars as pl
import streamlit as st

import analytics
from analytics.measures import period_bounds
from ingest import schema as s
from spendlake import ui, usecases

lake, filters, today = ui.lake(), ui.filters(), ui.today()
month_start, _ = period_bounds(today, "month")
st.title("Overview")

status = ui.budget_status(lake, today)
code = filters.currency
budget = usecases.month_budget(lake, status, filters.projects, code, today)
limit = budget.limit if budget else None  # in the page's currency: on the chart and in the forecast
outlook = ui.forecast(lake, filters, today, limit)
month = analytics.breakdown(ui.days(lake, filters, start=month_start, end=today),
                            values=[s.COST, "calls", "unpriced_events"])
unpriced = analytics.breakdown(ui.days(lake, filters), values=[s.COST, "unpriced_events"])["unpriced_events"][0]

cols = st.columns(4)
cols[0].metric("Month to date", ui.money(month[s.COST][0]), help=f"{month_start} to {today} (UTC)")
cols[1].metric("Expected month total", ui.money(outlook.expected_total_usd),
               help=f"80 % band {ui.money(outlook.total_low80_usd)} – {ui.money(outlook.total_high80_usd)}; "
                    f"{outlook.method}")
cols[2].metric("Monthly budget", ui.amount_in(budget.limit_set, budget.currency) if budget else "—",
               delta=f"{ui.amount_in(budget.left_set, budget.currency)} left" if budget else None, delta_color="off",
               help=(f"Budget: {budget.names}" + (f" (set in {budget.currency}: on the chart and in the forecast, "
                                                 f"{ui.money(limit)} at the rate of {today})"
                                                 if budget.currency != code else ""))
               if budget else "No monthly budget covers this choice")
cols[3].metric("Budget runs out", str(outlook.exhaustion_date or "not expected") if limit else "no budget",
               help=f"At the 80 % band's upper edge: {outlook.exhaustion_earliest or 'not this month'}" if limit else None)
if unpriced:
    st.warning(f"{unpriced:,} event(s) have no price and count as $0 until one is added.")
    st.page_link("app_pages/prices.py", label="Fix prices", icon="🏷️")

if status.height:
    st.subheader("Budgets")
    ui.budget_bars(status)

st.download_button("Month report to forward (HTML)", lambda: usecases.monthly_html(
    lake, today, today=today, projects=filters.projects or None, book=ui.book(lake), currency=code),
    f"spendlake-{today:%Y-%m}.html", "text/html", key="month-html",
    help="One file with the figures, the chart, top projects, models and runs, budgets and suggestions; "
         "it opens in any browser and prints to PDF")

st.subheader("Forecast to month end")
path = outlook.daily.with_columns(pl.when(pl.col("actual").is_not_null()).then(pl.lit("spent")).otherwise(
    pl.lit("expected")).alias("kind"))
legend = [("spent", "#1f77b4"), ("expected", "#ff7f0e"), ("80 % band", "#ffbb78")]
if limit:
    legend.append((f"budget {ui.money(limit)}", "#d62728"))
color = alt.Scale(domain=[k for k, _ in legend], range=[c for _, c in legend])
x = alt.X(f"{s.DATE}:T", title=None)
unit, money_fmt = ui.chart_money()
band = path.filter(pl.col("cumulative_low80").is_not_null()).with_columns(pl.lit("80 % band").alias("what"))
layers = [alt.Chart(band).mark_area(opacity=0.35).encode(
    x=x, y=alt.Y("cumulative_low80:Q", title=f"{unit}, cumulative"), y2="cumulative_high80:Q",
    color=alt.Color("what:N", scale=color, title=None),
    tooltip=[alt.Tooltip(f"{s.DATE}:T", title="Day"), alt.Tooltip("cumulative_low80:Q", title="80 % low", format=money_fmt),
             alt.Tooltip("cumulative_high80:Q", title="80 % high", format=money_fmt)]),
    alt.Chart(path).mark_line(point=True).encode(
    x=x, y=alt.Y("cumulative:Q", title=f"{unit}, cumulative"), color=alt.Color("kind:N", scale=color, title=None),
    tooltip=[alt.Tooltip(f"{s.DATE}:T", title="Day"), alt.Tooltip("kind:N", title="What"),
             alt.Tooltip("cumulative:Q", title="Cumulative", format=money_fmt)])]
if limit:
    rule = pl.DataFrame({"budget": [limit], "label": [f"budget {ui.money(limit)}"]})
    layers.append(alt.Chart(rule).mark_rule(strokeDash=[4, 4]).encode(
        y="budget:Q", color=alt.Color("label:N", scale=color, title=None),
        tooltip=[alt.Tooltip("budget:Q", title="Monthly budget", format=money_fmt)]))
    layers.append(alt.Chart(rule).mark_text(align="left", dx=4, dy=-6).encode(
        x=alt.value(0), y="budget:Q", text="label:N"))
if outlook.exhaustion_date:
    layers.append(alt.Chart(pl.DataFrame({"runs out": [outlook.exhaustion_date]})).mark_rule(color="#d62728").encode(
        x="runs out:T", tooltip=[alt.Tooltip("runs out:T", title="Budget runs out")]))
st.altair_chart(alt.layer(*layers), width="stretch")

st.subheader("Daily spend by provider")
daily = analytics.breakdown(ui.days(lake, filters, start=filters.start, end=filters.end), by=s.PROVIDER, period="day",
                            values=[s.COST, "calls"])
st.altair_chart(alt.Chart(daily).mark_bar().encode(
    x=alt.X("period_start:T", title=None), y=alt.Y(f"{s.COST}:Q", title=unit), color=f"{s.PROVIDER}:N",
    tooltip=[alt.Tooltip("period_start:T", title="Day"), alt.Tooltip(f"{s.PROVIDER}:N", title="Provider"),
             alt.Tooltip(f"{s.COST}:Q", title=f"Cost ({unit})", format=money_fmt), alt.Tooltip("calls:Q", title="Calls")]),
    width="stretch")

left, right = st.columns(2)
in_range = ui.days(lake, filters, start=filters.start, end=filters.end)
with left:
    st.subheader("Top projects")
    st.caption(f"{filters.start} to {filters.end} (UTC), the sidebar's dates")
    ui.table(ui.named(analytics.breakdown(in_range, by=s.PROJECT, values=[s.COST, "calls"], limit=10)), "top-projects")
with right:
    st.subheader("Top models")
    st.caption(f"{filters.start} to {filters.end} (UTC)")
    ui.table(ui.named(analytics.breakdown(in_range, by=s.MODEL, values=[s.COST, "calls"], limit=10)), "top-models")

st.subheader("Anomalies")
found = usecases.anomalies(lake, start=filters.end - dt.timedelta(days=120), end=filters.end, projects=filters.projects,
                           providers=filters.providers, daily=ui.days(lake), currency=code)
found = found.filter(pl.col(s.DATE) >= filters.start)
if found.height:
    ui.table(found, "anomalies")
else:
    st.caption("No day departs from its usual spend in this range.")


@st.fragment(run_every="5s")
def live() -> None:
    """Today's spend and the latest events, refreshed every few seconds while jobs run."""
    now = ui.today()
    events = usecases.in_currency(lake, analytics.scan(lake, start=now, end=now, **filters.scan_filters), code,
                                  (now, now), usecases.EVENT_MONEY)[0]
    st.metric("Spent today (UTC)", ui.money(analytics.totals(events).cost_usd))
    latest = events.sort(s.TS, descending=True).head(10).select(
        s.TS, s.PROJECT, s.JOB_ID, s.PROVIDER, s.MODEL, s.COST, s.SUCCESS).collect()
    ui.table(ui.named(latest), "latest-events")


st.subheader("Live")
live()

"""Explore: any measure by any dimensions and period, with the change against the period before,
and a click-through from a project to its runs to a run. The choice lives in the URL."""


import altair as alt
import polars as pl
import streamlit as st

import analytics
from analytics.measures import DIMENSIONS, MEASURES, PERIODS
from ingest import schema as s
from spendlake import ui, usecases
from analytics.words import in_words, named_for

lake, filters = ui.lake(), ui.filters()
params = st.query_params
st.title("Explore")

CHOICES = ["none", *PERIODS]  # periods a breakdown can be split by, or none
left, middle, right, last = st.columns([3, 1, 2, 1])
by = left.multiselect("Group by", DIMENSIONS, default=[d for d in params.get_all("by") if d in DIMENSIONS] or [s.PROVIDER],
                      key="explore-by")
period = middle.selectbox("Period", CHOICES, index=CHOICES.index(params.get("period", "none"))
                          if params.get("period") in CHOICES else 0, key="explore-period")
metric = right.selectbox("Measure", MEASURES, index=MEASURES.index(params.get("metric", s.COST))
                         if params.get("metric") in MEASURES else 0, key="explore-metric",
                         format_func=lambda m: in_words(named_for(m, filters.currency)))
asked = params.get("top", "10")
if not (asked.isdigit() and 1 <= int(asked) <= 100):
    st.warning(f"top={asked!r} in the link is not a number from 1 to 100: showing the top 10.")
    asked = "10"
top = last.number_input("Top", min_value=1, max_value=100, value=int(asked), key="explore-top")
st.query_params.update({"by": by, "period": period, "metric": metric, "top": str(top)})

frame = ui.days(lake, filters, start=filters.start, end=filters.end)
result = usecases.breakdown(lake, by, period=None if period == "none" else period, top=top, metric=metric,
                            start=filters.start, end=filters.end, projects=filters.projects,
                            providers=filters.providers, daily=ui.days(lake), currency=filters.currency)
if result.height == 0:
    st.info(f"Nothing to show from {filters.start} to {filters.end} for this choice: widen the dates, the projects "
            "or the providers in the sidebar.")
    st.stop()
label = " × ".join(by) or "all"
shown = ui.named(pl.DataFrame(schema={metric: pl.Float64})).columns[0]  # (money: named for the currency)
_, money_fmt = ui.chart_money()
measure = alt.Tooltip(f"{shown}:Q", title=in_words(shown), format=money_fmt if metric.endswith("_usd") else ",.0f")
if period != "none":  # one band per period (a week's bar as wide as a week), whatever the period
    color = alt.Color(f"{by[0]}:N", title=in_words(by[0])) if by else alt.value("steelblue")
    chart = alt.Chart(result.with_columns(pl.col("period_start").cast(pl.String))).mark_bar().encode(
        x=alt.X("period_start:O", title=f"{period} from", axis=alt.Axis(labelAngle=-45)),
        y=alt.Y(f"{shown}:Q", title=in_words(shown)), color=color,
        tooltip=[alt.Tooltip("period_start:O", title=f"{period.capitalize()} from"),
                 *[alt.Tooltip(f"{b}:N", title=in_words(b)) for b in by], measure,
                 alt.Tooltip("share:Q", title="Share", format=".1%")])
else:
    chart = alt.Chart(result.with_columns(pl.concat_str(by, separator=" · ").alias(label)) if by
                      else result.with_columns(pl.lit("all").alias(label))).mark_bar().encode(
        y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),  # long labels: shown whole on hover
        x=alt.X(f"{shown}:Q", title=in_words(shown)),
        tooltip=[alt.Tooltip(f"{label}:N", title=label), measure, alt.Tooltip("share:Q", title="Share", format=".1%")])
st.altair_chart(chart, width="stretch")
ui.table(result, "breakdown")
rows = [r for r in result.select(by).unique(maintain_order=True).iter_rows(named=True)
        if by and "other" not in r.values() and None not in r.values()]
cell = st.selectbox("See the events of a row", rows, index=None, key="explore-events", placeholder="choose a row",
                    format_func=lambda r: " · ".join(map(str, r.values())))
if cell:
    st.page_link("app_pages/events.py", label=f"Events of {' · '.join(map(str, cell.values()))}", icon="📜",
                 query_params={"where": [f"{k}:{v}" for k, v in cell.items()], "from": filters.start.isoformat(),
                               "to": filters.end.isoformat()})

with st.expander(f"Change against the {(filters.end - filters.start).days + 1} days before"):
    ui.table(usecases.compare(lake, by, start=filters.start, end=filters.end, metric=metric, projects=filters.projects,
                              providers=filters.providers, daily=ui.days(lake), currency=filters.currency), "change")

st.subheader("Drill down: project → runs → run")
projects = analytics.breakdown(frame, by=s.PROJECT, values=[s.COST])[s.PROJECT].drop_nulls().to_list()
project = st.selectbox("Project", projects, index=projects.index(params["project_drill"])
                       if params.get("project_drill") in projects else None, placeholder="choose a project",
                       key="explore-project")
if project:
    st.query_params["project_drill"] = project
    runs = usecases.top_runs(lake, start=filters.start, end=filters.end, projects=[project], top=50,
                             currency=filters.currency)
    ui.table(runs, "project-runs")
    job = st.selectbox("Run", runs[s.JOB_ID].to_list(), index=None, placeholder="choose a run", key="explore-run")
    if job:
        st.page_link("app_pages/jobs.py", label=f"Open run {job}", icon="🧾", query_params={"job": job})

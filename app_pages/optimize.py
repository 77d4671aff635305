"""Optimize: ways to spend less, each priced from your own usage, and a what-if for one project on another model."""

import polars as pl
import streamlit as st

from analytics.words import named_for
from ingest import schema as s
from spendlake import ui

lake, filters = ui.lake(), ui.filters()
st.title("Optimize")

window = (filters.end - filters.start).days + 1  # the sidebar's dates
found = ui.suggestions(lake, filters, filters.end, window)
saving, now = named_for("savings_monthly_usd", found.currency), named_for("current_monthly_usd", found.currency)
st.metric("Possible savings per month", ui.money(found.savings_monthly_usd),
          help=f"Learned from {filters.start} to {filters.end} and scaled to 30 days; the suggestions below the "
               "line are alternatives for the same calls, not added")
st.caption(f"From your usage {filters.start} to {filters.end} (the sidebar's dates)."
           + (f" A saving a month looks ahead, so it is at the rate of {filters.end}: {found.rates}."
              if found.currency != "USD" else ""))
for row in found.table.filter("headline").head(10).iter_rows(named=True):
    with st.container(border=True):
        st.markdown(f"**{row['kind'].replace('_', ' ')}** · {row['scope']} — save **{ui.money(row[saving])}"
                    f"/month** ({row['savings_pct']:.0%} of {ui.money(row[now])})")
        st.caption(f"Trade-off: {row['tradeoff']}  \nAction: {row['action']}")
others = found.table.filter(~pl.col("headline"))
if others.height:
    st.caption(f"{others.height} alternative(s) for calls a suggestion above already covers (not added up): "
               + "; ".join(f"{r['kind'].replace('_', ' ')} {r['scope']} instead of {r['instead_of']} "
                           f"({ui.money(r[saving])}/month)" for r in others.head(5).iter_rows(named=True)))
ui.table(found.table, "suggestions")

st.subheader("What if a project ran on another model?")
projects = ui.days(lake).select(s.PROJECT).unique().sort(s.PROJECT).collect()[s.PROJECT].drop_nulls().to_list()
left, right = st.columns(2)
project = left.selectbox("Project", projects, index=None, key="opt-project")
target = right.text_input("Model (provider/model)", value="openai/gpt-4o-mini", key="opt-model")
if project and "/" in target:
    provider, model = target.split("/", 1)
    found = ui.what_if(lake, project, provider, model, filters.end, window)
    if found.moved_usd is None:
        st.warning(f"No price for {target}: check the name on the Prices page.")
    else:
        cols = st.columns(3)
        cols[0].metric(f"LLM cost, last {window} days", ui.money(found.current_usd))
        cols[1].metric(f"On {target}", ui.money(found.moved_usd))
        cols[2].metric("Difference", ui.money(found.difference_usd),
                       delta=None if found.change is None else f"{found.change:+.0%}", delta_color="inverse")

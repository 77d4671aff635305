"""Optimize: ways to spend less, each priced from your own usage, and a what-if for one project on another model."""

import streamlit as st

from ingest import schema as s
from spendlake import ui

lake, filters, today = ui.lake(), ui.filters(), ui.today()
st.title("Optimize")

window = st.slider("Learn from the last … days", 7, 90, 30, key="opt-window")
found = ui.suggestions(lake, filters, today, window)
st.metric("Possible savings per month", ui.money(found.savings_monthly_usd),
          help="Sums overlapping suggestions: read it as an upper bound.")
for row in found.table.head(10).iter_rows(named=True):
    with st.container(border=True):
        st.markdown(f"**{row['kind'].replace('_', ' ')}** · {row['scope']} — save **{ui.money(row['savings_monthly_usd'])}"
                    f"/month** ({row['savings_pct']:.0%} of {ui.money(row['current_monthly_usd'])})")
        st.caption(f"Trade-off: {row['tradeoff']}  \nAction: {row['action']}")
ui.table(found.table, "suggestions")

st.subheader("What if a project ran on another model?")
projects = ui.days(lake).select(s.PROJECT).unique().sort(s.PROJECT).collect()[s.PROJECT].drop_nulls().to_list()
left, right = st.columns(2)
project = left.selectbox("Project", projects, index=None, key="opt-project")
target = right.text_input("Model (provider/model)", value="openai/gpt-4o-mini", key="opt-model")
if project and "/" in target:
    provider, model = target.split("/", 1)
    found = ui.what_if(lake, project, provider, model, today, window)
    if found.moved_usd is None:
        st.warning(f"No price for {target}: check the name on the Prices page.")
    else:
        cols = st.columns(3)
        cols[0].metric(f"LLM cost, last {window} days", ui.money(found.current_usd))
        cols[1].metric(f"On {target}", ui.money(found.moved_usd))
        cols[2].metric("Difference", ui.money(found.difference_usd),
                       delta=None if found.change is None else f"{found.change:+.0%}", delta_color="inverse")

"""The elements Overview draws, with a few rows each and no lake: what Streamlit's own frontend
costs for a page of this kind (bench/app_pages.py measures it beside the empty page and the app)."""

import datetime as dt

import altair as alt
import polars as pl
import streamlit as st

st.set_page_config(page_title="Spendlake", layout="wide")


def page() -> None:
    st.title("Elements page")
    cols = st.columns(4)
    for i, col in enumerate(cols):
        col.metric(f"Figure {i}", f"${i * 100:,.2f}", help="a figure")
    st.download_button("Download", "a,b\n1,2", "a.csv")
    rows = pl.DataFrame({"date": [dt.date(2026, 1, d) for d in range(1, 8)], "usd": [float(d) for d in range(7)],
                         "kind": ["a", "b"] * 3 + ["a"]})
    st.altair_chart(alt.Chart(rows).mark_area().encode(x="date:T", y="usd:Q", color="kind:N"), width="stretch")
    st.altair_chart(alt.Chart(rows).mark_bar().encode(x="date:T", y="usd:Q", color="kind:N"), width="stretch")
    left, right = st.columns(2)
    left.dataframe(rows, hide_index=True)
    right.dataframe(rows, hide_index=True)
    st.dataframe(rows, hide_index=True)


st.sidebar.header("Filters")
st.sidebar.selectbox("Period", ["custom", "last 30 days"])
st.sidebar.date_input("Dates (UTC)", value=(dt.date(2026, 1, 1), dt.date(2026, 1, 31)))
st.sidebar.multiselect("Projects", ["a", "b"])
st.sidebar.multiselect("Providers", ["a", "b"])
st.navigation([st.Page(page, title="Elements", default=True), st.Page(lambda: st.title("Other"), title="Other",
                                                                      url_path="other")]).run()

"""Spendlake in the browser (`streamlit run app.py`). For now: the lake's totals; the full app is on its way."""

from __future__ import annotations

import streamlit as st

import analytics
from ingest.demo import write_demo
from ingest.errors import SpendlakeError
from ingest.lake import Lake
from spendlake.config import lake_path

st.set_page_config(page_title="Spendlake", page_icon="💸", layout="wide")
lake = Lake(lake_path())


@st.cache_data(show_spinner=False)
def lake_totals(root: str, version: tuple) -> dict:
    return analytics.totals(analytics.scan(root)).to_dict()


st.title("Spendlake")
try:
    totals = lake_totals(str(lake.root), lake.version())
except SpendlakeError as e:
    st.error(str(e))
    st.stop()

if totals["events"] == 0:
    st.info(f"The lake at `{lake.root}` is empty.")
    if st.button("Load demo data"):
        with st.spinner("Writing 120 days of demo events…"):
            write_demo(lake)
        st.rerun()
    st.stop()

left, middle, right = st.columns(3)
left.metric("Total spend", f"${totals['cost_usd']:,.2f}")
middle.metric("Events", f"{totals['events']:,}")
right.metric("Unpriced events", f"{totals['unpriced_events']:,}")
st.caption(f"From {totals['first'][:10]} to {totals['last'][:10]} (UTC) · lake `{lake.root}`")

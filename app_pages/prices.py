"""Prices: search the price book, see which price priced an event, set reported against computed costs, add an
override, list unpriced models, reprice."""

import datetime as dt

import polars as pl
import streamlit as st

from ingest import schema as s
from ingest.errors import PricingError
from ingest.fx import FxError
from ingest.price_rules import UNIT_RATES
from spendlake import ui, usecases

lake, filters = ui.lake(), ui.filters()
st.title("Prices")
book = ui.book(lake)

search = st.text_input("Search provider / model / unit", placeholder="e.g. gpt-4o or elevenlabs", key="price-search")
rules = book.rules(search or None)
st.caption(f"{rules.height:,} rates" + (" (first 500 shown)" if rules.height > 500 else "")
           + "; overrides win over the catalog, which wins over genai-prices, from their start date."
           + (f" Prices are in US dollars, as providers list them (not in {filters.currency})."
              if filters.currency != "USD" else ""))
ui.table(rules.head(500), "price-rules")

st.subheader("Which price priced an event?")
event_id = st.text_input("Event id", key="price-event")
if event_id:
    found = ui.events(lake, filters).filter(pl.col(s.EVENT_ID) == event_id).select(
        s.EVENT_ID, s.TS, s.PROVIDER, s.MODEL, s.SERVICE, s.COST, s.COMPUTED_COST, s.COST_SOURCE, s.PRICE_VERSION).collect()
    if found.height:
        ui.table(found, "event-price")
    else:
        st.warning(f"No event {event_id!r} between {filters.start} and {filters.end}: widen the dates in the sidebar.")

st.subheader("Models without a price")
unpriced = ui.unpriced_models(lake)
if unpriced.height:
    ui.table(unpriced, "unpriced-models")
else:
    st.caption("Every event has a price.")

st.subheader("Reported against computed")
if st.toggle("Compare with what providers billed and what sources priced themselves", key="price-reconcile"):
    gaps = usecases.reconcile(lake, start=filters.start, end=filters.end, projects=filters.projects,
                              providers=filters.providers)
    st.caption("Per provider and day: `billed_usd` from imported cost reports, `event_reported_usd` from sources "
               "that priced their own calls, each against the price book; a gap is a wrong price or a missed event. "
               "In dollars: a report billed in another currency keeps its amount beside them.")
    ui.table(gaps, "reconcile")

st.subheader("Add an override (a negotiated rate)")
with st.form("override"):
    left, middle, right = st.columns(3)
    provider = left.text_input("Provider", key="ov-provider", value=unpriced[s.PROVIDER][0] if unpriced.height else "")
    model = middle.text_input("Model", key="ov-model", value=unpriced[s.MODEL][0] if unpriced.height else "")
    unit = right.selectbox("Unit", list(UNIT_RATES), key="ov-unit")
    price = left.text_input("Price (USD)", key="ov-price")
    per = middle.text_input("Per units", value="1000000", key="ov-per")
    start = right.date_input("From", value=dt.date(2000, 1, 1), min_value=dt.date(2000, 1, 1))
    if st.form_submit_button("Add override", type="primary"):
        try:
            rule = usecases.add_override(lake, provider, model, unit, price, per=per, start=start, who=ui.who(),
                                         projects=ui.allowed())
        except PricingError as e:
            st.error(f"Override not added: {e}")
            st.stop()
        st.success(f"Override added: {rule.provider}/{rule.model} {rule.unit} = ${rule.price} per {rule.per} "
                   f"from {rule.effective_from}. Reprice to apply it to stored events.")

st.subheader("Exchange rates")
st.caption("Money in another currency takes each day's rate: the European Central Bank's reference rates (shipped "
           "with Spendlake, offline), and your own, which win from their first date on. Units per US dollar.")
if "fx-imported" in st.session_state:
    st.success(st.session_state.pop("fx-imported"))
ui.table(usecases.exchange_rates(lake), "exchange-rates")
ours = st.file_uploader("Add your own rates (CSV: date,currency,rate)", type=["csv"], key="fx-file",
                        disabled=ui.allowed() is not None, help="They reach every project: the lake's admins add them"
                        if ui.allowed() is not None else None)
if ours is not None and st.button("Import these rates", key="fx-import"):
    try:
        count = usecases.import_rates(lake, ours.getvalue(), ours.name, who=ui.who(), projects=ui.allowed())
    except FxError as e:  # a bad line is named; nothing of the file is kept
        st.error(f"Rates not imported: {e}")
    else:
        st.session_state["fx-imported"] = (f"Kept {count:,} rate(s) from {ours.name}: every figure in another "
                                           "currency follows them.")
        st.rerun()

if st.button("Reprice stored events"):
    with st.spinner("Repricing…"):
        report = usecases.reprice(lake, ui.book(lake), who=ui.who(), projects=ui.allowed())
    st.success(f"Repriced {report.partitions} partition(s).")
    ui.table(report.changes, "reprice-changes")

"""Estimate: price a run before it starts (low / expected / high), compare models, check it against budgets,
and record it against a job id so the run's report shows estimate vs actual."""

import dataclasses

import polars as pl
import streamlit as st

import analytics
from analytics.estimate import Step
from ingest import schema as s
from ingest.errors import SpendlakeError
from spendlake import ui, usecases

lake, today = ui.lake(), ui.today()
st.title("Estimate a run")

COLUMNS = ["provider", "model", "service", "count", "input_tokens", "output_tokens", "characters", "images",
           "compute_seconds", "operation", "stage"]
st.caption("Start from the video-pipeline template, then edit the steps: add or remove rows, change models and sizes.")
left, middle, right = st.columns(3)
stories = left.number_input("Stories", min_value=0, value=3, key="est-stories")
images = middle.number_input("Images", min_value=0, value=6, key="est-images")
dialogue = right.number_input("Dialogue characters", min_value=0, value=2600, step=100, key="est-dialogue")
template = pl.DataFrame([{k: v for k, v in dataclasses.asdict(step).items() if k in COLUMNS}
                         for step in analytics.video_pipeline(stories=stories, images=images, dialogue_chars=dialogue)
                         ]).select(COLUMNS)
# The plan as edited so far is kept: a change of the counts above is written into it (the template's
# steps found by their operation), so a model changed or a row added stays. A new editor then starts
# from it (an editor given other data forgets its edits).
state = st.session_state
if state.get("est-counts") != (stories, images, dialogue):
    plan_so_far = state.get("est-current")
    driven = pl.DataFrame({"operation": ["story_generation", "images_generation", "voice_generation"],
                           "count": [stories, images, None], "characters": [None, None, dialogue]},
                          schema_overrides={"count": pl.Int64, "characters": pl.Int64})
    state["est-base"] = template if plan_so_far is None else plan_so_far.update(  # (nulls change nothing)
        driven.cast({c: plan_so_far.schema[c] for c in ("count", "characters")}), on="operation", how="left")
    state["est-counts"], state["est-version"] = (stories, images, dialogue), state.get("est-version", 0) + 1
edited = pl.DataFrame(st.data_editor(state["est-base"], num_rows="dynamic", hide_index=True, width="stretch",
                                     key=f"est-plan-{state['est-version']}"))
state["est-current"] = edited

rows = [r for r in edited.iter_rows(named=True) if r.get("provider") and r.get("model")]
try:
    plan = [Step(**{k: v for k, v in r.items() if v is not None}) for r in rows]  # empty cells: the defaults
except (TypeError, SpendlakeError) as e:  # a column Step does not take, or a value it refuses
    st.error(f"A step cannot be priced as written: {e}")
    st.stop()

models = ui.llm_models(lake)
compare = st.multiselect("Compare the LLM steps on", models, key="est-compare",
                         default=[m for m in st.query_params.get_all("compare") if m in models],
                         placeholder="any priced model: yours first", help="The plan as it is is the first row")
st.query_params["compare"] = compare  # in the URL, like every choice that can be shared
result, compared = ui.estimate(lake, plan, today, [tuple(m.split("/", 1)) for m in compare])

cols = st.columns(3)
for col, label, value in zip(cols, ("Low", "Expected", "High"), (result.low_usd, result.expected_usd, result.high_usd)):
    col.metric(label, ui.money(ui.ahead_amount(lake, value, today)))
if ui.currency() != "USD":
    st.caption(f"Priced in dollars; an estimate looks ahead, so it is shown at today's rate: {ui.ahead_rates(lake, today)}.")
if result.unpriced_steps:
    st.warning(f"{result.unpriced_steps} step(s) have no price: add one on the Prices page.")
ui.table(ui.ahead(lake, result.steps, today), "estimate-steps")
if compared is not None:
    st.subheader("Models side by side")
    ui.table(ui.ahead(lake, compared, today), "models-compared")

st.subheader("Budget check")
projects = ui.days(lake).select(s.PROJECT).unique().sort(s.PROJECT).collect()[s.PROJECT].drop_nulls().to_list()
project = st.selectbox("Project of the run", projects, index=None, placeholder="no project", key="est-project")
attribution = {s.PROJECT: project} if project else {}
if result.high_usd is not None:
    decision = usecases.plan_decision(lake, result.high_usd, attribution, today=today, daily=ui.days(lake),
                                      projects=ui.allowed())
    show = {"allow": st.success, "warn": st.warning, "confirm": st.warning, "block": st.error}[decision.action]
    show(f"**{decision.action}** at the high estimate {ui.money(ui.ahead_amount(lake, result.high_usd, today))} — "
         f"{decision.reason}")

job = st.text_input("Record this estimate against job id", key="est-job")
if st.button("Record estimate", disabled=not job or result.expected_usd is None):
    found = usecases.check_plan(lake, plan, attribution=attribution, job_id=job, book=ui.book(lake),
                                projects=ui.allowed())
    st.success(f"Estimate {ui.money(ui.ahead_amount(lake, found.estimate.expected_usd, today))} recorded for job {job}"
               + (f"; alert raised: {found.alert.message}" if found.alert else ""))

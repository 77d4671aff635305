"""Jobs: find a run, then its report — stages, providers, models, tokens, latency, failures, estimate vs actual."""

import altair as alt
import polars as pl
import streamlit as st

from ingest import schema as s
from spendlake import ui

lake, filters = ui.lake(), ui.filters()
st.title("Jobs")

search = st.text_input("Search runs by id", value=st.query_params.get("q", ""), key="jobs-search")
found = ui.top_runs(lake, filters, search, 200)
st.caption(f"The {found.height} costliest runs from {filters.start} to {filters.end}"
           + (f" matching “{search}”" if search else ""))
clicked = ui.table(found, "runs", on_select="rerun", selection_mode="single-row", key="jobs-table")
picked = clicked.selection.rows if clicked else []  # a click on a row opens its report

ids = found[s.JOB_ID].to_list()
# the run a row click names, when the click is new (a choice made in the box below stands till the next click);
# else the link's run: the box keeps its own choice once made, whatever its index says
clicked_run = found[s.JOB_ID][picked[0]] if picked else None
if clicked_run != st.session_state.get("jobs-clicked"):
    st.session_state["jobs-clicked"] = clicked_run
    if clicked_run:
        st.session_state["jobs-run"] = clicked_run
wanted = st.session_state.get("jobs-run") or st.query_params.get("job")
if wanted and wanted not in ids:
    ids = [wanted, *ids]
job = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else None, placeholder="choose a run",
                   key="jobs-run")
if not job:
    st.stop()
st.query_params.update({"job": job, "q": search})
report = ui.run_report(lake, job)
if report is None:
    st.error(f"No events for run {job!r}.")
    st.stop()

st.header(f"Run {job}")
st.page_link("app_pages/events.py", label="This run's events: ids, tokens × rates, failures", icon="📜",
             query_params={"job": job})
cols = st.columns(5)
cols[0].metric("Cost", ui.money(report.cost_usd))
cols[1].metric("Calls", f"{report.calls:,}", delta=f"{report.failed_calls:,} failed" if report.failed_calls else None,
               delta_color="off", delta_arrow="off")  # a count of failures, not a rise
cols[2].metric("Failed + retried", ui.money(report.waste_usd),
               help=f"failed calls {ui.money(report.failed_cost_usd)}, retries {ui.money(report.retry_cost_usd)}")
cols[3].metric("Latency p50 / p95", f"{report.latency_p50_ms or 0:,.0f} / {report.latency_p95_ms or 0:,.0f} ms")
cols[4].metric("Estimate", ui.money(report.estimate_usd),
               delta=None if report.estimate_error_pct is None else f"{report.estimate_error_pct:+.0%} actual vs estimate",
               delta_color="off")
st.caption(f"{report.started:%Y-%m-%d %H:%M:%S} → {report.finished:%Y-%m-%d %H:%M:%S} (UTC) · {report.tokens:,} tokens"
           + (" · still going" + (f": projected {ui.money(report.projected_usd)} (its estimate)"
                                  if report.projected_usd is not None else "") if report.still_going else "")
           + (f" · {report.rates}" if report.currency != "USD" else ""))
over = report.budgets.filter(pl.col("state") != "ok") if report.budgets.height else report.budgets
if over.height:
    st.warning("Budgets covering this run past a threshold: " + "; ".join(
        f"{r['name']} {r['pct']:.0%} of {ui.amount_in(r['limit'], r['currency'])} ({r['state']})" for r in over.iter_rows(named=True)))

unit, money_fmt = ui.chart_money()
st.altair_chart(alt.Chart(report.by_stage.with_row_index("order")).mark_bar().encode(
    y=alt.Y(f"{s.STAGE}:N", sort=alt.SortField("order"), title=None), x=alt.X(f"{s.COST}:Q", title=unit),
    tooltip=[alt.Tooltip(f"{s.STAGE}:N", title="Stage"), alt.Tooltip(f"{s.COST}:Q", title=f"Cost ({unit})",
                                                                     format=money_fmt.replace("2f", "4f")),
             alt.Tooltip("calls:Q", title="Calls"), alt.Tooltip("latency_p95_ms:Q", title="Latency p95 (ms)")]),
    width="stretch")
for name, frame in (("by stage", report.by_stage), ("by service (LLM against compute, TTS, images)", report.by_service),
                    ("by provider", report.by_provider), ("by model", report.by_model), ("failures", report.failures),
                    ("budgets covering it", report.budgets)):
    st.subheader(name.capitalize())
    ui.table(ui.named(frame), f"run-{name.split(' (')[0].replace(' ', '-')}")
st.subheader("Whole report")
ui.report_downloads(report, f"run-{job}")

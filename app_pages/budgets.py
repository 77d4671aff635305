"""Budgets: create, edit and delete budgets; their status; the alert history; run the check now."""

import polars as pl
import streamlit as st

from analytics.budgets import ENFORCEMENTS, BUDGET_PERIODS, SCOPES, Budget, BudgetError
from spendlake import ui, usecases

lake, today, seen = ui.lake(), ui.today(), ui.allowed()
st.title("Budgets")

budgets = usecases.budgets(lake, projects=seen)
status = ui.budget_status(lake, today)
if status.height:
    ui.budget_bars(status)
    ui.table(status, "budget-status")
else:
    st.info("No budgets yet: add one below.")

st.subheader("Add or edit a budget")
names = [b.name for b in budgets]
editing = st.selectbox("Edit", names, index=None, placeholder="a new budget", key="budget-edit")
current = next((b for b in budgets if b.name == editing), Budget("new", 100.0))
scope = st.selectbox("Scope: what the budget covers", SCOPES, index=SCOPES.index(current.scope), key="b-scope")
with st.form("budget-form"):
    left, right = st.columns(2)
    name = left.text_input("Name", value=editing or "", key="b-name")
    limit = right.number_input("Limit per period (in its currency)", value=float(current.limit_usd), step=10.0,
                               key="b-limit")
    period = left.selectbox("Period", BUDGET_PERIODS, index=BUDGET_PERIODS.index(current.period), key="b-period")
    codes = ui.currencies(lake)
    currency = right.selectbox("Currency (spend converted day by day at each day's rate)", codes,
                               index=codes.index(current.currency), key="b-currency")
    value = None
    if scope != "overall":  # picked from what the lake has; a new one may be typed (saved with a warning)
        known = ui.known_values(lake, scope)
        picked = right.selectbox(f"Which {scope}" + (" (key=value)" if scope == "tag" else ""), known,
                                 index=known.index(current.value) if current.value in known else None,
                                 placeholder=f"one of the {len(known)} in the lake", key="b-value")
        typed = right.text_input(f"…or a {scope} not in the lake yet",
                                 value=current.value if current.value and current.value not in known else "",
                                 key="b-new-value")
        value = typed.strip() or picked
    thresholds = left.text_input("Alert thresholds (80%, 100% · 0.5, 0.8, 1 · 50, 80, 100)",
                                 value=", ".join(f"{t * 100:g}%" for t in current.thresholds) if editing
                                 else usecases.DEFAULT_THRESHOLDS, key="b-thresholds")
    enforcement = right.selectbox("Enforcement", ENFORCEMENTS, index=ENFORCEMENTS.index(current.enforcement),
                                  key="b-enforcement")
    dates = left.date_input("Custom period (from, to)", value=(current.start, current.end) if current.start else [],
                            key="b-dates")
    emails = right.text_input("Alert e-mails (comma-separated; empty: the lake's default recipients)",
                              value=", ".join(current.alert_emails), key="b-emails")
    if st.form_submit_button("Save budget…", type="primary"):
        start, end = (dates[0], dates[-1]) if len(dates) else (None, None)
        try:
            st.session_state["budget-pending"] = (editing, Budget(
                name, limit, period, scope, value or None, usecases.parse_thresholds(thresholds), enforcement, start,
                end, tuple(e.strip() for e in emails.split(",") if e.strip()), currency))
        except BudgetError as e:
            st.error(str(e))
pending = st.session_state.get("budget-pending")
if pending:  # a budget can stop calls: say what it will do, and save only once that is confirmed
    replacing, new = pending
    where = "everything" if new.scope == "overall" else f"{new.scope} {new.value!r}"
    st.info(f"Save budget **{new.name}**: {ui.amount_in(new.limit_usd, new.currency)} {new.period} for {where}, "
            f"{new.enforcement.replace('_', ' ')}, alerts at {', '.join(f'{t:.0%}' for t in new.thresholds)}"
            + (f", replacing {replacing!r}" if replacing and replacing != new.name else "") + "?")
    confirm, cancel = st.columns(2)
    if confirm.button("Confirm and save", type="primary", key="budget-confirm"):
        warning = usecases.save_budget(lake, new, replacing=replacing, who=ui.who(), projects=seen)
        del st.session_state["budget-pending"]
        st.session_state["budget-saved"] = (new.name, warning)
        st.rerun()
    if cancel.button("Cancel", key="budget-cancel"):
        del st.session_state["budget-pending"]
        st.rerun()
if "budget-saved" in st.session_state:
    saved, warning = st.session_state.pop("budget-saved")
    st.success(f"Budget {saved!r} saved.")
    if warning:
        st.warning(warning)

if names:
    st.subheader("Delete a budget")
    doomed = st.selectbox("Budget to delete", names, index=None, key="budget-delete")
    if st.button("Delete", disabled=doomed is None):
        usecases.delete_budget(lake, doomed, who=ui.who(), projects=seen)
        st.rerun()

st.subheader("Alerts")
if st.button("Run the check now", disabled=seen is not None, help="It covers every project: an admin's"
             if seen is not None else None):
    result = usecases.check(lake, today=today, projects=seen)
    st.session_state["checked"] = (len(result.new), result.exit_code)
if "checked" in st.session_state:
    new, code = st.session_state["checked"]
    st.caption(f"Last check: {new} new alert(s); state {['ok', 'warning', 'exceeded'][code]}.")
board = usecases.alert_board(lake, today=today, projects=seen)
if board.height:
    open_ = board.filter(pl.col("state") == "active")
    if open_.height:
        left, right = st.columns([3, 1])
        chosen = left.selectbox("Acknowledge an active alert", open_["id"].to_list(), index=None, key="alert-ack",
                                format_func=lambda i: open_.filter(pl.col("id") == i)["message"][0])
        if right.button("Acknowledge", disabled=chosen is None):
            usecases.acknowledge(lake, chosen, who=ui.who(), projects=seen)
            st.rerun()
    ui.table(board, "alerts")  # active first, then acknowledged, then resolved
else:
    st.caption("No alerts recorded yet.")

st.subheader("Audit trail")
trail = usecases.audit_log(lake) if seen is None else None  # (the use case refuses it to a limited person)
if trail is None:
    st.caption("The audit trail covers every project: the lake's admins see it.")
elif trail.height:
    st.caption("Every change to budgets, prices, exchange rates, keys, retention and reprice, every acknowledged alert and every "
               "call confirmed past a limit: who, when, before and after. Newest first; nothing here can be edited.")
    ui.table(trail, "audit")
else:
    st.caption("Nothing changed yet.")

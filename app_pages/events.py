"""Events: the latest events, a run's (`?job=`) or a breakdown row's (`?where=model:gpt-4o`): each with its id,
quantities × rates = cost, the price version in full and, for a failed call, why it failed."""

import streamlit as st

from spendlake import ui, usecases

lake, filters = ui.lake(), ui.filters()
params = st.query_params
st.title("Events")

job = params.get("job") or None
where = dict(item.split(":", 1) for item in params.get_all("where") if ":" in item)
limit = st.number_input("How many, newest first", min_value=10, max_value=2000, value=200, step=50, key="events-limit")
found = usecases.events(lake, start=filters.start, end=filters.end, projects=filters.projects,
                        providers=filters.providers, job_id=job, where=where, limit=int(limit), book=ui.book(lake),
                        currency=filters.currency)
scope = (f"run {job}" if job else f"{filters.start} to {filters.end} (UTC)") + "".join(
    f", {name} = {value}" for name, value in where.items())
if found.height == 0:
    st.info(f"No events for {scope}.")
    st.stop()
st.caption(f"The {found.height:,} latest events of {scope}. “How priced” is the book's arithmetic; a cost a source "
           "reported itself is kept, with the book's beside it."
           + (f" Prices are in dollars; each cost in {filters.currency} is at its day's rate." if filters.currency != "USD"
              else ""))
ui.table(found, "events")

"""Spendlake in the browser: `streamlit run app.py` (or `spendlake app`, or `./dev app` on demo data).

This file holds what every page shares: sign-in when configured, the empty-lake offer of
demo data, the sidebar filters, and errors shown as messages. Pages live in `app_pages/`: a folder
named `pages/` would switch on Streamlit's older automatic pages, which run a page without this
file when a session starts on a deep link.
"""

from __future__ import annotations

import streamlit as st

from ingest.demo import write_demo
from ingest.errors import SpendlakeError
from spendlake import ui

st.set_page_config(page_title="Spendlake", page_icon="💸", layout="wide")


def signed_in() -> bool:
    """Streamlit's OIDC sign-in (`st.login`) when `[auth]` is in secrets.toml; open otherwise."""
    try:
        configured = "auth" in st.secrets
    except (FileNotFoundError, KeyError):  # no secrets file: sign-in is off
        configured = False
    if not configured:
        return True
    if st.user.get("is_logged_in", False):
        st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.sidebar.button("Sign out", on_click=st.logout)
        return True
    st.title("Spendlake")
    st.button("Sign in", on_click=st.login, type="primary")
    return False


PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon="📊", default=True),
    st.Page("app_pages/explore.py", title="Explore", icon="🔎"),
    st.Page("app_pages/jobs.py", title="Jobs", icon="🧾"),
    st.Page("app_pages/events.py", title="Events", icon="📜"),
    st.Page("app_pages/estimate.py", title="Estimate", icon="🧮"),
    st.Page("app_pages/budgets.py", title="Budgets", icon="🎯"),
    st.Page("app_pages/optimize.py", title="Optimize", icon="💡"),
    st.Page("app_pages/prices.py", title="Prices", icon="🏷️"),
    st.Page("app_pages/import_files.py", title="Import", icon="📥", url_path="import"),
]

if not signed_in():
    st.stop()
page = st.navigation(PAGES)
lake = ui.lake()
try:
    if ui.allowed() == ():
        st.title("Spendlake")
        st.info("You are not a member of any workspace of this lake yet: ask an admin to add you "
                "(spendlake workspace set NAME --project … --member you@example.com).")
        st.stop()
    if not lake.partitions() and page.url_path != "import":
        st.title("Spendlake")
        st.info(f"The lake at `{lake.root}` is empty. Load 120 days of demo events to look around, "
                "or import your own usage on the Import page.")
        if st.button("Load demo data", type="primary"):
            with st.spinner("Writing 120 days of demo events…"):
                write_demo(lake)
            st.rerun()
        st.stop()
    ui.read_version(lake)
    st.session_state["filters"] = ui.sidebar(lake)
    page.run()
except SpendlakeError as e:
    st.error(str(e))
except Exception as e:  # noqa: BLE001 - a person sees what went wrong, not a traceback
    st.error(f"Unexpected error: {type(e).__name__}: {e}")

"""An empty Streamlit page: what Streamlit alone costs to open (bench/app_pages.py compares each page with it)."""

import streamlit as st

st.set_page_config(page_title="Spendlake", layout="wide")
st.title("Empty page")

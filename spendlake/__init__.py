"""Spendlake's command line and configuration (the library lives in `ingest` and `analytics`)."""

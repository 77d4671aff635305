"""Events out: pure Polars functions over a LazyFrame of events (`import analytics`).

Examples:
    >>> import tempfile, analytics
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> lake = tempfile.mkdtemp()
    >>> _ = write_demo(Lake(lake), days=3)
    >>> totals(scan(lake)).events > 0
    True
    >>> round(breakdown(daily(lake), by="provider")["share"].sum(), 9)
    1.0
"""

from analytics import measures
from analytics.alerts import Alert, alert_states, anomaly_alerts, budget_alerts, estimate_alert
from analytics.anomalies import anomalies
from analytics.breakdown import breakdown, compare
from analytics.budgets import Budget, BudgetError, Decision, can_execute
from analytics.budgets import status as budget_status
from analytics.export import focus, to_csv, to_json
from analytics.estimate import Estimate, Step, approx_tokens, compare_models, estimate, video_pipeline
from analytics.forecast import Forecast, forecast, forecast_by
from analytics.optimize import suggestions
from analytics.reconcile import reconcile
from analytics.reports import RunReport, MonthlyReport, TokenStats, run_report, monthly_report, token_stats, top_runs
from analytics.rollup import daily, daily_jobs, run_days, runs
from analytics.scan import scan
from analytics.summary import Totals, totals, unpriced_models

__all__ = ["scan", "daily", "daily_jobs", "runs", "run_days", "breakdown", "compare", "totals", "Totals", "unpriced_models", "measures",
           "to_csv", "to_json", "run_report", "RunReport", "top_runs", "monthly_report", "MonthlyReport",
           "token_stats", "TokenStats", "forecast", "forecast_by", "Forecast", "Budget", "BudgetError", "Decision",
           "can_execute", "budget_status", "Alert", "alert_states", "budget_alerts", "estimate_alert", "anomalies", "anomaly_alerts", "suggestions", "Estimate", "Step", "estimate", "compare_models",
           "video_pipeline", "approx_tokens", "focus"]

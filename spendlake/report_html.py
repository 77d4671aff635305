"""The monthly report as one self-contained HTML file people can forward: headline figures, the
month's cumulative spend with the forecast's 80 % band and the budget line (an inline SVG drawn by
Vega-Lite's own renderer, vl-convert), top projects, models and runs, the budgets' status and the
suggestions. No script, no link to fetch: it reads the same without Spendlake, and prints to PDF.
Every name from the lake is escaped (Jinja2's autoescape)."""

from __future__ import annotations

import altair as alt
import jinja2
import polars as pl
import vl_convert

import analytics
from ingest import schema as s
from analytics.words import amount_in, cell, in_words, named_for

TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;color:#1f2933;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
.figures{display:grid;grid-template-columns:repeat(4,1fr);gap:.8rem;margin:1.2rem 0}
.figure{border:1px solid #d9e2ec;border-radius:.4rem;padding:.6rem .8rem}
.figure .label{font-size:.8rem;color:#52606d} .figure .value{font-size:1.35rem;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1.2rem;font-size:.9rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e4e7eb} td.n,th.n{text-align:right}
h2{margin-top:1.6rem;font-size:1.15rem} .chart svg{max-width:100%;height:auto}
@media print{body{margin:0} .figure{break-inside:avoid} table{break-inside:auto}}
</style></head><body>
<h1>{{ title }}</h1>
<p class="sub">{{ subtitle }}</p>
<div class="figures">
{% for label, value, key in figures %}<div class="figure"><div class="label">{{ label }}</div><div class="value" data-figure="{{ key }}">{{ value }}</div></div>
{% endfor %}</div>
{% if chart %}<h2>Spend through the month</h2><div class="chart">{{ chart | safe }}</div>{% endif %}
{% for heading, table in tables %}<h2>{{ heading }}</h2>
{% if table.rows %}<table><thead><tr>{% for c, numeric in table.columns %}<th{% if numeric %} class="n"{% endif %}>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in table.rows %}<tr>{% for cell, numeric in row %}<td{% if numeric %} class="n"{% endif %}>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% else %}<p>Nothing to show.</p>{% endif %}{% endfor %}
<p class="sub">Made by Spendlake from the lake's events; amounts: {{ rates }}; days in UTC.</p>
</body></html>
""")


def monthly_html(report: analytics.MonthlyReport, *, forecast: analytics.Forecast | None,
                 budgets: pl.DataFrame, limit_usd: float | None, suggestions: pl.DataFrame | None) -> str:
    """The report (with the month's forecast when it is under way, the budgets' status, the
    monthly limit drawn on the chart and the headline suggestions) as one HTML document. Money is in
    the report's currency (the forecast, the limit and the suggestions in it too); each budget in its own."""
    code = report.currency

    def money(amount: float | None) -> str:
        return amount_in(amount, code)

    change = "—" if report.change_pct is None else f"{report.change_pct:+.1%}"
    figures = [("Spent" + (" to date" if report.partial else ""), money(report.cost_usd), "cost_usd"),
               ("Against the month before", change, "change_pct"),
               ("Calls", f"{report.calls:,}", "calls"),
               ("Runs · cost per run", f"{report.runs:,} · {money(report.cost_per_run_usd)}", "runs")]
    if forecast is not None:
        figures.append(("Expected month total", money(forecast.expected_total_usd), "forecast_usd"))
        figures.append(("80 % band", f"{money(forecast.total_low80_usd)} – {money(forecast.total_high80_usd)}", "band"))
    figures.append(("Failed calls cost", money(report.failed_cost_usd), "failed_cost_usd"))
    figures.append(("Events without a price", f"{report.unpriced_events:,}", "unpriced_events"))
    brief = [s.COST, "calls", "failed_calls", "tokens", "share"]
    own = [pl.struct(c, "currency").map_elements(lambda r, c=c: amount_in(r[c], r["currency"]), return_dtype=pl.String)
           .alias(c) for c in ("limit", "spent", "forecast")]  # each budget in its own currency
    tables = [("Top projects", _table(report.by_project.head(10).select(s.PROJECT, *brief), s.PROJECT, code)),
              ("Top models", _table(report.by_model.head(10).select(s.MODEL, *brief), s.MODEL, code)),
              ("Costliest runs", _table(report.top_runs, s.JOB_ID, code)),
              ("Budgets", _table(budgets.with_columns(own).select("name", "period", "limit", "spent", "pct", "state",
                                                                  "forecast") if budgets.height else budgets, "name"))]
    if suggestions is not None:
        tables.append(("Ways to spend less", _table(suggestions.select(
            "kind", "scope", named_for("savings_monthly_usd", code), "action"), "kind")))
    subtitle = (f"{report.month}-01 to {report.through}" + (" (month to date, compared with the same days of the "
                f"month before: {report.previous_from} to {report.previous_to})" if report.partial else ""))
    return TEMPLATE.render(title=f"Spendlake · {report.month}", subtitle=subtitle, figures=figures, tables=tables,
                           chart=_chart(report, forecast, limit_usd, money), rates=report.rates)


def _chart(report: analytics.MonthlyReport, forecast: analytics.Forecast | None, limit: float | None,
           money) -> str:
    """The cumulative spend (and, in a month under way, the expected rest with its 80 % band and the
    budget line) as SVG."""
    if forecast is not None:
        path = forecast.daily.select(s.DATE, "cumulative", pl.when(pl.col("actual").is_not_null())
                                     .then(pl.lit("spent")).otherwise(pl.lit("expected")).alias("kind"))
    else:
        path = report.daily.select(pl.col(s.DATE), pl.col(s.COST).cum_sum().alias("cumulative"),
                                   pl.lit("spent").alias("kind"))
    if path.height == 0:
        return ""
    x = alt.X(f"{s.DATE}:T", title=None)
    layers = [alt.Chart(path).mark_line(point=True).encode(
        x=x, y=alt.Y("cumulative:Q", title=f"{report.currency}, cumulative"),
        color=alt.Color("kind:N", title=None, scale=alt.Scale(domain=["spent", "expected"]))).properties(
        width=760, height=260)]
    if forecast is not None:
        band = pl.DataFrame({s.DATE: [forecast.period_end], "low": [forecast.total_low80_usd],
                             "high": [forecast.total_high80_usd], "what": ["80 % band of the month's total"]})
        layers.append(alt.Chart(band).mark_errorbar(thickness=3, ticks=True).encode(
            x=x, y="low:Q", y2="high:Q", color=alt.Color("what:N", title=None)))
    if limit:
        rule = pl.DataFrame({"budget": [limit], "what": [f"budget {money(limit)}"]})
        layers.append(alt.Chart(rule).mark_rule(strokeDash=[4, 4]).encode(y="budget:Q", color=alt.Color("what:N",
                                                                                                      title=None)))
    return vl_convert.vegalite_to_svg(alt.layer(*layers).resolve_scale(color="independent").to_dict())


def _table(frame: pl.DataFrame, first: str, code: str = "USD") -> dict:
    frame = frame.rename(lambda c: named_for(c, code))  # (money computed in the report's currency)
    columns = [c for c in frame.columns if c != "share" or first != "name"]
    rows = [[(cell(v, c), isinstance(v, (int, float)) and not isinstance(v, bool)) for c, v in zip(columns, row)]
            for row in frame.select(columns).iter_rows()]
    return {"columns": [(in_words(c), frame.schema[c].is_numeric()) for c in columns], "rows": rows}





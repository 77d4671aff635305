"""Run reports, monthly reports and token statistics, checked against figures computed another way."""

import datetime as dt
import io
import json

import duckdb
import polars as pl
import pytest
from genai_prices import Usage, calc_price

import analytics
from ingest import schema as s

TODAY = dt.date(2026, 3, 31)


@pytest.fixture(scope="module")
def raw(demo_lake):
    return analytics.scan(demo_lake).collect()


def test_a_job_report_splits_the_run_by_stage_in_order(demo_lake, raw):
    job_id = raw.filter(pl.col(s.JOB_ID).is_not_null() & ~pl.col(s.SUCCESS))[s.JOB_ID][0]
    report = analytics.run_report(analytics.scan(demo_lake), job_id, estimate_usd=1.0)
    mine = raw.filter(pl.col(s.JOB_ID) == job_id)
    assert report.by_stage[s.STAGE].to_list() == ["story", "script", "images", "voice", "render"]
    assert report.cost_usd == pytest.approx(mine[s.COST].sum())
    assert report.by_stage[s.COST].sum() == pytest.approx(report.cost_usd)
    assert report.calls == mine.height and report.failed_calls == (~mine[s.SUCCESS]).sum() >= 1
    assert report.failed_cost_usd == pytest.approx(mine.filter(~pl.col(s.SUCCESS))[s.COST].sum())
    assert report.retry_cost_usd == pytest.approx((mine[s.COST] * mine[s.RETRIES]).sum())
    assert report.waste_usd == pytest.approx(mine.filter(~pl.col(s.SUCCESS))[s.COST].sum()
                                             + (mine[s.COST] * mine[s.RETRIES]).sum())
    assert report.latency_p95_ms == pytest.approx(mine[s.LATENCY_MS].quantile(0.95))
    assert report.estimate_error_pct == pytest.approx(report.cost_usd - 1.0)
    assert report.failures.height == report.failed_calls
    as_json = json.loads(report.to_json())
    assert as_json["job_id"] == job_id and len(as_json["by_stage"]) == 5
    table = pl.read_csv(io.StringIO(report.to_csv()))
    assert set(table["table"]) == {"by_stage", "by_provider", "by_model", "by_service", "failures"}  # (budgets: none here)
    assert table.filter(pl.col("table") == "by_model")[s.COST].sum() == pytest.approx(report.cost_usd)


def test_top_runs_lists_runs_costliest_first(demo_lake, raw):
    runs = analytics.top_runs(analytics.runs(demo_lake), 5)
    expected = raw.filter(pl.col(s.JOB_ID).is_not_null()).group_by(s.JOB_ID).agg(pl.col(s.COST).sum()).sort(
        s.COST, descending=True).head(5)
    assert runs[s.JOB_ID].to_list() == expected[s.JOB_ID].to_list()
    assert runs[s.COST].to_list() == pytest.approx(expected[s.COST].to_list(), rel=1e-12)


def test_the_monthly_report_matches_duckdb_from_raw_events_and_the_rollup(demo_lake):
    con = duckdb.connect()
    con.sql("SET TimeZone='UTC'")
    def month_cost(first: str, last: str) -> float:
        return con.sql(f"SELECT sum(cost_usd) FROM read_parquet('{demo_lake.events_dir}/*/*.parquet') "
                       f"WHERE CAST(ts AS DATE) BETWEEN DATE '{first}' AND DATE '{last}'").fetchall()[0][0]
    march, february = month_cost("2026-03-01", "2026-03-31"), month_cost("2026-02-01", "2026-02-28")
    top = con.sql(f"SELECT job_id, sum(cost_usd) AS c FROM read_parquet('{demo_lake.events_dir}/*/*.parquet') "
                  "WHERE CAST(ts AS DATE) BETWEEN DATE '2026-03-01' AND DATE '2026-03-31' AND job_id IS NOT NULL "
                  "GROUP BY job_id ORDER BY c DESC, job_id LIMIT 10").fetchall()
    rollup = (analytics.daily(demo_lake), analytics.runs(demo_lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31)))
    for source, runs in ((analytics.scan(demo_lake), None), rollup):
        report = analytics.monthly_report(source, dt.date(2026, 3, 15), runs=runs)
        assert report.month == "2026-03"
        assert report.cost_usd == pytest.approx(march, rel=1e-12)
        assert report.previous_cost_usd == pytest.approx(february, rel=1e-12)
        assert report.change_pct == pytest.approx(march / february - 1)
        assert report.daily.height == 31 and report.daily[s.COST].sum() == pytest.approx(march)
        for table in (report.by_provider, report.by_model, report.by_project, report.by_stage):
            assert table[s.COST].sum() == pytest.approx(march)
        assert report.top_runs[s.JOB_ID].to_list() == [job for job, _ in top]
        assert report.top_runs[s.COST].to_list() == pytest.approx([cost for _, cost in top], rel=1e-12)


def test_cache_savings_equal_genai_prices_own_figures(demo_lake, raw, book):
    stats = analytics.token_stats(analytics.scan(demo_lake), book)
    cached = raw.filter(pl.col(s.CACHE_READ_TOKENS) > 0)
    expected = 0.0
    for r in cached.iter_rows(named=True):
        total_input = r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS]
        def price(read: int) -> float:
            return float(calc_price(Usage(input_tokens=total_input, cache_read_tokens=read,
                                          cache_write_tokens=r[s.CACHE_WRITE_TOKENS], output_tokens=r[s.OUTPUT_TOKENS]),
                                    r[s.MODEL], provider_id=r[s.PROVIDER], genai_request_timestamp=r[s.TS]).total_price)
        expected += price(0) - price(r[s.CACHE_READ_TOKENS])
    assert stats.cache_savings_usd == pytest.approx(expected, rel=1e-9) and expected > 0
    llm = raw.filter(pl.col(s.SERVICE) == "llm")
    inputs = llm[s.INPUT_TOKENS].sum() + llm[s.CACHE_READ_TOKENS].sum() + llm[s.CACHE_WRITE_TOKENS].sum()
    assert stats.cache_hit_rate == pytest.approx(llm[s.CACHE_READ_TOKENS].sum() / inputs)
    assert stats.cached_call_share == pytest.approx(cached.height / llm.height)
    assert stats.by_model[analytics.measures.CALLS].sum() == llm.height


def test_the_focus_export_adds_up_to_the_cost_by_provider_and_kind(demo_lake, raw, book):
    rows = analytics.focus(analytics.scan(demo_lake), book)
    assert rows["BilledCost"].sum() == pytest.approx(raw[s.COST].sum(), rel=1e-9)
    by_provider = rows.group_by("ProviderName").agg(pl.col("BilledCost").sum())
    for provider, cost in by_provider.iter_rows():
        assert cost == pytest.approx(raw.filter(pl.col(s.PROVIDER) == provider)[s.COST].sum(), rel=1e-9)
    tokens = rows.filter(pl.col("x_ChargeKind") == s.CACHE_READ_TOKENS)["ConsumedQuantity"].sum()
    assert tokens == raw[s.CACHE_READ_TOKENS].sum()
    assert set(rows["ConsumedUnit"]) == {"Tokens", "Characters", "Images", "Seconds"}
    assert rows.filter(pl.col("ChargePeriodEnd") - pl.col("ChargePeriodStart") != dt.timedelta(days=1)).height == 0
    required = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency", "ChargePeriodStart",
                "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory", "ChargeDescription",
                "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
                "InvoiceIssuerName", "ServiceName", "ServiceCategory", "SkuId", "SubAccountId"}
    assert required <= set(rows.columns)
    assert analytics.to_csv(rows).startswith("BilledCost,EffectiveCost")


def test_csv_exports_defuse_every_text_like_column_and_write_lists_as_json():
    import csv
    frame = pl.DataFrame({
        "category": pl.Series(["=cmd|' /C calc'!A0", "ok"], dtype=pl.Categorical),
        "kind": pl.Series(["+1", "ok"], dtype=pl.Enum(["+1", "ok"])),
        "tags": pl.Series([["@SUM(1)", "b"], None], dtype=pl.List(pl.String)),
        "spans": [{"from": "-1", "to": [1, 2]}, {"from": "x", "to": []}],
        "cost_usd": [-1.5, 2.0],
    })
    rows = list(csv.DictReader(io.StringIO(analytics.to_csv(frame))))
    assert [r["category"] for r in rows] == ["'=cmd|' /C calc'!A0", "ok"]
    assert [r["kind"] for r in rows] == ["'+1", "ok"]
    assert json.loads(rows[0]["tags"]) == ["@SUM(1)", "b"] and rows[1]["tags"] == ""
    assert json.loads(rows[0]["spans"]) == {"from": "-1", "to": [1, 2]}
    assert rows[0]["cost_usd"] == "-1.5"  # numbers are not text: left as they are


def test_a_run_report_splits_llm_from_compute_and_projects_a_run_still_going():
    import datetime as dt
    from tests.helpers import events as made
    now = dt.datetime(2026, 1, 5, 9, 20, tzinfo=dt.UTC)
    llm = made(3, day=dt.date(2026, 1, 5), prefix="l", job_id="run-1")
    gpu = made(2, day=dt.date(2026, 1, 5), prefix="g", job_id="run-1", provider="modal", model="gpu-a100-40gb",
               service="compute", input_tokens=0, output_tokens=0, compute_seconds=60.0)
    frame = pl.concat([llm, gpu]).lazy()
    going = analytics.run_report(frame, "run-1", estimate_usd=5.0, now=now)
    split = dict(zip(going.by_service["service"], going.by_service["cost_usd"]))
    assert split["llm"] == pytest.approx(llm["cost_usd"].sum(), rel=1e-12)
    assert split["compute"] == pytest.approx(gpu["cost_usd"].sum(), rel=1e-12)
    assert going.still_going and going.projected_usd == 5.0  # the estimate, above the cost so far
    done = analytics.run_report(frame, "run-1", estimate_usd=5.0, now=now + dt.timedelta(hours=2))
    assert not done.still_going and done.projected_usd is None

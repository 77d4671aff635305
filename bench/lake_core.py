"""Lake-core benchmarks: prints a Markdown table of medians, each beside its reference run.

    python bench/lake_core.py [--events 1000000] [--repeat 3] [--only parquet jsonl ...] [--large 20000000]

Figures: Tracker.log amortized (vs the seeds' append-a-JSON-line-per-call logger), import
from Parquet and JSONL (vs DuckDB copying the same file into a hive-partitioned lake,
without validation or pricing), pricing (vs genai-prices' calc_price per row), bytes per
event after compaction (vs the seeds' JSONL), compaction of a 10,000-file partition (vs
DuckDB merging the same files), one event appended to a 2M-event day with its rollups kept
current (vs summing that day from its events). Then peak memory and time of each lake operation in a fresh
process, on `--events` and on `--large` events (files of the same events repeated with new ids):
import from Parquet and JSONL, compaction, reprice (after an override changes gpt-4o's price),
rollup refresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analytics  # noqa: E402
from ingest import Tracker, rollups, schema as s  # noqa: E402
from ingest.demo import demo_events  # noqa: E402
from ingest.importers import import_paths  # noqa: E402
from ingest.lake import Lake  # noqa: E402
from ingest.pricing import PriceBook  # noqa: E402


def median_time(fn, repeat: int) -> float:
    """Median wall time of `repeat` runs after one untimed warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_events(n: int) -> pl.DataFrame:
    """n demo-shaped raw events (the demo's mix, repeated a microsecond apart, with fresh ids)."""
    base = demo_events(dt.date(2026, 6, 30), days=90, seed=3)
    reps = -(-n // base.height)
    frame = pl.concat([base.with_columns(pl.col(s.TS) - pl.duration(microseconds=i)) for i in range(reps)]).head(n)
    # ids as the tracker makes them: milliseconds, then 64 random bits (incompressible on purpose)
    rng = random.Random(11)
    noise = pl.Series([f"{rng.getrandbits(64):016x}" for _ in range(frame.height)])
    ms = (pl.col(s.TS).dt.epoch("ms")).cast(pl.String).str.zfill(13)
    return frame.with_columns(pl.concat_str(ms, pl.lit(noise)).alias(s.EVENT_ID)).sort(s.TS)


def seeds_jsonl(events: pl.DataFrame) -> pl.DataFrame:
    """The same events in the seeds' daily-log shape (timestamp, service, operation, cost, metadata, video_id)."""
    return events.select(
        pl.col(s.TS).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f").alias("timestamp"),
        pl.col(s.PROVIDER).alias("service"), pl.col(s.OPERATION).alias("operation"), pl.col(s.COST).alias("cost"),
        pl.struct(pl.col(s.MODEL).alias("model"), s.INPUT_TOKENS, s.OUTPUT_TOKENS, s.CACHE_READ_TOKENS,
                  s.CHARACTERS, s.IMAGES).alias("metadata"),
        pl.col(s.JOB_ID).alias("video_id"))


def bench_tracker(work: Path, repeat: int, calls: int = 200_000) -> tuple[float, float]:
    def ours() -> None:
        lake = work / f"tracker-{time.perf_counter_ns()}"
        with Tracker(lake, spill_dir=work / "spill") as tracker:
            for _ in range(calls):
                tracker.log(provider="openai", model="gpt-4o", input_tokens=1200, output_tokens=300,
                            operation="script_generation")

    def seeds() -> None:  # the seeds' CostTracker: compute, then append one JSON line per call
        log = work / f"costs-{time.perf_counter_ns()}.jsonl"
        for _ in range(calls):
            cost = (1200 + 300) / 1000 * 0.00025
            with log.open("a") as f:
                f.write(json.dumps({"timestamp": dt.datetime.now().isoformat(), "service": "gemini",
                                    "operation": "script_generation", "cost": cost,
                                    "metadata": {"input_tokens": 1200, "output_tokens": 300}, "video_id": None}) + "\n")
    return median_time(ours, repeat) / calls * 1e6, median_time(seeds, repeat) / calls * 1e6


MEASURES = ("tracker", "parquet", "jsonl", "pricing", "size", "compaction", "append", "memory")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=MEASURES, default=MEASURES)
    parser.add_argument("--large", type=int, default=20_000_000, help="events of the large memory case")
    args = parser.parse_args()
    n, repeat = args.events, args.repeat
    work = Path(tempfile.mkdtemp(prefix="spendlake-bench-"))
    rows = []
    try:
        raw = raw_events(n)
        book = PriceBook.load()
        events = book.price(s.validate(raw).events)

        if "tracker" in args.only:
            us, seeds_us = bench_tracker(work, repeat)
            rows.append(("Tracker.log amortized (µs/call, incl. flush)", f"{us:.1f}",
                         f"{seeds_us:.1f} (seeds' JSONL logger)"))
        for name in ("parquet", "jsonl"):
            if name in args.only:
                ours_s, duck_s = bench_import(work, raw, name, book, repeat)
                rows.append((f"import from {name.replace('parquet', 'Parquet').replace('jsonl', 'JSONL')} "
                             "(events/s; validate+price+append)", f"{n / ours_s:,.0f}",
                             f"{n / duck_s:,.0f} (DuckDB copy, no validation/pricing)"))
        if "pricing" in args.only:
            price_s, per_row = bench_pricing(raw, book, repeat)
            rows.append(("pricing (events/s)", f"{n / price_s:,.0f}", f"{per_row:,.0f} (calc_price per row)"))
        if "size" in args.only:
            ours_b, seeds_b = bench_size(work, events)
            rows.append(("bytes per event on disk after compaction", f"{ours_b:.1f}", f"{seeds_b:.1f} (seeds' JSONL)"))
        if "compaction" in args.only:
            ours_s, duck_s = bench_compaction(work, events, repeat)
            rows.append(("compaction of a 10,000-file partition (s)", f"{ours_s:.2f}",
                         f"{duck_s:.2f} (DuckDB merge of the same files)"))
        if "append" in args.only:
            append_ms, sums_ms, read_ms, day_ms = bench_append(work, raw, book, repeat)
            rows.append(("rollups kept current when one event is appended to a 2M-event day (ms)", f"{sums_ms:.1f}",
                         f"{day_ms:.0f} (summing the day from its events)"))
            rows.append(("… the whole append, its rollups included (ms); the day's next rollup read (ms)",
                         f"{append_ms:.1f}; {read_ms:.1f}", ""))
        memory = bench_memory(work, raw, [n, args.large]) if "memory" in args.only else None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"events: {n:,}; medians of {repeat} runs after a warm-up; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    print("| measure | Spendlake | reference (same run) |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
    if memory:
        sizes = list(memory)
        print("\nPeak memory (RSS of a fresh process) and time of each operation; events/s for imports\n")
        print("| operation | " + " | ".join(f"{m:,} events" for m in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for step in memory[sizes[0]]:
            cells = []
            for m in sizes:
                mb, took = memory[m][step]
                rate = f", {m / took:,.0f}/s" if step.startswith("import") else ""
                cells.append(f"{mb:,.0f} MB, {took:.1f} s{rate}")
            print(f"| {step} | {' | '.join(cells)} |")


CHILD = {  # each operation as a fresh process runs it: `python -c`, with the lake and input as argv
    "import from Parquet": "from ingest.importers import import_paths; from ingest.lake import Lake; "
                           "from pathlib import Path; import sys; import_paths(Lake(sys.argv[1]), [Path(sys.argv[2])])",
    "import from JSONL": "from ingest.importers import import_paths; from ingest.lake import Lake; "
                         "from pathlib import Path; import sys; import_paths(Lake(sys.argv[1]), [Path(sys.argv[2])])",
    "compaction": "from ingest.lake import Lake; import sys; Lake(sys.argv[1]).compact()",
    "reprice (gpt-4o's price changed)": "from ingest.lake import Lake; from ingest.reprice import reprice; import sys; "
                                         "reprice(Lake(sys.argv[1]))",
    "rollup refresh": "import sys; from ingest import rollups; from ingest.lake import Lake; rollups.refresh(Lake(sys.argv[1]))",
}


def bench_memory(work: Path, raw: pl.DataFrame, sizes: list[int]) -> dict[int, dict[str, tuple[float, float]]]:
    """{events: {operation: (peak MB, seconds)}}, each operation in a fresh process."""
    import subprocess
    import pyarrow.parquet as pq
    from ingest.price_rules import PriceRule, add_override
    found: dict[int, dict[str, tuple[float, float]]] = {}
    for n in sizes:
        parquet, jsonl = work / f"memory-{n}.parquet", work / f"memory-{n}.jsonl"
        writer = None
        with open(jsonl, "wb") as text:
            for k in range(-(-n // raw.height)):
                part = raw.head(n - k * raw.height).with_columns(pl.col(s.EVENT_ID) + f"-{k}")
                part.with_columns(pl.col(s.TS).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(text)
                table = part.to_arrow()
                writer = writer or pq.ParquetWriter(parquet, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=100_000)
        writer.close()
        found[n] = {}
        lakes = {"import from Parquet": work / f"memory-lake-{n}", "import from JSONL": work / f"memory-lake-j-{n}"}
        for step, code in CHILD.items():
            lake = lakes.get(step, lakes["import from Parquet"])
            if step.startswith("reprice"):
                add_override(Lake(lake).overrides_path, PriceRule("openai", "gpt-4o", "input_token", Decimal("2.00"),
                                                             Decimal(1_000_000), dt.date(2000, 1, 1), None))
            start = time.perf_counter()
            # the peak is the child's own VmHWM: wait4's ru_maxrss would include this big process, forked
            done = subprocess.run([sys.executable, "-c", code + "; print(open('/proc/self/status').read()"
                                   ".split('VmHWM:')[1].split()[0])", str(lake),
                                   str(parquet if "Parquet" in step else jsonl)],
                                  cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
            found[n][step] = (int(done.stdout.split()[-1]) / 1024, time.perf_counter() - start)
        shutil.rmtree(lakes["import from JSONL"])
        parquet.unlink()
        jsonl.unlink()
    return found


def bench_import(work: Path, raw: pl.DataFrame, name: str, book: PriceBook, repeat: int) -> tuple[float, float]:
    path = work / f"input.{name}"
    if name == "parquet":
        raw.write_parquet(path)
    else:
        raw.with_columns(pl.col(s.TS).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(path)

    def ours() -> None:
        lake = Lake(work / f"import-{time.perf_counter_ns()}")
        assert import_paths(lake, [path], book=book).imported == raw.height

    def duck() -> None:
        target = work / f"duck-{time.perf_counter_ns()}"
        reader = f"read_parquet('{path}')" if name == "parquet" else f"read_json('{path}', format='newline_delimited')"
        con = duckdb.connect()
        con.sql("SET TimeZone='UTC'")
        con.sql(f"COPY (SELECT *, CAST(CAST(ts AS TIMESTAMPTZ) AS DATE) AS date FROM {reader}) TO '{target}' "
                "(FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd)")
    return median_time(ours, repeat), median_time(duck, repeat)


def bench_pricing(raw: pl.DataFrame, book: PriceBook, repeat: int) -> tuple[float, float]:
    checked = s.validate(raw).events
    price_s = median_time(lambda: book.price(checked), repeat)
    from genai_prices import Usage, calc_price
    llm = checked.filter(pl.col(s.SERVICE) == "llm").head(5000)
    start = time.perf_counter()
    for r in llm.iter_rows(named=True):
        calc_price(Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS],
                         cache_read_tokens=r[s.CACHE_READ_TOKENS], cache_write_tokens=r[s.CACHE_WRITE_TOKENS],
                         output_tokens=r[s.OUTPUT_TOKENS]), r[s.MODEL], provider_id=r[s.PROVIDER],
                   genai_request_timestamp=r[s.TS])
    return price_s, llm.height / (time.perf_counter() - start)


def bench_size(work: Path, events: pl.DataFrame) -> tuple[float, float]:
    lake = Lake(work / "size")
    for part in events.iter_slices(50_000):
        lake.append(part, check_existing=False)
    lake.compact()
    size = sum(f.stat().st_size for f in lake.files())
    seeds_file = work / "seeds.jsonl"
    seeds_jsonl(events).write_ndjson(seeds_file)
    return size / events.height, seeds_file.stat().st_size / events.height


def bench_compaction(work: Path, events: pl.DataFrame, repeat: int) -> tuple[float, float]:
    def compaction_lake() -> Lake:
        small = Lake(work / f"compact-{time.perf_counter_ns()}")
        day = events.filter(pl.col(s.TS).dt.date() == events[s.TS].dt.date().max()).head(1)
        many = pl.concat([day.with_columns(pl.lit(f"id{i}").alias(s.EVENT_ID)) for i in range(10_000)])
        folder = small.partition_dir(day[s.TS].dt.date().item())
        folder.mkdir(parents=True)
        for i, one in enumerate(many.iter_slices(1)):
            one.write_parquet(folder / f"part-{i:06d}.parquet")
        return small
    compaction_times, duck_times = [], []
    for _ in range(repeat):
        small = compaction_lake()
        start = time.perf_counter()
        result = small.compact()
        compaction_times.append(time.perf_counter() - start)
        assert result.files_before == 10_000 and result.files_after == 1
        small = compaction_lake()
        glob = small.events_dir / "*" / "*.parquet"
        start = time.perf_counter()
        duckdb.sql(f"COPY (SELECT * FROM read_parquet('{glob}')) TO '{work / 'duck-merged.parquet'}' (FORMAT parquet)")
        duck_times.append(time.perf_counter() - start)
    return statistics.median(compaction_times), statistics.median(duck_times)


def bench_append(work: Path, raw: pl.DataFrame, book: PriceBook, repeat: int,
                 day_events: int = 2_000_000) -> tuple[float, float, float, float]:
    """One event appended to a compacted day of `day_events` events, as the Tracker appends: the
    whole append with its rollups kept current, the part that writes its sums, the next read of
    the day's rollup; against summing the day from its events (what a read did before appends
    kept their own sums)."""
    day = dt.date(2026, 6, 30)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    base = raw.head(day_events)
    copies = -(-day_events // base.height)
    lake = Lake(work / "append")
    for i in range(copies):
        part = base.with_columns((pl.lit(start) + pl.duration(microseconds=pl.int_range(pl.len()) * copies + i)).alias(s.TS),
                                 pl.concat_str(pl.lit(f"c{i}-"), s.EVENT_ID).alias(s.EVENT_ID)).head(day_events - i * base.height)
        lake.append(book.price(s.validate(part).events), check_existing=False)
    lake.compact()
    one = book.price(s.validate(raw.head(1).with_columns(pl.lit(start + dt.timedelta(hours=12)).alias(s.TS))).events)
    timings: dict[str, list[float]] = {"sums": []}
    add = rollups.add

    def timed_add(*args) -> None:
        began = time.perf_counter()
        add(*args)
        timings["sums"].append(time.perf_counter() - began)

    rollups.add = timed_add
    appends, reads = [], []
    try:
        for i in range(max(repeat, 10)):
            began = time.perf_counter()
            lake.append(one.with_columns(pl.lit(f"one-{i}").alias(s.EVENT_ID)), check_existing=False)
            appends.append(time.perf_counter() - began)
            assert rollups.uncovered(lake) == []
            began = time.perf_counter()
            analytics.daily(lake, start=day, end=day).collect()
            reads.append(time.perf_counter() - began)
    finally:
        rollups.add = add
    held = lake.scan(start=day, end=day).select(pl.len()).collect().item()
    assert held == day_events + len(appends), (held, day_events, len(appends))
    whole_day = median_time(lambda: [rollups.summed(name, lake.scan(start=day, end=day)) for name in rollups.ROLLUPS],
                            repeat)
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    return ms(appends), ms(timings["sums"]), ms(reads), whole_day * 1000


if __name__ == "__main__":
    main()

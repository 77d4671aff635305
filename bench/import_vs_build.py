"""This build's import against another build's, alternating in fresh processes on the same files.

    git worktree add /tmp/ref 4da2f04      # the build to compare with (4da2f04: before bounded memory)
    python bench/import_vs_build.py --reference /tmp/ref [--events 1000000] [--rounds 3]

Per build and round: the median of 3 imports of 1M demo-shaped events (after a warm-up) from
JSON Lines and from Parquet into a fresh lake, and the first read of both rollups after it (a
build that sums its rollups at import reads them at once; one that sums them at the first read
pays for it there). A third column of runs is this build with its appends writing no rollup sums:
the floor of its import path alone. Prints each round and the ratio of the medians (this build's speed over the
reference's: above 1 is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def measure(root: Path, events: int, work: Path, *, sums: bool = True) -> dict:
    """One build's figures, in a fresh process whose imports come from `root`; without `sums`, the
    appends write no rollup sums (the first read sums the days from their events instead)."""
    code = f"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {str(root)!r})
import polars as pl
import analytics
if not {sums!r}:
    import ingest.rollups
    ingest.rollups.add = lambda *args, **kwargs: []
from ingest import schema as s
from ingest.importers import import_paths
from ingest.lake import Lake
from ingest.pricing import PriceBook
work = Path({str(work)!r})
book = PriceBook.load(None)
out = {{}}
for fmt in ("jsonl", "parquet"):
    imports, reads = [], []
    for i in range(4):
        lake = Lake(work / f"{{fmt}}-{{time.perf_counter_ns()}}")
        t = time.perf_counter(); import_paths(lake, [work / f"in.{{fmt}}"], book=book); a = time.perf_counter() - t
        t = time.perf_counter(); analytics.daily(lake).collect(); analytics.daily_jobs(lake).collect()
        b = time.perf_counter() - t
        if i:
            imports.append(a); reads.append(b)
    out[fmt] = (sorted(imports)[1], sorted(reads)[1])
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of the build to compare with")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import polars as pl
    from bench.lake_core import raw_events
    from ingest import schema as s
    work = Path(tempfile.mkdtemp())
    raw = raw_events(args.events)
    raw.with_columns(pl.col(s.TS).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(work / "in.jsonl")
    raw.write_parquet(work / "in.parquet")
    print(f"{args.events:,} events; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| round | build | JSONL import s | + first rollup read s | Parquet import s | + first rollup read s |")
    print("|---|---|---|---|---|---|")
    runs: dict[str, list[dict]] = {"this": [], "reference": [], "this, no sums at import": []}
    for n in range(1, args.rounds + 1):
        for name, root in (("reference", args.reference.resolve()), ("this", HERE), ("this, no sums at import", HERE)):
            r = measure(root, args.events, work, sums=name != "this, no sums at import")
            runs[name].append(r)
            print(f"| {n} | {name} | {r['jsonl'][0]:.2f} | {r['jsonl'][1]:.2f} | {r['parquet'][0]:.2f} | "
                  f"{r['parquet'][1]:.2f} |", flush=True)
    print("\n| format | build | import alone (÷ reference speed) | import + first rollup read |\n|---|---|---|---|")
    for fmt in ("jsonl", "parquet"):
        for name in ("this", "this, no sums at import"):
            ratios = []
            for both in (False, True):
                this, ref = ([sum(r[fmt][:2]) if both else r[fmt][0] for r in runs[k]] for k in (name, "reference"))
                ratios.append(statistics.median(ref) / statistics.median(this))
            print(f"| {fmt} | {name} | {ratios[0]:.2f}× | {ratios[1]:.2f}× |")


if __name__ == "__main__":
    main()

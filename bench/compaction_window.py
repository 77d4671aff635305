"""How long other engines see a day twice during a compaction: from the moment the merged file is
renamed into the partition to the moment the last replaced file is deleted.

    python bench/compaction_window.py [--repeat 3]

Spendlake's readers never see the overlap (they skip the files a journal entry names); an engine
that lists the partition in that window counts the day's events twice.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ingest.lake as lake_module  # noqa: E402
from ingest import schema as s  # noqa: E402
from tests.helpers import events  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    marks: list[float] = []
    publish, threads = lake_module.Lake._publish, lake_module._threads

    def timed_publish(self, *a, **k):  # the merged file becomes visible
        done = publish(self, *a, **k)
        marks.append(time.perf_counter())
        return done

    def timed_threads(fn, items, workers):  # the replaced files are gone
        done = threads(fn, items, workers)
        if fn is lake_module._unlink_all:
            marks.append(time.perf_counter())
        return done

    lake_module.Lake._publish, lake_module._threads = timed_publish, timed_threads
    print("| files in the partition | the day counted twice by other engines for |\n|---|---|")
    for n in (3, 100, 10_000):
        windows = []
        for _ in range(args.repeat):
            work = Path(tempfile.mkdtemp(prefix="spendlake-window-"))
            lake = lake_module.Lake(work)
            batch = events(n)
            folder = lake.partition_dir(batch[s.TS].dt.date()[0])
            folder.mkdir(parents=True)
            for i, one in enumerate(batch.iter_slices(1)):
                one.write_parquet(folder / f"part-{i:020d}-{i:012x}.parquet")
            marks.clear()
            lake.compact()
            windows.append(marks[1] - marks[0])
            shutil.rmtree(work)
        print(f"| {n:,} | {', '.join(f'{w * 1000:.1f} ms' for w in windows)} |")


if __name__ == "__main__":
    main()

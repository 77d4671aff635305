"""A child process for the lake's concurrency and crash tests: `append` or `compact` in a loop."""

import datetime as dt
import sys

from ingest.lake import Lake

from tests.helpers import events  # noqa: E402


def main() -> None:
    mode, root, name, batches, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    lake = Lake(root)
    if mode == "append":
        for b in range(batches):
            # two days per batch, so a batch spans partitions; "shared" ids are appended by every worker
            batch = events(size, prefix=f"{name}-{b}-", day=dt.date(2026, 1, 5 + b % 2))
            lake.append(batch)
            shared = events(5, prefix=f"shared-{b}-", day=dt.date(2026, 1, 5))
            lake.append(shared)
            print(f"ack {name}-{b}-", flush=True)
    elif mode == "compact":
        for _ in range(batches):
            lake.compact(min_files=2)
            print("compacted", flush=True)


if __name__ == "__main__":
    main()

"""A client process of the server fault test: N events through a remote Tracker, in a steady loop.

    remote_worker.py URL PROJECT N
"""

import sys
import time

from ingest import Tracker


def main() -> None:
    url, project, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tracker = Tracker(url, project=project, max_events=2_000, max_age=0.2)  # the key: $SPENDLAKE_API_KEY
    remote = tracker.remote
    began = time.monotonic()
    for i in range(n):
        with tracker.job(f"{project}-run-{i // 1000}"):
            tracker.log(provider="openai", model="gpt-4o-mini", input_tokens=100 + i % 50, output_tokens=20)
        if i % 500 == 499:
            time.sleep(0.1)  # a steady flow, not one burst: batches keep going out while the server restarts
    tracker.close()
    print(f"closed after {time.monotonic() - began:.1f} s, retried {remote.retried}", flush=True)


if __name__ == "__main__":
    main()

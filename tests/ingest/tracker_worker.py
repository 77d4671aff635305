"""A child process for the Tracker's exit and spill tests.

    tracker_worker.py unclosed LAKE PROJECT            log one event and exit without close()
    tracker_worker.py close LAKE NAME N START [AGE]    log N events, then at START (epoch s) close()
"""

import sys
import time

from ingest import Tracker


def main() -> None:
    mode, lake = sys.argv[1], sys.argv[2]
    if mode == "unclosed":  # the README's SDK example, without `with` or close()
        tracker = Tracker(lake, project=sys.argv[3])
        tracker.log(provider="openai", model="gpt-4o", input_tokens=10, output_tokens=5)
        return
    name, n, start = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    age = float(sys.argv[6]) if len(sys.argv) > 6 else 5.0
    tracker = Tracker(lake, project=name, max_age=age)
    for i in range(n):
        tracker.log(provider="openai", model="gpt-4o-mini", input_tokens=10, event_id=f"{name}-{i}")
    time.sleep(max(0.0, start - time.time()))
    tracker.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main()

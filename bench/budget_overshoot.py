"""How far past a hard stop processes spend, and what a guard costs.

    python bench/budget_overshoot.py [--processes 4] [--limit 1.0] [--call-cost 0.001] [--latency 0.005]

Overshoot: `--processes` processes call in a loop (`guard`, a simulated call of `--latency`
seconds, `log`) against one overall `hard_stop` budget of `--limit` USD until each is refused,
on a local lake and through a `spendlake serve` on a loopback port, at two refresh intervals.
Printed beside each: the spend one refresh interval lets through at the rate measured (the bound
the overshoot must stay within). Then the cost of a guard without budgets, with budgets that do
not match the call, and with one that does, beside an empty Python call, in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import timeit
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.budgets import Budget  # noqa: E402
from ingest import BudgetExceeded, Tracker  # noqa: E402
from ingest.budget_guard import BudgetWarning  # noqa: E402
from ingest.lake import Lake  # noqa: E402
from spendlake import keys, usecases  # noqa: E402


def worker(target: str, token: str | None, refresh: float, call_cost: float, latency: float, start: float,
           out: mp.Queue) -> None:
    warnings.simplefilter("ignore", BudgetWarning)  # each process says 50 %, 80 %, 90 %: not what is measured
    calls = 0
    with Tracker(target, api_key=token, budget_refresh=refresh, project="bench") as tracker:
        time.sleep(max(0.0, start - time.time()))
        began = time.monotonic()
        try:
            while time.monotonic() - began < 120:  # bounded whatever happens
                tracker.guard(provider="openai", model="gpt-4o", estimated_cost=call_cost)
                time.sleep(latency)  # the call itself
                tracker.log(provider="openai", model="gpt-4o", cost_usd=call_cost)
                calls += 1
        except BudgetExceeded:
            pass
        out.put((calls, time.monotonic() - began))


def overshoot(target: str, token: str | None, lake: Lake, args, refresh: float) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 3.0  # every process has its Tracker open by then
    procs = [ctx.Process(target=worker, args=(target, token, refresh, args.call_cost, args.latency, start, out))
             for _ in range(args.processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    spent = usecases.budget_spent(lake)[0]["spent_usd"]
    calls = sum(c for c, _ in results)
    seconds = statistics.median(t for _, t in results)
    rate = calls * args.call_cost / seconds  # USD a second, all processes
    return {"spent": spent, "over": spent - args.limit, "calls": calls, "rate": rate, "bound": rate * refresh}


def guard_costs() -> list[tuple[str, float]]:
    root = Path(tempfile.mkdtemp())
    lake = Lake(root / "guard")

    def per_call(tracker: Tracker, **attribution) -> float:
        call = lambda: tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.001, **attribution)  # noqa: E731
        return min(timeit.repeat(call, number=20_000, repeat=5)) / 20_000 * 1e6

    def empty(**kwargs) -> None:
        return None

    rows = [("an empty Python call with the same arguments",
             min(timeit.repeat(lambda: empty(provider="openai", model="gpt-4o", estimated_cost=0.001),
                               number=20_000, repeat=5)) / 20_000 * 1e6)]
    with Tracker(lake) as tracker:
        rows.append(("guard, no budget", per_call(tracker)))
    for i in range(5):
        usecases.save_budget(lake, Budget(f"p{i}", limit_usd=1e9, scope="project", value=f"other-{i}",
                                          enforcement="hard_stop"))
    with Tracker(lake, project="bench") as tracker:
        rows.append(("guard, 5 budgets, none matching", per_call(tracker)))
    usecases.save_budget(lake, Budget("all", limit_usd=1e9, enforcement="hard_stop", thresholds=(1.0,)))
    with Tracker(lake, project="bench") as tracker:
        rows.append(("guard, 6 budgets, 1 matching", per_call(tracker)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--limit", type=float, default=1.0)
    parser.add_argument("--call-cost", type=float, default=0.001)
    parser.add_argument("--latency", type=float, default=0.005, help="seconds each simulated call takes")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tests.server.server import running
    print(f"{args.processes} processes, ${args.call_cost} calls of {args.latency * 1000:.0f} ms, "
          f"a ${args.limit} hard stop; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| where | refresh | spent | past the limit | calls | $/s | one refresh lets through | within |")
    print("|---|---|---|---|---|---|---|---|")
    for where in ("local lake", "server"):
        for refresh in (1.0, 0.25):
            lake = Lake(Path(tempfile.mkdtemp()) / "lake")
            usecases.save_budget(lake, Budget("cap", limit_usd=args.limit, enforcement="hard_stop"))
            if where == "server":
                token = keys.create(lake, "bench", "ingest")
                with running(lake.root) as url:
                    r = overshoot(url, token, lake, args, refresh)
            else:
                r = overshoot(str(lake.root), None, lake, args, refresh)
            print(f"| {where} | {refresh:g} s | ${r['spent']:.3f} | ${r['over']:.3f} | {r['calls']:,} | "
                  f"{r['rate']:.2f} | ${r['bound']:.3f} | {'✓' if r['over'] <= r['bound'] else '✗'} |", flush=True)
    print("\n| guard | µs a call |\n|---|---|")
    for name, us in guard_costs():
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()

"""Budgets enforced where the money is spent: before a call, a Tracker asks whether it would take a
budget that covers it past its limit.

The state of each budget is what the lake (or the server, `GET /v1/budgets/spent`) says was spent
in its current period, read again every `refresh` seconds by the Tracker's flusher (which sends
this process's events first, so that other processes see them), plus what this process has
logged since and not yet seen land. Between two reads, other processes' spending is not seen:
that is the overshoot a hard stop allows (README, "Budgets that hold").

A budget past its limit answers with its enforcement: `hard_stop` raises `BudgetExceeded`,
`require_confirmation` raises `ConfirmationRequired` unless the call is confirmed, `warn` warns.
Every threshold reached warns once per budget, threshold and period (`BudgetWarning`). When
the budgets cannot be read, the last state read holds (with a logged warning): an unreachable
lake or server does not stop the calls.

Examples:
    >>> from analytics.budgets import Budget
    >>> state = [Budget("all", limit_usd=1.0, enforcement="hard_stop", thresholds=(1.0,)).to_dict()
    ...          | {"period_start": "2026-12-01", "period_end": "2026-12-31", "spent_usd": 0.97}]
    >>> guard = Guard(lambda: state)
    >>> guard.load()
    >>> guard.check({"provider": "openai", "model": "gpt-4o"}, 0.02)  # $0.99 after: allowed
    []
    >>> guard.logged({"provider": "openai"}, 0.02)
    >>> guard.check({"provider": "openai", "model": "gpt-4o"}, 0.02)
    Traceback (most recent call last):
    ...
    ingest.errors.BudgetExceeded: budget 'all' (hard_stop, monthly from 2026-12-01): $0.99 spent of $1.00; this call may add $0.02 (to $1.01)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ingest.errors import BudgetExceeded, ConfirmationRequired

log = logging.getLogger(__name__)
REFRESH = 1.0  # seconds between reads of the budgets' state (the Tracker's default)
IDLE_REFRESH = 10.0  # seconds between reads while no budget exists (a new one is enforced within this)


class BudgetWarning(UserWarning):
    """A budget reached one of its thresholds (or, for a `warn` budget, its limit)."""


@dataclass(frozen=True)
class Confirmed:
    """A call let past a `require_confirmation` limit inside `tracker.confirmed(reason=…)`."""

    budget: str
    reason: str
    limit_usd: float
    spent_usd: float
    call_usd: float


@dataclass(frozen=True)
class _State:
    budgets: tuple = ()  # (Budget, spent in its period when read, period start)
    landed: Mapping[str, float] = field(default_factory=dict)  # this process's logged sums then in the read


class Guard:
    """One Tracker's view of the budgets. `source()` answers what `usecases.budget_spent` answers."""

    def __init__(self, source: Callable[[], list[dict]]) -> None:
        self._source = source
        self._state = _State()
        self._logged: dict[str, float] = {}  # what this process logged under each budget, ever
        self._landed: Mapping[str, float] = {}  # of that, what a write had taken into the lake
        self._warned: set[tuple[str, float, dt.date]] = set()
        self._failing = False
        self._lock = threading.Lock()
        # held while the state is read and while a batch is written and marked landed: a read then
        # sees a batch either in the lake and in `landed`, or in neither (never counted twice)
        self.writing = threading.Lock()
        self._read_at = 0.0

    def due(self) -> bool:
        """Whether the state is to be read again (the flusher asks every half refresh)."""
        return self.active or time.monotonic() - self._read_at >= IDLE_REFRESH

    @property
    def active(self) -> bool:
        return bool(self._state.budgets)

    def load(self) -> None:
        """Read the budgets' state again (the last one holds if it cannot be read)."""
        from analytics.budgets import Budget
        self._read_at = time.monotonic()
        try:
            with self.writing:
                landed = self._landed  # what had landed is in what is read now, and nothing else
                entries = self._source()
            # a budget in another currency: what it spent in it, and a dollar's worth in it today
            budgets = tuple((Budget.from_dict({k: v for k, v in e.items() if k in Budget.__dataclass_fields__}),
                             float(e.get("spent", e["spent_usd"])), dt.date.fromisoformat(e["period_start"]),
                             float(e.get("per_usd", 1.0))) for e in entries)
        except Exception as e:  # noqa: BLE001 - enforcement must not stop the calls it guards
            if not self._failing:
                log.warning("could not read the budgets (%s: %s); enforcing the last state read", type(e).__name__, e)
            self._failing = True
            return
        self._failing = False
        self._state = _State(budgets, landed)

    def logged(self, attribution: Mapping, cost: float | None) -> None:
        """A call this process logged (the caller holds the Tracker's lock)."""
        if cost:
            for budget, _, _, _ in self._state.budgets:
                if budget.covers(attribution):
                    self._logged[budget.name] = self._logged.get(budget.name, 0.0) + cost

    def marker(self) -> dict[str, float]:
        """What has been logged so far (taken with the batch a flush is about to write)."""
        return dict(self._logged)

    def landed(self, marker: dict[str, float]) -> None:
        """The batch taken with `marker` is in the lake (or the server's)."""
        self._landed = marker

    def check(self, attribution: Mapping, cost: float, reason: str | None = None) -> list[Confirmed]:
        """Raise if a call that may cost `cost` must not be made; warn once per threshold reached.
        Returns the `require_confirmation` limits that `reason` (a confirmation) let the call pass."""
        state = self._state
        confirmed = []
        for budget, spent, start, rate in state.budgets:
            if not budget.covers(attribution):
                continue
            # in the budget's currency (dollars unless set): what landed, what this process logged
            # since (in dollars, at today's rate), and the call
            used = spent + (self._logged.get(budget.name, 0.0) - state.landed.get(budget.name, 0.0)) * rate
            after = used + cost * rate
            if budget.passed_by(after) and budget.enforcement != "warn":
                if budget.enforcement == "hard_stop" or reason is None:
                    kind = BudgetExceeded if budget.enforcement == "hard_stop" else ConfirmationRequired
                    hint = "" if kind is BudgetExceeded else "; run it inside tracker.confirmed(reason=…) to go on"
                    raise kind(_words(budget, start, used, cost * rate) + hint, budget=budget.name,
                               limit_usd=budget.limit_usd, spent_usd=used, call_usd=cost, currency=budget.currency)
                confirmed.append(Confirmed(budget.name, reason, budget.limit_usd, used, cost))
            self._warn(budget, start, used, after)
        return confirmed

    def _warn(self, budget, start: dt.date, used: float, after: float) -> None:
        reached = budget.reached(after)
        if not reached or (budget.name, reached[-1], start) in self._warned:
            return
        with self._lock:
            new = (budget.name, reached[-1], start) not in self._warned
            self._warned.update((budget.name, t, start) for t in reached)
        if new:
            warnings.warn(f"budget {budget.name!r} at {after / budget.limit_usd:.0%} of {_amount(budget.limit_usd, budget)} "
                          f"({budget.period} from {start}) with this call", BudgetWarning, stacklevel=4)


def _words(budget, start: dt.date, used: float, cost: float) -> str:
    """The stop, in the budget's currency (`cost` in it too)."""
    m = lambda amount: _amount(amount, budget)  # noqa: E731
    return (f"budget {budget.name!r} ({budget.enforcement}, {budget.period} from {start}): {m(used)} spent of "
            f"{m(budget.limit_usd)}; this call may add {m(cost)} (to {m(used + cost)})")


def _amount(amount: float, budget) -> str:
    from analytics.words import amount_in  # (analytics imports ingest: not at import time)
    return amount_in(amount, budget.currency)


def lake_source(lake) -> Callable[[], list[dict]]:
    """The state as the lake holds it (nothing to read, and nothing imported, without budgets)."""
    from ingest.lake import BUDGETS

    def read() -> list[dict]:
        if not lake.path(BUDGETS).exists():
            return []
        from spendlake.usecases import budget_spent  # the one place the state is composed
        return budget_spent(lake)
    return read

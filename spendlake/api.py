"""The HTTP API that `spendlake serve` runs: events and OpenTelemetry traces in, the use cases' answers
out. Every route parses its input, checks the caller's key, calls `spendlake.usecases` (or the
intake, for events) and lays out what comes back, so the API, the CLI and the app answer the same
question with the same numbers.

Built on FastAPI: it writes the OpenAPI description (`/openapi.json`, browsable at `/docs`) and
checks every parameter from the routes' own signatures, so a bad one is a 422 naming it.

Every error is one JSON shape: `{"error": {"status": 422, "message": "...", "parameter": "from"}}`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from analytics.budgets import Budget, BudgetError
from analytics.estimate import Step, video_pipeline
from ingest import audit, schema as s
from ingest.errors import OptionError, SpendlakeError
from ingest.importers import otel
from ingest.lake import KEYS, Lake
from ingest.objects import stamp
from ingest.pricing import PriceBook
from spendlake import intake, keys, usecases
from spendlake.access import Forbidden, narrow
from spendlake.metrics import Metrics
from spendlake.notify import Email

log = logging.getLogger("spendlake.server")
PROTOBUF = "application/x-protobuf"

Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
Projects = Annotated[list[str], Query(description="Only these projects (repeat)")]
Providers = Annotated[list[str], Query(description="Only these providers (repeat)")]
From = Annotated[dt.date | None, Query(alias="from", description="First day, YYYY-MM-DD (UTC)")]
To = Annotated[dt.date | None, Query(description="Last day, YYYY-MM-DD (UTC)")]
Currency = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$", description=(
    "Money in this currency (EUR, GBP…), each day's cost at that day's rate (default: the server's "
    "SPENDLAKE_CURRENCY, else USD); the rates used are in the Spendlake-Rates header"))]



class ApiError(Exception):
    def __init__(self, status: int, message: str, *, parameter: str | None = None, headers: dict | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.parameter, self.headers, self.extra = status, message, parameter, headers, extra

    def response(self) -> JSONResponse:
        error = {"status": self.status, "message": self.message}
        if self.parameter:
            error["parameter"] = self.parameter
        return JSONResponse({"error": error, **self.extra}, status_code=self.status, headers=self.headers)


class Server:
    """What the routes share: the lake, its keys and price book (re-read when their files change),
    the committing thread and the metrics."""

    def __init__(self, lake: Lake, *, max_queued: int = intake.MAX_QUEUED) -> None:
        self.lake = lake
        self.metrics = Metrics(lake)
        self.committer = intake.Committer(lake, self.book, max_queued=max_queued, on_commit=self.metrics.committed)
        self._keys: tuple[tuple, list[keys.ApiKey]] = ((), [])
        self._book: tuple[tuple, PriceBook | None] = ((), None)

    def key(self, token: str) -> keys.ApiKey | None:
        version = stamp(self.lake.path(KEYS))
        if version != self._keys[0]:
            self._keys = (version, keys.load(self.lake))
        return keys.verify(self.lake, token, self._keys[1])

    def book(self) -> PriceBook:
        version = stamp(self.lake.overrides_path)
        if version != self._book[0] or self._book[1] is None:
            self._book = (version, PriceBook.load(self.lake.overrides_path))
        return self._book[1]




def create_app(lake: Lake, *, max_queued: int = intake.MAX_QUEUED, check_every: float = 0.0,
               webhook: str | None = None, email: Email | None = None) -> FastAPI:
    """The API on `lake`; past `max_queued` events waiting to be written, requests get 503 and Retry-After."""
    server = Server(lake, max_queued=max_queued)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        if check_every:
            threading.Thread(target=_checking, args=(lake, check_every, webhook, email, stop), name="spendlake-check",
                             daemon=True).start()
        yield
        stop.set()
        await run_in_threadpool(server.committer.close)  # what is queued is written before the process ends

    app = FastAPI(title="Spendlake", version="1", lifespan=lifespan, description=(
        "What your paid AI APIs cost. Send usage events (`POST /v1/events`) or OpenTelemetry GenAI spans "
        "(`POST /v1/traces`); ask for costs, reports, runs, forecasts, budgets, alerts, estimates and "
        "budget decisions. Every call but `/healthz` needs `Authorization: Bearer <token>` "
        "(`spendlake keys create NAME --scope ingest|read|admin`)."))
    app.state.server = server
    _errors(app)
    bearer = HTTPBearer(auto_error=False, description="A token from `spendlake keys create`")

    def needs(*actions: str):
        async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
                        ) -> keys.ApiKey:  # (async: a sync dependency would cost each request a thread hop)
            if credentials is None:
                raise ApiError(401, "send Authorization: Bearer <token>; make a token with: spendlake keys create NAME "
                                    "--scope ingest|read|admin", headers={"WWW-Authenticate": "Bearer"})
            key = server.key(credentials.credentials)
            if key is None:
                raise ApiError(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
            if not any(key.allows(a) for a in actions):
                raise ApiError(403, f"key {key.name!r} has scope {key.scope}; this call needs {' or '.join(actions)}")
            _known_parameters(request)
            return key
        return Depends(check)

    app.add_middleware(_Timed, metrics=server.metrics)

    # ---- health and metrics ---------------------------------------------------------------

    @app.get("/healthz", tags=["server"], summary="Whether the server is up (no key needed)")
    def healthz() -> dict:
        return {"status": "ok", "queued_events": server.committer.queued, "commits": server.committer.commits}

    @app.get("/metrics", tags=["server"], summary="Prometheus text format: events, latency, spend today",
             response_class=Response)
    def metrics(key: keys.ApiKey = needs("read")) -> Response:
        body, content_type = server.metrics.exposition()
        return Response(body, media_type=content_type)

    # ---- ingest -------------------------------------------------------------------------

    @app.post("/v1/events", tags=["ingest"], summary="Send events (JSON array, JSON Lines or Arrow IPC stream)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  intake.JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                  intake.NDJSON: {"schema": {"type": "string"}},
                  intake.ARROW: {"schema": {"type": "string", "format": "binary"}}}}})
    async def post_events(request: Request, key: keys.ApiKey = needs("ingest")) -> Response:
        body = intake.inflate(await _body(request), request.headers.get("content-encoding"))
        parsed = await run_in_threadpool(intake.read_body, body, request.headers.get("content-type"))
        answer = await _receive(parsed, key, "events")
        result = answer.to_dict()
        if result["rejected"]:
            first = next(r for r in answer.records if r["status"] == "rejected")
            raise ApiError(422, f"{result['rejected']} of {len(answer.records)} records rejected (kept in quarantine); "
                                f"the others landed. First: {answer.label} {first['record']}: {first['error']}", **result)
        return JSONResponse(result)

    @app.post("/v1/traces", tags=["ingest"], summary="OTLP/HTTP trace export (protobuf or JSON)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                  intake.JSON: {"schema": {"type": "object"}}}}})
    async def post_traces(request: Request, key: keys.ApiKey = needs("ingest")) -> Response:
        kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind not in (PROTOBUF, intake.JSON):
            raise ApiError(415, f"content type {kind or 'none'!r}: OTLP/HTTP sends {PROTOBUF} or {intake.JSON}")
        body = intake.inflate(await _body(request), request.headers.get("content-encoding"))

        def read():
            if kind == PROTOBUF:
                return otel.parse_protobuf(body)
            parsed = otel.parse(body)
            unusable = [why for _, _, why in parsed.unreadable if why.startswith("not an OTLP JSON")]
            if not body.strip() or (unusable and len(unusable) == len(parsed.unreadable) and not parsed.raw.height):
                raise intake.BodyError(unusable[0] if unusable else "an empty body: send an OTLP JSON trace export")
            return parsed
        try:
            parsed = await run_in_threadpool(read)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        answer = await _receive(parsed, key, "traces")
        rejected = [r for r in answer.records if r["status"] == "rejected"]
        partial = {"rejectedSpans": str(len(rejected)),
                   "errorMessage": "; ".join(r["error"] for r in rejected[:5])} if rejected else None
        if kind == PROTOBUF:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
            message = ExportTraceServiceResponse()
            if partial:
                message.partial_success.rejected_spans = len(rejected)
                message.partial_success.error_message = partial["errorMessage"]
            return Response(message.SerializeToString(), media_type=PROTOBUF)
        return JSONResponse({"partialSuccess": partial} if partial else {})

    async def _receive(parsed, key: keys.ApiKey, what: str) -> intake.Answer:
        outside = intake.outside(parsed, key.projects)
        if outside:
            raise ApiError(403, f"key {key.name!r} writes only project(s) {', '.join(key.projects)}; nothing was "
                                f"written. {'; '.join(outside[:5])}")
        server.metrics.received(parsed.raw.height + len(parsed.unreadable))
        try:
            future = server.committer.submit(intake.Request(parsed, f"{key.name}/{what}"))
        except intake.Busy as e:
            raise ApiError(503, f"busy: {e}; retry after a second", headers={"Retry-After": "1"}) from None
        answer = await asyncio.wrap_future(future)
        server.metrics.answered(answer.counts())
        return answer

    # ---- questions ----------------------------------------------------------------------

    @app.get("/v1/costs", tags=["questions"], summary="Cost, calls and tokens by any attribution and period")
    def costs(key: keys.ApiKey = needs("read"),
              by: Annotated[list[str], Query(description="Group by these columns (repeat), or tag:<key>")] = [],  # noqa: B006
              period: Annotated[Literal["day", "week", "month"] | None, Query()] = None,
              start: From = None, to: To = None, top: Annotated[int | None, Query(ge=1)] = None,
              project: Projects = [], provider: Providers = [], format: Format = "json",  # noqa: B006
              currency: Currency = None) -> Response:
        _span(start, to)
        result = usecases.costs(server.lake, by, period=period, top=top, start=start, end=to,
                                projects=narrow(key.projects, project), providers=provider, currency=currency)
        return _with_rates(_frame(result, format), usecases.rates_used(server.lake, currency, start, to))

    @app.get("/v1/reports/monthly", tags=["questions"], summary="A calendar month: totals, change, breakdowns, top runs")
    def monthly(key: keys.ApiKey = needs("read"),
                month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}(-\d{2})?$", description="YYYY-MM")] = None,
                top: Annotated[int, Query(ge=1, le=1000)] = 10, project: Projects = [],  # noqa: B006
                format: Format = "json", currency: Currency = None) -> Response:
        day = _month(month)
        report = usecases.monthly(server.lake, day, top=top, projects=narrow(key.projects, project), currency=currency)
        return _with_rates(_report(report, format), report.rates)

    @app.get("/v1/runs", tags=["questions"], summary="The costliest runs")
    def runs(key: keys.ApiKey = needs("read"), start: From = None, to: To = None,
             top: Annotated[int, Query(ge=1, le=10_000)] = 20, search: str | None = None,
             project: Projects = [], format: Format = "json", currency: Currency = None) -> Response:  # noqa: B006
        _span(start, to)
        found = usecases.top_runs(server.lake, start=start, end=to, projects=narrow(key.projects, project),
                                  search=search, top=top, currency=currency)
        return _with_rates(_frame(found, format), usecases.rates_used(server.lake, currency, start, to))

    @app.get("/v1/runs/{job_id}", tags=["questions"], summary="One run's report")
    def run(job_id: str, key: keys.ApiKey = needs("read"), format: Format = "json",
            currency: Currency = None) -> Response:
        found = usecases.run_report(server.lake, job_id, projects=narrow(key.projects, []), currency=currency)
        if found is None:
            raise ApiError(404, f"no events for run {job_id!r}; list runs with GET /v1/runs")
        return _with_rates(_report(found, format), found.rates)

    @app.get("/v1/forecast", tags=["questions"], summary="Spend to the end of the period, with intervals")
    def forecast(key: keys.ApiKey = needs("read"),
                 period: Annotated[Literal["week", "month", "quarter", "year"], Query()] = "month",
                 budget: Annotated[float | None, Query(gt=0, description="In `currency` (USD by default): when it runs out")] = None,
                 today: Annotated[dt.date | None, Query(description="Forecast as of this day (default today, UTC)")] = None,
                 project: Projects = [], provider: Providers = [], format: Format = "json",  # noqa: B006
                 currency: Currency = None) -> Response:
        result = usecases.forecast(server.lake, today=today, period=period, budget_usd=budget,
                                   projects=narrow(key.projects, project), providers=provider, currency=currency)
        return _with_rates(_report(result, format), result.rates)

    @app.get("/v1/budgets", tags=["budgets"], summary="Every budget: spent, remaining, share used, forecast")
    def budgets(key: keys.ApiKey = needs("read"), today: Annotated[dt.date | None, Query()] = None,
                format: Format = "json") -> Response:
        return _frame(usecases.budget_status(server.lake, today=today, projects=key.projects), format)

    @app.get("/v1/budgets/spent", tags=["budgets"],
             summary="Each budget with its period and what was spent in it (what remote Trackers enforce)")
    def budgets_spent(key: keys.ApiKey = needs("read", "ingest")) -> list[dict]:
        return usecases.budget_spent(server.lake, projects=key.projects)

    @app.post("/v1/audit", tags=["budgets"], summary="Record a call confirmed past a require_confirmation limit")
    def audit_confirmed(entry: ConfirmedBody, key: keys.ApiKey = needs("ingest")) -> dict:
        if key.projects and entry.call.get(s.PROJECT) not in key.projects:
            raise Forbidden(f"key {key.name!r} confirms only calls of project(s) {', '.join(key.projects)}")
        recorded = audit.entry("confirmed_call", entry.subject, who=f"key:{key.name}", before=entry.before,
                               after=entry.after, **entry.model_dump(exclude={"subject", "before", "after"}))
        audit.append(server.lake, recorded)
        return recorded

    @app.put("/v1/budgets/{name}", tags=["budgets"], summary="Add or replace a budget")
    def put_budget(name: str, budget: BudgetBody, key: keys.ApiKey = needs("admin")) -> dict:
        fields = budget.model_dump()
        fields["thresholds"] = usecases.parse_thresholds(",".join(map(str, fields["thresholds"])))
        new = Budget.from_dict({"name": name, **fields})
        warning = usecases.save_budget(server.lake, new, who=f"key:{key.name}", projects=key.projects)
        return new.to_dict() | ({"warning": warning} if warning else {})

    @app.delete("/v1/budgets/{name}", tags=["budgets"], summary="Delete a budget")
    def delete_budget(name: str, key: keys.ApiKey = needs("admin")) -> dict:
        if name not in [b.name for b in usecases.budgets(server.lake, projects=key.projects)]:
            raise ApiError(404, f"no budget named {name!r}; list them with GET /v1/budgets")
        usecases.delete_budget(server.lake, name, who=f"key:{key.name}", projects=key.projects)
        return {"deleted": name}

    @app.get("/v1/alerts", tags=["budgets"],
             summary="Alerts with their id and state: active first, then acknowledged, then resolved")
    def alerts(key: keys.ApiKey = needs("read"),
               kind: Annotated[list[str], Query(description="Only these kinds (repeat)")] = [],  # noqa: B006
               active: Annotated[bool, Query(description="Only alerts not resolved")] = False,
               format: Format = "json") -> Response:
        return _frame(usecases.alert_board(server.lake, projects=key.projects, kinds=kind, active=active), format)

    @app.get("/v1/audit", tags=["budgets"], summary="The audit trail, newest first (admin keys of every project)")
    def audit_log(key: keys.ApiKey = needs("admin"),
                  action: Annotated[list[str], Query(description="Only these actions (repeat)")] = [],  # noqa: B006
                  format: Format = "json") -> Response:
        return _frame(usecases.audit_log(server.lake, actions=action, projects=key.projects), format)

    @app.post("/v1/alerts/{alert_id}/acknowledge", tags=["budgets"], summary="Acknowledge an active alert (audited)")
    def acknowledge(alert_id: str, key: keys.ApiKey = needs("admin")) -> dict:
        return usecases.acknowledge(server.lake, alert_id, who=f"key:{key.name}", projects=key.projects)

    @app.post("/v1/estimate", tags=["estimates"], summary="A plan → low / expected / high cost and the budgets' decision")
    def estimate(plan: EstimateBody, key: keys.ApiKey = needs("read"), currency: Currency = None) -> Response:
        narrow(key.projects, [plan.project] if plan.project else [])
        if key.projects and not plan.project:
            raise Forbidden(f"key {key.name!r} estimates only for project(s) {', '.join(key.projects)}: name one")
        steps = ([Step(**step.model_dump(exclude_unset=True)) for step in plan.steps] if plan.steps is not None
                 else video_pipeline(stories=plan.stories, images=plan.images, dialogue_chars=plan.dialogue_chars))
        result = usecases.estimate_run(server.lake, steps, project=plan.project, job_id=plan.job,
                                       compare=plan.compare, book=server.book(), currency=currency)
        return _with_rates(Response(json.dumps(result.to_dict(), default=str), media_type="application/json"),
                           result.estimate.rates)

    @app.post("/v1/can-execute", tags=["estimates"], summary="May a call or run of this cost start? allow / warn / confirm / block")
    def can_execute(ask: CanExecuteBody, key: keys.ApiKey = needs("read", "ingest")) -> dict:
        attribution = ask.model_dump(exclude={"amount_usd"}, exclude_none=True)
        if key.projects and (ask.project not in key.projects):
            raise Forbidden(f"key {key.name!r} asks only for project(s) {', '.join(key.projects)}: name one")
        return usecases.plan_decision(server.lake, ask.amount_usd, attribution).to_dict()

    @app.get("/v1/prices", tags=["questions"], summary="The price book's rates (overrides first)")
    def prices(key: keys.ApiKey = needs("read", "ingest"),
               search: Annotated[str | None, Query(description="provider, model or unit containing this")] = None,
               format: Format = "json") -> Response:
        return _frame(usecases.prices(server.lake, search, book=server.book()), format)

    @app.get("/v1/fx", tags=["questions"], summary="The exchange rates at hand per currency and source (units per USD)")
    def exchange_rates(key: keys.ApiKey = needs("read", "ingest"), format: Format = "json") -> Response:
        return _frame(usecases.exchange_rates(server.lake), format)

    @app.post("/v1/fx/rates", tags=["questions"], summary="Add the team's own exchange rates (CSV: date,currency,rate)",
              openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def import_rates(request: Request, key: keys.ApiKey = needs("admin")) -> dict:
        data = await _body(request)
        count = await run_in_threadpool(usecases.import_rates, server.lake, data, "rates.csv", who=f"key:{key.name}",
                                        projects=key.projects)
        return {"imported": count}

    @app.get("/v1/prices/overrides", tags=["questions"], response_class=Response,
             summary="The negotiated rates (overrides.csv), which remote Trackers price with")
    def overrides(key: keys.ApiKey = needs("read", "ingest")) -> Response:
        path = server.lake.overrides_path
        return Response(path.read_bytes() if path.exists() else b"", media_type="text/csv")

    return app


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    model: str
    service: str = "llm"
    count: int = Field(1, ge=0)
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cache_read_tokens: int = Field(0, ge=0)
    characters: int = Field(0, ge=0)
    images: int = Field(0, ge=0)
    audio_seconds: float = Field(0.0, ge=0)
    compute_seconds: float = Field(0.0, ge=0)
    operation: str | None = None
    stage: str | None = None
    prompt: str | None = None
    text: str | None = None


class EstimateBody(BaseModel):
    """A plan: `steps`, or the video pipeline template's three counts."""
    model_config = ConfigDict(extra="forbid")
    steps: list[StepBody] | None = None
    stories: int = Field(3, ge=0)
    images: int = Field(6, ge=0)
    dialogue_chars: int = Field(2600, ge=0)
    project: str | None = None
    job: str | None = Field(None, description="Record the estimate against this run")
    compare: list[str] = Field([], description="Also price the LLM steps on PROVIDER/MODEL")


class CanExecuteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_usd: float = Field(ge=0, description="What the call or run may cost at most")
    project: str | None = None
    job_id: str | None = None
    stage: str | None = None
    provider: str | None = None
    model: str | None = None
    service: str | None = None
    agent: str | None = None
    user: str | None = None
    tags: dict[str, str] | None = None


class ConfirmedBody(BaseModel):
    """What a remote Tracker sends when a call passed a require_confirmation limit inside `confirmed()`."""
    subject: str = Field(description="The budget")
    reason: str = Field(min_length=1)
    limit_usd: float
    call_usd: float = Field(ge=0)
    before: dict | None = None
    after: dict | None = None
    call: dict[str, str | None] = Field(default_factory=dict, description="The call's attribution")


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit_usd: float = Field(gt=0)
    period: str = "monthly"
    scope: str = "overall"
    value: str | None = None
    thresholds: list[float | str] = Field(["80%", "100%"], description="Fractions, or percentages: 0.8 or \"80%\" or 80")
    enforcement: str = "warn"
    start: dt.date | None = None
    end: dt.date | None = None
    alert_emails: list[str] = Field([], description="Who gets its alerts by e-mail")
    currency: str = Field("USD", description="The limit's currency (spend converted day by day at each day's rate)")


def _checking(lake: Lake, every: float, webhook: str | None, email: Email | None, stop: threading.Event) -> None:
    """The scheduler: `usecases.check` now and every `every` seconds, sending what is new (once,
    however many servers and cron checks run); a failed check is logged and tried at the next."""
    while not stop.is_set():
        try:
            result = usecases.check(lake, webhook=webhook, email=email)
            if result.new:
                log.warning("%d new alert(s): %s", len(result.new), "; ".join(a.message for a in result.new))
        except Exception as e:  # noqa: BLE001 - the server goes on; the next check tries again
            log.warning("the scheduled check failed (%s: %s); trying again in %.0f s", type(e).__name__, e, every)
        stop.wait(every)


class _Timed:
    """Each request's time to answer, by route, method and status, into the metrics (a plain ASGI
    middleware: Starlette's `@app.middleware("http")` costs every request a task and a stream)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request(route, scope["method"], status[0], time.perf_counter() - start)


async def _body(request: Request) -> bytes:
    """The request's body, refused (413) past `intake.MAX_BODY` bytes without reading it all."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > intake.MAX_BODY:
        raise ApiError(413, f"the body is {int(length):,} bytes; send at most {intake.MAX_BODY:,} a request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > intake.MAX_BODY:
            raise ApiError(413, f"the body is over {intake.MAX_BODY:,} bytes; send smaller requests")
        chunks.append(chunk)
    return b"".join(chunks)


def _known_parameters(request: Request) -> None:
    """A query parameter the route does not take is refused (a typo must not widen an answer)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    todo = [dependant]
    while todo:  # the route's own parameters and its dependencies'
        d = todo.pop()
        known |= {p.alias for p in d.query_params}
        todo += d.dependencies
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(422, f"unknown parameter {unknown[0]!r}; this call takes: {', '.join(sorted(known)) or 'none'}",
                       parameter=unknown[0])


def _span(start: dt.date | None, end: dt.date | None) -> None:
    if start and end and start > end:
        raise ApiError(422, f"from {start} is after to {end}: the range holds no day", parameter="from")


def _month(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text if len(text) > 7 else text + "-01")
    except ValueError:
        raise ApiError(422, f"month {text!r}: write YYYY-MM", parameter="month") from None


def _frame(frame: pl.DataFrame, format: str) -> Response:
    if format == "csv":
        from analytics.export import to_csv
        return Response(to_csv(frame), media_type="text/csv")
    return Response(frame.write_json(), media_type="application/json")


def _with_rates(response: Response, rates: str) -> Response:
    response.headers["Spendlake-Rates"] = rates
    return response


def _report(report, format: str) -> Response:
    if format == "csv":
        return Response(report.to_csv(), media_type="text/csv")
    return Response(report.to_json(), media_type="application/json")


def _errors(app: FastAPI) -> None:
    """One JSON shape for every error; never a traceback."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return e.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        where = [str(x) for x in first.get("loc", ()) if x not in ("query", "path", "body", "header")]
        name = ".".join(where) or None
        message = f"{name}: {first['msg']}" if name else first["msg"]
        if first.get("type") == "json_invalid":
            message = f"the body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
        return ApiError(422, message, parameter=name).response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        return ApiError(e.status_code, str(e.detail), headers=getattr(e, "headers", None)).response()

    @app.exception_handler(intake.BodyError)
    async def body_error(request: Request, e: intake.BodyError) -> JSONResponse:
        return ApiError(e.status, str(e)).response()

    @app.exception_handler(SpendlakeError)
    async def spendlake_error(request: Request, e: SpendlakeError) -> JSONResponse:
        if isinstance(e, Forbidden):
            return ApiError(403, str(e)).response()
        if isinstance(e, (OptionError, BudgetError)):
            return ApiError(422, str(e), parameter=getattr(e, "option", None)).response()
        return ApiError(400, str(e)).response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return ApiError(500, f"internal error ({type(e).__name__}); the server's log has the details").response()

"""OpenTelemetry GenAI spans in OTLP JSON: the collector's file exporter (one
`ExportTraceServiceRequest` a line) or one such document per file.

A span that reports token usage is one event: `gen_ai.provider.name` (or the older
`gen_ai.system`) → provider, `gen_ai.response.model` (else `gen_ai.request.model`) → model,
`gen_ai.operation.name` (else the span name) → operation, trace id → job_id, the resource's
`service.name` → project, `gen_ai.agent.name` → agent, start time → ts, duration → latency,
an error status or `error.type` → a failed call. Spans without usage (agents, tools) are
skipped: they are not billed.

Tokens follow the conventions: `gen_ai.usage.input_tokens` counts cached input too, so the
cache reads (`gen_ai.usage.cache_read.input_tokens`) and writes
(`gen_ai.usage.cache_creation.input_tokens`) are taken out of it; reasoning
(`gen_ai.usage.reasoning.output_tokens`) is part of the output. Older names are read too:
`gen_ai.usage.prompt_tokens` / `completion_tokens`, `gen_ai.usage.input_tokens.cached`,
`gen_ai.usage.output_tokens.reasoning`. The span (trace id, span id) is the event id.

Examples:
    >>> span = (b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},'
    ...         b'"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","name":"chat gpt-4o",'
    ...         b'"startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601500000000","attributes":['
    ...         b'{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},'
    ...         b'{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},'
    ...         b'{"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}},'
    ...         b'{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"100"}},'
    ...         b'{"key":"gen_ai.usage.output_tokens","value":{"intValue":45}}]}]}]}]}')
    >>> parse(span).raw.select("project", "model", "input_tokens", "cache_read_tokens", "latency_ms").row(0)
    ('shop', 'gpt-4o', 20, 100, 1500.0)
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed

# OTel provider names → genai-prices provider ids, where they differ
PROVIDERS = {"gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "gemini": "google",
             "vertex_ai": "google", "aws.bedrock": "aws", "az.ai.openai": "azure", "azure.ai.openai": "azure",
             "az.ai.inference": "azure", "azure.ai.inference": "azure", "x_ai": "x-ai", "xai": "x-ai",
             "mistral_ai": "mistral"}
USAGE = {  # what is counted: attribute names, newest first
    "input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.input_tokens.cached"),
    "cache_write": ("gen_ai.usage.cache_creation.input_tokens",),
    "reasoning": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.output_tokens.reasoning"),
}
NAMES = ("gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model",
         "gen_ai.operation.name", "gen_ai.agent.name", "error.type", *[n for names in USAGE.values() for n in names])


# What is read of a request; msgspec skips the rest. gc=False: millions of small objects, no cycles.
class _Value(msgspec.Struct, gc=False):
    stringValue: str | None = None
    intValue: int | str | None = None  # protobuf's JSON writes 64-bit integers as strings, some exporters as numbers
    doubleValue: float | None = None
    boolValue: bool | None = None


class _Attribute(msgspec.Struct, gc=False):
    key: str
    value: _Value | None = None


class _Status(msgspec.Struct, gc=False):
    code: int | str | None = None


class _Span(msgspec.Struct, gc=False):
    traceId: str | None = None
    spanId: str | None = None
    name: str | None = None
    startTimeUnixNano: int | str | None = None
    endTimeUnixNano: int | str | None = None
    attributes: list[_Attribute] = []
    status: _Status | None = None


class _ScopeSpans(msgspec.Struct, gc=False):
    spans: list[_Span] = []


class _Resource(msgspec.Struct, gc=False):
    attributes: list[_Attribute] = []


class _ResourceSpans(msgspec.Struct, gc=False):
    resource: _Resource | None = None
    scopeSpans: list[_ScopeSpans] = []


class _Request(msgspec.Struct, gc=False):
    resourceSpans: list[_ResourceSpans] = []


_REQUEST = msgspec.json.Decoder(_Request)
ERROR_CODES = ("2", "STATUS_CODE_ERROR")


def looks_like(first: dict) -> bool:
    return "resourceSpans" in first


def parse(source: Path | bytes) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return _parsed(*_documents(data))


def parse_protobuf(data: bytes) -> Parsed:
    """One `ExportTraceServiceRequest` in OTLP's protobuf encoding (what OTLP/HTTP sends by default).
    Quarantined spans keep the request as OTLP JSON. A body that is not one raises ValueError."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(data)
    except DecodeError as e:
        raise ValueError(f"not an OTLP protobuf trace export ({e})") from None
    request = _Request([_ResourceSpans(_Resource([_attribute(a) for a in rs.resource.attributes]),
                                       [_ScopeSpans([_span(x) for x in ss.spans]) for ss in rs.scope_spans])
                        for rs in message.resource_spans])
    return _parsed([(1, msgspec.json.encode(request), request)], [])


def _span(x) -> _Span:
    return _Span(x.trace_id.hex() or None, x.span_id.hex() or None, x.name or None, x.start_time_unix_nano or None,
                 x.end_time_unix_nano or None, [_attribute(a) for a in x.attributes], _Status(x.status.code))


def _attribute(a) -> _Attribute:
    kind = a.value.WhichOneof("value")
    value = getattr(a.value, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else None
    return _Attribute(a.key, _Value(**({_CAMEL[kind]: value} if value is not None else {})))


_CAMEL = {"string_value": "stringValue", "int_value": "intValue", "double_value": "doubleValue",
          "bool_value": "boolValue"}


def _parsed(documents: list[tuple[int, bytes, _Request]], bad: list[tuple[int, bytes, str]]) -> Parsed:
    wide = _spans(documents)
    counted = {k: pl.coalesce(*names) for k, names in USAGE.items()}
    wide = wide.filter(counted["input"].is_not_null() | counted["output"].is_not_null())  # no usage: not billed
    number = {k: v.cast(pl.Int64, strict=False) for k, v in counted.items()}
    cached = number["cache_read"].fill_null(0) + number["cache_write"].fill_null(0)
    problems = [(v.is_not_null() & (number[k].is_null() | (number[k] < 0)),
                 pl.format("{}={} is not a whole number ≥ 0", _name(USAGE[k]), v)) for k, v in counted.items()]
    problems.append((number["input"] < cached, pl.format(
        "{}={} is less than its cache reads and writes ({}): the conventions count cached input inside input_tokens",
        _name(USAGE["input"]), number["input"], cached)))
    broken = [bad.fill_null(False) for bad, _ in problems]
    wide = wide.with_columns(pl.when(pl.any_horizontal(broken)).then(pl.concat_str(
        [pl.when(bad).then(why) for bad, (_, why) in zip(broken, problems)], separator="; ", ignore_nulls=True))
        .alias("_problem"))
    failed = wide.filter(pl.col("_problem").is_not_null())
    bad += [(line, documents[doc][1], f"span {span_id}: {why}")
            for line, doc, span_id, why in failed.select("_line", "_doc", "spanId", "_problem").iter_rows()]
    good = wide.filter(pl.col("_problem").is_null())
    provider = pl.coalesce("gen_ai.provider.name", "gen_ai.system")
    operation = pl.coalesce("gen_ai.operation.name", "name")
    error = pl.coalesce(pl.col("error.type"),
                        pl.when(pl.col("_status").is_in(ERROR_CODES)).then(pl.lit("error")))
    start, end = (pl.col(c).cast(pl.Int64, strict=False) for c in ("startTimeUnixNano", "endTimeUnixNano"))
    raw = good.select(
        pl.when(pl.col("traceId").is_not_null() & pl.col("spanId").is_not_null())
        .then(pl.format("otel:{}:{}", "traceId", "spanId")).alias(s.EVENT_ID),
        start.cast(pl.Datetime("ns", "UTC")).dt.cast_time_unit("us").alias(s.TS),
        provider.replace(PROVIDERS).alias(s.PROVIDER),
        pl.coalesce("gen_ai.response.model", "gen_ai.request.model").alias(s.MODEL),
        pl.when(operation == "embeddings").then(pl.lit("embedding")).otherwise(pl.lit("llm")).alias(s.SERVICE),
        operation.alias(s.OPERATION),
        pl.col("_service").alias(s.PROJECT),
        pl.col("traceId").alias(s.JOB_ID),
        pl.col("gen_ai.agent.name").alias(s.AGENT),
        (number["input"] - cached).alias(s.INPUT_TOKENS),
        number["cache_read"].alias(s.CACHE_READ_TOKENS),
        number["cache_write"].alias(s.CACHE_WRITE_TOKENS),
        number["output"].alias(s.OUTPUT_TOKENS),
        number["reasoning"].alias(s.REASONING_TOKENS),
        ((end - start) / 1e6).alias(s.LATENCY_MS),
        error.is_null().alias(s.SUCCESS),
        pl.struct(pl.col("name").alias("span"), error.alias("error.type")).struct.json_encode().alias(s.TAGS),
    )
    return Parsed(raw, good["_line"], "line", [documents[i][1] for i in good["_doc"]], bad)


def _spans(documents: list[tuple[int, bytes, _Request]]) -> pl.DataFrame:
    """Every span, a row each, beside its resource's `service.name` and the attributes in NAMES
    (as text, a column each; absent ones null)."""
    found = [(line, doc, next((_text(a.value) for a in (resource.resource.attributes if resource.resource else [])
                               if a.key == "service.name"), None), span)
             for doc, (line, _, request) in enumerate(documents) for resource in request.resourceSpans
             for scope in resource.scopeSpans for span in scope.spans]
    spans = [span for _, _, _, span in found]
    frame = pl.DataFrame({
        "_line": [f[0] for f in found], "_doc": [f[1] for f in found], "_service": [f[2] for f in found],
        "traceId": [x.traceId for x in spans], "spanId": [x.spanId for x in spans], "name": [x.name for x in spans],
        "startTimeUnixNano": [_text_of(x.startTimeUnixNano) for x in spans],
        "endTimeUnixNano": [_text_of(x.endTimeUnixNano) for x in spans],
        "_status": [None if x.status is None else _text_of(x.status.code) for x in spans],
    }, schema={"_line": pl.Int64, "_doc": pl.Int64, **{c: pl.String for c in (
        "_service", "traceId", "spanId", "name", "startTimeUnixNano", "endTimeUnixNano", "_status")}})
    wanted = set(NAMES)
    picked = [(i, a) for i, x in enumerate(spans) for a in x.attributes if a.key in wanted]
    attributes = pl.DataFrame({"_span": [i for i, _ in picked], "key": [a.key for _, a in picked],
                               "v": [_text(a.value) for _, a in picked]},
                              schema={"_span": pl.Int64, "key": pl.String, "v": pl.String})
    wide = frame.with_row_index("_span").with_columns(pl.col("_span").cast(pl.Int64)).join(
        attributes.pivot(on="key", index="_span", values="v", aggregate_function="first"), on="_span", how="left")
    return wide.with_columns(pl.lit(None, pl.String).alias(n) for n in NAMES if n not in wide.columns)


def _documents(data: bytes) -> tuple[list[tuple[int, bytes, _Request]], list[tuple[int, bytes, str]]]:
    """One request a line (the collector's file exporter), else the file as one request."""
    lines = data.split(b"\n")
    first = next((line for line in lines if line.strip()), b"")
    try:
        _REQUEST.decode(first)
    except msgspec.DecodeError:
        try:
            return [(1, data, _REQUEST.decode(data))], []
        except msgspec.DecodeError:
            pass  # neither: read line by line, naming the bad lines
    documents, bad = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                documents.append((number, line, _REQUEST.decode(line)))
            except msgspec.DecodeError as e:
                bad.append((number, line, f"not an OTLP JSON trace export ({e})"))
    return documents, bad


def _text(value: _Value | None) -> str | None:
    if value is None:
        return None
    if value.stringValue is not None:
        return value.stringValue
    for v in (value.intValue, value.doubleValue, value.boolValue):
        if v is not None:
            return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
    return None


def _text_of(value: object) -> str | None:
    return None if value is None else str(value)


def _name(names: tuple[str, ...]) -> pl.Expr:
    """Which of the names the span used, for messages."""
    return pl.coalesce(*[pl.when(pl.col(n).is_not_null()).then(pl.lit(n)) for n in names])

"""Real OpenTelemetry SDKs export GenAI spans to a running server: Python's (OTLP/HTTP protobuf) and
JavaScript's (OTLP/HTTP JSON, the one SDK that sends JSON), each pointed at Spendlake with the
standard OTEL_EXPORTER_OTLP_* variables. Costs are checked against genai-prices' `calc_price`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from genai_prices import Usage, calc_price

import analytics
from ingest import schema as s
from ingest.lake import Lake
from spendlake import keys
from tests.server.server import running

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "otel-js"
JS_PACKAGES = ("@opentelemetry/api@1.9.1", "@opentelemetry/sdk-trace@2.12.1", "@opentelemetry/resources@2.12.1",
               "@opentelemetry/exporter-trace-otlp-http@0.223.1")

PYTHON_APP = textwrap.dedent("""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "py-shop"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint and key from OTEL_* variables
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("invoke_agent"):  # no usage: not billed
        for i, (model, tokens) in enumerate([("gpt-4o", 1200), ("gpt-4o-mini", 90_000), ("gpt-4o", 10)]):
            with tracer.start_as_current_span(f"chat {model}") as span:
                span.set_attribute("gen_ai.provider.name", "openai")
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.request.model", model)
                span.set_attribute("gen_ai.usage.input_tokens", tokens)
                span.set_attribute("gen_ai.usage.cache_read.input_tokens", tokens // 4)
                span.set_attribute("gen_ai.usage.output_tokens", 300 + i)
        with tracer.start_as_current_span("chat broken") as span:
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", "gpt-4o")
            span.set_attribute("gen_ai.usage.input_tokens", -5)
    provider.shutdown()
""")

JS_APP = textwrap.dedent("""
    const { TracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
    const { resourceFromAttributes } = require('@opentelemetry/resources');
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'js-shop' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter() })],  // OTEL_* variables
    });
    const tracer = provider.getTracer('app');
    for (const [model, tokens] of [['claude-sonnet-4-5', 5000], ['claude-haiku-4-5', 250000]]) {
      const span = tracer.startSpan(`chat ${model}`);
      span.setAttributes({ 'gen_ai.provider.name': 'anthropic', 'gen_ai.operation.name': 'chat',
                           'gen_ai.request.model': model, 'gen_ai.usage.input_tokens': tokens,
                           'gen_ai.usage.output_tokens': 700 });
      span.end();
    }
    provider.shutdown().then(() => console.log('sent'));
""")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("otlp") / "lake"
    token = keys.create(Lake(root), "otel", "ingest")
    with running(root) as url:
        yield Lake(root), {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                           "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{token}"}


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """The OpenTelemetry JS SDK, installed from the npm registry once per checkout."""
    if not (CACHE / "node_modules" / "@opentelemetry" / "exporter-trace-otlp-http").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the OpenTelemetry JS SDK (./dev test installs it)"
        subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error",
                        *JS_PACKAGES], check=True, timeout=300)
    return CACHE


def assert_priced_by_genai_prices(events: pl.DataFrame) -> None:
    assert events.height
    for r in events.iter_rows(named=True):
        usage = Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS], cache_read_tokens=r[s.CACHE_READ_TOKENS],
                      output_tokens=r[s.OUTPUT_TOKENS])
        expected = calc_price(usage, r[s.MODEL], provider_id=r[s.PROVIDER], genai_request_timestamp=r[s.TS])
        assert r[s.COST] == pytest.approx(float(expected.total_price), rel=1e-12), r[s.MODEL]


def test_the_python_sdk_over_protobuf(served):
    lake, env = served
    done = subprocess.run([sys.executable, "-c", PYTHON_APP], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    events = analytics.scan(lake, project="py-shop").collect().sort(s.OUTPUT_TOKENS)
    assert events[s.MODEL].to_list() == ["gpt-4o", "gpt-4o-mini", "gpt-4o"]
    assert events[s.INPUT_TOKENS].to_list() == [1200 - 300, 90_000 - 22_500, 10 - 2]
    assert events[s.JOB_ID].n_unique() == 1  # one trace: one run
    assert_priced_by_genai_prices(events)
    quarantined = "".join(p.read_text() for p in lake.quarantine_dir.glob("*-http-*"))
    assert "gen_ai.usage.input_tokens=-5" in quarantined  # the span that could not be used, with its reason


def test_the_javascript_sdk_over_json(served, node_sdk):
    lake, env = served
    done = subprocess.run(["node", "-e", JS_APP], env={**env, "NODE_PATH": str(node_sdk / "node_modules")},
                          capture_output=True, text=True, timeout=120, cwd=node_sdk)
    assert done.returncode == 0 and "sent" in done.stdout, done.stderr
    events = analytics.scan(lake, project="js-shop").collect().sort(s.INPUT_TOKENS)
    assert events[s.MODEL].to_list() == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert_priced_by_genai_prices(events)


def test_partial_success_names_the_spans_that_could_not_be_used(served):
    lake, env = served
    import httpx2
    token = env["OTEL_EXPORTER_OTLP_HEADERS"].split("%20", 1)[1]
    span = ('{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"%s","name":"chat",'
            '"startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601000000000","attributes":['
            '{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},'
            '{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},'
            '{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%s"}}]}')
    body = ('{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"raw"}}]},'
            '"scopeSpans":[{"spans":[' + span % ("a1", "100") + "," + span % ("a2", "lots") + "]}]}]}")
    answer = httpx2.post(env["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces", content=body,
                         headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "span a2" in partial["errorMessage"]
    assert analytics.scan(lake, project="raw").select(pl.len()).collect().item() == 1


def test_a_body_that_is_not_an_otlp_export_is_a_400(served):
    _, env = served
    import httpx2
    token = env["OTEL_EXPORTER_OTLP_HEADERS"].split("%20", 1)[1]
    for body in (b'{"resourceSpans": [', b"not json at all"):
        answer = httpx2.post(env["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces", content=body,
                             headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
        assert answer.status_code == 400 and "not an OTLP JSON trace export" in answer.json()["error"]["message"]

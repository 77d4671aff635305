"""`ingest.instrument` on the real openai and anthropic SDKs: their clients talk to an httpx2 mock
transport (the SDKs' HTTP library) that replays recorded responses from tests/fixtures/sdk, so
the SDKs' own parsing and retries run, with no network."""

import asyncio
import json

import anthropic
import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price

from ingest import Tracker, instrument, schema as s
from tests.conftest import FIXTURES

SDK = FIXTURES / "sdk"
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")  # the SDK's notice


def replay(*replies: tuple[int, str], seen: list | None = None):
    """A transport answering each request with the next (status, fixture file); SSE files are streamed."""
    queue = list(replies)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(json.loads(request.content))
        status, name = queue.pop(0)
        body = (SDK / name).read_bytes()
        kind = "text/event-stream" if name.endswith(".sse") else "application/json"
        return httpx2.Response(status, content=body, headers={"content-type": kind})
    return answer


def events(tracker: Tracker) -> list[dict]:
    tracker.flush()
    return tracker.lake.scan().sort(s.TS).collect().to_dicts()


def price(provider: str, model: str, **usage) -> float:
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


@pytest.fixture
def tracker(lake):
    with Tracker(lake) as t:
        yield t


def test_openai_chat_is_logged_with_its_usage_and_the_sdks_retries(tracker):
    http = httpx2.Client(transport=httpx2.MockTransport(replay((500, "anthropic-error-400.json"), (200, "openai-chat.json"))))
    client = instrument(openai.OpenAI(api_key="sk-test", http_client=http, max_retries=2), tracker)
    with tracker.job("order-77", project="support"):
        reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "When?"}])
    assert reply.choices[0].message.content == "Your order ships Tuesday."  # the caller gets the SDK's object
    [event] = events(tracker)
    assert (event[s.EVENT_ID], event[s.MODEL], event[s.JOB_ID], event[s.PROJECT]) == (
        "openai:chatcmpl-CeA1b2", "gpt-4o-2024-08-06", "order-77", "support")
    assert (event[s.INPUT_TOKENS], event[s.CACHE_READ_TOKENS], event[s.OUTPUT_TOKENS]) == (476, 1024, 310)
    assert (event[s.RETRIES], event[s.SUCCESS]) == (1, True) and event[s.LATENCY_MS] > 0
    assert event[s.COST] == pytest.approx(price("openai", "gpt-4o-2024-08-06", input_tokens=1500,
                                                cache_read_tokens=1024, output_tokens=310), rel=1e-12)


def test_an_async_openai_stream_is_logged_when_it_ends_with_the_usage_it_asked_for(tracker):
    sent = []
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(replay((200, "openai-chat-stream.sse"), seen=sent)))
    client = instrument(openai.AsyncOpenAI(api_key="sk-test", http_client=http), tracker)

    async def run() -> str:
        stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                      messages=[{"role": "user", "content": "When?"}])
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert asyncio.run(run()) == "Ships Tuesday."
    assert sent[0]["stream_options"] == {"include_usage": True}
    [event] = events(tracker)
    assert (event[s.EVENT_ID], event[s.MODEL], event[s.INPUT_TOKENS], event[s.OUTPUT_TOKENS]) == (
        "openai:chatcmpl-CeA9z8", "gpt-4o-mini-2024-07-18", 820, 4)


def test_openai_responses_and_embeddings(tracker):
    http = httpx2.Client(transport=httpx2.MockTransport(replay((200, "openai-responses.json"),
                                                               (200, "openai-embeddings.json"))))
    client = instrument(openai.OpenAI(api_key="sk-test", http_client=http), tracker)
    client.responses.create(model="o3-mini", input="6 × 7?")
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    reasoning, embedding = sorted(events(tracker), key=lambda e: e[s.SERVICE], reverse=True)
    assert (reasoning[s.INPUT_TOKENS], reasoning[s.CACHE_READ_TOKENS], reasoning[s.OUTPUT_TOKENS],
            reasoning[s.REASONING_TOKENS]) == (500, 1500, 900, 768)
    assert (embedding[s.SERVICE], embedding[s.INPUT_TOKENS], embedding[s.OPERATION]) == ("embedding", 5400, "embeddings")
    assert embedding[s.COST] == pytest.approx(price("openai", "text-embedding-3-small", input_tokens=5400), rel=1e-12)


def test_anthropic_messages_keep_one_hour_cache_writes_apart(tracker):
    http = httpx2.Client(transport=httpx2.MockTransport(replay((200, "anthropic-message.json"))))
    client = instrument(anthropic.Anthropic(api_key="sk-ant-test", http_client=http), tracker)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=[{"role": "user", "content": "Plan?"}])
    [event] = events(tracker)
    assert (event[s.INPUT_TOKENS], event[s.CACHE_WRITE_TOKENS], event[s.CACHE_WRITE_1H_TOKENS],
            event[s.CACHE_READ_TOKENS], event[s.OUTPUT_TOKENS]) == (2095, 12000, 8000, 48000, 503)
    assert event[s.COST] == pytest.approx(price(
        "anthropic", "claude-sonnet-4-5-20250929", input_tokens=2095 + 12000 + 48000, cache_write_tokens=12000,
        cache_write_1h_tokens=8000, cache_read_tokens=48000, output_tokens=503), rel=1e-12)


def test_an_anthropic_stream_takes_input_from_its_start_and_output_from_its_last_delta(tracker):
    http = httpx2.Client(transport=httpx2.MockTransport(replay((200, "anthropic-message-stream.sse"))))
    client = instrument(anthropic.Anthropic(api_key="sk-ant-test", http_client=http), tracker)
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=64, stream=True,
                                    messages=[{"role": "user", "content": "Hi"}])
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text == "Hello!"
    [event] = events(tracker)
    assert (event[s.EVENT_ID], event[s.MODEL], event[s.INPUT_TOKENS], event[s.CACHE_READ_TOKENS],
            event[s.OUTPUT_TOKENS]) == ("anthropic:msg_01Stream5kQ", "claude-haiku-4-5-20251001", 472, 9000, 15)


def test_an_async_anthropic_call_that_fails_is_logged_as_failed_and_raised(tracker):
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(replay((400, "anthropic-error-400.json"))))
    client = instrument(anthropic.AsyncAnthropic(api_key="sk-ant-test", http_client=http), tracker)
    with pytest.raises(anthropic.BadRequestError):
        asyncio.run(client.messages.create(model="claude-sonnet-4-5", max_tokens=1,
                                           messages=[{"role": "user", "content": "x"}]))
    [event] = events(tracker)
    assert not event[s.SUCCESS] and event[s.COST] == 0
    assert json.loads(event[s.TAGS]) == {"error": "BadRequestError", "status": "400"}


def test_other_clients_are_refused(tracker):
    with pytest.raises(TypeError, match="openai or anthropic client"):
        instrument(object(), tracker)

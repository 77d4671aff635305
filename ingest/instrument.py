"""Automatic capture: `instrument(client, tracker)` makes every call of an `openai` or `anthropic`
client (sync or async, streaming included) log an event from the response's own usage.

Wrapped: OpenAI `chat.completions.create`, `responses.create`, `embeddings.create`;
Anthropic `messages.create`. Each call is logged with its model (the one that answered),
tokens (cached input taken out of OpenAI's input counts, Anthropic's 1-hour cache writes kept
apart), latency, the SDK's retries (`retries_taken`) and success; a call that raises is
logged as failed, with the error's type, and the error is raised again. A streamed reply is
logged when its stream ends (or is closed): OpenAI chat streams are asked for their usage
(`stream_options={"include_usage": True}`, unless the caller set `stream_options`), which
adds a last chunk with no choices. The response id is the event id.

Before each call, the tracker's budgets are asked (`Tracker.guard`) with the call's worst case
(`worst_case`): a `hard_stop` budget it would pass raises `BudgetExceeded` and the request is
never sent.

Examples:
    >>> import tempfile, httpx2, openai
    >>> from ingest import Tracker
    >>> reply = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1772409600, "model": "gpt-4o-2024-08-06",
    ...          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    ...          "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}}
    >>> http = httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=reply)))
    >>> from ingest.lake import Lake
    >>> root = tempfile.mkdtemp()
    >>> with Tracker(root) as tracker:
    ...     client = instrument(openai.OpenAI(api_key="sk-test", http_client=http), tracker)
    ...     answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    >>> Lake(root).scan().select("event_id", "model", "cost_usd").collect().row(0)
    ('openai:chatcmpl-1', 'gpt-4o-2024-08-06', 0.0035)
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

from ingest.tracker import Tracker

# (resource path, operation, service) wrapped on each kind of client
TARGETS = {
    "openai": [(("chat", "completions"), "chat", "llm"), (("responses",), "responses", "llm"),
               (("embeddings",), "embeddings", "embedding")],
    "anthropic": [(("messages",), "messages", "llm")],
}


def instrument(client, tracker: Tracker):
    """The same client, its calls now logged to `tracker` (attribution comes from the tracker's job
    and stage contexts)."""
    provider = type(client).__module__.split(".")[0]
    if provider not in TARGETS:
        raise TypeError(f"instrument() takes an openai or anthropic client, not {type(client).__name__}")
    is_async = type(client).__name__.startswith("Async")  # AsyncOpenAI, AsyncAnthropic
    for path, operation, service in TARGETS[provider]:
        resource = functools.reduce(getattr, path, client)
        resource.create = _wrapped(resource, tracker, provider, operation, service, is_async)
    return client


def _wrapped(resource, tracker: Tracker, provider: str, operation: str, service: str, is_async: bool) -> Callable:
    raw_create = resource.with_raw_response.create
    call = _Call(tracker, provider, operation, service)

    def finish(raw, kwargs: dict, started: float, stream: type[_Stream]):
        """The SDK's object for the caller; the call logged now, or when its stream ends."""
        result = raw.parse()
        if kwargs.get("stream"):
            return stream(result, call, kwargs, started, raw.retries_taken)
        call.done(kwargs, started, raw.retries_taken, result)
        return result

    if is_async:
        async def create(*args, **kwargs):
            started = call.start(kwargs)
            try:
                raw = await raw_create(*args, **kwargs)
            except Exception as e:
                call.failed(kwargs, started, e)
                raise
            return finish(raw, kwargs, started, _AsyncStream)
    else:
        def create(*args, **kwargs):
            started = call.start(kwargs)
            try:
                raw = raw_create(*args, **kwargs)
            except Exception as e:
                call.failed(kwargs, started, e)
                raise
            return finish(raw, kwargs, started, _Stream)
    return functools.wraps(resource.create)(create)


class _Call:
    """How one kind of call is logged."""

    def __init__(self, tracker: Tracker, provider: str, operation: str, service: str) -> None:
        self.tracker, self.provider, self.operation, self.service = tracker, provider, operation, service

    def start(self, kwargs: dict) -> float:
        model = kwargs.get("model")
        if isinstance(model, str) and model:
            self.tracker.guard(provider=self.provider, model=model, service=self.service,
                               **worst_case(kwargs, output=self.service == "llm"))
        if kwargs.get("stream") and self.operation == "chat":
            kwargs.setdefault("stream_options", {"include_usage": True})
        return time.perf_counter()

    def done(self, kwargs: dict, started: float, retries: int, response, usage=None, model=None) -> None:
        usage = usage if usage is not None else getattr(response, "usage", None)
        model = model or getattr(response, "model", None) or kwargs.get("model")
        self.tracker.log(provider=self.provider, model=model, service=self.service, operation=self.operation,
                         event_id=_event_id(self.provider, getattr(response, "id", None)),
                         latency_ms=(time.perf_counter() - started) * 1000, retries=retries, success=True,
                         tags=None if usage is not None else {"usage": "not reported"}, **_tokens(self.provider, usage))

    def failed(self, kwargs: dict, started: float, error: Exception) -> None:
        status = getattr(error, "status_code", None)
        self.tracker.log(provider=self.provider, model=str(kwargs.get("model") or "unknown"), service=self.service,
                         operation=self.operation, latency_ms=(time.perf_counter() - started) * 1000, success=False,
                         tags={"error": type(error).__name__, **({"status": str(status)} if status else {})})


# A request's worst case, from the request alone (no tokenizer): text counts a token per
# `BYTES_PER_TOKEN` UTF-8 bytes (English runs about 4 per token, code and JSON about 3), each image
# `IMAGE_TOKENS`, and the reply its `max_tokens` (or `DEFAULT_OUTPUT` when the request sets none).
BYTES_PER_TOKEN = 3
IMAGE_TOKENS = 1_600  # Anthropic's ~1,600 for a 1.15-megapixel image; OpenAI's high detail 765–1,105
DEFAULT_OUTPUT = 4_096
_PROMPT = ("messages", "input", "system", "instructions", "tools", "prompt")
_OUTPUT = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_IMAGES = frozenset({"image", "image_url", "input_image"})


def worst_case(kwargs: dict, *, output: bool = True) -> dict[str, int]:
    """The tokens a request may cost at most: its prompt's, and its reply's limit (times `n`).

    Examples:
        >>> worst_case({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}], "max_tokens": 50})
        {'input_tokens': 8, 'output_tokens': 50}
        >>> worst_case({"input": [[101, 102, 103, 104]]}, output=False)  # token ids: one token each
        {'input_tokens': 4, 'output_tokens': 0}
    """
    text, images = _size([kwargs[k] for k in _PROMPT if kwargs.get(k) is not None])
    limit = next((kwargs[k] for k in _OUTPUT if isinstance(kwargs.get(k), int)), DEFAULT_OUTPUT)
    n = kwargs.get("n") if isinstance(kwargs.get("n"), int) and kwargs["n"] > 0 else 1
    return {"input_tokens": math.ceil(text / BYTES_PER_TOKEN) + images * IMAGE_TOKENS,
            "output_tokens": limit * n if output else 0}


def _size(value) -> tuple[int, int]:
    """UTF-8 bytes of the text in a request's prompt (keys and roles included), and its images."""
    if isinstance(value, str):
        return len(value.encode()), 0
    if isinstance(value, dict):
        if value.get("type") in _IMAGES:
            return 0, 1
        parts = [_size(v) for v in value.values()]
        return sum(p[0] for p in parts) + sum(len(str(k)) for k in value), sum(p[1] for p in parts)
    if isinstance(value, (list, tuple)):
        parts = [_size(v) for v in value]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    return BYTES_PER_TOKEN if isinstance(value, int) else len(str(value)), 0  # a token id counts as a token


def _event_id(provider: str, response_id: str | None) -> str | None:
    return f"{provider}:{response_id}" if response_id else None


def _tokens(provider: str, usage) -> dict:
    """A response's usage as event columns (empty when the response has none)."""
    if usage is None:
        return {}
    get = functools.partial(_field, usage)
    if provider == "anthropic":
        return _present(input_tokens=get("input_tokens"), cache_read_tokens=get("cache_read_input_tokens"),
                        cache_write_tokens=get("cache_creation_input_tokens"),
                        cache_write_1h_tokens=get("cache_creation", "ephemeral_1h_input_tokens"),
                        output_tokens=get("output_tokens"))
    if get("prompt_tokens") is not None or get("completion_tokens") is not None:  # chat completions, embeddings
        total, cached = get("prompt_tokens"), get("prompt_tokens_details", "cached_tokens") or 0
        written = get("prompt_tokens_details", "cache_write_tokens") or 0
        return _present(input_tokens=None if total is None else total - cached - written, cache_read_tokens=cached,
                        cache_write_tokens=written, output_tokens=get("completion_tokens"),
                        reasoning_tokens=get("completion_tokens_details", "reasoning_tokens"))
    total, cached = get("input_tokens"), get("input_tokens_details", "cached_tokens") or 0  # responses
    return _present(input_tokens=None if total is None else total - cached, cache_read_tokens=cached,
                    output_tokens=get("output_tokens"),
                    reasoning_tokens=get("output_tokens_details", "reasoning_tokens"))


def _field(obj, *names: str):
    for name in names:
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _present(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


class _Usage:
    """A streamed reply's usage, gathered from its chunks or events."""

    def __init__(self) -> None:
        self.usage, self.model, self.id = None, None, None

    def see(self, item) -> None:
        kind = getattr(item, "type", None)
        if kind == "message_start":  # Anthropic: input and cache counts, a first output count
            message = item.message
            self.usage, self.model, self.id = message.usage.model_dump(), message.model, message.id
        elif kind == "message_delta" and item.usage is not None:  # Anthropic: the counts so far
            self.usage = {**(self.usage or {}), **{k: v for k, v in item.usage.model_dump().items() if v is not None}}
        elif kind == "response.completed":  # OpenAI responses
            self.usage, self.model, self.id = item.response.usage, item.response.model, item.response.id
        elif getattr(item, "usage", None) is not None:  # OpenAI chat: the last chunk
            self.usage, self.model, self.id = item.usage, item.model, item.id
        elif self.id is None and getattr(item, "id", None):
            self.model, self.id = getattr(item, "model", None), item.id


class _Stream:
    """The SDK's stream, read through: the call is logged when the stream ends or is closed."""

    def __init__(self, inner, call: _Call, kwargs: dict, started: float, retries: int) -> None:
        self._inner, self._call, self._kwargs, self._started, self._retries = inner, call, kwargs, started, retries
        self._seen, self._logged = _Usage(), False

    def __iter__(self):
        try:
            for item in self._inner:
                self._seen.see(item)
                yield item
        finally:
            self._log()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._inner.close()
        self._log()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def _log(self) -> None:
        if not self._logged:
            self._logged = True
            seen = self._seen
            response = type("Reply", (), {"id": seen.id, "model": seen.model})()
            self._call.done(self._kwargs, self._started, self._retries, response, seen.usage, seen.model)


class _AsyncStream(_Stream):
    def __aiter__(self):
        return self._read()

    async def _read(self):
        try:
            async for item in self._inner:
                self._seen.see(item)
                yield item
        finally:
            self._log()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._inner.close()
        self._log()

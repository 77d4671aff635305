"""Pre-run estimates: a plan of steps → cost with low / expected / high, priced by the price book.

A step is one kind of call made `count` times. Its usage per call comes from the plan, or,
when history holds calls of the same model and operation (or stage), from that history:
expected at the median, low at the 10th and high at the 90th percentile of tokens per call.
Without history the plan's figures are expected and the range is ×0.8 … ×1.5 (plans tend
to under-count). Text is counted to tokens offline at ~4 characters a token (OpenAI's rule
of thumb; no exact tokenizer works offline for every provider).

Examples:
    >>> from ingest.pricing import PriceBook
    >>> plan = [Step("openai", "gpt-4o", input_tokens=1_000_000, output_tokens=0)]
    >>> e = estimate(plan, PriceBook.load(), at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    >>> e.low_usd, e.expected_usd, round(e.high_usd, 9)
    (2.0, 2.5, 3.75)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from analytics.reports import _Report
from ingest import schema as s
from ingest.errors import OptionError, ValidationError
from ingest.pricing import PriceBook

CHARS_PER_TOKEN = 4
NO_HISTORY_RANGE = (0.8, 1.5)
MIN_HISTORY_CALLS = 5
USAGE = (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS, s.CHARACTERS, s.IMAGES, s.AUDIO_SECONDS,
         s.COMPUTE_SECONDS)


def approx_tokens(text: str) -> int:
    """Tokens in a text, offline: about one per four characters.

    Examples:
        >>> approx_tokens("Write a two-sentence story about a lighthouse keeper.")
        13
    """
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


@dataclass(frozen=True)
class Step:
    """`count` calls of one model; give tokens (or `prompt` text), characters (or `text` for TTS), images, seconds."""

    provider: str
    model: str
    service: str = "llm"
    count: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    characters: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    compute_seconds: float = 0.0
    operation: str | None = None
    stage: str | None = None
    prompt: str | None = None   # counted to input tokens when input_tokens is 0
    text: str | None = None     # counted to characters (TTS) when characters is 0

    def __post_init__(self) -> None:
        bad = [f"{k}={getattr(self, k)!r}" for k in ("count", *USAGE) if (getattr(self, k) or 0) < 0]
        if bad:  # one rule for every number of a step: a step run 0 times costs nothing
            raise OptionError(f"step {self.provider}/{self.model}: {', '.join(bad)} must be ≥ 0")

    def usage(self) -> dict[str, float]:
        u = {c: getattr(self, c) for c in USAGE}
        if not u[s.INPUT_TOKENS] and self.prompt:
            u[s.INPUT_TOKENS] = approx_tokens(self.prompt)
        if not u[s.CHARACTERS] and self.text:
            u[s.CHARACTERS] = len(self.text)
        return u


@dataclass(frozen=True)
class Estimate(_Report):
    """Totals are None when a step has no price (never a silent $0): `steps` shows which."""

    low_usd: float | None
    expected_usd: float | None
    high_usd: float | None
    unpriced_steps: int
    steps: pl.DataFrame = field(repr=False)  # one row per step: usage basis, low / expected / high
    currency: str = "USD"  # what the money is in: priced in dollars, shown in another at one day's rate
    rates: str = "USD as priced"


def estimate(plan: Sequence[Step], book: PriceBook, *, history: pl.LazyFrame | None = None,
             at: dt.datetime | None = None) -> Estimate:
    """Price a plan; `history` (raw events) calibrates steps whose model and operation/stage it has seen."""
    at = at or dt.datetime.now(dt.UTC)
    rows, calls = [], []
    for i, step in enumerate(plan):
        basis, levels = "plan", _from_plan(step)
        learned = _from_history(step, history) if history is not None else None
        if learned is not None:
            basis, levels = learned
        for level, usage in zip(("low", "expected", "high"), levels):
            calls.append({s.EVENT_ID: f"{i}:{level}", s.TS: at, s.PROVIDER: step.provider, s.MODEL: step.model,
                          s.SERVICE: step.service, **{c: usage.get(c, 0) for c in USAGE}})
        rows.append({"step": i + 1, "provider": step.provider, "model": step.model, "service": step.service,
                     "operation": step.operation or step.stage, "count": step.count, "basis": basis})
    if not calls:
        return Estimate(0.0, 0.0, 0.0, 0, pl.DataFrame())
    checked = s.validate(pl.DataFrame(calls), record_numbers=pl.Series([int(c[s.EVENT_ID].split(":")[0]) + 1
                                                                        for c in calls]), label="step")
    if checked.rejected.height:
        raise ValidationError("; ".join(checked.rejected["error"].unique(maintain_order=True)))
    priced = book.price(checked.events)
    per_call = priced.select(pl.col(s.EVENT_ID).str.split_exact(":", 1).struct.rename_fields(["_step", "_level"]),
                             s.COMPUTED_COST).unnest(s.EVENT_ID).with_columns(pl.col("_step").cast(pl.Int64)).pivot(
        "_level", index="_step", values=s.COMPUTED_COST)
    steps = pl.DataFrame(rows).with_row_index("_step").with_columns(pl.col("_step").cast(pl.Int64)).join(
        per_call, on="_step", how="left").with_columns(
        *[(pl.col(level) * pl.col("count")).alias(f"{level}_usd") for level in ("low", "expected", "high")]
    ).drop("_step", "low", "expected", "high")
    unpriced = steps["expected_usd"].null_count()
    totals = [None if unpriced else float(steps[f"{level}_usd"].sum()) for level in ("low", "expected", "high")]
    return Estimate(*totals, unpriced, steps)


def compare_models(plan: Sequence[Step], book: PriceBook, models: Sequence[tuple[str, str]], *,
                   history: pl.LazyFrame | None = None, at: dt.datetime | None = None) -> pl.DataFrame:
    """The plan as it is (first row, provider and model "as planned"), then with its LLM steps on each of
    `models` (cheapest first), each with its expected difference from the plan in USD and as a share."""
    rows = []
    for provider, model in [("as planned", "as planned"), *models]:
        swapped = [replace(p, provider=provider, model=model) if p.service == "llm" and provider != "as planned"
                   else p for p in plan]
        e = estimate(swapped, book, history=history, at=at)
        rows.append({"provider": provider, "model": model, "low_usd": e.low_usd, "expected_usd": e.expected_usd,
                     "high_usd": e.high_usd, "unpriced_steps": e.unpriced_steps})
    frame = pl.DataFrame(rows, schema_overrides={"expected_usd": pl.Float64, "low_usd": pl.Float64,
                                                 "high_usd": pl.Float64})
    base = frame["expected_usd"][0]
    frame = frame.with_columns((pl.col("expected_usd") - base).alias("difference_usd"),
                               ((pl.col("expected_usd") - base) / base if base else pl.lit(None, pl.Float64))
                               .alias("difference_pct"))
    return pl.concat([frame.head(1), frame.slice(1).sort("expected_usd", nulls_last=True)])


def video_pipeline(*, stories: int = 3, images: int = 6, dialogue_chars: int = 2600, story_tokens: int = 600,
                   render_seconds: float = 95.0) -> list[Step]:
    """The seeds' video pipeline: find stories, write the script, draw images, voice the dialogue, render."""
    return [
        Step("google", "gemini-2.5-flash", count=stories, input_tokens=900, output_tokens=story_tokens,
             operation="story_generation", stage="story"),
        Step("openai", "gpt-4o", input_tokens=2400, output_tokens=1500, operation="script_generation", stage="script"),
        Step("google", "imagen-4.0-generate-001", "image", count=images, images=1, operation="images_generation",
             stage="images"),
        Step("elevenlabs", "eleven_multilingual_v2", "tts", characters=dialogue_chars, operation="voice_generation",
             stage="voice"),
        Step("modal", "gpu-a100-40gb", "compute", compute_seconds=render_seconds, operation="render", stage="render"),
    ]


def _from_plan(step: Step) -> tuple[dict, dict, dict]:
    u = step.usage()
    low, high = NO_HISTORY_RANGE
    return ({k: _scaled(k, v, low) for k, v in u.items()}, u, {k: _scaled(k, v, high) for k, v in u.items()})


def _scaled(column: str, value: float, factor: float) -> float:
    scaled = value * factor
    return round(scaled) if column in s.COUNT_COLUMNS else scaled


def _from_history(step: Step, history: pl.LazyFrame) -> tuple[str, tuple[dict, dict, dict]] | None:
    where = (pl.col(s.PROVIDER) == step.provider) & (pl.col(s.MODEL) == step.model)
    if step.operation:
        where &= pl.col(s.OPERATION) == step.operation
    elif step.stage:
        where &= pl.col(s.STAGE) == step.stage
    else:
        return None
    seen = history.filter(where).select(USAGE).collect()
    if seen.height < MIN_HISTORY_CALLS:
        return None
    used = [c for c in USAGE if seen[c].fill_null(0).sum() > 0]
    levels = tuple({c: _quantile(seen[c], q, c) for c in used} for q in (0.1, 0.5, 0.9))
    return f"history ({seen.height:,} calls: p10/p50/p90)", levels  # type: ignore[return-value]


def _quantile(values: pl.Series, q: float, column: str) -> float:
    v = values.fill_null(0).quantile(q, interpolation="linear") or 0.0
    return round(v) if column in s.COUNT_COLUMNS else v

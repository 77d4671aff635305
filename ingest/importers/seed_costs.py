"""Daily cost logs as the seeds' pipelines write them: `costs_YYYY-MM-DD.jsonl`.

One JSON object a line: `timestamp` (often naive local time: pass `tz`), `service`
(the API: gemini, nanobanana, elevenlabs, …), `operation`, `cost` (what the pipeline
computed: kept as the reported cost), `metadata` (tokens, characters, images, model…),
`video_id` (the job). The line's text is the record's identity, so re-imports count once and an
exact repeat of a line is a duplicate.

Examples:
    >>> line = (b'{"timestamp": "2025-01-21T10:00:00", "service": "elevenlabs", "operation": "voice",'
    ...         b' "cost": 0.15, "metadata": {"characters": 500}, "video_id": "v1"}')
    >>> raw = parse(line).raw
    >>> raw.select("provider", "service", "characters", "cost_usd", "job_id").row(0)
    ('elevenlabs', 'tts', '500', '0.15', 'v1')
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed
from ingest.importers.jsonl import read_jsonl

FIELDS = ["timestamp", "service", "operation", "cost", "metadata", "video_id"]
# The seeds name the API, not the provider; Nano Banana is Gemini 2.5 Flash Image.
PROVIDERS = {"gemini": "google", "nanobanana": "google", "nano_banana": "google", "imagen": "google",
             "claude": "anthropic", "gpt": "openai", "dalle": "openai", "whisper": "openai"}
SERVICES = {"gemini": "llm", "openai": "llm", "anthropic": "llm", "claude": "llm", "nanobanana": "image",
            "nano_banana": "image", "imagen": "image", "dalle": "image", "elevenlabs": "tts", "whisper": "stt"}
DEFAULT_MODELS = {"nanobanana": "gemini-2.5-flash-image", "nano_banana": "gemini-2.5-flash-image"}
METADATA = {
    s.MODEL: ["model"],
    s.INPUT_TOKENS: ["input_tokens", "prompt_tokens"],
    s.OUTPUT_TOKENS: ["output_tokens", "completion_tokens"],
    s.CHARACTERS: ["characters", "character_count", "text_length", "chars"],
    s.IMAGES: ["num_images", "images", "image_count"],
    s.AUDIO_SECONDS: ["audio_seconds", "duration_seconds"],
    s.PROJECT: ["project"],
    s.STAGE: ["stage"],
}


def looks_like(first: dict) -> bool:
    return {"timestamp", "service", "cost"} <= first.keys()


def parse(source: Path | bytes) -> Parsed:
    rows = read_jsonl(source, {f: pl.String for f in FIELDS})
    api = pl.col("service").str.strip_chars().str.to_lowercase()
    meta = pl.col("metadata")

    def from_metadata(keys: list[str]) -> pl.Expr:
        return pl.coalesce([meta.str.json_path_match(f"$.{k}") for k in keys])

    operation = pl.col("operation").str.to_lowercase()
    kind = (pl.when(api.is_in(list(SERVICES))).then(api.replace_strict(SERVICES, default=None))
            .when(operation.str.contains("image")).then(pl.lit("image"))
            .when(operation.str.contains("voice|tts|speech")).then(pl.lit("tts"))
            .otherwise(pl.lit("other")))
    raw = rows.frame.select(
        pl.col("timestamp").alias(s.TS),
        api.replace(PROVIDERS).alias(s.PROVIDER),
        pl.coalesce(from_metadata(METADATA[s.MODEL]), api.replace_strict(DEFAULT_MODELS, default=None),
                    api).alias(s.MODEL),
        kind.alias(s.SERVICE),
        pl.col("operation").alias(s.OPERATION),
        pl.col("video_id").alias(s.JOB_ID),
        pl.col("cost").alias(s.COST),
        *[from_metadata(keys).alias(column) for column, keys in METADATA.items() if column not in (s.MODEL, s.IMAGES)],
        # an image call without a count made one image
        pl.coalesce(from_metadata(METADATA[s.IMAGES]), pl.when(kind == "image").then(pl.lit("1"))).alias(s.IMAGES),
        meta.alias(s.TAGS),
    ).with_columns(pl.Series(s.EVENT_ID, _line_ids(rows.lines), dtype=pl.String))
    return Parsed(raw, rows.line_numbers, "line", rows.lines, rows.bad, content_ids=True)


def _line_ids(lines: list[bytes]) -> list[str]:
    """Identity of each line: its text (an exact repeat of a line is the same record: a duplicate)."""
    return [s.stable_id(line, "0") for line in lines]  # ("0": the ids earlier versions gave first occurrences)

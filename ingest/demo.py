"""A deterministic, realistic demo lake: pipelines of stages, chat agents, growth, a spike.

Examples:
    >>> import datetime as dt
    >>> events = demo_events(today=dt.date(2026, 3, 31), days=7, seed=1)
    >>> events.height > 1000, sorted(events["service"].unique())
    (True, ['compute', 'image', 'llm', 'tts'])
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import polars as pl

from ingest import schema as s
from ingest.lake import Lake
from ingest.pipeline import ImportSummary, ingest_frame

PIPELINE_PROJECTS = {"shorts-factory": 1.0, "podcast-studio": 0.45, "marketing-videos": 0.3}
AGENT_PROJECTS = {"support-bot": 1.0, "docs-assistant": 0.6, "research-agent": 0.35}
USERS = ["ana", "ben", "chen", "dara", "eli", "fatima"]
# (stage, provider, model, service) of the video pipeline the seeds describe
STAGES = [
    ("story", "google", "gemini-2.5-flash", "llm"),
    ("script", "openai", "gpt-4o", "llm"),
    ("images", "google", "imagen-4.0-generate-001", "image"),
    ("voice", "elevenlabs", "eleven_multilingual_v2", "tts"),
    ("render", "modal", "gpu-a100-40gb", "compute"),
]
AGENT_MODELS = [("anthropic", "claude-sonnet-4-5", 0.55), ("anthropic", "claude-haiku-4-5", 0.25),
                ("openai", "gpt-4o-mini", 0.2)]
SPIKE_DAYS_AGO = 12


def demo_events(today: dt.date | None = None, *, days: int = 120, seed: int = 7) -> pl.DataFrame:
    """Raw demo events (schema columns) for the `days` days ending `today` (UTC); none in the future."""
    now = dt.datetime.now(dt.UTC)
    today = today or now.date()
    cutoff = min(now, dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC))
    rng = random.Random(seed)
    rows: list[dict] = []
    start = today - dt.timedelta(days=days - 1)
    for d in range(days):
        day = start + dt.timedelta(days=d)
        growth = 1 + 0.8 * d / days
        weekly = 0.45 if day.weekday() >= 5 else 1.0
        for project, weight in PIPELINE_PROJECTS.items():
            for _ in range(_poisson(rng, 9 * weight * growth * weekly)):
                _pipeline_job(rng, rows, day, project)
        for project, weight in AGENT_PROJECTS.items():
            spike = 14 if project == "research-agent" and d == days - 1 - SPIKE_DAYS_AGO else 1
            for _ in range(_poisson(rng, 150 * weight * growth * weekly * spike)):
                _agent_call(rng, rows, day, project, runaway=spike > 1)
    present = {k for row in rows for k in row}  # rows differ in their fields: a TTS call has characters, not tokens
    columns = {c: [row.get(c) for row in rows] for c in s.COLUMNS if c in present}
    frame = pl.DataFrame(columns, schema={c: s.POLARS_SCHEMA[c] for c in columns}) if rows else s.empty_events()
    return frame.filter(pl.col(s.TS) < cutoff).sort(s.TS)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth for small means, normal approximation above
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    hour = min(23.99, max(0.0, rng.gauss(14, 4)))  # office hours, UTC
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(hours=hour)


def _event(rng: random.Random, ts: dt.datetime, **fields: object) -> dict:
    ms = int(ts.timestamp() * 1000)
    failed = rng.random() < 0.03
    base = {
        s.EVENT_ID: f"{ms:013d}{rng.getrandbits(64):016x}", s.TS: ts,
        s.LATENCY_MS: round(rng.lognormvariate(6.8, 0.6), 1), s.RETRIES: rng.choice([1, 1, 2]) if failed else 0,
        s.SUCCESS: not failed, s.CACHE_HIT: False,
    }
    return {**base, **fields}


def _pipeline_job(rng: random.Random, rows: list[dict], day: dt.date, project: str) -> None:
    ts = _moment(rng, day)
    job = f"{project[:5]}-{day:%m%d}-{rng.getrandbits(24):06x}"
    stories = rng.choice([3, 4, 5])
    for stage, provider, model, service in STAGES:
        calls = {"story": stories, "script": 1, "images": rng.randint(4, 8), "voice": 1, "render": 1}[stage]
        for _ in range(calls):
            ts += dt.timedelta(seconds=rng.uniform(2, 40))
            usage: dict[str, object] = {}
            if service == "llm":
                usage = {s.INPUT_TOKENS: max(50, int(rng.gauss(900 if stage == "story" else 2400, 150))),
                         s.OUTPUT_TOKENS: max(20, int(rng.gauss(600 if stage == "story" else 1500, 200)))}
            elif service == "image":
                usage = {s.IMAGES: 1}
            elif service == "tts":
                usage = {s.CHARACTERS: max(200, int(rng.gauss(2600, 500)))}
            else:
                usage = {s.COMPUTE_SECONDS: max(10.0, round(rng.gauss(95, 20), 1))}
            rows.append(_event(rng, ts, **{s.PROVIDER: provider, s.MODEL: model, s.SERVICE: service,
                                           s.OPERATION: f"{stage}_generation" if service != "compute" else "render",
                                           s.PROJECT: project, s.JOB_ID: job, s.STAGE: stage,
                                           s.USER: rng.choice(USERS[:3]), s.TAGS: json.dumps({"env": "prod"})},
                               **usage))


def _agent_call(rng: random.Random, rows: list[dict], day: dt.date, project: str, *, runaway: bool) -> None:
    provider, model = _weighted(rng, AGENT_MODELS)
    if runaway:
        provider, model = "anthropic", "claude-opus-4-5"
    cached = provider == "anthropic" and rng.random() < 0.6
    prompt = int(rng.lognormvariate(8.3, 0.7))
    usage = {
        s.INPUT_TOKENS: prompt // 10 if cached else prompt,
        s.CACHE_READ_TOKENS: prompt - prompt // 10 if cached else 0,
        s.CACHE_WRITE_TOKENS: 0 if cached or provider != "anthropic" else prompt // 2,
        s.OUTPUT_TOKENS: int(rng.lognormvariate(6.0, 0.6)),
    }
    rows.append(_event(rng, _moment(rng, day), **{
        s.PROVIDER: provider, s.MODEL: model, s.SERVICE: "llm", s.OPERATION: "chat" if project != "research-agent"
        else "research", s.PROJECT: project, s.AGENT: f"{project.split('-')[0]}-agent", s.USER: rng.choice(USERS),
        s.CACHE_HIT: cached, s.TAGS: json.dumps({"env": "prod"}), **usage}))


def _weighted(rng: random.Random, options: list[tuple[str, str, float]]) -> tuple[str, str]:
    x = rng.random()
    for provider, model, weight in options:
        x -= weight
        if x <= 0:
            return provider, model
    return options[-1][0], options[-1][1]


def write_demo(lake: Lake, today: dt.date | None = None, *, days: int = 120, seed: int = 7) -> ImportSummary:
    """Write the demo events into `lake` (idempotent: the ids are deterministic)."""
    return ingest_frame(lake, demo_events(today, days=days, seed=seed), source="demo")

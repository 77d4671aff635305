"""The demo lake tells the story the README promises: every kind of spend, priced, with a spike."""

import datetime as dt

import polars as pl
import pytest

from ingest import schema as s
from ingest.demo import SPIKE_DAYS_AGO, demo_events

TODAY = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def demo(book):
    return book.price(s.validate(demo_events(TODAY, days=90)).events)


def test_every_service_carries_its_own_units_and_is_priced(demo):
    units = demo.group_by(s.SERVICE).agg(
        pl.col(s.INPUT_TOKENS).sum(), pl.col(s.CHARACTERS).sum(), pl.col(s.IMAGES).sum(),
        pl.col(s.COMPUTE_SECONDS).sum(), pl.col(s.COST).sum()).sort(s.SERVICE)
    by = {r[s.SERVICE]: r for r in units.iter_rows(named=True)}
    assert set(by) == {"llm", "tts", "image", "compute"}
    assert by["llm"][s.INPUT_TOKENS] > 0 and by["tts"][s.CHARACTERS] > 0
    assert by["image"][s.IMAGES] > 0 and by["compute"][s.COMPUTE_SECONDS] > 0
    assert all(r[s.COST] > 0 for r in by.values())
    assert demo.filter(pl.col(s.COST_SOURCE) == "unpriced").height == 0


def test_agents_read_from_the_cache_and_some_calls_fail(demo):
    anthropic = demo.filter(pl.col(s.PROVIDER) == "anthropic")
    assert anthropic[s.CACHE_READ_TOKENS].sum() > anthropic[s.INPUT_TOKENS].sum()  # cached prompts dominate
    assert demo[s.AGENT].drop_nulls().n_unique() >= 3
    failed = demo.filter(~pl.col(s.SUCCESS))
    assert 0.01 < failed.height / demo.height < 0.06 and failed[s.RETRIES].min() >= 1


def test_pipelines_run_their_stages_in_order(demo):
    first = demo.filter(pl.col(s.JOB_ID).is_not_null()).group_by(s.JOB_ID, s.STAGE).agg(pl.col(s.TS).min())
    order = first.sort(s.TS).group_by(s.JOB_ID, maintain_order=True).agg(pl.col(s.STAGE))
    complete = order.filter(pl.col(s.STAGE).list.len() == 5)
    assert complete.height > 0.99 * order.height  # only a job still running at the window's end is cut short
    assert complete[s.STAGE].list.join(">").unique().to_list() == ["story>script>images>voice>render"]
    assert demo[s.PROJECT].n_unique() >= 5


def test_weekends_are_quieter_spend_grows_and_one_day_spikes(demo):
    daily = demo.group_by(pl.col(s.TS).dt.date().alias("day")).agg(pl.col(s.COST).sum()).sort("day")
    weekend = daily.filter(pl.col("day").dt.weekday() >= 6)[s.COST].median()
    weekday = daily.filter(pl.col("day").dt.weekday() < 6)[s.COST].median()
    assert weekend < 0.7 * weekday
    first, last = daily.head(14)[s.COST].median(), daily.tail(14)[s.COST].median()
    assert last > 1.3 * first
    research = demo.filter(pl.col(s.PROJECT) == "research-agent").group_by(
        pl.col(s.TS).dt.date().alias("day")).agg(pl.col(s.COST).sum()).sort(s.COST)
    assert research["day"][-1] == TODAY - dt.timedelta(days=SPIKE_DAYS_AGO)
    assert research[s.COST][-1] > 5 * research[s.COST].median()

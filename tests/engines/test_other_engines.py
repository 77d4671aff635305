"""Other engines read the lake as Spendlake does: the README's DuckDB and Spark SQL, run as the
README writes them (on a lake of the test's), give Spendlake's own totals per day, provider and
project, also after a compaction and a reprice, and with a compaction or a reprice killed between
putting its new file in place and deleting the files it replaces (where a plain glob counts the
day twice). Spark runs in local mode (PySpark, Debian's Java; `./dev test` installs both)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

import analytics
import ingest.lake
from ingest import schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from ingest.price_rules import PriceRule, add_override
from ingest.pricing import PriceBook
from ingest.reprice import reprice
from tests.helpers import same

README = Path(__file__).resolve().parents[2] / "README.md"
TODAY = dt.date(2026, 3, 31)
Totals = dict[tuple[dt.date, str, str], float]


def readme_sql(engine: str, events: Path) -> list[str]:
    """The README's statements for `engine`, reading the events folder `events`."""
    block = re.search(rf"<!-- engine: {engine} -->\n```sql\n(.*?)```", README.read_text(), re.S)
    assert block, f"the README has no SQL for {engine}"
    return [q.strip().replace("data/lake/events", str(events)) for q in block.group(1).split(";") if q.strip()]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[1]").appName("spendlake-tests")
               .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spendlake(lake: Lake) -> Totals:
    """Spendlake's answer: its daily rollup, as its reports read it."""
    table = analytics.daily(lake).group_by(s.DATE, s.PROVIDER, s.PROJECT).agg(pl.col(s.COST).sum()).collect()
    return {(d, p, j): c for d, p, j, c in table.iter_rows()}


def with_duckdb(lake: Lake) -> Totals:
    con = duckdb.connect()
    *setup, query = readme_sql("duckdb", lake.events_dir)
    for statement in setup:
        con.execute(statement)
    return {(d, p, j): c for d, p, j, c in con.execute(query).fetchall()}


def with_spark(spark, lake: Lake) -> Totals:
    *setup, query = readme_sql("spark", lake.events_dir)
    for statement in setup:
        spark.sql(statement)
    return {(r[0], r[1], r[2]): r[3] for r in spark.sql(query).collect()}


def plain_glob(lake: Lake) -> Totals:
    """What a query that does not keep the newest row per id counts."""
    rows = duckdb.sql(f"SELECT date, provider, project, sum(cost_usd) FROM read_parquet('{lake.events_dir}/*/*.parquet', "
                      "hive_partitioning = true) GROUP BY ALL").fetchall()
    return {(d, p, j): c for d, p, j, c in rows}


def assert_engines_agree(spark, lake: Lake) -> Totals:
    ours = spendlake(lake)
    assert ours and sum(ours.values()) > 0
    assert same(with_duckdb(lake), ours)
    assert same(with_spark(spark, lake), ours)
    return ours


def lake_with_several_files_a_day(root: Path) -> Lake:
    lake = Lake(root)
    for seed in (7, 8, 9):  # three imports: three files a day, for compaction to merge
        write_demo(lake, TODAY, days=12, seed=seed)
    return lake


def cheaper_gpt4o(lake: Lake) -> None:
    add_override(lake.overrides_path, PriceRule("openai", "gpt-4o", "input_token", Decimal("0.5"), Decimal("1000000"),
                                                dt.date(2026, 1, 1), None))


def test_duckdb_and_spark_give_spendlakes_totals_through_compaction_and_reprice(spark, tmp_path):
    lake = lake_with_several_files_a_day(tmp_path / "lake")
    fresh = assert_engines_agree(spark, lake)
    before = len(lake.files())
    lake.compact()
    assert len(lake.files()) < before
    assert same(assert_engines_agree(spark, lake), fresh)
    cheaper_gpt4o(lake)
    reprice(lake, PriceBook.load(lake.overrides_path))
    repriced = assert_engines_agree(spark, lake)
    assert sum(repriced.values()) < sum(fresh.values())  # the reprice changed what every engine counts


class Killed(Exception):
    """A writer stopped between putting its new file in place and deleting the old ones."""


def test_a_rewrite_killed_half_way_is_counted_once_by_the_readmes_sql(spark, tmp_path, monkeypatch):
    lake = lake_with_several_files_a_day(tmp_path / "lake")
    fresh = spendlake(lake)

    def killed(paths):
        raise Killed
    monkeypatch.setattr(ingest.lake, "_unlink_all", killed)
    with pytest.raises(Killed):
        lake.compact()
    assert list(lake.journal_dir.glob("*.json"))  # the journal names the files the merged one replaces
    assert not same(plain_glob(lake), fresh)  # a plain glob counts the merged day twice
    assert same(assert_engines_agree(spark, lake), fresh)

    cheaper_gpt4o(lake)
    with pytest.raises(Killed):  # finishes the compaction first, then dies in its first repriced day
        reprice(lake, PriceBook.load(lake.overrides_path))
    repriced = assert_engines_agree(spark, lake)  # the repriced rows win over the ones they replace
    assert not same(repriced, fresh)
    monkeypatch.undo()
    reprice(lake, PriceBook.load(lake.overrides_path))  # the next writer finishes what was killed
    assert not list(lake.journal_dir.glob("*.json"))
    assert same(plain_glob(lake), assert_engines_agree(spark, lake))

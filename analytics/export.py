"""Any result out as CSV or JSON; CSV cells that a spreadsheet would run as a formula are defused.

Examples:
    >>> import polars as pl
    >>> print(to_csv(pl.DataFrame({"project": ["=HYPERLINK(1)", "shorts"], "cost_usd": [-1.5, 2.0]})), end="")
    project,cost_usd
    '=HYPERLINK(1),-1.5
    shorts,2.0
    >>> to_json(pl.DataFrame({"a": [1]}))
    '[{"a":1}]'
"""

from __future__ import annotations

import json

import polars as pl

from ingest import schema as s

FORMULA = r"^[=+\-@\t\r]"


CSV_DECIMALS = 6  # floats in CSV, to a millionth (of a dollar); JSON and Parquet keep every digit


def to_csv(frame: pl.DataFrame) -> str:
    """CSV text; a text cell starting with = + - @ (or tab/CR) gets a leading ' (OWASP's advice);
    floats rounded to `CSV_DECIMALS` places, so sums show no float noise.

    Every text-like column is defused (categoricals and enums too); lists, arrays and structs
    are written as JSON text, defused as well.

    Examples:
        >>> frame = pl.DataFrame({"kind": ["=1"], "tags": [["@x", "y"]]}, schema={"kind": pl.Categorical,
        ...                                                                      "tags": pl.List(pl.String)})
        >>> print(to_csv(frame), end="")
        kind,tags
        '=1,"[""@x"", ""y""]"
        >>> print(to_csv(pl.DataFrame({"cost_usd": [0.1 + 0.2]})), end="")  # not 0.30000000000000004
        cost_usd
        0.3
    """
    def as_text(c: str, dtype: pl.DataType) -> pl.Expr:
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            return pl.col(c).cast(pl.String)
        if dtype.is_nested():
            return pl.col(c).map_elements(lambda v: json.dumps(_plain(v), default=str, ensure_ascii=False),
                                          return_dtype=pl.String, skip_nulls=True)
        return pl.col(c)

    texts = frame.with_columns(as_text(c, t).alias(c) for c, t in frame.schema.items()).with_columns(
        pl.col(c).round(CSV_DECIMALS) for c, t in frame.schema.items() if t.is_float())  # no 0.30000000000000004
    safe = texts.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, t in texts.schema.items() if t == pl.String)
    return safe.write_csv()


def _plain(value: object) -> object:
    """A nested cell as JSON-ready Python (Polars gives Series for lists inside structs)."""
    if isinstance(value, pl.Series):
        return [_plain(v) for v in value.to_list()]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_json(frame: pl.DataFrame) -> str:
    """A JSON array of row objects (dates and times as ISO 8601)."""
    return frame.write_json()


# FOCUS (FinOps Open Cost and Usage Specification, https://focus.finops.org) for FinOps tools:
# one row per day, provider, model, project, stage and charge kind (input tokens, output tokens, …).
CHARGE_KINDS = {  # charge column → (description, consumed unit, pricing unit)
    "input_tokens": ("input tokens", "Tokens", "1M Tokens"),
    "cache_read_tokens": ("cache read tokens", "Tokens", "1M Tokens"),
    "cache_write_tokens": ("cache write tokens (5 min)", "Tokens", "1M Tokens"),
    "cache_write_1h_tokens": ("cache write tokens (1 hour, premium over 5 min)", "Tokens", "1M Tokens"),
    "output_tokens": ("output tokens", "Tokens", "1M Tokens"),
    "reasoning_tokens": ("reasoning tokens (premium over output)", "Tokens", "1M Tokens"),
    "characters": ("characters", "Characters", "1K Characters"),
    "images": ("images", "Images", "Images"),
    "audio_seconds": ("audio", "Seconds", "Minutes"),
    "compute_seconds": ("compute", "Seconds", "Hours"),
    "quantity": ("units", "Units", "Units"),
    "request": ("requests", "Requests", "Requests"),
}
PRICING_PER = {"1M Tokens": 1e6, "1K Characters": 1e3, "Minutes": 60, "Hours": 3600}
FOCUS_KEYS = ("provider", "model", "service", "project", "stage")


def focus(events: pl.LazyFrame, book, rates: pl.DataFrame | None = None, currency: str = "USD") -> pl.DataFrame:
    """The events as FOCUS 1.2 cost rows (custom columns prefixed `x_`).

    The computed cost of each event is split by charge kind with the price book; a reported
    cost scales its event's parts so that BilledCost adds up to the cost that counts.
    Unpriced events appear as one row per kind with null costs, never as $0. Prices are in
    dollars (`PricingCurrency`, with the `PricingCurrency…` cost and unit prices); with `rates`
    (`date`, `rate`: units of `currency` per dollar for each day) the costs are billed in
    `currency` (`BillingCurrency`), each day's at its rate.

    Examples:
        >>> import datetime as dt, polars as pl
        >>> from ingest import schema
        >>> from ingest.pricing import PriceBook
        >>> raw = pl.DataFrame({"ts": ["2026-01-05T10:00:00Z"], "provider": ["openai"], "model": ["gpt-4o"],
        ...                     "service": ["llm"], "input_tokens": [1_000_000], "output_tokens": [100_000]})
        >>> ev = PriceBook.load().price(schema.validate(raw).events)
        >>> focus(ev.lazy(), PriceBook.load()).select("ChargeDescription", "ConsumedQuantity", "BilledCost").rows()
        [('gpt-4o input tokens', 1000000.0, 2.5), ('gpt-4o output tokens', 100000.0, 1.0)]
    """
    frame = events.select(s.COLUMNS).collect()
    parts = book.charges(frame)
    scale = pl.when(pl.col(s.COMPUTED_COST) > 0).then(pl.col(s.COST) / pl.col(s.COMPUTED_COST)).otherwise(1.0)
    kinds = [k for k in CHARGE_KINDS if f"charge_{k}" in parts.columns]
    base = parts.with_columns(scale.alias("_scale"), pl.col(s.TS).dt.date().alias("_day"), pl.lit(1).alias("request"))
    long = pl.concat([  # one row per event and charge kind: what it cost and how much was used
        base.select("_day", *FOCUS_KEYS, "_scale", pl.lit(k).alias("_kind"), pl.col(f"charge_{k}").alias("_list"),
                    pl.col(k).cast(pl.Float64).alias("_quantity")) for k in kinds])
    fee = pl.col("_kind") == "request"  # a request row only where the model charges per request
    long = long.filter((pl.col("_quantity").fill_null(0) > 0) & (~fee | (pl.col("_list").fill_null(0) > 0)))
    daily = long.group_by("_day", *FOCUS_KEYS, "_kind").agg(
        pl.col("_quantity").sum(), pl.col("_list").sum().alias("_list_sum"),
        (pl.col("_list") * pl.col("_scale")).sum().alias("_billed"),
        pl.col("_list").null_count().alias("_unpriced"))
    unit = pl.col("_kind").replace_strict({k: v[2] for k, v in CHARGE_KINDS.items()})
    start = pl.col("_day").cast(pl.Datetime("us", "UTC"))
    rate = pl.lit(1.0)
    if rates is not None:
        daily = daily.join(rates.select(pl.col("date").alias("_day"), pl.col("rate").alias("_rate")), on="_day",
                           how="left", maintain_order="left")
        rate = pl.col("_rate")
    dollars = pl.when(pl.col("_unpriced") == 0).then(pl.col("_billed"))
    listed = pl.when(pl.col("_unpriced") == 0).then(pl.col("_list_sum"))
    quantity = pl.col("_quantity") / unit.replace_strict(PRICING_PER, default=1.0, return_dtype=pl.Float64)
    per_unit = pl.when(quantity > 0).then(listed / quantity)  # the list price of one pricing unit, in dollars
    billed = dollars * rate
    return daily.sort("_day", *FOCUS_KEYS, "_kind", nulls_last=True).select(
        billed.alias("BilledCost"), billed.alias("EffectiveCost"), (listed * rate).alias("ListCost"),
        billed.alias("ContractedCost"),
        pl.lit(currency).alias("BillingCurrency"),
        (per_unit * rate).alias("ListUnitPrice"), (per_unit * rate).alias("ContractedUnitPrice"),
        pl.lit("USD").alias("PricingCurrency"), dollars.alias("PricingCurrencyEffectiveCost"),
        per_unit.alias("PricingCurrencyListUnitPrice"), per_unit.alias("PricingCurrencyContractedUnitPrice"),
        pl.col("project").fill_null("unattributed").alias("SubAccountId"),
        start.alias("ChargePeriodStart"), (start + pl.duration(days=1)).alias("ChargePeriodEnd"),
        pl.col("_day").dt.month_start().cast(pl.Datetime("us", "UTC")).alias("BillingPeriodStart"),
        (pl.col("_day").dt.month_end() + pl.duration(days=1)).cast(pl.Datetime("us", "UTC")).alias("BillingPeriodEnd"),
        pl.lit("Usage").alias("ChargeCategory"), pl.lit(None, pl.String).alias("ChargeClass"),
        pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.concat_str(pl.col("model"), pl.lit(" "),
                      pl.col("_kind").replace_strict({k: v[0] for k, v in CHARGE_KINDS.items()})).alias("ChargeDescription"),
        pl.col("_quantity").alias("ConsumedQuantity"),
        pl.col("_kind").replace_strict({k: v[1] for k, v in CHARGE_KINDS.items()}).alias("ConsumedUnit"),
        quantity.alias("PricingQuantity"),
        unit.alias("PricingUnit"),
        pl.col("provider").alias("ProviderName"), pl.col("provider").alias("PublisherName"),
        pl.col("provider").alias("InvoiceIssuerName"), pl.col("model").alias("ServiceName"),
        pl.lit("AI and Machine Learning").alias("ServiceCategory"),
        pl.concat_str("provider", "model", "_kind", separator="/").alias("SkuId"),
        pl.col("service").alias("x_Service"), pl.col("stage").alias("x_Stage"), pl.col("_kind").alias("x_ChargeKind"),
    )

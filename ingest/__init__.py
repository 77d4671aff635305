"""Events in: schema, validation, pricing, the lake writer, the tracker SDK, SDK instrumentation and importers."""

from ingest.errors import (BudgetExceeded, ConfirmationRequired, ImportFormatError, LakeError, PricingError, SpendlakeError,
                           ValidationError)
from ingest.instrument import instrument
from ingest.lake import Lake
from ingest.pipeline import ImportSummary, ingest_frame
from ingest.pricing import PriceBook
from ingest.tracker import Tracker

__all__ = ["Lake", "PriceBook", "Tracker", "instrument", "ImportSummary", "ingest_frame", "SpendlakeError", "ValidationError",
           "LakeError", "PricingError", "ImportFormatError", "BudgetExceeded", "ConfirmationRequired"]

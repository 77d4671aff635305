"""Exceptions Spendlake raises; the CLI and the app turn them into one clear message."""


class SpendlakeError(Exception):
    """Base class of every error Spendlake raises on purpose."""


class ValidationError(SpendlakeError):
    """A record or a whole input does not satisfy the event schema."""


class LakeError(SpendlakeError):
    """The lake is missing, corrupt, or laid out in a way Spendlake cannot read safely."""


class PricingError(SpendlakeError):
    """A price rule or override is invalid."""


class ImportFormatError(SpendlakeError):
    """An input file cannot be read in the format asked for or detected."""

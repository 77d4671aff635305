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


class OptionError(SpendlakeError):
    """An argument a person gave cannot be used: the message says which form is accepted."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option  # the option or argument it is about (--older-than), when known


class BudgetExceeded(SpendlakeError):
    """A call refused before it was sent: it would take a `hard_stop` budget past its limit."""

    def __init__(self, message: str, *, budget: str, limit_usd: float, spent_usd: float, call_usd: float,
                 currency: str = "USD") -> None:
        super().__init__(message)
        # the limit and what is spent are in the budget's `currency` (the call in dollars)
        self.budget, self.limit_usd, self.spent_usd, self.call_usd = budget, limit_usd, spent_usd, call_usd
        self.currency = currency


class ConfirmationRequired(BudgetExceeded):
    """A call that would take a `require_confirmation` budget past its limit, made outside
    `tracker.confirmed(reason=…)`."""

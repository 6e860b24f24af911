"""The root exception of the project; every error we raise on purpose derives from it."""

__all__ = ["CashlessError", "ConfigError"]


class CashlessError(Exception):
    """An expected failure with a message meant for the user, shown without a traceback."""


class ConfigError(CashlessError):
    """A setting, file or taxonomy that cannot be used as given."""

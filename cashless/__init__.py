"""Cashless Monitor: the shared core (event schema, taxonomy, settings) and the command line."""

__all__ = ["__version__"]

__version__ = "0.1.0"

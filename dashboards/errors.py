"""Errors of the dashboards package; each is a `CashlessError`, shown as one clear line."""

from __future__ import annotations

from cashless.errors import CashlessError

__all__ = ["PublishError"]


class PublishError(CashlessError):
    """Grafana could not be reached, refused the token, is too old, or rejected an object."""

"""The gateway's errors: it cannot start as configured, or Kafka did not take a request."""

from __future__ import annotations

from cashless.errors import CashlessError

__all__ = ["GatewayError", "PublishError"]


class GatewayError(CashlessError):
    """The gateway cannot start as configured (port in use, no tokens, …)."""


class PublishError(CashlessError):
    """Kafka did not take the records: unreachable, failed or not acknowledged in time."""

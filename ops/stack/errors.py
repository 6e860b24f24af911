"""The stack's one error."""

from __future__ import annotations

from cashless.errors import CashlessError

__all__ = ["StackError"]


class StackError(CashlessError):
    """The stack cannot be started, stopped or inspected as asked."""

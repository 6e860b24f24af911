"""What several `cashless` commands share: the error-to-exit-status rule and common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from cashless.errors import CashlessError, ConfigError

__all__ = [
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "fail",
    "friendly_errors",
    "kafka_options",
    "stack_options",
]

EXIT_RUNTIME = 1  # the work could not be done: a server unreachable, a file unreadable
EXIT_USAGE = 2  # the command was given something it cannot use: a flag, a setting, a file

_F = TypeVar("_F", bound=Callable[..., Any])


def fail(error: CashlessError) -> None:
    """Show `error` as one line on stderr and exit: status 2 for a setting, 1 for the rest."""
    click.secho(f"error: {error}", fg="red", err=True)
    sys.exit(EXIT_USAGE if isinstance(error, ConfigError) else EXIT_RUNTIME)


def friendly_errors(func: _F) -> _F:
    """Run a command so that an expected failure is one line and an exit status, no traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CashlessError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def _apply(func: _F, options: list[Callable[[_F], _F]]) -> _F:
    for option in reversed(options):
        func = option(func)
    return func


def kafka_options(func: _F) -> _F:
    """`--bootstrap-servers` and `--topic-prefix`, read into `KafkaSettings` by the command."""
    return _apply(
        func,
        [
            click.option(
                "--bootstrap-servers",
                help="Kafka bootstrap servers [env CASHLESS_BOOTSTRAP_SERVERS; default "
                "127.0.0.1:9092].",
            ),
            click.option(
                "--topic-prefix", help="Prefix of the topic names [env CASHLESS_TOPIC_PREFIX]."
            ),
        ],
    )


def stack_options(func: _F) -> _F:
    """Where the local stack keeps its state and the ports of its servers."""
    return _apply(
        func,
        [
            click.option(
                "--data-dir",
                type=click.Path(path_type=Path, file_okay=False),
                help="Where the stack keeps its state [env CASHLESS_DATA_DIR; default .cashless].",
            ),
            click.option(
                "--kafka-port", type=int, help="Kafka listener [CASHLESS_KAFKA_PORT; 9092]."
            ),
            click.option(
                "--prometheus-port", type=int, help="Prometheus [CASHLESS_PROMETHEUS_PORT; 9090]."
            ),
            click.option(
                "--alertmanager-port",
                type=int,
                help="Alertmanager [CASHLESS_ALERTMANAGER_PORT; 9093].",
            ),
        ],
    )

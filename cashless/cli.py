"""The `cashless` command line (contract 3): one entry point, a subcommand per job.

Each subcommand reads its settings from flags or `CASHLESS_*` environment variables through
`cashless.settings`; an expected failure (`CashlessError`) is shown as one clear line on stderr
with exit status 1, never as a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from cashless import __version__
from cashless.errors import CashlessError
from cashless.settings import StackSettings, settings_from

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _friendly_errors(func: _F) -> _F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CashlessError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cashless")
@click.option(
    "--log-level",
    envvar="CASHLESS_LOG_LEVEL",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="How much to log (env CASHLESS_LOG_LEVEL).",
)
def cli(log_level: str) -> None:
    """Cashless Monitor: watch cashless payment adoption in Hanoi, live."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


# -- stack ---------------------------------------------------------------------------------------


def _stack_options(func: _F) -> _F:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Where the stack keeps its state [env CASHLESS_DATA_DIR; default .cashless].",
        ),
        click.option("--kafka-port", type=int, help="Kafka listener [CASHLESS_KAFKA_PORT; 9092]."),
        click.option(
            "--prometheus-port", type=int, help="Prometheus [CASHLESS_PROMETHEUS_PORT; 9090]."
        ),
        click.option(
            "--alertmanager-port",
            type=int,
            help="Alertmanager [CASHLESS_ALERTMANAGER_PORT; 9093].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _stack(**flags: Any) -> Any:
    from ops.stack import Stack

    return Stack(settings_from(StackSettings, **flags))


def _print_status(statuses: list[Any]) -> bool:
    healthy = True
    for status in statuses:
        if status.running and status.ready:
            state = click.style("ready", fg="green")
        elif status.running:
            state = click.style("running, not ready", fg="yellow")
            healthy = False
        else:
            state = click.style("stopped", fg="red")
            healthy = False
        pid = f"pid {status.pid}" if status.pid else ""
        click.echo(f"{status.name:<13} {state:<25} {status.url:<28} {pid}")
    return healthy


@cli.group()
def stack() -> None:
    """Run the local Kafka, Prometheus and Alertmanager without Docker."""


@stack.command("up")
@_stack_options
@_friendly_errors
def stack_up(**flags: Any) -> None:
    """Start the stack (idempotent) and wait until every server is ready."""
    local = _stack(**flags)
    statuses = local.up(progress=lambda message: click.echo(f"… {message}", err=True))
    _print_status(statuses)


@stack.command("down")
@_stack_options
@click.option("--purge", is_flag=True, help="Also delete the data directory (all state).")
@_friendly_errors
def stack_down(purge: bool, **flags: Any) -> None:
    """Stop the servers this stack started (by pid file, never by name)."""
    _stack(**flags).down(purge=purge, progress=lambda message: click.echo(f"… {message}", err=True))
    click.echo("stack stopped" + (" and its state deleted" if purge else ""))


@stack.command("status")
@_stack_options
@_friendly_errors
def stack_status(**flags: Any) -> None:
    """Tell what runs; exit status 0 only when every server is running and ready."""
    if not _print_status(_stack(**flags).status()):
        sys.exit(3)


@stack.command("fetch")
@_stack_options
@_friendly_errors
def stack_fetch(**flags: Any) -> None:
    """Resolve the Kafka broker's jars from Maven Central into the cache (done by `up` too)."""
    libs = _stack(**flags).fetch_kafka(progress=lambda m: click.echo(f"… {m}", err=True))
    click.echo(f"Kafka jars in {libs}")


# -- demo ----------------------------------------------------------------------------------------


@cli.command()
@_stack_options
@click.option("--rate", default="200/s", show_default=True, help="Live payment events per second.")
@click.option(
    "--history-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="Days of simulated history loaded first, so every window and trend has data.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    help="Stop after this many seconds [default: until Ctrl-C].",
)
@click.option("--worker-port", type=int, default=6066, show_default=True, help="Worker /metrics.")
@_friendly_errors
def demo(
    rate: str, history_days: int, duration: float | None, worker_port: int, **flags: Any
) -> None:
    """Everything in one command: stack, simulated history, a worker and a live simulator."""
    from cashless.demo import run_demo

    run_demo(
        settings_from(StackSettings, **flags),
        rate=rate,
        history_days=history_days,
        duration=duration,
        worker_port=worker_port,
        say=lambda message: click.echo(message, err=True),
    )


from producers.replay import replay_command  # noqa: E402

cli.add_command(replay_command)

from producers.simulate_command import simulate  # noqa: E402

cli.add_command(simulate)

from streams.worker_command import worker_command  # noqa: E402

cli.add_command(worker_command)

from dashboards.command import dashboards_group  # noqa: E402

cli.add_command(dashboards_group)

from producers.gateway_command import gateway  # noqa: E402

cli.add_command(gateway)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cashless")


if __name__ == "__main__":
    main()

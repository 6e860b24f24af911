"""`cashless stack up|down|status|fetch`: the local Kafka, Prometheus and Alertmanager."""

from __future__ import annotations

import sys
from typing import Any

import click

from cashless.settings import StackSettings, settings_from
from cli.common import friendly_errors, stack_options
from ops.stack import ComponentStatus, Stack

__all__ = ["stack"]


def _stack(**flags: Any) -> Stack:
    return Stack(settings_from(StackSettings, **flags))


def _progress(message: str) -> None:
    click.echo(f"… {message}", err=True)


def _print_status(statuses: list[ComponentStatus]) -> bool:
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


@click.group()
def stack() -> None:
    """Run the local Kafka, Prometheus and Alertmanager without Docker."""


@stack.command("up")
@stack_options
@friendly_errors
def stack_up(**flags: Any) -> None:
    """Start the stack (idempotent) and wait until every server is ready."""
    _print_status(_stack(**flags).up(progress=_progress))


@stack.command("down")
@stack_options
@click.option("--purge", is_flag=True, help="Also delete the data directory (all state).")
@friendly_errors
def stack_down(purge: bool, **flags: Any) -> None:
    """Stop the servers this stack started (by pid file, never by name)."""
    _stack(**flags).down(purge=purge, progress=_progress)
    click.echo("stack stopped" + (" and its state deleted" if purge else ""))


@stack.command("status")
@stack_options
@friendly_errors
def stack_status(**flags: Any) -> None:
    """Tell what runs; exit status 0 only when every server is running and ready."""
    if not _print_status(_stack(**flags).status()):
        sys.exit(3)


@stack.command("fetch")
@stack_options
@friendly_errors
def stack_fetch(**flags: Any) -> None:
    """Resolve the Kafka broker's jars from Maven Central into the cache (done by `up` too)."""
    click.echo(f"Kafka jars in {_stack(**flags).fetch_kafka(progress=_progress)}")

"""The `cashless` command line (contract 3): one entry point, a subcommand per job.

Each subcommand reads its settings from flags or `CASHLESS_*` environment variables through
`cashless.settings`; an expected failure (`CashlessError`) is one clear line on stderr and an
exit status (`cli.common`), never a traceback.
"""

from __future__ import annotations

import logging

import click

from cashless import __version__
from cli.dashboards import dashboards_group
from cli.demo import demo
from cli.dlq import dlq_group
from cli.gateway import gateway
from cli.profile import profile_group
from cli.replay import replay_command
from cli.report import report_command
from cli.simulate import simulate
from cli.stack import stack
from cli.worker import worker_command

__all__ = ["cli", "main"]


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


for command in (
    stack,
    demo,
    worker_command,
    simulate,
    replay_command,
    report_command,
    gateway,
    dashboards_group,
    profile_group,
    dlq_group,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cashless")

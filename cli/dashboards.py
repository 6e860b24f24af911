"""`cashless dashboards build|push`: write the dashboard files, publish them to a Grafana."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cli.common import friendly_errors

__all__ = ["dashboards_group"]


@click.group("dashboards")
def dashboards_group() -> None:
    """Grafana dashboards and alert rules as code: build the JSON, push it to a Grafana."""


@dashboards_group.command("build")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="The dashboards/ folder to write into [default: the package's own, in a checkout].",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when the files differ from what the code builds.",
)
def build_command(out: Path | None, check: bool) -> None:
    """Build every dashboard and alert rule into deterministic JSON files.

    Writes generated/<uid>.json for review, the same files under
    provisioning/dashboards/json/ for the Grafana of docker-compose, and
    generated/alert-rules.json.
    """
    from dashboards.render import PACKAGE_DIR, differences, write_files

    root = out or PACKAGE_DIR
    if check:
        problems = differences(root)
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            click.secho("dashboards are stale: run `cashless dashboards build`", fg="red", err=True)
            sys.exit(1)
        click.echo("dashboards are up to date")
        return
    changed = write_files(root)
    for relative in changed:
        click.echo(f"wrote {root / relative}", err=True)
    click.echo(f"{len(changed)} file(s) changed under {root}")


@dashboards_group.command("push")
@click.option("--url", help="Grafana's base URL [CASHLESS_GRAFANA_URL; http://127.0.0.1:3000].")
@click.option(
    "--token",
    help="A Grafana service account token (Admin role) [CASHLESS_GRAFANA_TOKEN]; "
    "prefer the environment variable, a flag shows in the process list.",
)
@click.option(
    "--prometheus-url",
    help="The Prometheus URL as Grafana's server reaches it "
    "[CASHLESS_PROMETHEUS_URL; http://127.0.0.1:9090].",
)
@click.option(
    "--timeout",
    type=float,
    help="Seconds to wait for each Grafana request [CASHLESS_GRAFANA_TIMEOUT_SECONDS; 10].",
)
@friendly_errors
def push_command(
    url: str | None, token: str | None, prometheus_url: str | None, timeout: float | None
) -> None:
    """Publish the folder, the Prometheus data source, every dashboard and alert rule.

    Creates or updates each object by its uid, so pushing twice leaves Grafana as one push
    does. Needs Grafana 11 or newer.
    """
    from cashless.settings import settings_from
    from dashboards.alerts import alert_rules
    from dashboards.publish import GrafanaSettings, Publisher
    from dashboards.render import dashboard_documents

    flags: dict[str, Any] = {
        "grafana_url": url,
        "grafana_token": token,
        "prometheus_url": prometheus_url,
        "grafana_timeout_seconds": timeout,
    }
    settings = settings_from(GrafanaSettings, **flags)
    publisher = Publisher(settings, say=lambda message: click.echo(message, err=True))
    changes = publisher.push(dashboard_documents(), alert_rules())
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    click.echo(f"pushed to {settings.grafana_url}: {summary}")

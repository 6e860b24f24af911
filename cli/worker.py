"""`cashless worker`: run one stream worker; start several to share the partitions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from cashless.anonymise import AnonymiserSettings, pseudonym_key
from cashless.errors import CashlessError
from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings, settings_from
from cli.common import friendly_errors, kafka_options

__all__ = ["worker_command"]

logger = logging.getLogger(__name__)


@click.command("worker")
@kafka_options
@click.option("--app-id", help="Consumer group and changelog names [CASHLESS_APP_ID; cashless].")
@click.option("--web-port", type=int, help="Port of /metrics [CASHLESS_WEB_PORT; 6066].")
@click.option("--web-host", help="Address of /metrics [CASHLESS_WEB_HOST; 127.0.0.1].")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Local state (RocksDB, one directory per --app-id and --web-port); a cache of the Kafka "
    "changelogs, safe to delete [CASHLESS_STATE_DIR; .cashless/worker].",
)
@click.option("--min-cell", type=int, help="Smallest cell exported [CASHLESS_MIN_CELL; 10].")
@friendly_errors
def worker_command(**flags: Any) -> None:
    """Consume payment and account events and serve the metrics at /metrics.

    Scale out by starting more workers with the same --app-id and a different --web-port:
    Kafka spreads the partitions over them, and each exports the segments it owns.
    """
    from streams.worker import Worker

    kafka = settings_from(
        KafkaSettings,
        bootstrap_servers=flags.pop("bootstrap_servers"),
        topic_prefix=flags.pop("topic_prefix"),
    )
    settings = settings_from(WorkerSettings, **flags)
    taxonomy = TaxonomySettings().load()
    key = pseudonym_key(AnonymiserSettings(), ephemeral=True, announce=logger.info)
    worker = Worker(settings, kafka, taxonomy, pseudonym_key=key)
    logger.info(
        "worker %s: metrics at http://%s:%d/metrics",
        settings.app_id,
        settings.web_host,
        settings.web_port,
    )
    try:
        worker.run()
    except OSError as exc:
        raise CashlessError(f"worker could not start: {exc}") from None

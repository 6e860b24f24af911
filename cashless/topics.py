"""The Kafka topics of contract 1, their partition counts, and creating them up front.

Topics are created by the project, never auto-created, so that every topic has the partition
count its consumers (and Faust's changelogs) expect. A prefix lets tests and staging share one
cluster without sharing data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from cashless.errors import CashlessError

__all__ = ["Topics", "ensure_topics"]

EVENTS_PARTITIONS = 12
ACCOUNTS_PARTITIONS = 12
DLQ_PARTITIONS = 3
_COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class Topics:
    """The names of the three topics, with an optional prefix."""

    prefix: str = ""

    @property
    def events(self) -> str:
        """Payment events, keyed `channel:segment`."""
        return f"{self.prefix}payments.events"

    @property
    def accounts(self) -> str:
        """Account events, keyed by holder pseudonym."""
        return f"{self.prefix}payments.accounts"

    @property
    def dlq(self) -> str:
        """Rejected input, one record per rejected event or unparseable input."""
        return f"{self.prefix}payments.dlq"

    @property
    def summaries(self) -> str:
        """Internal: each worker's per-partition summaries, read by every worker (compacted)."""
        return f"{self.prefix}payments.summaries"

    def partitions(self) -> dict[str, int]:
        """Each topic's partition count."""
        return {
            self.events: EVENTS_PARTITIONS,
            self.accounts: ACCOUNTS_PARTITIONS,
            self.dlq: DLQ_PARTITIONS,
            self.summaries: 1,
        }


def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    compacted: Mapping[str, int] | None = None,
    **client_config: object,
) -> None:
    """Create the topics that do not exist yet, and the extra `compacted` topics (name ->
    partitions); existing ones are left as they are."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_config)
    except (KafkaError, OSError) as exc:
        raise CashlessError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        wanted: dict[str, tuple[int, Mapping[str, str]]] = {
            name: (count, {}) for name, count in topics.partitions().items()
        }
        wanted[topics.summaries] = (1, _COMPACTED)
        wanted.update({name: (count, _COMPACTED) for name, count in (compacted or {}).items()})
        missing = [
            NewTopic(name, num_partitions=count, replication_factor=1, topic_configs=configs)
            for name, (count, configs) in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    except KafkaError as exc:
        raise CashlessError(f"cannot create topics on {bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()

"""The Kafka topics of contract 1, their partition counts, and creating them up front.

Topics are created by the project, never auto-created, so that every topic has the partition
count its consumers (and Faust's changelogs) expect. A prefix lets tests and staging share one
cluster without sharing data.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, OffsetSpec
from kafka.errors import KafkaError, TopicAlreadyExistsError

from cashless.errors import CashlessError
from cashless.reachable import require_reachable

__all__ = ["ClusterInfo", "Topics", "ensure_topics"]

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
    def inputs(self) -> frozenset[str]:
        """The two topics producers write and workers consume."""
        return frozenset((self.events, self.accounts))

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


@dataclass(frozen=True)
class ClusterInfo:
    """Which Kafka cluster answered, and the end offsets of the topics asked for."""

    cluster_id: str | None
    end_offsets: Mapping[str, Mapping[int, int]]


def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    compacted: Mapping[str, int] | None = None,
    **client_config: object,
) -> ClusterInfo:
    """Create the topics that do not exist yet, and the extra `compacted` topics (name ->
    partitions); existing ones are left as they are. `client_config` goes to kafka-python's
    admin client (timeouts, and the security settings of `KafkaSettings.kafka_python_config`).
    Returns the cluster's id and the end offset of each partition of the `compacted` topics."""
    require_reachable(bootstrap_servers)  # one line within seconds, not half a minute of retries
    try:
        with _auth_failures() as refused:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_config)
    except (KafkaError, OSError) as exc:
        if refused:
            raise CashlessError(
                f"Kafka at {bootstrap_servers} refused the client's credentials: {refused[-1]}; "
                "check CASHLESS_KAFKA_SASL_USERNAME, CASHLESS_KAFKA_SASL_PASSWORD and "
                "CASHLESS_KAFKA_SASL_MECHANISM"
            ) from exc
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
        cluster_id = admin.describe_cluster().get("cluster_id")
        created = {topic.name for topic in missing}
        ends: dict[str, dict[int, int]] = {
            name: dict.fromkeys(range(count), 0) for name, count in (compacted or {}).items()
        }
        specs = {  # a topic created just now is empty, and may not be in the metadata yet
            TopicPartition(name, partition): OffsetSpec.LATEST
            for name, count in (compacted or {}).items()
            if name not in created
            for partition in range(count)
        }
        for tp, found in (admin.list_partition_offsets(specs) if specs else {}).items():
            ends[tp.topic][tp.partition] = found.offset
        return ClusterInfo(cluster_id, ends)
    except KafkaError as exc:
        raise CashlessError(f"cannot create topics on {bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()


class _AuthFailureHandler(logging.Handler):
    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "AuthenticationFailedError" in message:
            self.found.append(message.rsplit("AuthenticationFailedError: ", 1)[-1].split(" (")[0])


@contextlib.contextmanager
def _auth_failures() -> Iterator[list[str]]:
    """Collect what kafka-python reports of refused credentials: its bootstrap only logs them,
    then gives up with a bare timeout, which would hide the cause."""
    found: list[str] = []
    handler = _AuthFailureHandler(found)
    kafka_logger = logging.getLogger("kafka")
    kafka_logger.addHandler(handler)
    try:
        yield found
    finally:
        kafka_logger.removeHandler(handler)

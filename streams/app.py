"""The Faust app of a worker: its settings, topics and changelogged tables, nothing else.

Keys and values are raw bytes everywhere (Faust's "raw" codec, in the tables' recovery too): the
ledgers decode records themselves, in batches.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from cashless.settings import KafkaSettings, WorkerSettings
from cashless.topics import Topics
from streams.credentials import faust_credentials
from streams.faust_seam import Transport
from streams.local_store import STORE_OPTIONS

__all__ = ["STREAM_BUFFER_RECORDS", "StreamApp", "build_app", "changelog_topics"]

# Records read ahead per input topic (Faust's default is 4096): a record holds up to 500 events,
# about 100 kB, so a worker catching up held hundreds of MB of records waiting for their batch.
STREAM_BUFFER_RECORDS = 512
# The producer's record batches (Faust's default is 16 kB): a batch's changelog writes go in whole
# batches (`streams.batches`), one per partition and round trip; below Kafka's 1 MB message limit.
CHANGELOG_BATCH_BYTES = 512 * 1024
PAYMENTS_TABLE = "payments-state"
ACCOUNTS_TABLE = "accounts-state"


@dataclass(frozen=True)
class StreamApp:
    """The app and what the worker wires to it."""

    app: faust.App
    events: Any
    accounts: Any
    dlq: Any
    summaries: Any
    payments_table: Any
    accounts_table: Any


def changelog_topics(app_id: str, topics: Topics) -> dict[str, int]:
    """The tables' changelog topics and their partition counts (those of their sources)."""
    partitions = topics.partitions()
    return {
        f"{app_id}-{PAYMENTS_TABLE}-changelog": partitions[topics.events],
        f"{app_id}-{ACCOUNTS_TABLE}-changelog": partitions[topics.accounts],
    }


def group_instance_id(settings: WorkerSettings) -> str:
    """This worker's stable name in the consumer group: one per host and web port, as its local
    state directory is one per app and web port."""
    return f"{socket.gethostname()}-{settings.web_port}"


def build_app(
    settings: WorkerSettings, kafka: KafkaSettings, topics: Topics, datadir: Path
) -> StreamApp:
    """The worker's Faust app, with the consumer of `streams.faust_seam`."""
    partitions = topics.partitions()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(kafka),
        store="rocksdb://",
        datadir=str(datadir),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        topic_partitions=partitions[topics.events],
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        # Static membership: a worker restarted after a crash takes its place in the group at
        # once instead of waiting for the session of its previous run to expire (10 s).
        consumer_group_instance_id=group_instance_id(settings),
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        broker_max_poll_records=2000,
        stream_wait_empty=False,
        stream_buffer_maxsize=STREAM_BUFFER_RECORDS,
        table_standby_replicas=0,
        producer_acks=-1,
        producer_linger_ms=20,
        producer_max_batch_size=CHANGELOG_BATCH_BYTES,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.transport = Transport(app.conf.broker_consumer, app)  # before anything creates one

    def topic(name: str) -> Any:
        return app.topic(name, value_type=bytes, key_type=bytes)

    def table(name: str, source: str) -> Any:
        return app.Table(
            name,
            partitions=partitions[source],
            key_type=bytes,
            value_type=bytes,
            options=dict(STORE_OPTIONS),  # Faust's store pops keys from it
        )

    return StreamApp(
        app=app,
        events=topic(topics.events),
        accounts=topic(topics.accounts),
        dlq=topic(topics.dlq),
        summaries=topic(topics.summaries),
        payments_table=table(PAYMENTS_TABLE, topics.events),
        accounts_table=table(ACCOUNTS_TABLE, topics.accounts),
    )

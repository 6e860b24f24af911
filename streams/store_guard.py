"""The worker's local store is a cache of the Kafka changelogs: one built from another Kafka is
discarded before Faust opens it, and rebuilt from the changelogs.

A store outlives the cluster it was built from: a stack started with another `--data-dir`, a
purged or rebuilt cluster, a state directory copied between machines. Faust would recover such a
store from the wrong changelog, or end the worker in its `ConsistencyError` ("persisted offset …
is higher than the last offset in that topic"). So before the worker starts, the store is checked
against the cluster it is about to use, two ways:

- the id of the Kafka cluster that built it, kept beside it in `kafka-cluster.id`;
- each partition database's changelog offset, which cannot lie beyond the changelog's end.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CLUSTER_ID_FILE", "guard_store", "stale_reason"]

logger = logging.getLogger(__name__)

CLUSTER_ID_FILE = "kafka-cluster.id"


def stale_reason(
    kept_cluster_id: str | None,
    cluster_id: str | None,
    persisted: Mapping[str, Mapping[int, int]],
    changelog_ends: Mapping[str, Mapping[int, int]],
) -> str | None:
    """Why a store does not belong to this cluster, or None when nothing says so.

    `persisted` and `changelog_ends` map each changelog topic to its partitions' offsets: the
    last one a partition's database holds, and the end offset of the changelog partition.
    """
    if kept_cluster_id and cluster_id and kept_cluster_id != cluster_id:
        return f"it was built from Kafka cluster {kept_cluster_id}, not {cluster_id}"
    for topic, offsets in sorted(persisted.items()):
        ends = changelog_ends.get(topic, {})
        for partition, offset in sorted(offsets.items()):
            end = ends.get(partition, 0)
            if offset >= end:
                return f"it holds offset {offset} of {topic}[{partition}], whose end is at {end}"
    return None


def guard_store(
    datadir: Path,
    tables_dir: Path,
    cluster_id: str | None,
    persisted: Mapping[str, Mapping[int, int]],
    changelog_ends: Mapping[str, Mapping[int, int]],
) -> bool:
    """Discard the table databases under `tables_dir` when they belong to another cluster, with
    one warning, and keep `cluster_id` beside them. Returns whether the store was discarded."""
    id_file = datadir / CLUSTER_ID_FILE
    kept = id_file.read_text().strip() if id_file.exists() else None
    reason = stale_reason(kept, cluster_id, persisted, changelog_ends)
    if reason is not None:
        logger.warning(
            "the local state in %s does not belong to this Kafka: %s; discarding it and "
            "rebuilding it from the changelogs",
            tables_dir,
            reason,
        )
        shutil.rmtree(tables_dir, ignore_errors=True)
    if cluster_id and cluster_id != kept:
        datadir.mkdir(parents=True, exist_ok=True)
        partial = id_file.with_suffix(".tmp")
        partial.write_text(cluster_id + "\n")
        partial.replace(id_file)
    return reason is not None

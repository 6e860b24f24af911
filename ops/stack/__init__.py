"""The local stack without Docker: a single-node Kafka (KRaft), Prometheus and Alertmanager.

Kafka runs from Maven Central jars on the machine's Java; Prometheus and Alertmanager are the
Debian packages. Everything binds to 127.0.0.1 and keeps its state under one data directory:

    <data_dir>/.cashless-stack        marker: this directory belongs to the stack (purge checks it)
    <data_dir>/cache/kafka-<v>/libs   the broker's jars, resolved by Maven (<data_dir>/cache/m2)
    <data_dir>/kafka/                 server.properties, cluster.id, log dirs, server.log, pid
    <data_dir>/prometheus/            generated prometheus.yml, TSDB, pid
    <data_dir>/alertmanager/          silences and notification log, pid

Processes are tracked by pid files and stopped by pid, never by name; a pid file whose process
is gone, or whose command line does not name this data directory, is stale and ignored.

The modules: `runner` (the `Stack` and its components), `kafka_broker` (the jars, the storage,
the Java command line, readiness), `monitoring` (Prometheus and Alertmanager: configuration,
command lines, readiness), `processes` (pid files, start, stop), `config_files` (what ships in
ops/), `ports` (free ports for the stacks of tests and benchmarks), `errors`.
"""

from ops.stack.config_files import CONFIG_DIR
from ops.stack.errors import StackError
from ops.stack.kafka_broker import KAFKA_VERSION
from ops.stack.monitoring import local_prometheus_config
from ops.stack.runner import Component, ComponentStatus, Stack

__all__ = [
    "CONFIG_DIR",
    "KAFKA_VERSION",
    "Component",
    "ComponentStatus",
    "Stack",
    "StackError",
    "local_prometheus_config",
]

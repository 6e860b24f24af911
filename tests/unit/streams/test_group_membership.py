"""A worker is a static member of its consumer group: restarted on the same host and web port
it takes its place back at once (`make bench`'s catch-up after kill -9 measures how fast);
workers side by side have names of their own, or the broker would fence one with the other."""

from __future__ import annotations

import socket
from pathlib import Path

from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings
from streams.worker import Worker


def instance_id(tmp_path: Path, port: int) -> str:
    settings = WorkerSettings(state_dir=tmp_path, web_port=port)
    worker = Worker(settings, KafkaSettings(), TaxonomySettings().load())
    name: str = worker.app.conf.consumer_group_instance_id
    return name


def test_a_restarted_worker_keeps_its_name_and_its_neighbour_has_another(tmp_path: Path) -> None:
    first, neighbour, restarted = (instance_id(tmp_path, port) for port in (6066, 6067, 6066))
    assert first == restarted
    assert neighbour != first
    assert first.startswith(socket.gethostname())

"""What the worker keeps of a rejected record in its dead letter."""

from pathlib import Path

from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings
from streams.worker import Worker


def test_a_record_nested_too_deeply_is_dead_lettered_without_a_scrubbed_copy(
    tmp_path: Path,
) -> None:
    worker = Worker(WorkerSettings(state_dir=tmp_path), KafkaSettings(), TaxonomySettings().load())
    nested = b"[" * 100_000 + b"]" * 100_000
    assert worker._scrubbed_item(nested, None) is None
    assert worker._scrubbed_item(b'[{"district": "ba-dinh"}]', 0) == {"district": "ba-dinh"}

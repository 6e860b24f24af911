"""Types of `cashless_kernel`, the payment ledger's compiled per-event work."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

__version__: str

class _Store(Protocol):
    def get_many(self, partition: int, keys: Sequence[bytes]) -> Sequence[bytes | None]: ...
    def scan(self, partition: int, prefix: bytes) -> Iterable[tuple[bytes, bytes]]: ...

_Writes = dict[bytes, bytes | None]
_Figures = tuple[dict[str, list[int]] | None, dict[int, tuple[int, int]]]
_SlowEvent = tuple[int, str, float, str, str, str, str, str, int]

class PaymentKernel:
    def __init__(
        self,
        store: _Store,
        *,
        windows: list[tuple[str, int]],
        horizon_seconds: int,
        trend_days: int,
        day_seconds: int,
        day_offset_seconds: int,
        segments: dict[str, set[str]],
        districts: set[str],
        methods: list[str],
        noncash_methods: set[str],
        max_record_bytes: int,
        seen_rows_per_key: int,
    ) -> None: ...
    def process(
        self,
        partition: int,
        records: list[tuple[int, bytes]],
        slow: Callable[[int, bytes], tuple[list[_SlowEvent], list[tuple[str, Any, bytes]]]],
        slow_items: Callable[
            [int, bytes, list[tuple[int, str]]],
            tuple[list[_SlowEvent], list[tuple[str, Any, bytes]]] | None,
        ],
        slow_offsets: set[int],
        latest: float,
    ) -> tuple[_Writes, _Writes, list[tuple[int, Any, bytes]]]: ...
    def restore(self, key: bytes, value: bytes | None) -> _Writes: ...
    def partitions(self) -> list[int]: ...
    def drop(self, partition: int) -> None: ...
    def meta(self, partition: int) -> bytes: ...
    def stream_time(self) -> float | None: ...
    def segments(
        self, partition: int, end: int | None
    ) -> list[tuple[str, str, dict[str, tuple[int, int]], _Figures]]: ...
    def districts(self, partition: int, end: int | None) -> list[tuple[str, _Figures]]: ...
    def fast_events(
        self, raw: bytes, latest: float
    ) -> list[tuple[str, float, str, str, str, str, str, int]] | None: ...

"""The worker's progress check: which owned partitions have records left and did not move, and
which were read to their end without their last records applied."""

from faust.types import TP

from streams.progress import stalled_partitions, unapplied_partitions

A, B, C = TP("payments.events", 0), TP("payments.events", 1), TP("payments.accounts", 0)


def test_a_partition_with_lag_that_did_not_move_is_stalled() -> None:
    assert stalled_partitions({A: 5, B: 7}, {A: 5, B: 9}, {A: 10, B: 20}) == [A]


def test_a_partition_read_to_its_end_is_not_stalled() -> None:
    assert stalled_partitions({A: 10}, {A: 10}, {A: 10}) == []


def test_a_partition_seen_for_the_first_time_is_not_stalled_yet() -> None:
    assert stalled_partitions({}, {A: 0, C: 3}, {A: 4, C: 8}) == []


def test_a_partition_without_a_position_is_not_judged() -> None:
    assert stalled_partitions({A: None}, {A: None}, {A: 4}) == []


def test_a_partition_read_to_its_end_but_applied_short_of_it_for_a_while_is_reported() -> None:
    # A: read to 10, applied to 6 twice running; B: applied to its last offset (9 of 10)
    assert unapplied_partitions({A: 6, B: 9}, {A: 6, B: 9}, {A: 10, B: 10}, {A: 10, B: 10}) == [A]


def test_a_partition_still_being_applied_or_read_is_not_reported() -> None:
    assert unapplied_partitions({A: 3}, {A: 6}, {A: 10}, {A: 10}) == [], "applied offset moved"
    assert unapplied_partitions({A: 6}, {A: 6}, {A: 8}, {A: 10}) == [], "not read to its end"
    assert unapplied_partitions({}, {A: 6}, {A: 10}, {A: 10}) == [], "seen for the first time"

"""What the worker keeps of a rejected record in its dead letter."""

from cashless.privacy import Pseudonymiser, Scrubber
from streams.dead_letters import DeadLetters

KEY = b"k" * 32


def test_a_record_nested_too_deeply_is_dead_lettered_without_a_scrubbed_copy() -> None:
    letters = DeadLetters(topic=None, scrubber=Scrubber(Pseudonymiser(KEY)), hash_key=KEY)
    nested = b"[" * 100_000 + b"]" * 100_000
    assert letters.scrubbed_item(nested, None) is None
    assert letters.scrubbed_item(b'[{"district": "ba-dinh"}]', 0) == {"district": "ba-dinh"}
    assert letters.scrubbed_item(b'{"name": "Nguyen Van A", "district": "ba-dinh"}', None) == {
        "district": "ba-dinh"
    }

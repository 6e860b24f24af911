"""The bounded vocabularies: Hanoi's districts with population, segments per channel, methods.

Districts and segments are data, loaded from CSV files shipped with the package; a user replaces
them with files of the same columns (`CASHLESS_DISTRICTS_FILE`, `CASHLESS_SEGMENTS_FILE`).
Channels and payment methods are part of event schema v1 and therefore fixed here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cashless.errors import ConfigError

__all__ = [
    "CHANNELS",
    "METHODS",
    "NONCASH_METHODS",
    "SLUG",
    "District",
    "Segment",
    "Taxonomy",
    "load_taxonomy",
]

CHANNELS: tuple[str, ...] = ("utility", "market", "street")
METHODS: tuple[str, ...] = (
    "cash",
    "card",
    "bank_transfer",
    "qr",
    "e_wallet",
    "direct_debit",
    "mobile_money",
)
NONCASH_METHODS: frozenset[str] = frozenset(m for m in METHODS if m != "cash")
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")

_DISTRICT_COLUMNS = ("slug", "name", "population_2018")
_SEGMENT_COLUMNS = ("channel", "segment", "name")


@dataclass(frozen=True, slots=True)
class District:
    """A district-level unit of Hanoi and the population that coverage ratios divide by."""

    slug: str
    name: str
    population: int
    kind: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    """A utility service, a market or a street: the unit whose non-cash share is watched."""

    channel: str
    slug: str
    name: str
    district: str = ""

    @property
    def key(self) -> str:
        """The Kafka record key of this segment's payments, `channel:segment`."""
        return f"{self.channel}:{self.slug}"


@dataclass(frozen=True)
class Taxonomy:
    """Districts and segments, with the lookups the validators and metrics need."""

    districts: Mapping[str, District]
    segments: Mapping[tuple[str, str], Segment]
    _segments_by_channel: Mapping[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_channel = {c: frozenset(s for (ch, s) in self.segments if ch == c) for c in CHANNELS}
        object.__setattr__(self, "_segments_by_channel", by_channel)

    def has_segment(self, channel: str, segment: str) -> bool:
        """True when `segment` is a known segment of `channel`."""
        return segment in self._segments_by_channel.get(channel, frozenset())

    def segments_of(self, channel: str) -> frozenset[str]:
        """The segment slugs of one channel."""
        return self._segments_by_channel.get(channel, frozenset())

    @property
    def population(self) -> int:
        """The population of the whole city, the sum over districts."""
        return sum(d.population for d in self.districts.values())


def load_taxonomy(
    districts_file: Path | None = None, segments_file: Path | None = None
) -> Taxonomy:
    """Load the taxonomy from the given CSV files, or from the packaged Hanoi reference."""
    districts = _parse_districts(_read_csv(districts_file, "districts.csv"), districts_file)
    segments = _parse_segments(_read_csv(segments_file, "segments.csv"), segments_file, districts)
    return Taxonomy(districts=districts, segments=segments)


def _read_csv(path: Path | None, packaged: str) -> list[dict[str, str]]:
    try:
        if path is None:
            text = resources.files("cashless.data").joinpath(packaged).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read taxonomy file {path}: {exc}") from exc
    return list(csv.DictReader(text.splitlines()))


def _require_columns(rows: list[dict[str, str]], columns: Iterable[str], where: str) -> None:
    if not rows:
        raise ConfigError(f"{where}: no rows")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}")


def _parse_districts(rows: list[dict[str, str]], path: Path | None) -> dict[str, District]:
    where = str(path or "packaged districts.csv")
    _require_columns(rows, _DISTRICT_COLUMNS, where)
    districts: dict[str, District] = {}
    for line, row in enumerate(rows, start=2):
        slug = row["slug"].strip()
        if not SLUG.fullmatch(slug):
            raise ConfigError(f"{where}:{line}: district slug {slug!r} is not a slug")
        if slug in districts:
            raise ConfigError(f"{where}:{line}: district {slug!r} listed twice")
        try:
            population = int(row["population_2018"])
        except ValueError:
            raise ConfigError(f"{where}:{line}: population is not an integer") from None
        if population <= 0:
            raise ConfigError(f"{where}:{line}: population must be positive")
        districts[slug] = District(slug, row["name"].strip(), population, row.get("kind", ""))
    return districts


def _parse_segments(
    rows: list[dict[str, str]], path: Path | None, districts: Mapping[str, District]
) -> dict[tuple[str, str], Segment]:
    where = str(path or "packaged segments.csv")
    _require_columns(rows, _SEGMENT_COLUMNS, where)
    segments: dict[tuple[str, str], Segment] = {}
    for line, row in enumerate(rows, start=2):
        channel, slug = row["channel"].strip(), row["segment"].strip()
        district = (row.get("district") or "").strip()
        if channel not in CHANNELS:
            raise ConfigError(f"{where}:{line}: channel {channel!r} is not one of {CHANNELS}")
        if not SLUG.fullmatch(slug):
            raise ConfigError(f"{where}:{line}: segment {slug!r} is not a slug")
        if district and district not in districts:
            raise ConfigError(f"{where}:{line}: district {district!r} is not in the district list")
        if (channel, slug) in segments:
            raise ConfigError(f"{where}:{line}: segment {channel}:{slug} listed twice")
        segments[channel, slug] = Segment(channel, slug, row["name"].strip(), district)
    return segments

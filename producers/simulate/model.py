"""A synthetic Hanoi: payment and account events calibrated to the city's published figures.

This module is over 400 lines for a reason: `Simulator`'s steps share its random streams, and
the order of their draws fixes every byte of the output, so they stay side by side in one class.

Pure generation, no I/O and no wall clock: the caller passes the time span, the seed and the
pseudonymisation key, and gets the same events for the same inputs, byte for byte. Every random
draw comes from `random.Random` instances derived from the seed, one per concern (model
parameters, payments, accounts, injected faults), so that injecting faults or silencing a
source leaves every other event exactly as it was.

The model (its figures are `producers.simulate.calibration`):

- each segment's non-cash share follows a logistic curve given by its share at the start of the
  run, its daily growth there and a ceiling: electricity ≈ 99.9%, water ≈ 96.7%, tax, telecom
  and public services in between, tuition and hospitals lower; markets start well below 50% and
  rise at their own speed, cashless streets start above 50%;
- utility payments are spread over districts by population; urban districts are ahead of rural
  ones (a shift of the share's log-odds, weighted so that the city total keeps the calibration);
  market and street payments happen in their own district, rural and town markets start lower;
- e-payment account coverage starts per district between ≈30% (rural) and ≈48% (urban) and
  rises towards the 50% goal; accounts open and close at several providers, and one person may
  hold two (the same pseudonym at both, so they count once);
- payment methods mix per channel (direct debit for utilities, QR at markets, cards on streets),
  and amounts are log-normal per segment, in VND.

Population is scaled (`producers.simulate.population`), so coverage ratios are relative to the
scaled population.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from cashless.errors import ConfigError
from cashless.privacy import Pseudonymiser
from cashless.schema import AccountEvent, PaymentEvent
from cashless.taxonomy import District, Segment, Taxonomy
from producers.simulate.calibration import (
    BACKFILL_DAYS,
    CHANNEL_VOLUME,
    CLOSE_PER_DAY,
    COVERAGE_GROWTH,
    COVERAGE_START,
    DAY,
    HANOI,
    HOURS,
    KIND_SHIFT,
    PROVIDERS,
    SECOND_AT_START,
    SECOND_PER_DAY,
    STALL_SHARE,
    calibrate,
    source_of,
)
from producers.simulate.curves import HourClock, cumulative, logistic, shift_log_odds
from producers.simulate.faults import Emission, Faults
from producers.simulate.population import Residents, scaled_taxonomy

__all__ = ["SegmentProfile", "SimulationConfig", "Simulator"]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. `end` is where the adoption curves are `days` days after their start.

    In compressed history the events lie in `[end - days, end)`; in live mode `end` is the start
    of the run and the curves continue from there. `silent_after` defaults to the middle of the
    history.
    """

    end: datetime
    seed: int = 1
    days: int = 90
    events_per_day: int = 2000
    population_scale: float = 0.001
    stall: frozenset[str] = frozenset()
    silent: frozenset[str] = frozenset()
    silent_after: datetime | None = None
    bad_records: float = 0.0
    duplicates: float = 0.0
    late: float = 0.0

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ConfigError("the end of the simulation must carry a UTC offset")
        if self.days < 1:
            raise ConfigError("days must be at least 1")
        if self.events_per_day < 0:
            raise ConfigError("events per day must not be negative")
        if not 0.0 < self.population_scale <= 1.0:
            raise ConfigError("population scale must be in (0, 1]")
        for name in ("bad_records", "duplicates", "late"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name.replace('_', ' ')} rate {rate} is not in [0, 1]")


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """How one segment behaves: its source, share curve, volume, amounts and method mix."""

    segment: Segment
    source: str
    share: float
    growth: float
    ceiling: float
    volume: float
    median_vnd: int
    sigma: float
    rounding: int
    methods: tuple[str, ...]
    method_weights: tuple[float, ...]
    stalled: bool = False

    def share_at(self, day: float, shift: float = 0.0) -> float:
        """The non-cash share `day` days after the start of the run, log-odds shifted."""
        if self.stalled:
            base = min(self.share, STALL_SHARE)
        else:
            base = logistic(self.share, self.growth, self.ceiling, day)
        if shift == 0.0:
            return base
        return shift_log_odds(base, shift)


class Simulator:
    """Generates the events of the synthetic city; see the module docstring for the model.

    Use `history()` for compressed history, or `backfill()` once and then `interval()` per tick
    for live generation. `injected` counts the faults put in so far.
    """

    def __init__(self, taxonomy: Taxonomy, config: SimulationConfig, key: bytes) -> None:
        if not key:
            raise ConfigError("the pseudonymisation key must not be empty")
        self.config = config
        self.taxonomy = taxonomy
        self.population = scaled_taxonomy(taxonomy, config.population_scale)
        self._pseudonymiser = Pseudonymiser(key)
        end = int(config.end.timestamp())
        self.end = end
        self.origin = end - config.days * DAY
        silent = config.silent_after
        self.silent_after = (
            int(silent.timestamp()) if silent is not None else self.origin + config.days * DAY // 2
        )
        master = _random(config.seed)
        params = _random(master.getrandbits(64))
        self._rng_pay = _random(master.getrandbits(64))
        self._rng_acc = _random(master.getrandbits(64))
        rng_fault = _random(master.getrandbits(64))
        tag_input = f"{config.seed}:{self.origin}:{config.days}:{config.events_per_day}"
        tag_input += f":{config.population_scale}"
        self._tag = hashlib.sha256(tag_input.encode()).hexdigest()[:8]
        self._seq = itertools.count()
        self._faults = Faults(
            rng_fault,
            self._tag,
            bad_records=config.bad_records,
            duplicates=config.duplicates,
            late=config.late,
            silent=config.silent,
            silent_after=self.silent_after,
        )
        self.injected = self._faults.injected

        self.profiles = self._profiles(params)
        known = {p.segment.slug for p in self.profiles}
        unknown = sorted(set(config.stall) - known)
        if unknown:
            raise ConfigError(f"cannot stall unknown segment(s): {', '.join(unknown)}")
        self.sources: tuple[str, ...] = tuple(
            dict.fromkeys([p.source for p in self.profiles] + list(PROVIDERS))
        )
        unknown = sorted(set(config.silent) - set(self.sources))
        if unknown:
            raise ConfigError(
                f"cannot silence unknown source(s): {', '.join(unknown)} "
                f"(known: {', '.join(self.sources)})"
            )

        self._volume_cum = cumulative(p.volume for p in self.profiles)
        districts = list(self.population.districts.values())
        self._district_slugs = [d.slug for d in districts]
        self._district_cum = cumulative(d.population for d in districts)
        self._shift = self._kind_shifts(districts)
        self._clocks = {name: HourClock(hours) for name, hours in HOURS.items()}
        self._method_cum = [cumulative(p.method_weights) for p in self.profiles]
        self._providers = tuple(PROVIDERS)
        self._provider_cum = cumulative(PROVIDERS.values())

        # Residents: global person numbers, grouped by district, pseudonymised lazily.
        self._people: list[Residents] = []
        start = 0
        for d in districts:
            low, high = COVERAGE_START.get(d.kind, COVERAGE_START["rural"])
            g_low, g_high = COVERAGE_GROWTH.get(d.kind, COVERAGE_GROWTH["rural"])
            people = range(start, start + d.population)
            start += d.population
            self._people.append(
                Residents(
                    slug=d.slug,
                    kind=d.kind,
                    people=people,
                    coverage=params.uniform(low, high),
                    growth=params.uniform(g_low, g_high),
                    others=list(people),
                    other_at={p: i for i, p in enumerate(people)},
                )
            )
        self._residents = start
        self._pseudonyms: dict[int, str] = {}
        self._backfilled = False

    # -- the model ------------------------------------------------------------------------------

    def _profiles(self, params: random.Random) -> list[SegmentProfile]:
        by_channel: dict[str, list[Segment]] = {}
        for segment in self.taxonomy.segments.values():
            by_channel.setdefault(segment.channel, []).append(segment)
        volume = {c: v for c, v in CHANNEL_VOLUME.items() if by_channel.get(c)}
        total_volume = sum(volume.values())
        profiles: list[SegmentProfile] = []
        for channel, segments in by_channel.items():
            calibrations = [calibrate(s, self._kind_of(s), params) for s in segments]
            channel_total = sum(c.volume for c in calibrations)
            for segment, cal in zip(segments, calibrations, strict=True):
                profiles.append(
                    SegmentProfile(
                        segment=segment,
                        source=source_of(segment),
                        share=cal.share,
                        growth=cal.growth,
                        ceiling=cal.ceiling,
                        volume=volume[channel] / total_volume * cal.volume / channel_total,
                        median_vnd=cal.median_vnd,
                        sigma=cal.sigma,
                        rounding=cal.rounding,
                        methods=tuple(cal.methods),
                        method_weights=tuple(cal.methods.values()),
                        stalled=segment.slug in self.config.stall,
                    )
                )
        return profiles

    def _kind_of(self, segment: Segment) -> str:
        return self.taxonomy.districts[segment.district].kind if segment.district else ""

    @staticmethod
    def _kind_shifts(districts: Sequence[District]) -> list[float]:
        raw = [KIND_SHIFT.get(d.kind, 0.0) for d in districts]
        total = sum(d.population for d in districts)
        mean = sum(s * d.population for s, d in zip(raw, districts, strict=True)) / total
        return [s - mean for s in raw]

    def _pseudonym(self, person: int) -> str:
        pseudonym = self._pseudonyms.get(person)
        if pseudonym is None:
            # A synthetic citizen ID (CCCD): Hanoi's province code 001, then 9 digits.
            pseudonym = self._pseudonymiser.pseudonym(f"001{person:09d}")
            self._pseudonyms[person] = pseudonym
        return pseudonym

    def _event_id(self) -> str:
        return f"{self._tag}-{next(self._seq):x}"

    # -- generation ------------------------------------------------------------------------------

    def history(self) -> Iterator[list[Emission]]:
        """Compressed history: the initial account base, then one list of emissions per day."""
        yield self.backfill(self.origin)
        for day in range(self.config.days):
            t0 = self.origin + day * DAY
            yield self.interval(t0, t0 + DAY, self.config.events_per_day)

    def backfill(self, at: float) -> list[Emission]:
        """The account base as it stands at `at`: accounts opened over the year before, in order.

        Called once, before any `interval`.
        """
        if self._backfilled:
            raise RuntimeError("backfill() was already called")
        self._backfilled = True
        rng = self._rng_acc
        now = int(at)
        day = (now - self.origin) / DAY
        opened: list[tuple[int, int, int, str]] = []
        for district in self._people:
            count = round(len(district.people) * district.target(day))
            for person in rng.sample(district.others, min(count, len(district.others))):
                first = self._pick_provider(rng)
                providers = [first]
                if rng.random() < SECOND_AT_START:
                    providers.append(self._pick_provider(rng, exclude=first))
                for provider in providers:
                    when = now - 1 - int(rng.random() * BACKFILL_DAYS * DAY)
                    district.open(person, provider)
                    opened.append((when, person, provider, district.slug))
        opened.sort(key=itemgetter(0))
        out: list[Emission] = []
        for when, person, provider, slug in opened:
            event = self._account(when, "opened", person, provider, slug)
            if not self._faults.is_silent(event.source, now):
                out.append(event)
        return out

    def interval(
        self, t0: float, t1: float, payments: int, *, live: bool = False
    ) -> list[Emission]:
        """The emissions of the span `[t0, t1)`: `payments` payments and the account changes.

        In history the events are spread over the span by hour of day and emitted in time
        order; `live=True` stamps every event with `t1`, the present.
        """
        start, stop = int(t0), int(t1)
        items: list[tuple[int, Emission]] = self._payments(start, stop, payments, live)
        items += self._account_changes(start, stop, live)
        if not live:
            items.sort(key=itemgetter(0))
        return self._faults.emit(items)

    def _payments(self, t0: int, t1: int, count: int, live: bool) -> list[tuple[int, Emission]]:
        rng = self._rng_pay
        rnd, gauss, exp = rng.random, rng.gauss, math.exp
        profiles = self.profiles
        chosen = rng.choices(range(len(profiles)), cum_weights=self._volume_cum, k=count)
        per_profile = Counter(chosen)
        day = ((t0 + t1) / 2 - self.origin) / DAY
        slugs, dcum = self._district_slugs, self._district_cum
        dtotal = dcum[-1]
        people = self._people
        residents_all = self._residents
        faults = self._faults
        late, frnd = faults.late, faults.rng.random
        out: list[tuple[int, Emission]] = []
        for index, profile in enumerate(profiles):
            n = per_profile.get(index, 0)
            if not n:
                continue
            segment = profile.segment
            channel, slug, source = segment.channel, segment.slug, profile.source
            times = [t1] * n if live else self._clocks[channel].times(rng, t0, t1, n)
            methods, mcum = profile.methods, self._method_cum[index]
            mtotal = mcum[-1]
            mu, sigma, rounding = math.log(profile.median_vnd), profile.sigma, profile.rounding
            utility = channel == "utility"
            # Utilities (and a market or street without a district) serve the whole city.
            spread = utility or not segment.district
            if utility:
                shares = [profile.share_at(day, s) for s in self._shift]
            else:
                share = profile.share_at(day)
                shares = [share] * len(slugs)
                where = 0 if spread else slugs.index(segment.district)
            for t in times:
                payer: str | None = None
                if spread:
                    where = bisect.bisect(dcum, rnd() * dtotal)
                    share = shares[where]
                if utility:
                    residents = people[where].people
                    payer = self._pseudonym(residents[int(rnd() * len(residents))])
                # The same draws whatever the outcome, so that a stalled segment leaves the
                # random stream of every other segment as it was.
                noncash, pick, who = rnd() < share, rnd(), rnd()
                if noncash:
                    method = methods[bisect.bisect(mcum, pick * mtotal)]
                    if not utility:
                        payer = self._pseudonym(int(who * residents_all))
                else:
                    method = "cash"
                amount = max(
                    1000, min(10**12, round(exp(mu + sigma * gauss()) / rounding) * rounding)
                )
                when = t
                if late and frnd() < late:
                    when = t - faults.late_delay()
                out.append(
                    (
                        t,
                        PaymentEvent(
                            schema=1,
                            event_id=self._event_id(),
                            occurred_at=datetime.fromtimestamp(when, HANOI),
                            source=source,
                            channel=channel,  # type: ignore[arg-type]
                            segment=slug,
                            district=slugs[where],
                            method=method,  # type: ignore[arg-type]
                            amount_vnd=amount,
                            payer=payer,
                        ),
                    )
                )
        return out

    def _account_changes(self, t0: int, t1: int, live: bool) -> list[tuple[int, Emission]]:
        rng = self._rng_acc
        fraction = (t1 - t0) / DAY
        target_day = (t1 - self.origin) / DAY
        changes: list[tuple[str, int, int, str]] = []
        for district in self._people:
            closing = _stochastic_round(rng, len(district.accounts) * CLOSE_PER_DAY * fraction)
            for _ in range(min(closing, len(district.accounts))):
                person, provider = district.accounts[rng.randrange(len(district.accounts))]
                district.close(person, provider, len(self._providers))
                changes.append(("closed", person, provider, district.slug))
            target = round(len(district.people) * district.target(target_day))
            opening = min(target - len(district.holders), len(district.others))
            if opening > 0:
                for person in rng.sample(district.others, opening):
                    provider = self._pick_provider(rng)
                    district.open(person, provider)
                    changes.append(("opened", person, provider, district.slug))
            second = _stochastic_round(rng, len(district.holders) * SECOND_PER_DAY * fraction)
            for _ in range(second):
                person = district.holders[rng.randrange(len(district.holders))]
                provider = self._pick_provider(rng)
                if (person, provider) in district.account_at:
                    continue
                district.open(person, provider)
                changes.append(("opened", person, provider, district.slug))
        times = (
            [t1] * len(changes)
            if live
            else self._clocks["account"].times(rng, t0, t1, len(changes))
        )
        return [
            (t, self._account(t, kind, person, provider, slug))
            for t, (kind, person, provider, slug) in zip(times, changes, strict=True)
        ]

    def _account(
        self, t: int, kind: str, person: int, provider: int, district: str
    ) -> AccountEvent:
        return AccountEvent(
            schema=1,
            event_id=self._event_id(),
            occurred_at=datetime.fromtimestamp(t, HANOI),
            source=self._providers[provider],
            type=kind,  # type: ignore[arg-type]
            holder=self._pseudonym(person),
            district=district,
        )

    def _pick_provider(self, rng: random.Random, exclude: int | None = None) -> int:
        cum = self._provider_cum
        while True:
            provider = bisect.bisect(cum, rng.random() * cum[-1])
            if provider != exclude:
                return provider


def _random(seed: int) -> random.Random:
    """A seeded generator: synthetic data must be reproducible, not unpredictable."""
    return random.Random(seed)  # noqa: S311


def _stochastic_round(rng: random.Random, x: float) -> int:
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)

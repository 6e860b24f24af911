"""The synthetic city's people: a district's residents and their e-payment accounts, and the
scaled population that coverage ratios divide by.

Population is scaled (`population_scale`, 0.001 by default) so that a 90-day run has thousands
of holders, not millions; `scaled_taxonomy` gives the scaled districts and `districts_csv`
writes them for the workers to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cashless.taxonomy import Taxonomy
from producers.simulate.calibration import COVERAGE_CEILING
from producers.simulate.curves import logistic

__all__ = ["Residents", "districts_csv", "scaled_taxonomy"]


def scaled_taxonomy(taxonomy: Taxonomy, scale: float) -> Taxonomy:
    """The taxonomy with each district's population multiplied by `scale` (at least 1)."""
    districts = {
        slug: replace(d, population=max(1, round(d.population * scale)))
        for slug, d in taxonomy.districts.items()
    }
    return Taxonomy(districts=districts, segments=dict(taxonomy.segments))


def districts_csv(taxonomy: Taxonomy) -> str:
    """The district table in the columns `load_taxonomy` reads (for a scaled population)."""
    lines = ["slug,name,kind,population_2018"]
    for d in taxonomy.districts.values():
        name = f'"{d.name}"' if "," in d.name else d.name
        lines.append(f"{d.slug},{name},{d.kind},{d.population}")
    return "\n".join(lines) + "\n"


@dataclass
class Residents:
    """A district's synthetic residents and their accounts, for the account process.

    People are global person numbers; `holders` hold at least one open account, `others` none.
    Each list has an index beside it, so that moving a person between them is O(1).
    """

    slug: str
    kind: str
    people: range
    coverage: float
    growth: float
    holders: list[int] = field(default_factory=list)
    holder_at: dict[int, int] = field(default_factory=dict)
    others: list[int] = field(default_factory=list)
    other_at: dict[int, int] = field(default_factory=dict)
    accounts: list[tuple[int, int]] = field(default_factory=list)
    account_at: dict[tuple[int, int], int] = field(default_factory=dict)

    def target(self, day: float) -> float:
        """The coverage the district's curve reaches `day` days after the start of the run."""
        return logistic(self.coverage, self.growth, COVERAGE_CEILING, day)

    def open(self, person: int, provider: int) -> None:
        """`person` opens an account at `provider` (and becomes a holder if not one yet)."""
        _add(self.accounts, self.account_at, (person, provider))
        if person in self.other_at:
            _remove(self.others, self.other_at, person)
            _add(self.holders, self.holder_at, person)

    def close(self, person: int, provider: int, providers: int) -> None:
        """`person` closes the account at `provider`; with none left among the `providers`
        providers, they are no longer a holder."""
        _remove(self.accounts, self.account_at, (person, provider))
        if not any((person, p) in self.account_at for p in range(providers)):
            _remove(self.holders, self.holder_at, person)
            _add(self.others, self.other_at, person)


def _remove(items: list[Any], at: dict[Any, int], item: Any) -> None:
    """Swap-remove `item` from a list indexed by `at`, in O(1)."""
    i = at.pop(item)
    last = items.pop()
    if i < len(items):
        items[i] = last
        at[last] = i


def _add(items: list[Any], at: dict[Any, int], item: Any) -> None:
    at[item] = len(items)
    items.append(item)

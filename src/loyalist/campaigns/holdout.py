"""Deterministic, stratified holdout assignment (pure: no database, no clock).

Why a hash and not a random generator: the assignment of one customer must be reproducible from
(campaign seed, customer id) alone, so re-running a launch, auditing it months later or
re-computing it in a notebook gives exactly the same groups, independent of the order in which
the audience was read.

Algorithm, per stratum (e.g. RFM segment):
1. Rank the stratum's customers by ``sha256(f"{seed}:{customer_id}")`` (a uniform random order).
2. The control size is ``n * percent / 100`` rounded *randomly* but deterministically: the integer
   part always, plus one more when the fractional part exceeds a uniform number drawn from
   ``sha256(f"{seed}:stratum:{name}")``. So every stratum's control count is within 1 of its exact
   share (balanced within +-1), and across many small strata the expected total equals the exact
   share (plain rounding would give 0 controls in every stratum of 4 at 10 %).
3. The first `control` customers in hash order form the control group; the rest are treatment.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

CONTROL = "control"
TREATMENT = "treatment"


def _unit(text: str) -> float:
    """A number in [0, 1) derived from `text` (first 52 bits of its SHA-256)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 12) / float(1 << 52)


def rank_key(seed: str, customer_id: int) -> str:
    """The customer's position in the seed's random order (hex digest; compare as text)."""
    return hashlib.sha256(f"{seed}:{customer_id}".encode()).hexdigest()


def control_size(n: int, percent: float, *, seed: str, stratum: str) -> int:
    """How many of a stratum of `n` go to control: within 1 of n*percent/100 (see module doc)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    exact = n * percent / 100.0
    base = math.floor(exact)
    frac = exact - base
    extra = 1 if frac > 0 and _unit(f"{seed}:stratum:{stratum}") < frac else 0
    return min(n, base + extra)


def assign(customer_ids: Iterable[int], *, seed: str, control_percent: float,
           strata: Mapping[int, str] | None = None) -> dict[int, str]:
    """Map every customer id to "treatment" or "control".

    `strata` maps customer id -> stratum name; customers missing from it share the stratum "all".
    Duplicate ids are assigned once. The result does not depend on the order of `customer_ids`.
    """
    if not seed:
        raise ValueError("seed must not be empty")
    by_stratum: dict[str, set[int]] = defaultdict(set)
    for cid in customer_ids:
        by_stratum[(strata or {}).get(cid, "all")].add(int(cid))
    groups: dict[int, str] = {}
    for name in sorted(by_stratum):
        ordered = sorted(by_stratum[name], key=lambda c: (rank_key(seed, c), c))
        k = control_size(len(ordered), control_percent, seed=seed, stratum=name)
        for i, cid in enumerate(ordered):
            groups[cid] = CONTROL if i < k else TREATMENT
    return groups


def balance(groups: Mapping[int, str], strata: Mapping[int, str] | None = None) -> dict[str, dict[str, int]]:
    """Counts per stratum and group: {stratum: {"treatment": n, "control": m}} (for reports/tests)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {TREATMENT: 0, CONTROL: 0})
    for cid, group in groups.items():
        out[(strata or {}).get(cid, "all")][group] += 1
    return dict(out)

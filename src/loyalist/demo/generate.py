"""A realistic demo business: a coffee-and-tea shop with customers in four languages.

Purchases come from a buy-till-you-die process (each customer buys at their own Poisson rate
until they silently drop out) with a seasonal rhythm (December peak, summer dip), so the
analytics have something true to find. Everything goes through the product's own services and
its bulk importer, so the demo also exercises the code paths a real shop uses. Deterministic by
seed (relative to the moment it runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerCreate
from loyalist.demo import story
from loyalist.demo.names import FIRST_NAMES, LAST_NAMES, PHONE_PREFIX, TIMEZONES
from loyalist.demo.timing import PhaseHook, no_timer
from loyalist.errors import DomainError
from loyalist.events import bulk
from loyalist.events import service as events
from loyalist.events.schemas import EventIn, RuleCreate
from loyalist.ledger import service as ledger
from loyalist.rewards import service as rewards
from loyalist.rewards.schemas import RewardCreate
from loyalist.segments import service as segments
from loyalist.staff import service as staff
from loyalist.staff.schemas import Role, StaffCreate
from loyalist.tiers import service as tiers
from loyalist.tiers.schemas import TierCreate
from loyalist.types import Actor

DEMO_ACTOR = Actor(kind="system", id=None, name="demo", role="admin")
LOCALES = ["da", "en", "uk", "ru"]
LOCALE_WEIGHTS = [0.4, 0.25, 0.2, 0.15]
STORES = ["copenhagen-central", "aarhus", "online"]
# sku, category, unit price
CATALOGUE: list[tuple[str, str, str]] = [
    ("ESP-250", "coffee-beans", "8.90"), ("COL-1KG", "coffee-beans", "24.50"), ("ETH-250", "coffee-beans", "11.20"),
    ("LAT-CUP", "drinks", "4.20"), ("CAP-CUP", "drinks", "3.90"), ("AME-CUP", "drinks", "3.10"),
    ("GRN-TEA", "tea", "6.50"), ("EAR-GRY", "tea", "5.90"), ("CHAI-100", "tea", "7.40"),
    ("CRS-BTR", "pastry", "2.80"), ("CIN-BUN", "pastry", "3.20"), ("CAR-CAK", "pastry", "4.10"),
    ("MUG-LOGO", "merchandise", "12.00"), ("GRD-HND", "equipment", "39.00"), ("AEROP", "equipment", "34.00"),
]
RETURNABLE = {"coffee-beans", "tea", "merchandise", "equipment"}  # drinks and pastries are not returned
SEASON = [0.95, 0.85, 0.9, 0.95, 1.0, 0.85, 0.75, 0.8, 1.0, 1.05, 1.15, 1.6]  # Jan..Dec


@dataclass
class DemoSummary:
    customers: int = 0
    purchases: int = 0
    events: int = 0
    points_earned: int = 0
    redemptions: int = 0
    returns: int = 0
    expired_lots: int = 0
    staff_logins: dict[str, str] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    story: story.StoryCounts = field(default_factory=lambda: story.StoryCounts())


def _setup_programme(session: Session) -> None:
    """Tiers, earning rules and a rewards catalogue of the kind a small shop runs."""
    for code, name, rank, threshold, multiplier, benefits in [
        ("bronze", "Bronze", 0, "0", "1", ["1 point per 1 DKK-equivalent EUR"]),
        ("silver", "Silver", 1, "400", "1.25", ["25% more points", "birthday treat"]),
        ("gold", "Gold", 2, "1200", "1.5", ["50% more points", "early access to new roasts", "closed tastings"]),
    ]:
        tiers.create_tier(session, data=TierCreate(
            code=code, name=name, rank=rank, metric="points", window_days=365,
            threshold=Decimal(threshold), multiplier=Decimal(multiplier), benefits=benefits, grace_days=60,
        ), actor=DEMO_ACTOR)
    rules = [
        dict(name="1 point per EUR", kind="points_per_amount", priority=100,
             params={"points": 1, "per_amount": "1"}, pending_days=14, expiry_months=24),
        dict(name="Tier multiplier", kind="multiplier", priority=50, params={"use_tier_multiplier": True}),
        dict(name="Double points on beans", kind="multiplier", priority=60,
             params={"factor": "2"}, conditions={"categories": ["coffee-beans"]}),
        dict(name="Review reward", kind="fixed_points", priority=100, event_types=["review"],
             params={"points": 25}, cap_per_month=50),
        dict(name="Refer a friend", kind="referral_bonus", priority=100,
             params={"referrer_points": 200, "referred_points": 100}),
        dict(name="Birthday bonus", kind="birthday_bonus", priority=100, params={"points": 100}),
    ]
    for spec in rules:
        events.create_rule(session, data=RuleCreate.model_validate(spec), actor=DEMO_ACTOR)
    for name, kind, cost, value, extra in [
        ("Free cup of coffee", "free_product", 150, None, {}),
        ("5 EUR off your next purchase", "discount_amount", 400, Decimal("5"), {}),
        ("10% off a grinder", "discount_percent", 600, Decimal("10"), {"stock": 40}),
        ("Home-brewing workshop", "service", 900, None, {"stock": 12, "min_tier_rank": 1}),
        ("Closed tasting of new roasts", "event_invitation", 500, None, {"stock": 30, "tier_codes": ["gold"]}),
        ("Logo mug", "gift", 700, None, {"limit_per_customer": 1}),
    ]:
        rewards.create_reward(session, data=RewardCreate(
            kind=kind, name=name, cost_points=cost, value=value, voucher_validity_days=60, **extra,
        ), actor=DEMO_ACTOR)


def _make_customers(session: Session, rng: np.random.Generator, n: int, now: datetime,
                    progress: Callable[[str, int, int], None]
                    ) -> tuple[list[tuple[int, str, datetime]], dict[int, str]]:
    """Create customers; returns (id, external id, joined_at) — joining is spread over 2 years —
    and each customer's locale."""
    locales = rng.choice(LOCALES, size=n, p=LOCALE_WEIGHTS)
    # More customers joined recently (the shop grows).
    join_days_ago = (700 * rng.beta(1.3, 1.0, size=n)).astype(int)
    values_pool = ["discounts", "personal_attention", "greetings", "early_access", "service_quality",
                   "convenience", "exclusivity", "gifts"]
    items: list[CustomerCreate] = []
    joined: list[datetime] = []
    for i in range(n):
        loc = str(locales[i])
        first = str(rng.choice(FIRST_NAMES[loc]))
        last = str(rng.choice(LAST_NAMES[loc]))
        birthday = date(int(rng.integers(1950, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        phone: str | None = PHONE_PREFIX[loc] + f"{int(rng.integers(0, 10**6)):06d}"
        consent_email = bool(rng.random() < 0.8)
        if rng.random() >= 0.7:
            phone = None
        else:
            try:  # random digits are not always a valid number in that country: then no phone
                customers.normalise_phone(phone)
            except DomainError:
                phone = None
        items.append(CustomerCreate(
            external_id=f"C{100000 + i}", first_name=first, last_name=last,
            email=f"customer{i}@demo.loyalist.example", phone=phone,
            birthday=birthday, locale=loc, timezone=TIMEZONES[loc],
            preferred_channel="email" if consent_email else "sms",
            values=list(rng.choice(values_pool, size=int(rng.integers(1, 3)), replace=False)),
            consents=[ConsentIn(channel="email", granted=consent_email, source="import")],
        ))
        joined.append(now - timedelta(days=int(join_days_ago[i]), hours=int(rng.integers(0, 12))))
    ids = customers.create_customers(session, items=items, actor=DEMO_ACTOR,
                                     on_progress=lambda done, total: progress("customers", done, total))
    created = [(cid, str(item.external_id), when) for cid, item, when in zip(ids, items, joined, strict=True)]
    return created, {cid: str(item.locale) for cid, item in zip(ids, items, strict=True)}


def _purchase_columns(rng: np.random.Generator, people: list[tuple[int, str, datetime]],
                      now: datetime) -> tuple[dict[str, list[str | None]], list[tuple[str, str, datetime, bool]]]:
    """Buy-till-you-die purchases with seasonality, as importer columns (one row per line)."""
    cols: dict[str, list[str | None]] = {k: [] for k in (
        "event_type", "idempotency_key", "customer_external_id", "occurred_at", "order_ref", "currency",
        "store", "channel", "sku", "category", "quantity", "unit_price", "referred_external_id", "data")}
    orders: list[tuple[str, str, datetime, bool]] = []
    season_max = max(SEASON)
    n = len(people)
    weekly_rate = rng.gamma(shape=0.9, scale=0.35 / 0.9, size=n)     # purchases per week while alive
    dropout_p = rng.beta(1.1, 8.0, size=n)                           # chance of leaving after each purchase
    home_store = rng.choice(STORES, size=n, p=[0.5, 0.3, 0.2])
    for idx, (_cid, ext, joined) in enumerate(people):
        t = joined
        k = 0
        while True:
            # Thinning: draw at the peak rate, keep with the seasonal factor.
            gap_days = rng.exponential(7.0 / max(weekly_rate[idx] * season_max, 1e-6))
            t = t + timedelta(days=float(gap_days))
            if t >= now:
                break
            if rng.random() > SEASON[t.month - 1] / season_max:
                continue
            k += 1
            order_ref = f"{ext}-{k:04d}"
            store = str(home_store[idx]) if rng.random() < 0.85 else str(rng.choice(STORES))
            n_lines = int(rng.integers(1, 4))
            picks = rng.choice(len(CATALOGUE), size=n_lines, replace=False)
            for p in picks:
                sku, cat, price = CATALOGUE[int(p)]
                cols["event_type"].append("purchase")
                cols["idempotency_key"].append(f"demo-{order_ref}")
                cols["customer_external_id"].append(ext)
                cols["occurred_at"].append(t.isoformat())
                cols["order_ref"].append(order_ref)
                cols["currency"].append("EUR")
                cols["store"].append(store)
                cols["channel"].append("online" if store == "online" else "in_store")
                cols["sku"].append(sku)
                cols["category"].append(cat)
                cols["quantity"].append(str(1 if cat in ("equipment", "merchandise") else int(rng.integers(1, 3))))
                cols["unit_price"].append(price)
                cols["referred_external_id"].append(None)
                cols["data"].append(None)
            returnable = any(CATALOGUE[int(p)][1] in RETURNABLE for p in picks)
            orders.append((ext, order_ref, t, returnable))
            if rng.random() < dropout_p[idx]:
                break
    return cols, orders


def generate_demo(session: Session, *, customers_count: int = 5000, seed: int = 42,
                  progress: Callable[[str, int, int], None] | None = None,
                  phase: PhaseHook = no_timer) -> DemoSummary:
    """Fill an empty, migrated database with the demo business in the caller's transaction.
    `phase(name)` wraps each phase (`timing.PhaseTimer.phase` measures them)."""
    report = progress or (lambda _stage, _done, _total: None)
    rng = np.random.default_rng(seed)
    now = clock.now()
    summary = DemoSummary()

    staff_actors: dict[str, Actor] = {}
    with phase("staff and programme"):
        for email, name, role in [("admin@demo.loyalist.example", "Astrid Admin", Role.admin),
                                  ("manager@demo.loyalist.example", "Mikkel Manager", Role.manager),
                                  ("agent@demo.loyalist.example", "Anna Agent", Role.agent),
                                  ("analyst@demo.loyalist.example", "Ivan Analyst", Role.analyst)]:
            password = f"demo-{role.value}-password"
            member = staff.create_staff(session, data=StaffCreate(email=email, name=name, role=role,
                                                                  password=password), actor=DEMO_ACTOR)
            staff_actors[role.value] = Actor(kind="staff", id=member.id, name=name, role=role.value)
            summary.staff_logins[email] = password
        for role in Role:
            summary.api_keys[role.value] = staff.create_api_key(
                session, name=f"demo {role.value}", role=role, actor=DEMO_ACTOR).key
        _setup_programme(session)
    with phase("customers"):
        people, locale_of = _make_customers(session, rng, customers_count, now, report)
    summary.customers = len(people)

    with phase("purchase plan"):
        columns, orders = _purchase_columns(rng, people, now)
        _social_rows(rng, people, now, columns)
    report("purchases", 0, len(orders))
    with phase("purchases (bulk import)"):
        result = bulk.import_events(session, columns=columns, actor=DEMO_ACTOR,
                                    progress=lambda done, total: report("purchases", done, total))
    summary.purchases = len(orders)
    summary.events = result.events
    summary.points_earned = result.points

    with phase("returns"):
        _returns(session, rng, orders, now, summary)
    with phase("expiry and pending release"):
        summary.expired_lots = ledger.expire_due(session, as_of=now, actor=DEMO_ACTOR)
        ledger.release_pending(session, as_of=now, actor=DEMO_ACTOR)
    with phase("redemptions"):
        _redemptions(session, rng, [cid for cid, _, _ in people], summary, report)
    with phase("tiers"):
        tiers.reevaluate_all(session, as_of=now, actor=DEMO_ACTOR)

    # listening and acting: surveys, cases, flags, reviews, scores, segments, offers, campaign, automations
    bought: dict[str, list[datetime]] = {}
    for ext, _order, when, _returnable in orders:
        bought.setdefault(ext, []).append(when)
    cast = [story.Person(cid, ext, joined, locale_of[cid], sorted(bought.get(ext, [])))
            for cid, ext, joined in people]
    story.listen(session, rng, cast, now, staff_actors, summary.story, report, phase=phase)
    story.act(session, rng, cast, now, staff_actors, summary.story, report, phase=phase)
    return summary


def _social_rows(rng: np.random.Generator, people: list[tuple[int, str, datetime]], now: datetime,
                 cols: dict[str, list[str | None]]) -> None:
    """Reviews (one customer in twelve) and referrals (one in forty) as importer rows, so they
    go through the same bulk path as the purchases (the earning rules pay them)."""
    def row(**values: str | None) -> None:
        for key in cols:
            cols[key].append(values.get(key))

    for i in rng.choice(len(people), size=max(1, len(people) // 12), replace=False):
        _cid, ext, joined = people[int(i)]
        at = joined + (now - joined) * float(rng.uniform(0.1, 0.95))
        row(event_type="review", idempotency_key=f"demo-review-{ext}", customer_external_id=ext,
            occurred_at=at.isoformat(), data=json.dumps({"rating": int(rng.integers(3, 6)),
                                                         "text": "Great coffee and friendly staff"}))
    for j, i in enumerate(rng.choice(len(people), size=max(1, len(people) // 40), replace=False)):
        _cid, ext, joined = people[int(i)]
        at = joined + (now - joined) * float(rng.uniform(0.2, 0.9))
        row(event_type="referral", idempotency_key=f"demo-referral-{ext}", customer_external_id=ext,
            occurred_at=at.isoformat(), referred_external_id=f"R{200000 + j}")


def _returns(session: Session, rng: np.random.Generator, orders: list[tuple[str, str, datetime, bool]],
             now: datetime, summary: DemoSummary) -> None:
    """Some orders with beans, equipment or a mug come back (drinks and pastries do not), a few
    in a hundred of them, within two weeks; the points of the returned part are clawed back."""
    for ext, order_ref, when, returnable in orders:
        if returnable and rng.random() < 0.008:
            ret_at = min(when + timedelta(days=float(rng.uniform(1, 12))), now - timedelta(minutes=1))
            events.ingest(session, data=EventIn(
                type="return", idempotency_key=f"demo-return-{order_ref}", customer_external_id=ext,
                order_ref=order_ref, occurred_at=ret_at,
            ), actor=DEMO_ACTOR)
            summary.returns += 1


def _redemptions(session: Session, rng: np.random.Generator, customer_ids: list[int], summary: DemoSummary,
                 report: Callable[[str, int, int], None]) -> None:
    """Customers with enough points sometimes redeem a reward; some vouchers get used at the till."""
    items = rewards.list_rewards(session, active=True)
    # Who can afford each price, one segment query per price (the expiry and release jobs ran
    # just before, so the account balance is what `ledger.get_balance` would call available):
    # reading every customer's balance one by one cost three queries a customer. Each customer
    # redeems at most once, so the sets stay true through the loop.
    able = {cost: set(segments.member_ids(session, rule={"field": "points_balance", "op": "ge", "value": cost}))
            for cost in sorted({r.cost_points for r in items})}
    for n, cid in enumerate(customer_ids):
        if n % 500 == 0:
            report("redemptions", n, len(customer_ids))
        if rng.random() > 0.35:
            continue
        affordable = [r for r in items if cid in able[r.cost_points]]
        if not affordable:
            continue
        reward = affordable[int(rng.integers(0, len(affordable)))]
        try:
            red = rewards.redeem_reward(session, customer_id=cid, reward_id=reward.id,
                                        idempotency_key=f"demo-redeem-{cid}-{reward.id}", actor=DEMO_ACTOR)
        except DomainError:
            continue  # not eligible for that tier, out of stock, limit reached: as in real life
        summary.redemptions += 1
        if rng.random() < 0.6:
            rewards.consume_voucher(session, code=red.voucher.code, actor=DEMO_ACTOR, store="copenhagen-central")
    report("redemptions", len(customer_ids), len(customer_ids))


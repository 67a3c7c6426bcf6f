"""Synthetic transactions from a buy-till-you-die process, for tests and benchmarks.

Why simulate: the report, the churn model and the benchmark need data whose truth is known
(who is still alive, how often they buy, how much they spend) and that can be made at any size
in seconds, deterministically from a seed.

The process, per customer:
- purchase rate lambda ~ Gamma(shape=r, rate=alpha) per day; after every purchase the customer
  drops out with probability p ~ Beta(a, b) (BG/NBD story);
- purchase times follow a Poisson process whose intensity rises towards December
  (seasonality, realised by thinning);
- spend per purchase ~ Gamma(p_spend, nu) with nu ~ Gamma(q_spend, gamma_spend) per customer
  (Gamma-Gamma story); about `return_share` of purchases are followed by a (negative) return;
- members (flag) drop out less often.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulationSettings", "simulate_transactions", "simulate_feedback"]

_DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class SimulationSettings:
    """Parameters of the simulated customer base (rates are per day)."""

    start: str = "2022-01-01"
    days: int = 1095
    acquisition_days: int = 730
    r: float = 0.9
    alpha: float = 40.0
    a: float = 0.8
    b: float = 8.0
    p_spend: float = 6.0
    q_spend: float = 4.0
    gamma_spend: float = 15.0
    seasonality: float = 0.35
    member_share: float = 0.4
    member_dropout_factor: float = 0.6
    return_share: float = 0.02


def _season(day: np.ndarray, start_doy: int, amplitude: float) -> np.ndarray:
    doy = (day + start_doy) % 365.25
    return 1.0 + amplitude * np.cos(2 * np.pi * (doy - 350) / 365.25)


def simulate_transactions(
    n_customers: int,
    *,
    seed: int = 0,
    settings: SimulationSettings | None = None,
    with_truth: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a transaction log.

    Returns a DataFrame with columns customer_id (int64), order_id (string), occurred_at
    (timestamp, naive UTC), amount (float, currency units; negative = return), quantity (int64),
    is_member (bool). With `with_truth=True` also returns a per-customer frame with the latent
    lambda, p, death day and alive flag at the end of the period.
    """
    if n_customers <= 0:
        raise ValueError("n_customers must be positive")
    s = settings or SimulationSettings()
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(s.start)
    start_doy = int(start.day_of_year)
    horizon = float(s.days)

    lam = rng.gamma(s.r, 1.0 / s.alpha, n_customers)
    p_drop = rng.beta(s.a, s.b, n_customers)
    member = rng.random(n_customers) < s.member_share
    p_drop = np.where(member, p_drop * s.member_dropout_factor, p_drop)
    nu = rng.gamma(s.q_spend, 1.0 / s.gamma_spend, n_customers)
    birth = rng.random(n_customers) * s.acquisition_days

    smax = 1.0 + s.seasonality
    cust_parts: list[np.ndarray] = [np.arange(n_customers)]
    time_parts: list[np.ndarray] = [birth]
    death = np.full(n_customers, np.inf)
    # Every customer's first purchase is at birth; then they may drop out right after it.
    idx = np.arange(n_customers)
    t = birth.copy()
    alive = rng.random(n_customers) >= p_drop
    death[~alive] = birth[~alive]
    idx, t = idx[alive], t[alive]
    while idx.size:
        t = t + rng.exponential(1.0, idx.size) / (lam[idx] * smax)
        inside = t < horizon
        idx, t = idx[inside], t[inside]
        if not idx.size:
            break
        accepted = rng.random(idx.size) * smax < _season(t, start_doy, s.seasonality)
        cust_parts.append(idx[accepted])
        time_parts.append(t[accepted])
        drops = accepted & (rng.random(idx.size) < p_drop[idx])
        death[idx[drops]] = t[drops]
        idx, t = idx[~drops], t[~drops]

    cust = np.concatenate(cust_parts)
    times = np.concatenate(time_parts)
    order = np.lexsort((times, cust))
    cust, times = cust[order], times[order]
    n = cust.size
    amount = rng.gamma(s.p_spend, 1.0 / nu[cust]) if n else np.zeros(0)
    amount = np.round(amount, 2)
    quantity = 1 + rng.poisson(1.0, n)
    occurred = start + pd.to_timedelta(np.floor(times * 86_400).astype("int64"), unit="s")
    frame = pd.DataFrame({
        "customer_id": cust.astype("int64") + 1,
        "order_id": np.char.add("O", np.arange(1, n + 1).astype(str)),
        "occurred_at": occurred,
        "amount": amount,
        "quantity": quantity.astype("int64"),
        "is_member": member[cust],
    })
    returned = rng.random(n) < s.return_share
    if returned.any():
        ret = frame.loc[returned].copy()
        ret["occurred_at"] = ret["occurred_at"] + pd.to_timedelta(rng.integers(1, 15, int(returned.sum())), unit="D")
        ret["amount"] = -np.round(ret["amount"] * rng.uniform(0.2, 1.0, len(ret)), 2)
        ret["order_id"] = ret["order_id"] + "-R"
        ret = ret[ret["occurred_at"] < start + pd.Timedelta(days=s.days)]
        frame = pd.concat([frame, ret], ignore_index=True)
    if not with_truth:
        return frame
    truth = pd.DataFrame({
        "customer_id": np.arange(1, n_customers + 1, dtype="int64"),
        "lam": lam, "p": p_drop, "birth_day": birth, "death_day": death,
        "alive": ~np.isfinite(death), "is_member": member,
    })
    return frame, truth


def simulate_feedback(transactions: pd.DataFrame, *, seed: int = 0, share: float = 0.3) -> pd.DataFrame:
    """NPS answers (0-10) for a share of purchases; frequent buyers answer higher.

    Columns: customer_id, answered_at (timestamp), score (int 0-10).
    """
    rng = np.random.default_rng(seed)
    buys = transactions[transactions["amount"] > 0]
    picked = buys.sample(frac=share, random_state=seed) if len(buys) else buys
    counts = buys.groupby("customer_id").size()
    loyalty = np.log1p(counts.reindex(picked["customer_id"]).to_numpy())
    base = 5.5 + 1.2 * loyalty + rng.normal(0, 2.0, len(picked))
    return pd.DataFrame({
        "customer_id": picked["customer_id"].to_numpy(),
        "answered_at": picked["occurred_at"].to_numpy() + np.timedelta64(2, "D"),
        "score": np.clip(np.round(base), 0, 10).astype("int64"),
    })

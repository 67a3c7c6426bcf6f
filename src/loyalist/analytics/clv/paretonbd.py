"""Pareto/NBD model of repeat buying (Schmittlein, Morrison & Colombo 1987).

Story: while alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha);
the unobserved lifetime is exponential with rate mu ~ Gamma(s, beta). Unlike BG/NBD, drop-out
can happen at any moment, not only right after a purchase.

Likelihood (Fader & Hardie's note on the Pareto/NBD):

    L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) * A0 ]

where A0 is a difference of two Gauss hypergeometric terms evaluated at t_x and at T, with
argument (alpha-beta)/(alpha+y) when alpha >= beta and (beta-alpha)/(beta+y) otherwise, so
that the argument stays in [0, 1). Numerical care taken here:

- Euler's transformation 2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) turns both
  branches into 2F1(1, . ; r+s+x+1; z), a series with first parameter 1 that converges even
  at z = 1 (its c - a - b is s > 0 or r + x > 0) and never overflows;
- every term is kept as a logarithm; A0 = exp(u(t_x)) - exp(u(T)) is formed with
  log(-expm1(.)) and combined with the first term by logaddexp.

The gradient is taken numerically (derivatives of 2F1 in its parameters have no cheap closed
form); on compressed data the fit still takes a fraction of a second.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, gammaln  # type: ignore[import-untyped]

from .base import (
    CompressedRFM,
    ContinuousTimeModel,
    FloatArray,
    as_float_array,
    hyp2f1_robust,
    validate_horizon,
    validate_rfm,
    wsum,
)


def _log_u(params: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """log of the hypergeometric term of A0 at time y (A0 = exp(u(t_x)) - exp(u(T))), after
    Euler's transformation; the branch keeps the 2F1 argument in [0, 1)."""
    r, alpha, s, beta = params
    rx = r + x
    rsx = rx + s
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        log_f = np.log(hyp2f1_robust(1.0, rx, rsx + 1.0, z))
        return np.asarray(-s * np.log(beta + y) - rx * np.log(alpha + y) + log_f, dtype=np.float64)
    z = (beta - alpha) / (beta + y)
    log_f = np.log(hyp2f1_robust(1.0, s + 1.0, rsx + 1.0, z))
    return np.asarray((1.0 - rx) * np.log(alpha + y) - (1.0 + s) * np.log(beta + y) + log_f, dtype=np.float64)


def _log_terms(
    params: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    t_obs: FloatArray,
    u_tx: FloatArray | None = None,
    u_T: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (log prefactor, log of the 'alive at T' term, log of s/(r+s+x) * A0).

    ``u_tx`` / ``u_T`` may be passed in when the caller evaluated them once per distinct
    (x, t_x) / (x, T) pair — the 2F1 calls are the expensive part of the likelihood.
    """
    r, alpha, s, beta = params
    rx = r + x
    rsx = rx + s
    log_prefactor = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive_term = -rx * np.log(alpha + t_obs) - s * np.log(beta + t_obs)
    if u_tx is None:
        u_tx = _log_u(params, x, tx)
    if u_T is None:
        u_T = _log_u(params, x, t_obs)
    gap = np.minimum(u_T - u_tx, 0.0)  # u is decreasing in y; clip float noise
    with np.errstate(divide="ignore"):
        log_a0 = u_tx + np.log(-np.expm1(gap))
    log_a0 = np.where(tx >= t_obs, -np.inf, log_a0)
    log_dead_term = np.log(s) - np.log(rsx) + log_a0
    return log_prefactor, log_alive_term, log_dead_term


class ParetoNBDModel(ContinuousTimeModel):
    """Pareto/NBD; parameters r, alpha (purchase rate heterogeneity), s, beta (drop-out rate)."""

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _analytic_gradient = False
    # Each evaluation costs two 2F1 calls per row, so the coarse warm start pays off early.
    _warm_start_rows = 5_000
    _warm_start_grid = 32

    def _row_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> FloatArray:
        (px_tx, py_tx, i_tx), (px_t, py_t, i_t) = data.x_tx_pairs, data.x_T_pairs
        u_tx = _log_u(params, px_tx, py_tx)[i_tx]
        u_T = _log_u(params, px_t, py_t)[i_t]
        pre, alive, dead = _log_terms(params, data.x, data.tx, data.T, u_tx, u_T)
        return np.asarray(pre + np.logaddexp(alive, dead), dtype=np.float64)

    def _neg_mean_ll(self, theta: FloatArray, data: CompressedRFM) -> float:
        with np.errstate(all="ignore"):
            ll = self._row_log_likelihood(np.exp(theta), data)
        value = -float(wsum(data.w, ll)) / data.total_weight
        return value if np.isfinite(value) else 1e100

    def _starts(self, data: CompressedRFM) -> list[list[float]]:
        mean_rate = max(float(wsum(data.w, data.x) / max(wsum(data.w, data.T), 1e-12)), 1e-6)
        mean_age = max(float(wsum(data.w, data.T) / data.total_weight), 1e-6)
        return [
            [0.0, float(np.log(1.0 / mean_rate)), 0.0, float(np.log(mean_age))],
            [0.0, 0.0, 0.0, 0.0],
        ]

    # ---------------------------------------------------------------- predictions
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(still alive at T | x, t_x, T) = alive term / (alive term + s/(r+s+x) A0)."""
        x, tx, t_obs = validate_rfm(frequency, recency, T)
        return self._p_alive(x, tx, t_obs)

    def _p_alive(self, x: FloatArray, tx: FloatArray, t_obs: FloatArray) -> FloatArray:
        _, alive, dead = _log_terms(self._params_array(), x, tx, t_obs)
        return np.asarray(expit(alive - dead), dtype=np.float64)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[repeat purchases in (T, T+t] | x, t_x, T] = E[rate] * E[time alive in (T, T+t]] * P(alive).

        Closed form: (r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive),
        with the s = 1 limit (beta+T) log(1 + t/(beta+T)) taken smoothly via expm1/log1p.
        """
        horizon = validate_horizon("t", t)
        x, tx, t_obs = validate_rfm(frequency, recency, T)
        x, tx, t_obs, horizon = np.broadcast_arrays(x, tx, t_obs, horizon)
        return self._conditional(horizon, x, tx, t_obs)

    def _conditional(self, t: FloatArray, x: FloatArray, tx: FloatArray, t_obs: FloatArray) -> FloatArray:
        r, alpha, s, beta = self._params_array()
        expected_alive_time = (beta + t_obs) * _shrunk_log1p(s - 1.0, t / (beta + t_obs))
        return np.asarray(
            (r + x) / (alpha + t_obs) * expected_alive_time * self._p_alive(x, tx, t_obs), dtype=np.float64
        )

    def unconditional_expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] for a new customer."""
        horizon = validate_horizon("t", t).astype(np.float64)
        zeros = np.zeros_like(horizon)
        out = self._conditional(horizon, zeros, zeros, zeros)
        return out if out.ndim else float(out)  # type: ignore[return-value]

    # ---------------------------------------------------------------- simulation
    def simulate(self, n_customers: int, T: ArrayLike, seed: int | None = None) -> dict[str, FloatArray]:
        """Draw (frequency, recency, T) from the Pareto/NBD process.

        Lifetime tau ~ Exp(mu); purchases are Poisson on (0, min(tau, T)]; given N of them the
        last is the maximum of N uniforms, i.e. min(tau, T) * Beta(N, 1).
        """
        if n_customers <= 0:
            raise ValueError("n_customers must be positive")
        r, alpha, s, beta = self._params_array()
        rng = np.random.default_rng(seed)
        ages = np.broadcast_to(as_float_array("T", T), (n_customers,)).astype(np.float64)
        lam = rng.gamma(r, 1.0 / alpha, n_customers)
        mu = rng.gamma(s, 1.0 / beta, n_customers)
        lifetime = rng.exponential(1.0, n_customers) / np.maximum(mu, 1e-300)
        active = np.minimum(lifetime, ages)
        n = rng.poisson(lam * active)
        tx = np.zeros(n_customers)
        has = n > 0
        tx[has] = active[has] * rng.beta(n[has], 1.0)
        return {"frequency": n.astype(np.float64), "recency": tx, "T": ages}


def _shrunk_log1p(c: float, u: FloatArray) -> FloatArray:
    """[1 - (1+u)^(-c)] / c, continuous at c = 0 where it equals log(1+u)."""
    lu = np.log1p(u)
    if abs(c) < 1e-12:
        return lu
    return -np.expm1(-c * lu) / c

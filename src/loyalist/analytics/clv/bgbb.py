"""BG/BB: beta-geometric / beta-binomial model for discrete transaction opportunities.

Why a discrete model: some businesses offer a fixed schedule of chances to buy (annual
donation drives, yearly memberships, events, weekly boxes). There a customer either transacts
in an opportunity or not, and the right summary is (x, t_x, n): x transactions in n
opportunities, the last in opportunity t_x (Fader, Hardie & Shang 2010).

Story: while alive, a customer transacts at each opportunity with probability p ~ Beta(alpha,
beta); at the start of each opportunity a living customer dies with probability
theta ~ Beta(gamma, delta). Likelihood of (x, t_x, n):

    L = B(alpha+x, beta+n-x)/B(alpha, beta) * B(gamma, delta+n)/B(gamma, delta)
      + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta) * B(gamma+1, delta+t_x+i)/B(gamma, delta)

(alive throughout, or died after opportunity t_x + i), evaluated with logsumexp over a masked
matrix of the i terms.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, logsumexp  # type: ignore[import-untyped]

from .base import (
    BaseModel,
    FloatArray,
    compress_rows,
    maximise,
    validate_counts,
    validate_horizon,
    validate_weights,
    wsum,
)


def _validate_discrete(
    frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = validate_counts("frequency", frequency)
    tx = validate_counts("recency", recency)
    n = validate_counts("n_periods", n_periods)
    try:
        x, tx, n = np.broadcast_arrays(x, tx, n)
    except ValueError as exc:
        raise ValueError(
            f"frequency, recency and n_periods must have the same length (got {x.size}, {tx.size}, {n.size})"
        ) from exc
    if np.any(tx > n):
        raise ValueError("recency must not exceed n_periods (last transaction after the last opportunity)")
    if np.any(x > tx):
        raise ValueError("frequency must not exceed recency (more transactions than opportunities up to the last)")
    if np.any((x == 0) & (tx > 0)):
        raise ValueError("recency must be 0 where frequency is 0")
    return np.array(x, dtype=np.float64), np.array(tx, dtype=np.float64), np.array(n, dtype=np.float64)


def _log_likelihood(params: FloatArray, x: FloatArray, tx: FloatArray, n: FloatArray) -> FloatArray:
    alpha, beta, gamma, delta = params
    base_p = betaln(alpha, beta)
    base_t = betaln(gamma, delta)
    alive = betaln(alpha + x, beta + n - x) - base_p + betaln(gamma, delta + n) - base_t
    n_terms = int(np.max(n - tx)) if x.size else 0
    if n_terms == 0:
        return np.asarray(alive, dtype=np.float64)
    i = np.arange(n_terms, dtype=np.float64)[None, :]
    died = (
        betaln(alpha + x[:, None], beta + tx[:, None] - x[:, None] + i)
        - base_p
        + betaln(gamma + 1.0, delta + tx[:, None] + i)
        - base_t
    )
    died = np.where(i < (n - tx)[:, None], died, -np.inf)
    return np.asarray(logsumexp(np.column_stack([alive, died]), axis=1), dtype=np.float64)


class BetaGeoBetaBinomModel(BaseModel):
    """BG/BB model; parameters alpha, beta (transaction probability), gamma, delta (drop-out)."""

    _param_names = ("alpha", "beta", "gamma", "delta")
    _model_name = "BG/BB"

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeoBetaBinomModel:
        """Fit on (x, t_x, n) rows; ``weights`` counts customers per row (the usual compact table)."""
        x, tx, n = _validate_discrete(frequency, recency, n_periods)
        w = validate_weights(weights, x.shape[0])
        (ux, utx, un), uw = compress_rows([x, tx, n], w)
        total_w = float(uw.sum())

        def objective(theta: FloatArray) -> float:
            with np.errstate(all="ignore"):
                ll = _log_likelihood(np.exp(theta), ux, utx, un)
            value = -float(wsum(uw, ll)) / total_w
            value += self._penalty(theta)[0]
            return value if np.isfinite(value) else 1e100

        result = maximise(objective, [[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, -0.5, 1.0]], analytic_gradient=False)
        params = np.exp(result.log_params)
        self.params_ = {name: float(v) for name, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = float(wsum(uw, _log_likelihood(params, ux, utx, un)))
        self.n_customers_ = int(round(total_w)) if total_w.is_integer() else total_w
        self.n_unique_rows_ = int(ux.shape[0])
        self.converged_ = result.converged
        self.n_iterations_ = result.n_iterations
        return self

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> FloatArray:
        """P(alive at opportunity n + 1 | x, t_x, n)."""
        x, tx, n = _validate_discrete(frequency, recency, n_periods)
        alpha, beta, gamma, delta = params = self._params_array()
        alive_next = (
            betaln(alpha + x, beta + n - x) - betaln(alpha, beta) + betaln(gamma, delta + n + 1) - betaln(gamma, delta)
        )
        return np.asarray(np.exp(alive_next - _log_likelihood(params, x, tx, n)), dtype=np.float64)

    def expected_purchases(
        self, n_future: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """E[transactions in the next n_future opportunities | x, t_x, n].

        = B(alpha+x+1, beta+n-x)/B(alpha, beta) * sum_{j=1..n*} B(gamma, delta+n+j)/B(gamma, delta) / L,
        i.e. posterior mean of p times the expected number of future opportunities alive; the
        explicit sum (instead of the closed form with 1/(gamma-1)) stays finite at gamma = 1.
        """
        future = validate_horizon("n_future", n_future)
        if np.any(future != np.floor(future)):
            raise ValueError("n_future must be a whole number of opportunities")
        x, tx, n = _validate_discrete(frequency, recency, n_periods)
        x, tx, n, future = np.broadcast_arrays(x, tx, n, future)
        alpha, beta, gamma, delta = params = self._params_array()
        log_l = _log_likelihood(params, x.ravel(), tx.ravel(), n.ravel())
        lead = betaln(alpha + x.ravel() + 1, beta + n.ravel() - x.ravel()) - betaln(alpha, beta) - log_l
        alive_sum = _alive_opportunities(gamma, delta, n.ravel(), future.ravel())
        return np.asarray((np.exp(lead) * alive_sum).reshape(x.shape), dtype=np.float64)

    def unconditional_expected_purchases(self, n_periods: ArrayLike) -> FloatArray:
        """E[transactions in the first n opportunities] for a newly acquired customer."""
        n = validate_counts("n_periods", n_periods)
        alpha, beta, gamma, delta = self._params_array()
        return np.asarray(
            alpha / (alpha + beta) * _alive_opportunities(gamma, delta, np.zeros_like(n), n), dtype=np.float64
        )

    def simulate(self, n_customers: int, n_periods: int, seed: int | None = None) -> dict[str, FloatArray]:
        """Draw (frequency, recency, n_periods) by playing the opportunities one by one."""
        if n_customers <= 0:
            raise ValueError("n_customers must be positive")
        if int(n_periods) != n_periods or n_periods < 0:
            raise ValueError("n_periods must be a non-negative whole number")
        alpha, beta, gamma, delta = self._params_array()
        rng = np.random.default_rng(seed)
        p = rng.beta(alpha, beta, n_customers)
        theta = rng.beta(gamma, delta, n_customers)
        alive = np.ones(n_customers, dtype=bool)
        x = np.zeros(n_customers)
        tx = np.zeros(n_customers)
        for period in range(1, int(n_periods) + 1):
            alive &= rng.random(n_customers) >= theta
            buys = alive & (rng.random(n_customers) < p)
            x += buys
            tx[buys] = period
        return {"frequency": x, "recency": tx, "n_periods": np.full(n_customers, float(n_periods))}


def _alive_opportunities(gamma: float, delta: float, n: FloatArray, future: FloatArray) -> FloatArray:
    """sum_{j=1..future} E[(1-theta)^(n+j)] for each row (expected opportunities still alive)."""
    j_max = int(np.max(future)) if future.size else 0
    if j_max == 0:
        return np.zeros_like(n, dtype=np.float64)
    j = np.arange(1, j_max + 1, dtype=np.float64)[None, :]
    terms = np.exp(betaln(gamma, delta + n[:, None] + j) - betaln(gamma, delta))
    return np.asarray(np.sum(np.where(j <= future[:, None], terms, 0.0), axis=1), dtype=np.float64)

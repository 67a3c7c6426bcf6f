"""BG/NBD ("beta-geometric / negative binomial") model of repeat buying.

Story (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a
customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); right after each repeat
purchase the customer drops out with probability p ~ Beta(a, b). The per-customer likelihood
of (x, t_x, T) is

    L = B(a, b+x)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+T)^(r+x)
      + [x > 0] * B(a+1, b+x-1)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+t_x)^(r+x)

which is evaluated here in log-space (logaddexp of the two terms) with an analytic gradient.

The MBG/NBD variant (mbgnbd.py) differs only in also allowing a drop-out at time zero; the
shared code is parameterised by ``_shift`` (0 for BG/NBD, 1 for MBG/NBD): the first beta term
uses b + x + shift and the second a + 1, b + x + shift - 1, active where x + shift > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, gammaln, hyp2f1, psi

from .base import (
    CompressedRFM,
    ContinuousTimeModel,
    FloatArray,
    as_float_array,
    validate_horizon,
    validate_rfm,
)


class _BetaGeoFamily(ContinuousTimeModel):
    _param_names = ("r", "alpha", "a", "b")
    _shift: int = 0

    # ---------------------------------------------------------------- likelihood
    def _terms(self, params: FloatArray, data: CompressedRFM, need_grad: bool) -> tuple[FloatArray, Any]:
        r, alpha, a, b = params
        k = self._shift
        ux = data.x_unique
        gi = data.x_index
        active_u = (ux + k) > 0
        # Per distinct x: the parts that do not depend on t_x or T.
        b_first = b + ux + k
        b_second = np.where(active_u, b + ux + k - 1, 1.0)  # safe argument where the term is off
        lgam = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        beta_first = betaln(a, b_first)
        beta_second = np.where(active_u, betaln(a + 1, b_second), -np.inf)

        x = data.x
        log_a_T = np.log(alpha + data.T)
        log_a_tx = np.log(alpha + data.tx)
        rx = r + x
        first = beta_first[gi] - rx * log_a_T
        second = beta_second[gi] - rx * log_a_tx
        lse = np.logaddexp(first, second)
        ll = lgam[gi] + lse
        if not need_grad:
            return ll, None
        w_first = np.exp(first - lse)
        w_second = np.exp(second - lse)  # exactly 0 where the second term is off
        psi_ab = psi(a + b)
        psi_abx = psi(a + b + ux + k)[gi]
        d_r = (psi(r + ux) - psi(r))[gi] + np.log(alpha) - w_first * log_a_T - w_second * log_a_tx
        d_alpha = r / alpha - rx * (w_first / (alpha + data.T) + w_second / (alpha + data.tx))
        d_a = -(psi(a) - psi_ab) + w_first * (psi(a) - psi_abx) + w_second * (psi(a + 1) - psi_abx)
        d_b = (
            -(psi(b) - psi_ab)
            + w_first * (psi(b_first)[gi] - psi_abx)
            + w_second * np.where(active_u, psi(b_second), 0.0)[gi]
            - w_second * psi_abx
        )
        return ll, (d_r, d_alpha, d_a, d_b)

    def _row_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> FloatArray:
        return self._terms(params, data, need_grad=False)[0]

    def _neg_mean_ll(self, theta: FloatArray, data: CompressedRFM) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        ll, grads = self._terms(params, data, need_grad=True)
        total_w = data.total_weight
        value = -float(np.dot(data.w, ll)) / total_w
        if not np.isfinite(value):
            return np.inf, np.zeros(4)
        grad = np.array([-np.dot(data.w, g) / total_w for g in grads]) * params  # chain rule to log-params
        return value, grad

    def _starts(self, data: CompressedRFM) -> list[list[float]]:
        # Scale-aware start for alpha (a rate's scale follows the time unit) plus a neutral one.
        mean_rate = max(float(np.dot(data.w, data.x) / max(np.dot(data.w, data.T), 1e-12)), 1e-6)
        return [
            [0.0, float(np.log(1.0 / mean_rate)), 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]

    # ---------------------------------------------------------------- predictions
    def _log_death_odds(self, x: FloatArray, tx: FloatArray, t_obs: FloatArray) -> FloatArray:
        """log of P(dropped out) / P(alive) given (x, t_x, T); -inf where drop-out is impossible."""
        r, alpha, a, b = self._params_array()
        k = self._shift
        active = (x + k) > 0
        safe = np.where(active, b + x + k - 1, 1.0)
        odds = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + t_obs) - np.log(alpha + tx))
        return np.where(active, odds, -np.inf)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that a customer with history (x, t_x, T) has not dropped out by T."""
        x, tx, t_obs = validate_rfm(frequency, recency, T)
        return expit(-self._log_death_odds(x, tx, t_obs))

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[number of repeat purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee eq. 10)."""
        horizon = validate_horizon("t", t)
        x, tx, t_obs = validate_rfm(frequency, recency, T)
        x, tx, t_obs, horizon = np.broadcast_arrays(x, tx, t_obs, horizon)
        return self._conditional(horizon, x, tx, t_obs)

    def _conditional(self, t: FloatArray, x: FloatArray, tx: FloatArray, t_obs: FloatArray) -> FloatArray:
        r, alpha, a, b = self._params_array()
        if abs(a - 1.0) < 1e-10:
            a = 1.0 + 1e-10  # the closed form has a removable 0/0 at a = 1
        k = self._shift
        z = t / (alpha + t_obs + t)
        log_decay = (r + x) * (np.log(alpha + t_obs) - np.log(alpha + t_obs + t))
        bracket = 1.0 - np.exp(log_decay) * hyp2f1(r + x, b + x + k, a + b + x + k - 1, z)
        alive = expit(-self._log_death_odds(x, tx, t_obs))
        out = (a + b + x + k - 1) / (a - 1) * bracket * alive
        return np.where(t == 0, 0.0, out)

    def unconditional_expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: repeat purchases of a newly acquired customer in their first t periods."""
        horizon = validate_horizon("t", t)
        zeros = np.zeros_like(horizon, dtype=np.float64)
        out = self._conditional(horizon.astype(np.float64), zeros, zeros, zeros)
        return out if out.ndim else float(out)  # type: ignore[return-value]

    def probability_of_n_purchases(self, t: float, n: ArrayLike) -> FloatArray:
        """P(X(t) = n) for a newly acquired customer — the model's histogram, used for fit checks."""
        horizon = float(validate_horizon("t", t))
        counts = as_float_array("n", n)
        r, alpha, a, b = self._params_array()
        out = np.empty_like(counts)
        for i, m in enumerate(counts):
            out[i] = self._prob_n(horizon, int(m), r, alpha, a, b)
        return out

    def _prob_n(self, t: float, n: int, r: float, alpha: float, a: float, b: float) -> float:
        k = self._shift
        nb = _nbd_pmf(np.arange(n + 1), t, r, alpha)
        # Still alive after all n purchases (and after time zero, for MBG): n + k survived chances.
        main = np.exp(betaln(a, b + n + k) - betaln(a, b)) * nb[n]
        if n + k == 0:
            return float(main)
        # Dropped out right after purchase n (MBG, n = 0: at time zero): needs N(t) >= n.
        died = np.exp(betaln(a + 1, b + n + k - 1) - betaln(a, b))
        tail = max(1.0 - float(np.sum(nb[:n])), 0.0)
        return float(main + died * tail)

    # ---------------------------------------------------------------- simulation
    def simulate(self, n_customers: int, T: ArrayLike, seed: int | None = None) -> dict[str, FloatArray]:
        """Draw (frequency, recency, T) for n_customers from the model's own process.

        Vectorised: with N ~ Poisson(lambda*T) purchases on (0, T] and K purchases before
        drop-out, x = min(K, N) and t_x is the x-th of N uniform order statistics, i.e.
        T * Beta(x, N - x + 1).
        """
        if n_customers <= 0:
            raise ValueError("n_customers must be positive")
        r, alpha, a, b = self._params_array()
        rng = np.random.default_rng(seed)
        ages = np.broadcast_to(as_float_array("T", T), (n_customers,)).astype(np.float64)
        lam = rng.gamma(r, 1.0 / alpha, n_customers)
        p = rng.beta(a, b, n_customers)
        p = np.clip(p, 1e-300, 1.0)
        k_before_drop = rng.geometric(p) - self._shift  # BG: >= 1 purchase before drop; MBG: may be 0
        n_poisson = rng.poisson(lam * ages)
        x = np.minimum(k_before_drop, n_poisson)
        has = x > 0
        tx = np.zeros(n_customers)
        tx[has] = ages[has] * rng.beta(x[has], n_poisson[has] - x[has] + 1)
        return {"frequency": x.astype(np.float64), "recency": tx, "T": ages}


class BetaGeoModel(_BetaGeoFamily):
    """BG/NBD model (Fader, Hardie & Lee 2005); parameters r, alpha (purchase rate), a, b (drop-out)."""

    _model_name = "BG/NBD"
    _shift = 0


def _nbd_pmf(n: FloatArray, t: float, r: float, alpha: float) -> FloatArray:
    """P(N(t) = n) for a Poisson count whose rate is Gamma(r, alpha): negative binomial."""
    if t <= 0:
        return (n == 0).astype(np.float64)
    log_p = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t))
    return np.exp(log_p)

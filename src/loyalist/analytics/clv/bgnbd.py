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

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, gammaln, psi  # type: ignore[import-untyped]

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


class _BetaGeoFamily(ContinuousTimeModel):
    _param_names = ("r", "alpha", "a", "b")
    _shift: int = 0

    # ---------------------------------------------------------------- likelihood
    def _row_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> FloatArray:
        """Per-row log-likelihood, written plainly (used for reporting and as the reference
        that the fused objective below is tested against)."""
        r, alpha, a, b = params
        k = self._shift
        x = data.x
        active = (x + k) > 0
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        first = betaln(a, b + x + k) - (r + x) * np.log(alpha + data.T)
        b_second = np.where(active, b + x + k - 1, 1.0)
        second = np.where(active, betaln(a + 1, b_second) - (r + x) * np.log(alpha + data.tx), -np.inf)
        return np.asarray(common + np.logaddexp(first, second), dtype=np.float64)

    def _total_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> float:
        # The fused objective is the cheaper way to the same number (tested against the plain one).
        return -self._neg_mean_ll(np.log(params), data)[0] * data.total_weight

    def _neg_mean_ll(self, theta: FloatArray, data: CompressedRFM) -> tuple[float, FloatArray]:
        """Mean negative log-likelihood and its analytic gradient w.r.t. log-parameters.

        Fused for speed: with first = log of the "still alive" term and d = second - first,
        log L = const(x) + first + softplus(d) and the weight of the "dropped out" term is
        sigmoid(d). Everything that depends on x alone is summed with per-x customer counts;
        log(alpha + T) and log(alpha + t_x) are evaluated on distinct T / t_x values only. Per row
        there is one exp and one log1p.
        """
        params = np.exp(theta)
        r, alpha, a, b = params
        k = self._shift
        ux, gi, wx, w = data.x_unique, data.x_index, data.x_weight, data.w
        total_w = data.total_weight
        active_u = (ux + k) > 0
        b_first = b + ux + k
        b_second = np.where(active_u, b + ux + k - 1, 1.0)
        beta_first = betaln(a, b_first)
        delta_beta = np.where(active_u, betaln(a + 1, b_second) - beta_first, -np.inf)

        log_t = np.log(alpha + data.T_unique)[data.T_index]
        log_tx = np.log(alpha + data.tx_unique)[data.tx_index]
        rx = r + data.x
        gap = log_t - log_tx  # >= 0
        d = delta_beta[gi] + rx * gap
        e = np.exp(-np.abs(d))  # 0 where the second term is off (d = -inf)
        softplus = np.maximum(d, 0.0) + np.log1p(e)
        w_second = np.where(d > 0, 1.0, e) / (1.0 + e)

        ll = (
            total_w * (r * np.log(alpha) - gammaln(r) - betaln(a, b))
            + wsum(wx, gammaln(r + ux) + beta_first)
            - wsum(w, rx * log_t)
            + wsum(w, softplus)
        )
        if not np.isfinite(ll):
            return np.inf, np.zeros(4)
        ws = w * w_second
        sum_ws = float(ws.sum())
        psi_abx = psi(a + b + ux + k)
        inv_t = (1.0 / (alpha + data.T_unique))[data.T_index]
        inv_tx = (1.0 / (alpha + data.tx_unique))[data.tx_index]
        per_x_second = np.bincount(gi, weights=ws, minlength=ux.shape[0])
        d_r = total_w * (np.log(alpha) - psi(r)) + wsum(wx, psi(r + ux)) - wsum(w, log_t) + wsum(ws, gap)
        d_alpha = total_w * r / alpha - wsum(w, rx * inv_t) - wsum(ws, rx * (inv_tx - inv_t))
        d_a = total_w * psi(a + b) - wsum(wx, psi_abx) + sum_ws / a
        d_b = (
            total_w * (psi(a + b) - psi(b))
            + wsum(wx, psi(b_first) - psi_abx)
            - wsum(per_x_second, np.where(active_u, 1.0 / b_second, 0.0))
        )
        grad = -np.array([d_r, d_alpha, d_a, d_b]) * params / total_w
        return -float(ll) / total_w, grad

    def _starts(self, data: CompressedRFM) -> list[list[float]]:
        # Scale-aware start for alpha (a rate's scale follows the time unit) plus a neutral one.
        mean_rate = max(float(wsum(data.w, data.x) / max(wsum(data.w, data.T), 1e-12)), 1e-6)
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
        return np.asarray(expit(-self._log_death_odds(x, tx, t_obs)), dtype=np.float64)

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
        # 1 - (1-z)^(r+x) 2F1(r+x, b+x+k; a+b+x+k-1; z), with Euler's transformation applied so
        # that x only enters the third 2F1 parameter: the direct form overflows/NaNs for
        # heavy buyers over long horizons (both upper parameters ~ x, z near 1).
        log_one_minus_z = np.log(alpha + t_obs) - np.log(alpha + t_obs + t)
        bracket = 1.0 - np.exp((a - 1) * log_one_minus_z) * hyp2f1_robust(
            a + b + k - 1 - r, a - 1, a + b + x + k - 1, z
        )
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
        nb = _nbd_pmf(np.arange(n + 1, dtype=np.float64), t, r, alpha)
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
        return np.asarray(n == 0, dtype=np.float64)
    log_p = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t))
    return np.asarray(np.exp(log_p), dtype=np.float64)

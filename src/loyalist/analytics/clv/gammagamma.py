"""Gamma-Gamma model of spend per transaction, and discounted customer lifetime value.

Story (Fader, Hardie & Lee 2005, "RFM and CLV"; after Colombo & Jiang 1999): a customer's
transaction values are Gamma(p, nu) with customer-specific scale nu ~ Gamma(q, gamma). The mean
z of x transactions then has density

    f(z | x) = G(px+q) / (G(px) G(q)) * gamma^q * z^(px-1) * x^(px) / (gamma + x z)^(px+q)

It is fitted on repeat buyers only (x > 0, z = mean repeat spend). It assumes spend is
independent of purchase frequency — check that correlation before trusting CLV numbers.

CLV combines it with a purchase model: expected purchases per future month (from BG/NBD,
MBG/NBD or Pareto/NBD) x expected spend per purchase, discounted month by month.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, psi  # type: ignore[import-untyped]

from .base import (
    BaseModel,
    FloatArray,
    as_float_array,
    compress_rows,
    maximise,
    validate_counts,
    validate_weights,
    wsum,
)


def _validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike, *, allow_zero: bool
) -> tuple[FloatArray, FloatArray]:
    x = validate_counts("frequency", frequency)
    m = as_float_array("monetary_value", monetary_value)
    try:
        x, m = np.broadcast_arrays(x, m)
    except ValueError as exc:
        raise ValueError(f"frequency and monetary_value must have the same length (got {x.size}, {m.size})") from exc
    if not allow_zero:
        if np.any(x == 0):
            raise ValueError("frequency must be > 0: fit the Gamma-Gamma model on repeat buyers only")
        if np.any(m <= 0):
            raise ValueError("monetary_value must be > 0 for repeat buyers (mean spend per repeat purchase)")
    return np.array(x, dtype=np.float64), np.array(m, dtype=np.float64)


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model; parameters p (shape of spend), q and gamma (heterogeneity of the scale).

    ``params_`` uses the key ``gamma`` for the scale parameter the papers call gamma (lifetimes
    calls it ``v``); ``params_['v']`` is not provided to keep one name per quantity.
    """

    _param_names = ("p", "q", "gamma")
    _model_name = "Gamma-Gamma"

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> GammaGammaModel:
        """Maximum likelihood on repeat buyers: frequency = number of repeat purchases (> 0),
        monetary_value = their mean value."""
        x, m = _validate_spend(frequency, monetary_value, allow_zero=False)
        w = validate_weights(weights, x.shape[0])
        (ux, um), uw = compress_rows([x, m], w)
        total_w = float(uw.sum())
        log_x = np.log(ux)
        log_m = np.log(um)

        def row_ll(params: FloatArray) -> FloatArray:
            p, q, g = params
            px = p * ux
            return np.asarray(
                gammaln(px + q)
                - gammaln(px)
                - gammaln(q)
                + q * np.log(g)
                + (px - 1.0) * log_m
                + px * log_x
                - (px + q) * np.log(g + um * ux),
                dtype=np.float64,
            )

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(theta)
            p, q, g = params
            px = p * ux
            log_gxm = np.log(g + um * ux)
            ll = (
                gammaln(px + q)
                - gammaln(px)
                - gammaln(q)
                + q * np.log(g)
                + (px - 1.0) * log_m
                + px * log_x
                - (px + q) * log_gxm
            )
            psi_pxq = psi(px + q)
            d_p = ux * (psi_pxq - psi(px) + log_m + log_x - log_gxm)
            d_q = psi_pxq - psi(q) + np.log(g) - log_gxm
            d_g = q / g - (px + q) / (g + um * ux)
            value = -float(wsum(uw, ll)) / total_w
            if not np.isfinite(value):
                return np.inf, np.zeros(3)
            grad = -np.array([wsum(uw, d_p), wsum(uw, d_q), wsum(uw, d_g)]) / total_w * params
            pen, pen_grad = self._penalty(theta)
            return value + pen, grad + pen_grad

        mean_spend = float(wsum(uw, um) / total_w)
        result = maximise(objective, [[0.0, 0.0, float(np.log(mean_spend))], [0.0, 0.0, 0.0]], analytic_gradient=True)
        params = np.exp(result.log_params)
        self.params_ = {name: float(v) for name, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = float(wsum(uw, row_ll(params)))
        self.n_customers_ = int(round(total_w)) if total_w.is_integer() else total_w
        self.n_unique_rows_ = int(ux.shape[0])
        self.converged_ = result.converged
        self.n_iterations_ = result.n_iterations
        return self

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[spend per transaction | x, mean spend]: a credibility-weighted mix of the customer's
        own mean and the population mean p*gamma/(q-1); customers with x = 0 get the population mean."""
        x, m = _validate_spend(frequency, monetary_value, allow_zero=True)
        p, q, g = self._params_array()
        if q <= 1:
            raise ValueError("the expected spend is infinite for q <= 1 (heavy-tailed fit); check the data")
        return np.asarray(p * (g + m * x) / (p * x + q - 1.0), dtype=np.float64)

    def population_average_profit(self) -> float:
        """E[spend per transaction] for a customer about whom nothing is known."""
        p, q, g = self._params_array()
        if q <= 1:
            raise ValueError("the expected spend is infinite for q <= 1 (heavy-tailed fit); check the data")
        return float(p * g / (q - 1.0))

    def customer_lifetime_value(
        self,
        transaction_model: Any,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        horizon_months: int = 12,
        discount_rate_monthly: float = 0.01,
        time_unit_days: float = 7.0,
        days_per_month: float = 30.0,
    ) -> FloatArray:
        """Discounted expected value of each customer's purchases over the next ``horizon_months``.

        CLV = sum_{i=1..H} [E[Y(i months)] - E[Y(i-1 months)]] * E[spend] / (1 + d)^i, where the
        purchase expectations come from ``transaction_model.expected_purchases`` (a fitted BG/NBD,
        MBG/NBD or Pareto/NBD). ``time_unit_days`` is the length of the transaction model's time
        unit in days (7 for models fitted in weeks), so a month is days_per_month / time_unit_days
        model units.
        """
        if int(horizon_months) != horizon_months or horizon_months < 1:
            raise ValueError("horizon_months must be a positive whole number")
        if not np.isfinite(discount_rate_monthly) or discount_rate_monthly <= -1:
            raise ValueError("discount_rate_monthly must be a finite number greater than -1")
        if not np.isfinite(time_unit_days) or time_unit_days <= 0:
            raise ValueError("time_unit_days must be a positive number")
        if not np.isfinite(days_per_month) or days_per_month <= 0:
            raise ValueError("days_per_month must be a positive number")
        spend = self.conditional_expected_average_profit(frequency, monetary_value)
        months = np.arange(0, int(horizon_months) + 1, dtype=np.float64)
        horizons = (months * days_per_month / time_unit_days)[:, None]
        cumulative = np.asarray(transaction_model.expected_purchases(horizons, frequency, recency, T), dtype=np.float64)
        per_month = np.diff(cumulative, axis=0)
        discount = (1.0 + discount_rate_monthly) ** -months[1:]
        return np.asarray((discount[:, None] * per_month).sum(axis=0) * spend, dtype=np.float64)

    def simulate(self, frequency: ArrayLike, seed: int | None = None) -> FloatArray:
        """Draw each customer's mean spend over ``frequency`` transactions from the model.

        The mean of x Gamma(p, nu) values is Gamma(p x, x nu); nu ~ Gamma(q, gamma) per customer.
        Used for parameter-recovery tests and what-if scenarios.
        """
        x = validate_counts("frequency", frequency)
        if np.any(x == 0):
            raise ValueError("frequency must be > 0 to simulate a mean spend")
        p, q, g = self._params_array()
        rng = np.random.default_rng(seed)
        nu = rng.gamma(q, 1.0 / g, x.shape[0])
        return np.asarray(rng.gamma(p * x, 1.0 / (x * nu)), dtype=np.float64)

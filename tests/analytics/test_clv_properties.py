"""Behavioural properties every fitted model must have, independent of any data set.

Why: published estimates pin the likelihood, but the prediction formulas (P(alive), conditional
expectations, CLV) are only exercised here — bounds, monotonicity, limits and the identities
that tie the formulas to each other.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from loyalist.analytics.clv import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    NotFittedError,
    ParetoNBDModel,
)
from loyalist.analytics.clv.base import compress_rows

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
MBG = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
BGBB = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}

CONTINUOUS = [(BetaGeoModel, BG), (ModifiedBetaGeoModel, MBG), (ParetoNBDModel, PNBD)]

# A grid of valid histories: every x with recencies from 0 to T, several ages.
_T = np.repeat([0.5, 10.0, 38.86, 200.0], 40)
_X = np.tile(np.repeat([0.0, 1.0, 3.0, 10.0, 60.0], 8), 4)
_TX = np.where(_X == 0, 0.0, np.tile(np.linspace(0.0, 1.0, 8), 20) * _T)


@pytest.mark.parametrize(("model_cls", "params"), CONTINUOUS)
def test_p_alive_is_a_probability(model_cls: type, params: dict[str, float]) -> None:
    p = model_cls.from_params(**params).p_alive(_X, _TX, _T)

    assert p.shape == _T.shape
    assert np.all((p >= 0) & (p <= 1))


def test_bgnbd_p_alive_is_one_without_repeat_purchases_but_mbgnbd_is_not() -> None:
    bg = BetaGeoModel.from_params(**BG).p_alive([0, 0], [0, 0], [1.0, 50.0])
    mbg = ModifiedBetaGeoModel.from_params(**MBG).p_alive([0, 0], [0, 0], [1.0, 50.0])

    np.testing.assert_array_equal(bg, [1.0, 1.0])
    assert np.all(mbg < 1.0)
    assert mbg[1] < mbg[0]  # long silence is evidence of drop-out


@pytest.mark.parametrize(("model_cls", "params"), CONTINUOUS)
def test_p_alive_falls_with_time_since_last_purchase(model_cls: type, params: dict[str, float]) -> None:
    model = model_cls.from_params(**params)

    p = model.p_alive(np.full(5, 4.0), np.array([38.0, 30.0, 20.0, 10.0, 5.0]), np.full(5, 38.86))

    assert np.all(np.diff(p) < 0)


@pytest.mark.parametrize(("model_cls", "params"), CONTINUOUS)
def test_expected_purchases_are_zero_at_zero_and_increase_with_horizon(
    model_cls: type, params: dict[str, float]
) -> None:
    model = model_cls.from_params(**params)
    horizons = np.array([0.0, 1.0, 5.0, 20.0, 52.0, 200.0])[:, None]

    conditional = model.expected_purchases(horizons, _X, _TX, _T)
    unconditional = model.unconditional_expected_purchases(horizons[:, 0])

    assert conditional.shape == (6, _T.size)
    np.testing.assert_array_equal(conditional[0], 0.0)
    assert np.all(np.diff(conditional, axis=0) > 0)
    assert unconditional[0] == 0.0
    assert np.all(np.diff(unconditional) > 0)


@pytest.mark.parametrize(("model_cls", "params"), CONTINUOUS)
def test_new_customer_conditional_expectation_equals_unconditional(model_cls: type, params: dict[str, float]) -> None:
    model = model_cls.from_params(**params)

    assert model.expected_purchases(39.0, 0, 0, 0)[()] == pytest.approx(model.unconditional_expected_purchases(39.0))


@pytest.mark.parametrize(("model_cls", "params"), [(BetaGeoModel, BG), (ModifiedBetaGeoModel, MBG)])
def test_purchase_count_distribution_sums_to_one_and_has_the_model_mean(model_cls: type, params: dict) -> None:
    model = model_cls.from_params(**params)
    n = np.arange(0, 400)

    probs = model.probability_of_n_purchases(39.0, n)

    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.dot(n, probs) == pytest.approx(model.unconditional_expected_purchases(39.0), rel=1e-4)


def test_pareto_expectation_is_continuous_at_s_equal_one() -> None:
    at_one = ParetoNBDModel.from_params(r=0.5, alpha=10.0, s=1.0, beta=12.0).expected_purchases(52, 3, 20, 39)
    near = ParetoNBDModel.from_params(r=0.5, alpha=10.0, s=1.0 + 1e-6, beta=12.0).expected_purchases(52, 3, 20, 39)

    assert at_one == pytest.approx(near, rel=1e-5)


def test_pareto_likelihood_is_continuous_across_the_alpha_beta_branch() -> None:
    x, tx, t_obs = np.array([0.0, 2.0, 15.0]), np.array([0.0, 10.0, 38.0]), np.array([38.86, 38.86, 38.86])
    below = ParetoNBDModel.from_params(r=0.5, alpha=10.0 - 1e-7, s=0.6, beta=10.0).p_alive(x, tx, t_obs)
    equal = ParetoNBDModel.from_params(r=0.5, alpha=10.0, s=0.6, beta=10.0).p_alive(x, tx, t_obs)
    above = ParetoNBDModel.from_params(r=0.5, alpha=10.0 + 1e-7, s=0.6, beta=10.0).p_alive(x, tx, t_obs)

    np.testing.assert_allclose(below, equal, rtol=1e-6)
    np.testing.assert_allclose(above, equal, rtol=1e-6)


def test_population_expectation_is_the_sum_over_fitted_customers() -> None:
    sim = BetaGeoModel.from_params(r=0.8, alpha=6.0, a=1.2, b=3.0).simulate(3000, 52.0, seed=4)
    model = BetaGeoModel().fit(**sim)

    total = model.expected_repeat_purchases_population(26.0)

    per_customer = model.expected_purchases(26.0, sim["frequency"], sim["recency"], sim["T"])
    assert total == pytest.approx(per_customer.sum(), rel=1e-10)
    np.testing.assert_allclose(model.expected_repeat_purchases_population([0.0, 26.0]), [0.0, total])


def test_weights_give_the_same_fit_as_repeated_rows() -> None:
    sim = BetaGeoModel.from_params(r=0.8, alpha=6.0, a=1.2, b=3.0).simulate(500, 52.0, seed=6)
    counts = np.random.default_rng(1).integers(1, 5, 500)

    weighted = BetaGeoModel().fit(sim["frequency"], sim["recency"], sim["T"], weights=counts)
    repeated = BetaGeoModel().fit(*(np.repeat(sim[k], counts) for k in ("frequency", "recency", "T")))

    assert weighted.n_customers_ == repeated.n_customers_ == counts.sum()
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-9)
    for name, value in repeated.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-5)


def test_compress_rows_counts_unique_rows() -> None:
    x = np.array([1.0, 0.0, 1.0, 1.0, 2.0])
    t = np.array([5.0, 0.0, 5.0, 4.0, 5.0])
    w = np.array([1.0, 2.0, 3.0, 0.0, 1.0])

    (ux, ut), uw = compress_rows([x, t], w)

    rows = sorted(zip(ux.tolist(), ut.tolist(), uw.tolist(), strict=True))
    assert rows == [(0.0, 0.0, 2.0), (1.0, 5.0, 4.0), (2.0, 5.0, 1.0)]  # the zero-weight row is dropped


def test_penalizer_shrinks_parameters() -> None:
    sim = BetaGeoModel.from_params(r=0.8, alpha=6.0, a=1.2, b=3.0).simulate(2000, 52.0, seed=8)

    plain = BetaGeoModel().fit(**sim)
    shrunk = BetaGeoModel(penalizer=0.1).fit(**sim)

    assert sum(v**2 for v in shrunk.params_.values()) < sum(v**2 for v in plain.params_.values())
    assert shrunk.log_likelihood_ < plain.log_likelihood_


def test_bgbb_predictions_behave() -> None:
    model = BetaGeoBetaBinomModel.from_params(**BGBB)
    x = np.array([0, 1, 1, 3, 6, 6])
    tx = np.array([0, 1, 6, 3, 6, 6])
    n = np.array([6, 6, 6, 6, 6, 6])

    alive = model.p_alive(x, tx, n)
    future = model.expected_purchases(np.array([[1], [5], [10]]), x, tx, n)

    assert np.all((alive > 0) & (alive < 1))
    assert alive[2] > alive[1]  # recent activity means more likely alive
    assert np.all(np.diff(future, axis=0) > 0)
    assert model.unconditional_expected_purchases(0)[0] == 0.0
    new_customer = model.expected_purchases(4, 0, 0, 0)[()]
    assert new_customer == pytest.approx(model.unconditional_expected_purchases(4)[0], rel=1e-12)


def test_gamma_gamma_profit_shrinks_towards_population_mean() -> None:
    model = GammaGammaModel.from_params(p=6.25, q=3.74, gamma=15.44)
    population = model.population_average_profit()

    few = model.conditional_expected_average_profit(1, 100.0)[0]
    many = model.conditional_expected_average_profit(50, 100.0)[0]
    nothing = model.conditional_expected_average_profit(0, 0.0)[0]

    assert nothing == pytest.approx(population)
    assert population < few < many < 100.0


def test_summary_is_a_plain_dict() -> None:
    sim = BetaGeoModel.from_params(**BG).simulate(1000, 39.0, seed=2)
    model = BetaGeoModel().fit(**sim)

    summary = model.summary()

    assert set(summary["params"]) == {"r", "alpha", "a", "b"}
    assert summary["model"] == "BG/NBD"
    assert summary["n_customers"] == 1000
    assert summary["log_likelihood"] == model.log_likelihood_
    assert all(isinstance(v, (int, float, bool, str, dict)) for v in summary.values())


@pytest.mark.parametrize(
    "model", [BetaGeoModel(), ModifiedBetaGeoModel(), ParetoNBDModel(), BetaGeoBetaBinomModel(), GammaGammaModel()]
)
def test_unfitted_models_say_so(model: object) -> None:
    with pytest.raises(NotFittedError):
        model.summary()  # type: ignore[attr-defined]


def test_analytics_models_import_no_web_or_database_code() -> None:
    code = (
        "import sys, loyalist.analytics.clv as m; "
        "bad = [n for n in sys.modules if n.split('.')[0] in {'sqlalchemy', 'fastapi', 'starlette', 'pydantic'} "
        "or (n.startswith('loyalist.') and not n.startswith('loyalist.analytics'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("params", [[0.5, 3.0, 1.2, 2.0], [0.24, 4.4, 0.79, 0.6], [2.0, 30.0, 0.3, 0.5]])
def test_fused_objective_matches_plain_likelihood_and_its_gradient(model_cls: type, params: list[float]) -> None:
    from scipy.optimize import approx_fprime

    from loyalist.analytics.clv.base import CompressedRFM

    sim = BetaGeoModel.from_params(r=0.5, alpha=4.0, a=0.9, b=2.5).simulate(3000, 39.0, seed=9)
    weights = np.random.default_rng(2).integers(1, 4, 3000).astype(float)
    data = CompressedRFM.build(sim["frequency"], sim["recency"], sim["T"], weights)
    model = model_cls()
    theta = np.log(params)

    value, grad = model._neg_mean_ll(theta, data)

    plain = -np.sum(data.w * model._row_log_likelihood(np.exp(theta), data)) / data.total_weight
    assert value == pytest.approx(plain, rel=1e-12)
    numeric = approx_fprime(theta, lambda z: model._neg_mean_ll(z, data)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("recency_kind", ["days in weeks", "two decimals", "continuous"])
def test_compression_round_trips_mixed_columns(weighted: bool, recency_kind: str) -> None:
    from loyalist.analytics.clv.base import compress_coded

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 5000).astype(float)
    raw = {
        "days in weeks": rng.integers(0, 30, 5000) / 7.0,  # regular grid: the lookup path
        "two decimals": np.round(rng.uniform(0, 4, 5000), 2),  # CDNOW-style rounding
        "continuous": rng.uniform(0, 4, 5000),  # no grid: the sort path
    }[recency_kind]
    tx = np.where(x > 0, raw, 0.0)
    t_obs = rng.integers(30, 40, 5000).astype(float)  # whole numbers: the lookup path
    w = rng.integers(1, 3, 5000).astype(float) if weighted else np.ones(5000)

    uniques, indexes, summed = compress_coded([x, tx, t_obs], w)

    rows = np.column_stack([u[i] for u, i in zip(uniques, indexes, strict=True)])
    expected_rows, inverse = np.unique(np.column_stack([x, tx, t_obs]), axis=0, return_inverse=True)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(summed, np.bincount(inverse.reshape(-1), weights=w))


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_unidentified_parameters_are_reported_as_not_converged(model_cls: type) -> None:
    # Nobody ever came back: the purchase-rate scale runs off to the edge of the search box.
    model = model_cls().fit([0, 0, 0, 0], [0, 0, 0, 0], [10.0, 20.0, 30.0, 40.0])

    assert model.converged_ is False
    assert model.summary()["converged"] is False


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel])
def test_heavy_buyers_over_long_horizons_stay_finite(model_cls: type) -> None:
    # scipy's 2F1 returns NaN for the direct form here (large parameters, argument near 1).
    model = model_cls.from_params(r=2.0, alpha=6.0, a=3.0, b=0.5)
    horizons = np.array([1.0, 10.0, 100.0, 1000.0, 10_000.0])[:, None]

    expected = model.expected_purchases(horizons, [200, 50, 0], [38, 30, 0], [38.86, 38.86, 38.86])

    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected, axis=0) >= 0)


def test_pareto_heavy_buyer_with_long_silence_is_finite() -> None:
    model = ParetoNBDModel.from_params(r=2.0, alpha=0.5, s=0.5, beta=300.0)

    alive = model.p_alive([200, 1000], [20, 38.8], [38.86, 38.86])
    expected = model.expected_purchases(52.0, [200, 1000], [20, 38.8], [38.86, 38.86])

    assert np.all(np.isfinite(alive)) and np.all(np.isfinite(expected))
    assert alive[0] < 1e-10 < alive[1]  # 200 purchases then 19 silent weeks: almost surely gone

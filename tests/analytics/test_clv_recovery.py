"""Parameter recovery: data simulated from known parameters must be fitted back to them.

Why: the published-estimate tests prove the likelihood on one data set; recovery proves that
the simulators and the fitters describe the same process, across parameter regions (alpha
above and below beta for Pareto/NBD, a > 1 for BG/NBD) that CDNOW does not visit.
Seeds are fixed, so the tolerances (10%) are checked against one deterministic draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from loyalist.analytics.clv import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)

N = 20_000
# Drop-out parameters (b, beta) are the least precisely identified; more customers keep their
# sampling error well inside the tolerance.
N_DROPOUT = 30_000


def _ages(seed: int = 100, n: int = N) -> np.ndarray:
    """Customer ages between 26 and 104 weeks, on a daily grid (as real data would be)."""
    days = np.random.default_rng(seed).integers(26 * 7, 104 * 7, n)
    return days / 7.0


def _to_daily(sim: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Round purchase times down to whole days, like a summary built from dated transactions."""
    out = dict(sim)
    out["recency"] = np.floor(sim["recency"] * 7.0) / 7.0
    return out


def _assert_recovered(fitted: dict[str, float], true: dict[str, float], rel: float = 0.10) -> None:
    for name, value in true.items():
        assert fitted[name] == pytest.approx(value, rel=rel), f"{name}: fitted {fitted[name]:.4g}, true {value}"


@pytest.mark.parametrize(
    "true",
    [
        {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.0},
        {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5},
    ],
)
def test_bgnbd_recovers_parameters(true: dict[str, float]) -> None:
    sim = _to_daily(BetaGeoModel.from_params(**true).simulate(N, _ages(), seed=0))

    model = BetaGeoModel().fit(**sim)

    assert model.converged_
    assert model.n_unique_rows_ < N  # the daily grid lets rows collapse
    _assert_recovered(model.params_, true)


def test_mbgnbd_recovers_parameters() -> None:
    true = {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.0}
    sim = _to_daily(ModifiedBetaGeoModel.from_params(**true).simulate(N_DROPOUT, _ages(n=N_DROPOUT), seed=1))

    model = ModifiedBetaGeoModel().fit(**sim)

    assert model.converged_
    _assert_recovered(model.params_, true)


@pytest.mark.parametrize(
    "true",
    [
        {"r": 0.8, "alpha": 6.0, "s": 0.7, "beta": 12.0},  # alpha < beta branch
        {"r": 1.5, "alpha": 20.0, "s": 0.9, "beta": 5.0},  # alpha >= beta branch
    ],
)
def test_paretonbd_recovers_parameters(true: dict[str, float]) -> None:
    sim = _to_daily(ParetoNBDModel.from_params(**true).simulate(N_DROPOUT, _ages(n=N_DROPOUT), seed=0))

    model = ParetoNBDModel().fit(**sim)

    assert model.converged_
    _assert_recovered(model.params_, true)


def test_gamma_gamma_recovers_parameters() -> None:
    true = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    frequency = np.random.default_rng(5).integers(1, 30, N).astype(float)
    spend = GammaGammaModel.from_params(**true).simulate(frequency, seed=2)

    model = GammaGammaModel().fit(frequency, spend)

    assert model.converged_
    # Each customer contributes a single mean, so p and gamma lie on a ridge (p * gamma / (q - 1)
    # = population mean spend is what the data pin down): at 20k customers their sampling error
    # is ~10-20%, while q and the mean spend are recovered tightly.
    _assert_recovered(model.params_, {"q": 4.0}, rel=0.05)
    assert model.population_average_profit() == pytest.approx(6.0 * 15.0 / 3.0, rel=0.05)
    _assert_recovered(model.params_, {"p": 6.0, "gamma": 15.0}, rel=0.25)


def test_bgbb_recovers_parameters() -> None:
    true = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    sim = BetaGeoBetaBinomModel.from_params(**true).simulate(N, 10, seed=0)

    model = BetaGeoBetaBinomModel().fit(**sim)

    assert model.converged_
    assert model.n_unique_rows_ <= 66  # (x, t_x) pairs possible in 10 opportunities
    _assert_recovered(model.params_, true)


@pytest.mark.parametrize(
    ("model_cls", "params"),
    [
        (BetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.0}),
        (ModifiedBetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 1.2, "b": 3.0}),
        (ParetoNBDModel, {"r": 0.8, "alpha": 6.0, "s": 0.7, "beta": 12.0}),
    ],
)
def test_simulated_mean_matches_unconditional_expectation(model_cls: type, params: dict[str, float]) -> None:
    model = model_cls.from_params(**params)

    sim = model.simulate(200_000, 52.0, seed=11)

    assert sim["frequency"].mean() == pytest.approx(model.unconditional_expected_purchases(52.0), rel=0.02)
    assert np.all(sim["recency"] <= sim["T"])
    assert np.all(sim["recency"][sim["frequency"] == 0] == 0)


def test_bgbb_simulated_mean_matches_unconditional_expectation() -> None:
    model = BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8)

    sim = model.simulate(200_000, 6, seed=3)

    assert sim["frequency"].mean() == pytest.approx(model.unconditional_expected_purchases(6)[0], rel=0.01)

"""Bad inputs are rejected with a ValueError that names the offending argument.

Why: these models are fed summaries built elsewhere (another team's Ibis code, CSV uploads);
a silent NaN or an impossible recency would produce plausible-looking but wrong parameters.
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

GOOD = {"frequency": [0.0, 2.0, 5.0], "recency": [0.0, 10.0, 30.0], "T": [40.0, 40.0, 40.0]}


def _with(**changes: list[float]) -> dict[str, list[float]]:
    return {**GOOD, **changes}


BAD_CONTINUOUS = [
    (_with(frequency=[0.0, np.nan, 5.0]), "frequency"),
    (_with(recency=[0.0, np.inf, 30.0]), "recency"),
    (_with(T=[40.0, -1.0, 40.0]), "T"),
    (_with(frequency=[0.0, -2.0, 5.0]), "frequency"),
    (_with(frequency=[0.0, 2.5, 5.0]), "frequency"),
    (_with(recency=[0.0, 10.0, 41.0]), "recency must not exceed T"),
    (_with(recency=[3.0, 10.0, 30.0]), "recency must be 0 where frequency is 0"),
    (_with(T=[40.0, 40.0]), "same length"),
]


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
@pytest.mark.parametrize(("data", "message"), BAD_CONTINUOUS)
def test_continuous_models_reject_bad_summaries(model_cls: type, data: dict, message: str) -> None:
    model = model_cls()

    with pytest.raises(ValueError, match=message):
        model.fit(data["frequency"], data["recency"], data["T"])

    assert not hasattr(model, "params_")


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_continuous_models_reject_bad_weights_and_horizons(model_cls: type) -> None:
    with pytest.raises(ValueError, match="weights"):
        model_cls().fit(GOOD["frequency"], GOOD["recency"], GOOD["T"], weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="weights"):
        model_cls().fit(GOOD["frequency"], GOOD["recency"], GOOD["T"], weights=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="weights"):
        model_cls().fit(GOOD["frequency"], GOOD["recency"], GOOD["T"], weights=[1.0, 1.0])

    model = model_cls.from_params(**dict(zip(model_cls._param_names, [0.5, 5.0, 0.8, 3.0], strict=True)))
    with pytest.raises(ValueError, match="^t "):
        model.expected_purchases(-1.0, 1, 5, 10)
    with pytest.raises(ValueError, match="^t "):
        model.unconditional_expected_purchases(np.nan)
    with pytest.raises(ValueError, match="recency"):
        model.p_alive(1, 11, 10)


def test_penalizer_must_be_non_negative() -> None:
    with pytest.raises(ValueError, match="penalizer"):
        BetaGeoModel(penalizer=-0.1)


def test_from_params_checks_names_and_values() -> None:
    with pytest.raises(ValueError, match="missing"):
        BetaGeoModel.from_params(r=1.0, alpha=1.0, a=1.0)
    with pytest.raises(ValueError, match="parameter b"):
        BetaGeoModel.from_params(r=1.0, alpha=1.0, a=1.0, b=-1.0)


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([1.0, 0.0], [10.0, 5.0], "frequency must be > 0"),
        ([1.0, 2.0], [10.0, 0.0], "monetary_value must be > 0"),
        ([1.0, 2.0], [10.0, np.nan], "monetary_value"),
        ([1.0, -2.0], [10.0, 3.0], "frequency"),
    ],
)
def test_gamma_gamma_rejects_bad_spend(frequency: list[float], monetary: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGammaModel().fit(frequency, monetary)


def test_clv_rejects_bad_settings() -> None:
    spend = GammaGammaModel.from_params(p=6.0, q=4.0, gamma=15.0)
    purchases = BetaGeoModel.from_params(r=0.24, alpha=4.4, a=0.79, b=2.4)
    with pytest.raises(ValueError, match="horizon_months"):
        spend.customer_lifetime_value(purchases, [1], [5], [10], [20.0], horizon_months=0)
    with pytest.raises(ValueError, match="discount_rate_monthly"):
        spend.customer_lifetime_value(purchases, [1], [5], [10], [20.0], discount_rate_monthly=np.nan)
    with pytest.raises(ValueError, match="time_unit_days"):
        spend.customer_lifetime_value(purchases, [1], [5], [10], [20.0], time_unit_days=0)


@pytest.mark.parametrize(
    ("frequency", "recency", "periods", "message"),
    [
        ([1, 2], [1, 7], [6, 6], "recency must not exceed n_periods"),
        ([1, 3], [1, 2], [6, 6], "frequency must not exceed recency"),
        ([0, 2], [1, 2], [6, 6], "recency must be 0 where frequency is 0"),
        ([1, 2], [1, 2.5], [6, 6], "recency"),
        ([1, 2], [1, 2], [6, np.nan], "n_periods"),
    ],
)
def test_bgbb_rejects_bad_summaries(frequency: list, recency: list, periods: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeoBetaBinomModel().fit(frequency, recency, periods)

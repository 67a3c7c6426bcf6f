"""Probabilistic customer-base models: who is still a customer, how much will they buy, and what is that worth.

Continuous-time purchase models fitted on per-customer (frequency, recency, T) summaries:
``BetaGeoModel`` (BG/NBD), ``ModifiedBetaGeoModel`` (MBG/NBD), ``ParetoNBDModel`` (Pareto/NBD).
Spend model: ``GammaGammaModel``. Discrete-time (fixed transaction opportunities):
``BetaGeoBetaBinomModel`` (BG/BB). All are pure NumPy/SciPy and reproduce the published CDNOW and
donations estimates (see tests/analytics/test_clv_*.py).
"""

from .base import NotFittedError
from .bgbb import BetaGeoBetaBinomModel
from .bgnbd import BetaGeoModel
from .gammagamma import GammaGammaModel
from .mbgnbd import ModifiedBetaGeoModel
from .paretonbd import ParetoNBDModel

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
]

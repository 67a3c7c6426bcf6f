"""MBG/NBD: the BG/NBD with a possible drop-out at time zero (Batislam, Denizel & Filiztekin 2007).

Why offer it: under BG/NBD a customer who never made a repeat purchase is certain to be alive
(P(alive) = 1 for x = 0), which overstates the value of long-silent one-time buyers. MBG/NBD
gives every customer a drop-out chance right after the first purchase too, so silence lowers
P(alive) for x = 0 as well. Likelihood per customer:

    L = B(a, b+x+1)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+T)^(r+x)
      + B(a+1, b+x)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+t_x)^(r+x)

All algebra is shared with BG/NBD (see bgnbd._BetaGeoFamily, ``_shift = 1``).
"""

from __future__ import annotations

from .bgnbd import _BetaGeoFamily


class ModifiedBetaGeoModel(_BetaGeoFamily):
    """MBG/NBD model; parameters r, alpha (purchase rate), a, b (drop-out, incl. at time zero)."""

    _model_name = "MBG/NBD"
    _shift = 1

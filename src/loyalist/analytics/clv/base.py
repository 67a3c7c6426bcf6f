"""Shared machinery for the probabilistic customer-base models.

Why a shared base: every model here follows the same recipe — validate the per-customer
summary, compress it to unique rows with counts (customers with identical histories
contribute identical likelihood terms, so a million customers often collapse to a few
thousand rows), maximise the weighted log-likelihood over log-parameters (which keeps every
parameter positive without bounds tricks), and expose the result through scikit-learn-like
fitted attributes ending in ``_``.

Everything is pure NumPy/SciPy; nothing here may import a Loyalist domain, SQLAlchemy or
FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize  # type: ignore[import-untyped]
from scipy.special import hyp2f1 as _scipy_hyp2f1  # type: ignore[import-untyped]

FloatArray = NDArray[np.float64]

# Optimise log-parameters inside this box: exp(-20) .. exp(20) covers every realistic
# heterogeneity parameter while stopping the optimiser from wandering to inf/0.
_LOG_BOUND = 20.0
# |log parameter| beyond this (a value above ~3e6 or below ~3e-7) counts as running away.
_LOG_RUNAWAY = 15.0


def wsum(weights: ArrayLike, values: ArrayLike) -> float:
    """Weighted sum without BLAS.

    Why not np.dot: OpenBLAS threads a 1-d dot product above a few thousand elements, and on
    a busy machine (tests, workers, other fits) those threads spin and make a 40k-element dot
    product ~100x slower than a plain multiply-and-sum.
    """
    return float(np.multiply(weights, values).sum())


def hyp2f1_robust(a: ArrayLike, b: ArrayLike, c: ArrayLike, z: ArrayLike) -> FloatArray:
    """Gauss hypergeometric 2F1 with a power-series fallback where SciPy returns NaN/inf.

    Why: scipy.special.hyp2f1 gives NaN for some perfectly tame arguments with a large c and z
    near 1 (e.g. 2F1(0.5, 2; 202.5; 0.957) ~ 1.01) — exactly what heavy buyers over long
    horizons produce. There the series converges fast because c >> a, b, so it is summed
    directly (terms multiply by (a+k)(b+k) z / ((c+k)(k+1))) until they stop mattering.
    """
    a_, b_, c_, z_ = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    out = np.asarray(_scipy_hyp2f1(a_, b_, c_, z_), dtype=np.float64)
    bad = ~np.isfinite(out) & (np.abs(z_) < 1)
    if np.any(bad):
        aa, bb, cc, zz = a_[bad], b_[bad], c_[bad], z_[bad]
        term = np.ones_like(aa)
        total = np.ones_like(aa)
        for k in range(100_000):
            term = term * (aa + k) * (bb + k) / ((cc + k) * (k + 1.0)) * zz
            total = total + term
            if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
                break
        out = out.copy()
        out[bad] = total
    return out


class NotFittedError(RuntimeError):
    """Raised when a model method needs fitted parameters but neither fit() nor from_params() ran."""


def as_float_array(name: str, values: ArrayLike) -> FloatArray:
    """Convert an array-like to a 1-d float array, rejecting NaN/inf and negatives.

    The argument name is part of every message so that a caller passing a whole data frame
    learns which column is wrong.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} contains negative values")
    return arr


def validate_counts(name: str, values: ArrayLike) -> FloatArray:
    """Like as_float_array, and additionally require whole numbers (purchase counts)."""
    arr = as_float_array(name, values)
    if np.any(arr != np.floor(arr)):
        raise ValueError(f"{name} must contain whole numbers (counts of repeat purchases)")
    return arr


def validate_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Weights default to one per row; they must be non-negative and not all zero."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = as_float_array("weights", weights)
    if w.shape[0] != n:
        raise ValueError(f"weights has length {w.shape[0]}, expected {n}")
    if not np.any(w > 0):
        raise ValueError("weights must contain at least one positive value")
    return w


def validate_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, allow_broadcast: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a continuous-time (x, t_x, T) summary and broadcast it to equal lengths.

    Rules (each violation is a ValueError naming the argument):
    - all finite and non-negative, frequency whole numbers;
    - recency <= T (a purchase cannot happen after the end of observation);
    - frequency == 0 implies recency == 0 (no repeat purchase means no last repeat time).
    """
    x = validate_counts("frequency", frequency)
    tx = as_float_array("recency", recency)
    t_obs = as_float_array("T", T)
    if allow_broadcast:
        try:
            x, tx, t_obs = np.broadcast_arrays(x, tx, t_obs)
        except ValueError as exc:
            raise ValueError(
                f"frequency, recency and T must have the same length (got {x.size}, {tx.size}, {t_obs.size})"
            ) from exc
    elif not (x.size == tx.size == t_obs.size):
        raise ValueError(f"frequency, recency and T must have the same length (got {x.size}, {tx.size}, {t_obs.size})")
    # Tolerate float noise from unit conversions (e.g. days / 7) but nothing more.
    tol = 1e-9 * np.maximum(1.0, t_obs)
    if np.any(tx > t_obs + tol):
        raise ValueError("recency must not exceed T (time of last purchase after end of observation)")
    if np.any((x == 0) & (tx > 0)):
        raise ValueError("recency must be 0 where frequency is 0 (no repeat purchase, no last purchase time)")
    return np.array(x, dtype=np.float64), np.minimum(tx, t_obs), np.array(t_obs, dtype=np.float64)


def validate_horizon(name: str, t: ArrayLike) -> FloatArray:
    """A prediction horizon: finite and non-negative (scalar or array)."""
    arr = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def compress_rows(columns: Sequence[FloatArray], weights: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows into unique rows with summed weights (rows sorted by the columns).

    Why: the likelihood of identical histories is identical, so fitting on unique rows with
    counts gives exactly the same optimum for a fraction of the work.
    """
    uniques, indexes, summed = compress_coded(columns, weights)
    return [u[i] for u, i in zip(uniques, indexes, strict=True)], summed


def _factorise(column: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
    """Distinct values of a column and each row's index into them.

    Small whole numbers (purchase counts, day numbers) use a lookup table — a linear pass —
    instead of a sort; anything else uses np.unique's sort.
    """
    if column.size and column.max() < 2**22 and np.all(column == np.floor(column)):
        as_int = column.astype(np.int64)
        present = np.bincount(as_int) > 0
        lookup = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.float64), lookup[as_int]
    values = np.unique(column)
    on_grid = _grid_codes(column, values)
    if on_grid is not None:
        return values, on_grid
    values, inverse = np.unique(column, return_inverse=True)
    return values, inverse.reshape(-1).astype(np.int64)


def _grid_codes(column: FloatArray, values: FloatArray) -> NDArray[np.int64] | None:
    """Codes without a second sort when the distinct values sit on a regular grid.

    Times derived from dates are multiples of a step (a day in weeks = 1/7, or a rounding
    unit), so value -> grid position -> rank is a lookup table. The result is verified
    exactly (values[codes] == column); anything else returns None and np.unique is used.
    """
    if values.shape[0] < 2 or values.shape[0] > 1_000_000:
        return None
    step = float(np.min(np.diff(values)))
    origin = float(values[0])
    span = (float(values[-1]) - origin) / step
    if not np.isfinite(span) or span > 4_000_000:
        return None
    grid_of_values = np.rint((values - origin) / step).astype(np.int64)
    lookup = np.full(int(grid_of_values[-1]) + 1, -1, dtype=np.int64)
    lookup[grid_of_values] = np.arange(values.shape[0], dtype=np.int64)
    positions = np.rint((column - origin) / step).astype(np.int64)
    if positions.min() < 0 or positions.max() >= lookup.shape[0]:
        return None
    codes = lookup[positions]
    if codes.min() < 0 or not np.array_equal(values[codes], column):
        return None
    return codes


def compress_coded(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], list[NDArray[np.intp]], FloatArray]:
    """Unique rows as (distinct values per column, per-row index into them, summed weights).

    How, and why not ``np.unique(axis=0)`` or a 3-key lexsort: each column is first reduced to
    its distinct values (a SIMD sort of a 1-d array) and integer codes (a binary search); the
    codes are packed into one int64 key per row, and one sort of that key finds the unique
    rows. On a million customers this is several times faster than lexsort, and the codes
    are exactly the per-column indexes the likelihoods use to evaluate terms once per
    distinct value. Rows with zero weight are dropped.
    """
    keep = weights > 0
    if not np.all(keep):
        columns = [c[keep] for c in columns]
        weights = weights[keep]
    factorised = [_factorise(c) for c in columns]
    uniques = [u for u, _ in factorised]
    codes = [c for _, c in factorised]
    radices = [max(int(u.shape[0]), 1) for u in uniques]
    if float(np.prod([float(r) for r in radices])) >= 2.0**62:  # cannot pack: fall back to lexsort
        order = np.lexsort(tuple(reversed(codes))) if weights.size else np.zeros(0, dtype=np.intp)
        sorted_codes = [c[order] for c in codes]
        change = np.zeros(weights.shape[0], dtype=bool)
        if weights.size:
            change[0] = True
        for c in sorted_codes:
            change[1:] |= c[1:] != c[:-1]
        starts = np.flatnonzero(change)
        summed = np.add.reduceat(weights[order], starts) if weights.size else weights.copy()
        return uniques, [c[starts].astype(np.intp) for c in sorted_codes], summed
    key = codes[0]
    for c, radix in zip(codes[1:], radices[1:], strict=True):
        key = key * radix + c
    if np.all(weights == 1.0):
        unique_keys, counts = np.unique(key, return_counts=True)
        summed = counts.astype(np.float64)
    else:
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1]))) if key.size else order
        unique_keys = sorted_key[starts]
        summed = np.add.reduceat(weights[order], starts) if key.size else weights.copy()
    indexes: list[NDArray[np.intp]] = []
    rest = unique_keys
    for radix in reversed(radices[1:]):
        indexes.append((rest % radix).astype(np.intp))
        rest = rest // radix
    indexes.append(rest.astype(np.intp))
    indexes.reverse()
    return uniques, indexes, summed


@dataclass(frozen=True)
class FitResult:
    """What the optimiser reports back to a model."""

    log_params: FloatArray
    neg_mean_ll: float
    converged: bool
    n_iterations: int
    message: str


def maximise(
    objective: Callable[[FloatArray], tuple[float, FloatArray] | float],
    starts: Sequence[Sequence[float]],
    *,
    analytic_gradient: bool,
    tol: float = 1e-12,
    exhaustive: bool = False,
) -> FitResult:
    """Minimise a (mean) negative log-likelihood over log-parameters from several starts.

    L-BFGS-B on log-parameters is used because the problems are smooth and low-dimensional;
    with an analytic gradient it needs a few dozen evaluations. Each start is followed, when
    L-BFGS-B stops early without converging, by a Nelder-Mead pass and a final L-BFGS-B
    polish — a cheap insurance against the flat ridges these likelihoods are known for.
    The best start wins; later starts only run when the first did not converge, unless
    ``exhaustive`` asks for all of them.
    """
    best: FitResult | None = None
    k = len(starts[0])
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * k
    options = {"maxiter": 2000, "ftol": tol, "gtol": 1e-9, "maxls": 50}

    def value_only(theta: FloatArray) -> float:
        out = objective(theta)
        return float(out[0] if isinstance(out, tuple) else out)

    for start in starts:
        x0 = np.asarray(start, dtype=np.float64)
        if analytic_gradient:
            res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
        else:
            res = minimize(value_only, x0, method="L-BFGS-B", bounds=bounds, options={**options, "eps": 1e-8})
        n_iter = int(res.nit)
        if not res.success or not np.isfinite(res.fun):
            nm = minimize(
                value_only,
                res.x if np.isfinite(res.fun) else x0,
                method="Nelder-Mead",
                options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-13, "adaptive": True},
            )
            x_nm = np.clip(nm.x, -_LOG_BOUND, _LOG_BOUND)
            if analytic_gradient:
                res = minimize(objective, x_nm, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
            else:
                res = minimize(value_only, x_nm, method="L-BFGS-B", bounds=bounds, options={**options, "eps": 1e-8})
            n_iter += int(nm.nit) + int(res.nit)
        candidate = FitResult(
            log_params=np.asarray(res.x, dtype=np.float64),
            neg_mean_ll=float(res.fun),
            # A parameter running off towards 0 or infinity means the data do not identify it
            # (e.g. no repeat buyers at all): report that as not converged, not as an estimate.
            converged=bool(res.success) and bool(np.isfinite(res.fun)) and bool(np.all(np.abs(res.x) < _LOG_RUNAWAY)),
            n_iterations=n_iter,
            message=str(res.message),
        )
        if best is None or (np.isfinite(candidate.neg_mean_ll) and candidate.neg_mean_ll < best.neg_mean_ll):
            best = candidate
        if best.converged and not exhaustive:
            break  # the later starts are a fallback for a failed first attempt
    assert best is not None
    return best


class BaseModel:
    """Common plumbing: parameter bookkeeping, the fitted check and summary()."""

    #: Parameter names in the order used by the optimiser.
    _param_names: tuple[str, ...] = ()
    #: Human-readable model name used in summary().
    _model_name: str = ""

    # Fitted attributes (set by fit() or from_params(); absent before).
    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int | float
    n_unique_rows_: int
    n_iterations_: int
    converged_: bool

    def __init__(self, penalizer: float = 0.0) -> None:
        """``penalizer`` adds penalizer * sum(parameter^2) to the mean negative log-likelihood.

        Why offer it: on small or oddly shaped customer bases some parameters run off towards
        infinity (a flat likelihood ridge); a small L2 penalty (0.001-0.1) keeps them finite at
        a negligible cost in fit. 0 gives the plain maximum-likelihood estimate.
        """
        if not np.isfinite(penalizer) or penalizer < 0:
            raise ValueError("penalizer must be a finite, non-negative number")
        self.penalizer = float(penalizer)

    # -- construction from known parameters (simulation, scoring with stored parameters) --
    @classmethod
    def from_params(cls, penalizer: float = 0.0, **params: float) -> Any:
        """Build a model with given parameters, as if it had been fitted.

        Why: parameter-recovery tests simulate from known values, and production scoring may
        load parameters fitted elsewhere instead of refitting.
        """
        missing = [p for p in cls._param_names if p not in params]
        extra = [p for p in params if p not in cls._param_names]
        if missing or extra:
            raise ValueError(
                f"{cls.__name__} needs parameters {cls._param_names}; missing {missing}, unexpected {extra}"
            )
        model = cls(penalizer=penalizer)
        for name in cls._param_names:
            value = float(params[name])
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"parameter {name} must be a finite positive number")
        model.params_ = {name: float(params[name]) for name in cls._param_names}
        model.log_likelihood_ = float("nan")
        model.n_customers_ = 0
        model.converged_ = True
        return model

    def _params_array(self) -> FloatArray:
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or from_params() first")
        return np.array([params[name] for name in self._param_names], dtype=np.float64)

    def _penalty(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """L2 penalty on the (natural-scale) parameters and its gradient w.r.t. log-parameters."""
        if self.penalizer == 0.0:
            return 0.0, np.zeros_like(theta)
        p = np.exp(theta)
        return float(self.penalizer * np.sum(p**2)), 2.0 * self.penalizer * p**2

    def summary(self) -> dict[str, Any]:
        """A plain dict describing the fit (JSON-serialisable) for reports and logs."""
        self._params_array()
        k = len(self._param_names)
        n = int(getattr(self, "n_customers_", 0))
        ll = float(getattr(self, "log_likelihood_", float("nan")))
        out: dict[str, Any] = {
            "model": self._model_name,
            "params": dict(self.params_),
            "log_likelihood": ll,
            "n_customers": n,
            "n_unique_rows": int(getattr(self, "n_unique_rows_", 0)),
            "converged": bool(getattr(self, "converged_", False)),
            "n_iterations": int(getattr(self, "n_iterations_", 0)),
            "penalizer": self.penalizer,
            "aic": 2 * k - 2 * ll if n else float("nan"),
            "bic": float(k * np.log(n) - 2 * ll) if n else float("nan"),
        }
        return out

    def __repr__(self) -> str:
        params = getattr(self, "params_", None)
        if params is None:
            return f"{type(self).__name__}(penalizer={self.penalizer})"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
        return f"{type(self).__name__}({shown})"


@dataclass(frozen=True)
class CompressedRFM:
    """Unique (x, t_x, T) rows with customer counts, plus indexes into their distinct values.

    Why the extra indexes: many likelihood terms depend on x alone (gammaln(r + x), digamma(b + x),
    beta functions) or on T alone / t_x alone (log(alpha + T)). Each takes far fewer distinct
    values than there are rows, so those terms are evaluated once per distinct value and
    gathered (``*_index``), and per-x sums of customer counts (``x_weight``) turn sums of x-only
    terms into short dot products.
    """

    x: FloatArray
    tx: FloatArray
    T: FloatArray
    w: FloatArray
    x_unique: FloatArray
    x_index: NDArray[np.intp]
    x_weight: FloatArray
    T_unique: FloatArray
    T_index: NDArray[np.intp]
    tx_unique: FloatArray
    tx_index: NDArray[np.intp]
    total_weight: float

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, t_obs: FloatArray, w: FloatArray) -> CompressedRFM:
        (x_unique, tx_unique, t_unique), (x_index, tx_index, t_index), uw = compress_coded([x, tx, t_obs], w)
        return cls(
            x=x_unique[x_index],
            tx=tx_unique[tx_index],
            T=t_unique[t_index],
            w=uw,
            x_unique=x_unique,
            x_index=x_index,
            x_weight=np.bincount(x_index, weights=uw, minlength=x_unique.shape[0]).astype(np.float64),
            T_unique=t_unique,
            T_index=t_index,
            tx_unique=tx_unique,
            tx_index=tx_index,
            total_weight=float(uw.sum()),
        )

    @cached_property
    def x_tx_pairs(self) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
        """Distinct (x, t_x) pairs as (x values, t_x values, row -> pair index)."""
        return _pairs(self.x_unique, self.x_index, self.tx_unique, self.tx_index)

    @cached_property
    def x_T_pairs(self) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
        """Distinct (x, T) pairs as (x values, T values, row -> pair index)."""
        return _pairs(self.x_unique, self.x_index, self.T_unique, self.T_index)

    def coarsened(self, grid_points: int = 128) -> CompressedRFM:
        """The same customers with t_x and T rounded to a grid of ``grid_points`` steps over the
        observed range — an approximation used only to find a starting point for the exact fit.
        Rounding is monotone, so t_x <= T and (x = 0 => t_x = 0) still hold."""
        step = max(float(self.T_unique[-1]), 1e-12) / grid_points
        tx = np.round(self.tx / step) * step
        t_obs = np.round(self.T / step) * step
        return CompressedRFM.build(self.x, tx, t_obs, self.w)


def _pairs(
    a_unique: FloatArray, a_index: NDArray[np.intp], b_unique: FloatArray, b_index: NDArray[np.intp]
) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
    key = a_index.astype(np.int64) * max(int(b_unique.shape[0]), 1) + b_index
    keys, inverse = np.unique(key, return_inverse=True)
    radix = max(int(b_unique.shape[0]), 1)
    return a_unique[keys // radix], b_unique[keys % radix], inverse.reshape(-1).astype(np.intp)


class ContinuousTimeModel(BaseModel):
    """Fit plumbing shared by BG/NBD, MBG/NBD and Pareto/NBD (continuous time x, t_x, T)."""

    _analytic_gradient: bool = True
    #: Above this many unique rows, fit() first fits a time-coarsened copy for a warm start.
    _warm_start_rows: int = 50_000
    #: Time-grid size of that coarse copy.
    _warm_start_grid: int = 128

    def _neg_mean_ll(self, theta: FloatArray, data: CompressedRFM) -> tuple[float, FloatArray] | float:
        raise NotImplementedError

    def _row_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> FloatArray:
        raise NotImplementedError

    def _starts(self, data: CompressedRFM) -> list[list[float]]:
        raise NotImplementedError

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None) -> Any:
        """Maximum-likelihood fit on per-customer (or, with weights, per-pattern) summaries.

        frequency = number of repeat purchases x, recency = time of the last repeat purchase
        t_x (0 if none), T = time since the first purchase, all in the same time unit.
        ``weights`` counts how many customers share a row (Fader & Hardie's compressed form).
        """
        x, tx, t_obs = validate_rfm(frequency, recency, T, allow_broadcast=False)
        w = validate_weights(weights, x.shape[0])
        data = CompressedRFM.build(x, tx, t_obs, w)

        def objective_on(rows: CompressedRFM) -> Callable[[FloatArray], tuple[float, FloatArray] | float]:
            def objective(theta: FloatArray) -> tuple[float, FloatArray] | float:
                out = self._neg_mean_ll(theta, rows)
                pen, pen_grad = self._penalty(theta)
                if isinstance(out, tuple):
                    return out[0] + pen, out[1] + pen_grad
                return out + pen

            return objective

        starts = self._starts(data)
        n_iterations = 0
        if data.x.shape[0] > self._warm_start_rows:
            # Coarse-to-fine: most iterations are spent far from the optimum, where a summary
            # rounded to a coarse time grid (far fewer unique rows) points the same way. Its
            # optimum is then polished on the exact data in a few full-size iterations.
            coarse = data.coarsened(self._warm_start_grid)
            warm = maximise(objective_on(coarse), starts, analytic_gradient=self._analytic_gradient)
            n_iterations += warm.n_iterations
            if warm.converged:
                starts = [list(warm.log_params), *starts]
        result = maximise(objective_on(data), starts, analytic_gradient=self._analytic_gradient)
        params = np.exp(result.log_params)
        self.params_ = {name: float(v) for name, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = self._total_log_likelihood(params, data)
        total = data.total_weight
        self.n_customers_ = int(round(total)) if float(total).is_integer() else total
        self.n_unique_rows_ = int(data.x.shape[0])
        # Without a single repeat purchase the purchase rate is not identified, whatever the
        # optimiser says.
        self.converged_ = result.converged and bool(np.any(data.x > 0))
        self.n_iterations_ = n_iterations + result.n_iterations
        self._data = data
        return self

    def _total_log_likelihood(self, params: FloatArray, data: CompressedRFM) -> float:
        return float(np.sum(data.w * self._row_log_likelihood(params, data)))

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        raise NotImplementedError

    def log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> float:
        """Total log-likelihood of a (x, t_x, T) summary under the current parameters.

        Why: compare fits on hold-out data, or score parameters that another tool estimated on
        the same likelihood (the benchmark checks lifetimes' optimum this way).
        """
        x, tx, t_obs = validate_rfm(frequency, recency, T, allow_broadcast=False)
        w = validate_weights(weights, x.shape[0])
        data = CompressedRFM.build(x, tx, t_obs, w)
        return self._total_log_likelihood(self._params_array(), data)

    def expected_repeat_purchases_population(self, t: ArrayLike) -> FloatArray:
        """Total expected repeat purchases of the fitted customer base in the next t periods.

        Why: capacity and revenue planning want one number for "our customers, next quarter";
        it is the customer-count-weighted sum of the conditional expectations over the
        compressed training rows (so it needs fit(), not from_params()).
        """
        data = getattr(self, "_data", None)
        if data is None:
            raise NotFittedError("expected_repeat_purchases_population needs a model fitted on data")
        horizon = validate_horizon("t", t)
        flat = np.atleast_1d(horizon).ravel()
        totals = np.array([np.sum(data.w * self.expected_purchases(h, data.x, data.tx, data.T)) for h in flat])
        return totals.reshape(horizon.shape) if horizon.ndim else totals[0]

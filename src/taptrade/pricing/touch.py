"""The default quote model: the price is a driftless arithmetic Brownian motion, `X_t = S + sigma * W_t`, and
a cell pays if the path touches its band `[L, U]` at any instant of its column (DESIGN §6).

For a column that opens `t1` seconds from now and then lasts `tau` seconds, condition on `x = X_{t1}`:

    g(x) = 1                                   if L <= x <= U  (inside when the column opens)
    g(x) = 2 * Phi(-(L - x) / (sigma*sqrt(tau)))  if x < L  (reflection principle: the maximum reaches L)
    g(x) = 2 * Phi(-(x - U) / (sigma*sqrt(tau)))  if x > U

    P(touch) = E[g(X_{t1})],  X_{t1} ~ N(S, sigma^2 * t1)

Each tail of that expectation is a bivariate normal probability. With distances in units of sigma
(`d = (boundary - S) / sigma`), `T = t1 + tau` and `rho = -sqrt(t1 / T)`:

    E[g; X < L] = 2 * Phi2(-d_L / sqrt(T),  d_L / sqrt(t1); rho)
    E[g; X > U] = 2 * Phi2( d_U / sqrt(T), -d_U / sqrt(t1); rho)
    P(touch)    = Phi(d_U / sqrt(t1)) - Phi(d_L / sqrt(t1)) + both tails

`Phi2` is Genz's algorithm (Drezner & Wesolowsky 1990 as refined by Genz 2004, "Numerical computation of
rectangular bivariate and trivariate normal and t probabilities"), accurate to about 1e-15, here vectorised
over the whole table. A column that is already open (`t1 = 0`) is `g(S)` itself; `sigma = 0` is a path that
never moves.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from taptrade.grid import GridSpec
from taptrade.pricing.model import MarketState

FloatArray = npt.NDArray[np.float64]

_TWO_PI = 2.0 * math.pi
_SQRT_TWO_PI = math.sqrt(_TWO_PI)
# 20-point Gauss-Legendre on (-1, 1): Genz's most accurate rule, used here for every correlation.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_D_MAX = 1e8  # the largest boundary distance used, in sigma units (see TouchModel)
_erfc = np.frompyfunc(math.erfc, 1, 1)  # numpy has no erfc; math.erfc is accurate to a few ulps


def normal_cdf(x: npt.ArrayLike) -> FloatArray:
    """Phi(x), the standard normal CDF, elementwise. Accurate in both tails (erfc, not 1 - erf)."""
    arr = np.asarray(x, dtype=np.float64)
    return np.asarray(0.5 * _erfc(-arr / math.sqrt(2.0)), dtype=np.float64)


def bivariate_normal_cdf(h: npt.ArrayLike, k: npt.ArrayLike, rho: npt.ArrayLike) -> FloatArray:
    """P(X <= h, Y <= k) for standard normals X, Y with correlation rho, elementwise (broadcasts)."""
    hb, kb, rb = np.broadcast_arrays(
        np.asarray(h, dtype=np.float64), np.asarray(k, dtype=np.float64), np.asarray(rho, dtype=np.float64)
    )
    if np.any(np.abs(rb) > 1.0) or np.isnan(rb).any():
        raise ValueError("correlation must be in [-1, 1]")
    # Genz computes the upper orthant P(X > h', Y > k'); the lower one is that at (-h, -k).
    hu, ku = -hb.ravel(), -kb.ravel()
    r = rb.ravel()
    out = np.empty(hu.shape, dtype=np.float64)
    moderate = np.abs(r) < 0.925
    if moderate.any():
        out[moderate] = _upper_moderate(hu[moderate], ku[moderate], r[moderate])
    strong = ~moderate
    if strong.any():
        out[strong] = _upper_strong(hu[strong], ku[strong], r[strong])
    return np.clip(out, 0.0, 1.0).reshape(hb.shape)


def _upper_moderate(h: FloatArray, k: FloatArray, r: FloatArray) -> FloatArray:
    """|rho| < 0.925: Phi(-h) Phi(-k) + 1/(2 pi) * an integral over theta in [0, asin(rho)], by
    Gauss-Legendre (Drezner-Wesolowsky)."""
    hk = h * k
    hs = (h * h + k * k) / 2.0
    half_asin = np.arcsin(r) / 2.0
    sn = np.sin(half_asin[:, None] * (1.0 + _GL_X))
    # The exponent is -(h^2 + k^2 - 2 hk sin)/(2 cos^2) <= 0: no overflow.
    terms = np.exp((sn * hk[:, None] - hs[:, None]) / (1.0 - sn * sn))
    result: FloatArray = (terms @ _GL_W) * half_asin / _TWO_PI + normal_cdf(-h) * normal_cdf(-k)
    return result


def _upper_strong(h: FloatArray, k: FloatArray, r: FloatArray) -> FloatArray:
    """|rho| >= 0.925: Genz's expansion around rho = +-1, which keeps full accuracy as the integrand
    turns into a spike."""
    positive = r > 0
    k = np.where(positive, k, -k)
    hk = h * k
    one_minus_r2 = (1.0 - r) * (1.0 + r)
    degenerate = one_minus_r2 <= 0.0  # |rho| == 1: only the orthant terms below remain
    a_s = np.where(degenerate, 1.0, one_minus_r2)
    a = np.sqrt(a_s)
    bs = (h - k) ** 2
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 16.0
    # -(bs/as + hk)/2 <= 0 because bs + hk = h^2 - hk + k^2 >= 0 and as <= 1.
    bvn = (
        a
        * np.exp(-(bs / a_s + hk) / 2.0)
        * (1.0 - c * (bs - a_s) * (1.0 - d * bs / 5.0) / 3.0 + c * d * a_s**2 / 5.0)
    )
    b = np.sqrt(bs)
    sp = _SQRT_TWO_PI * normal_cdf(-b / a)
    # Genz skips this term when hk <= -100; the cap keeps exp() finite where it is skipped anyway.
    correction = np.exp(-np.maximum(hk, -100.0) / 2.0) * sp * b * (1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0)
    bvn = bvn - np.where(hk > -100.0, correction, 0.0)
    half_a = a / 2.0
    xs = (half_a[:, None] * (_GL_X + 1.0)) ** 2
    rs = np.sqrt(1.0 - xs)
    asr = -(bs[:, None] / xs + hk[:, None]) / 2.0
    sp_x = 1.0 + c[:, None] * xs * (1.0 + d[:, None] * xs)
    # exp(asr) * exp(-hk xs / (2 (1 + rs)^2)) as one exponent: each factor alone can overflow, the product
    # (an integrand bounded by a density) cannot.
    ep = np.exp(asr - hk[:, None] * xs / (2.0 * (1.0 + rs) ** 2)) / rs
    bvn = bvn + half_a * ((ep - np.exp(asr) * sp_x) @ _GL_W)
    bvn = np.where(degenerate, 0.0, -bvn / _TWO_PI)
    # Back from the expansion to the orthant probability: + Phi(-max(h, k)) for rho > 0; for rho < 0 (and
    # h < k) Phi(k) - Phi(h), which is the interval helper's (one erfc per argument, no cancellation).
    tail_h, tail_k = normal_cdf(-np.abs(h)), normal_cdf(-np.abs(k))
    survival_max = np.where(
        h >= k, np.where(h >= 0.0, tail_h, 1.0 - tail_h), np.where(k >= 0.0, tail_k, 1.0 - tail_k)
    )
    with_positive = bvn + survival_max
    gap = _interval_from_tails(h, k, tail_h, tail_k)
    with_negative = np.where(h >= k, -bvn, gap - bvn)
    result: FloatArray = np.where(positive, with_positive, with_negative)
    return result


def _phi_interval(z_lo: FloatArray, z_hi: FloatArray) -> FloatArray:
    """Phi(z_hi) - Phi(z_lo) for z_lo <= z_hi, without cancellation when both are deep in one tail."""
    return _interval_from_tails(z_lo, z_hi, normal_cdf(-np.abs(z_lo)), normal_cdf(-np.abs(z_hi)))


def _interval_from_tails(
    z_lo: FloatArray, z_hi: FloatArray, tail_lo: FloatArray, tail_hi: FloatArray
) -> FloatArray:
    """`_phi_interval` given tail_x = Phi(-|x|), each the accurate (small) side."""
    above = z_lo > 0.0  # both positive: Phi(-z_lo) - Phi(-z_hi)
    below = z_hi <= 0.0  # both non-positive: Phi(z_hi) - Phi(z_lo)
    result: FloatArray = np.where(
        above, tail_lo - tail_hi, np.where(below, tail_hi - tail_lo, 1.0 - tail_lo - tail_hi)
    )
    return result


class TouchModel:
    """Probability that a driftless Brownian price path touches each band during each column."""

    def touch_probabilities(
        self, state: MarketState, grid: GridSpec, first_column: int, columns: int, first_row: int, rows: int
    ) -> FloatArray:
        if columns < 0 or rows < 0:
            raise ValueError(f"columns and rows must not be negative, got {columns} x {rows}")
        if first_column < grid.column_at(state.now_ms):
            raise ValueError(
                f"column {first_column} has ended at {state.now_ms} ms; only open or future columns"
            )
        if columns == 0 or rows == 0:
            return np.zeros((columns, rows), dtype=np.float64)
        starts_ms = np.array(
            [grid.column_start_ms(first_column + c) for c in range(columns)], dtype=np.float64
        )
        ends_ms = np.array([grid.column_end_ms(first_column + c) for c in range(columns)], dtype=np.float64)
        # Band r is [bounds[r], bounds[r + 1]]: neighbouring bands share their boundary (GridSpec).
        last_row = first_row + rows - 1
        bounds = np.array(
            [grid.row_lower_cents(first_row + r) for r in range(rows)] + [grid.row_upper_cents(last_row)],
            dtype=np.float64,
        )
        price = float(state.price_cents)
        sigma = state.sigma_cents_per_sqrt_s
        if sigma == 0.0:  # a path that never moves touches only the band it is in
            inside = (bounds[:-1] <= price) & (price <= bounds[1:])
            return np.tile(inside.astype(np.float64), (columns, 1))

        t1_s = np.maximum(starts_ms - state.now_ms, 0.0) / 1000.0
        tau_s = (ends_ms - np.maximum(starts_ms, state.now_ms)) / 1000.0
        # Boundary distances in sigma units (sqrt-seconds). The clip only bites for a vanishing sigma, where
        # every probability has long saturated at 0 or 1, and keeps squares and products finite.
        d = np.clip((bounds - price) / sigma, -_D_MAX, _D_MAX)
        result = np.empty((columns, rows), dtype=np.float64)
        # Only the current column can have opened already (t1 = 0).
        opened = int(t1_s[0] == 0.0)
        if opened:
            result[0] = _opened_column(d, tau_s[0])
        if columns > opened:
            result[opened:] = _future_columns(d, t1_s[opened:], tau_s[opened:])
        clipped: FloatArray = np.clip(result, 0.0, 1.0)
        return clipped


def _opened_column(d: FloatArray, tau_s: float) -> FloatArray:
    """The column is open: g(S) itself, with `d` the boundary distances in sigma units."""
    distance = np.maximum(np.maximum(d[:-1], -d[1:]), 0.0)  # 0 inside the band
    return 2.0 * normal_cdf(-distance / math.sqrt(tau_s))


def _future_columns(d: FloatArray, t1_s: FloatArray, tau_s: FloatArray) -> FloatArray:
    """Columns opening t1 > 0 seconds from now: shape (len(t1_s), len(d) - 1)."""
    sqrt_t1 = np.sqrt(t1_s)[:, None]
    sqrt_total = np.sqrt(t1_s + tau_s)[:, None]
    n = d.size
    z = d[None, :] / sqrt_t1
    # Both tails in one call: [:, :n] enters each band from below (at its lower bound), [:, n:] from above.
    h = np.concatenate([-d[None, :] / sqrt_total, d[None, :] / sqrt_total], axis=1)
    k = np.concatenate([z, -z], axis=1)
    rho = np.broadcast_to(-sqrt_t1 / sqrt_total, h.shape)
    tails = 2.0 * bivariate_normal_cdf(h, k, rho)
    result: FloatArray = _phi_interval(z[:, :-1], z[:, 1:]) + tails[:, : n - 1] + tails[:, n + 1 :]
    return result

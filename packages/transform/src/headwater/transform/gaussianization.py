"""Tukey HH parameters from L-moments, for `scale_to_gaussian` (TFT's method).

A Tukey HH variable is Y = Z * exp(h Z^2 / 2) with h = hl for Z < 0 and hr for Z >= 0, Z standard
normal. `LMomentsCombiner` accumulates the first four sample L-moments (unbiased within a batch,
averaged across batches with weights C(n, r), so merging is plain summation); its output is the
location, scale, hl and hr for which loc + scale * Y has the data's L-moments. L-moments of Y
are computed by quadrature over Z, and (hl, hr) found by Newton's method on L-skewness and
L-kurtosis. `inverse_tukey_hh` is the TensorFlow op mapping values back to approximately normal.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np

_Z = np.linspace(-14.0, 14.0, 8001)
_W = np.exp(-0.5 * _Z * _Z) / np.sqrt(2.0 * np.pi) * (_Z[1] - _Z[0])
_MAX_H = 0.9
"""h >= 1 has no mean; the search stays below."""


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return 0.5 * (1.0 + np.vectorize(erf)(z / sqrt(2.0)))


_U = _normal_cdf(_Z)
_P = [  # shifted Legendre polynomials P*_{r-1}(u), r = 1..4
    np.ones_like(_U),
    2 * _U - 1,
    6 * _U**2 - 6 * _U + 1,
    20 * _U**3 - 30 * _U**2 + 12 * _U - 1,
]


def tukey_hh_l_moments(hl: float, hr: float) -> np.ndarray:
    """The first four L-moments of a standard Tukey HH variable (by quadrature)."""
    h = np.where(_Z < 0, hl, hr)
    y = _Z * np.exp(h * _Z * _Z / 2.0)
    return np.asarray([float(np.sum(y * p * _W)) for p in _P])


def _ratios(hl: float, hr: float) -> np.ndarray:
    lm = tukey_hh_l_moments(hl, hr)
    return np.asarray([lm[2] / lm[1], lm[3] / lm[1]])


def solve_tukey_h(l_skewness: float, l_kurtosis: float) -> tuple[float, float]:
    """(hl, hr) in [0, 0.9] whose L-skewness and L-kurtosis match, by projected Newton steps.

    Light tails (L-kurtosis at or below the normal's) give h = 0: only location and scale.
    """
    target = np.asarray([l_skewness, l_kurtosis])
    h = np.zeros(2)
    eps = 1e-6
    for _ in range(50):
        f = _ratios(*h) - target
        if np.max(np.abs(f)) < 1e-10:
            break
        jac = np.empty((2, 2))
        for j in range(2):
            step = np.zeros(2)
            step[j] = eps
            jac[:, j] = (_ratios(*(h + step)) - _ratios(*h)) / eps
        try:
            delta = np.linalg.solve(jac, f)
        except np.linalg.LinAlgError:
            break
        h = np.clip(h - delta, 0.0, _MAX_H)
    return float(h[0]), float(h[1])


def sample_l_moments(x: np.ndarray) -> np.ndarray:
    """Unbiased sample L-moments l1..l4 of x, from probability-weighted moments (l_r for r > n
    is left 0: it needs r values)."""
    xs = np.sort(x)
    n = xs.size
    i = np.arange(n, dtype=np.float64)  # rank - 1
    b = np.zeros(4)
    w = np.ones(n)
    for r in range(min(n, 4)):
        if r:
            w = w * (i - r + 1) / (n - r)
        b[r] = float(np.mean(w * xs))
    b0, b1, b2, b3 = b
    lm = np.asarray([b0, 2 * b1 - b0, 6 * b2 - 6 * b1 + b0, 20 * b3 - 30 * b2 + 12 * b1 - b0])
    lm[min(n, 4) :] = 0.0
    return lm


def _tukey_from_l_moments(sums: np.ndarray, counts: np.ndarray) -> tuple[float, ...]:
    """(loc, scale, hl, hr) from summed weighted L-moments and their weights."""
    if counts[0] == 0:  # no data: leave values unchanged
        return 0.0, 1.0, 0.0, 0.0
    lm = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), 0.0)
    if counts[1] == 0 or lm[1] <= 0:  # constant: only shift
        return float(lm[0]), 1.0, 0.0, 0.0
    tau3 = lm[2] / lm[1] if counts[2] > 0 else 0.0
    tau4 = lm[3] / lm[1] if counts[3] > 0 else 0.0
    hl, hr = solve_tukey_h(tau3, tau4)
    ref = tukey_hh_l_moments(hl, hr)
    scale = lm[1] / ref[1]
    return float(lm[0] - scale * ref[0]), float(scale), hl, hr


class LMomentsCombiner:
    """Weighted sums of per-batch L-moments; outputs TFT's (location, scale, hl, hr), each of
    the instance `shape` when given (one fit per element, for elementwise=True)."""

    def __init__(self, output_dtype: str, shape: list[int] | None = None) -> None:
        self.output_dtype = np.dtype(output_dtype)
        self.shape = tuple(shape) if shape else ()
        self.width = int(np.prod(self.shape)) if self.shape else 1

    def create_accumulator(self) -> tuple[np.ndarray, np.ndarray]:
        # per element: sum of C(n, r) * l_r and sum of C(n, r), r = 1..4
        return np.zeros((self.width, 4)), np.zeros((self.width, 4))

    def add_input(self, acc: Any, inputs: list[np.ndarray]) -> Any:
        x = np.asarray(inputs[0], np.float64).reshape(-1, self.width)
        sums, counts = acc[0].copy(), acc[1].copy()
        for j in range(self.width):
            col = x[:, j]
            col = col[~np.isnan(col)]
            if col.size:
                weights = np.asarray([float(comb(col.size, r)) for r in range(1, 5)])
                sums[j] += weights * sample_l_moments(col)
                counts[j] += weights  # C(n, r) is 0 where r > n
        return sums, counts

    def merge_accumulators(self, accs: list[Any]) -> Any:
        sums, counts = self.create_accumulator()
        for s, c in accs:
            sums, counts = sums + s, counts + c
        return sums, counts

    def extract_output(self, acc: Any) -> list[np.ndarray]:
        sums, counts = acc
        params = np.asarray(
            [_tukey_from_l_moments(s, c) for s, c in zip(sums, counts, strict=True)]
        )
        return [params[:, i].reshape(self.shape).astype(self.output_dtype) for i in range(4)]


def _lambert_w(a: Any) -> Any:
    """Principal branch of Lambert's W for a >= 0 (Halley's iteration, float64)."""
    import tensorflow as tf

    w = tf.math.log1p(a)
    for _ in range(12):
        ew = tf.exp(w)
        f = w * ew - a
        w = w - f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0))
    return w


def inverse_tukey_hh(u: Any, hl: Any, hr: Any) -> Any:
    """z with z * exp(h z^2 / 2) = u (h = hl below 0, hr above): sign(u) sqrt(W(h u^2) / h)."""
    import tensorflow as tf

    v = tf.cast(u, tf.float64)
    h = tf.where(v < 0, tf.cast(hl, tf.float64), tf.cast(hr, tf.float64))
    safe_h = tf.where(h > 0, h, tf.ones_like(h))
    z = tf.sign(v) * tf.sqrt(_lambert_w(safe_h * v * v) / safe_h)
    return tf.cast(tf.where(h > 0, z, v), u.dtype)

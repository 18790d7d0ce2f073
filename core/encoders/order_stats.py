"""Order statistics from one sort per row, equal bit for bit to NumPy's percentile, median, nanpercentile and nanmedian.

NumPy selects each percentile with a partition (and computes a percentile of a row with NaNs one row at a time in
Python); the encoders take them over thousands of short rows per batch, where one SIMD sort and NumPy's own linear
interpolation read off it are two to ten times faster. `MaskedOrder` covers statistics over a mask of frames: a row
without frames reads 0, never an all-NaN slice (whose warning would need `warnings.catch_warnings`, which is not
thread-safe, and these run on the analysis threads). The equality with NumPy (dtypes, ties, NaN and inf, every
axis) is tested.
"""
from __future__ import annotations

import numpy as np


class MaskedOrder:
    """Order statistics of `v` [n, T] over the frames where `mask` [n, T] holds (NaN values are left out)."""

    def __init__(self, v: np.ndarray, mask: np.ndarray):
        v = np.asarray(v)
        mask = np.asarray(mask, bool) & ~np.isnan(v)
        self.n = mask.sum(axis=1)
        self.empty = self.n == 0
        self.sorted = np.sort(np.where(mask, v, np.inf).astype(v.dtype, copy=False), axis=1)  # frames left out last
        self.sorted[self.empty] = 0.0

    def _at(self, i: np.ndarray) -> np.ndarray:
        return np.take_along_axis(self.sorted, np.clip(i, 0, self.sorted.shape[1] - 1)[:, None], 1)[:, 0]

    def median(self) -> np.ndarray:
        """As `np.nanmedian`: the middle value, or the mean of the two middle ones."""
        h = self.n // 2
        a, b = self._at(h - 1), self._at(h)
        out = np.where(self.n % 2 == 1, b, (a + b) / 2)
        return np.where(self.empty, 0.0, out).astype(self.sorted.dtype, copy=False)

    def percentile(self, q: float) -> np.ndarray:
        """As `np.nanpercentile(..., q)` with its default linear method and NumPy's own interpolation."""
        virtual = (self.n - 1) * np.true_divide(q, 100)
        prev = np.floor(virtual)
        above = virtual >= self.n - 1  # NumPy reads the last value there, and its weight from index -1
        a = self._at(np.where(above, self.n - 1, prev).astype(np.intp))
        b = self._at(np.where(above, self.n - 1, prev + 1).astype(np.intp))
        gamma = virtual - np.where(above, -1, prev)
        dt = self.sorted.dtype
        d = b - a
        out = np.where(gamma >= 0.5, b - d * (1 - gamma).astype(dt), a + d * gamma.astype(dt))
        return np.where(self.empty, 0.0, out).astype(dt, copy=False)


def percentile(v: np.ndarray, q, axis: int = -1) -> np.ndarray:
    """As `np.percentile(v, q, axis=axis)` with its default linear method, bit for bit (a list of q gives NumPy's
    float64 result, one number the input's dtype; a slice with a NaN reads NaN). One sort of the axis replaces
    NumPy's partition: the window features take percentiles of thousands of short rows, where NumPy's SIMD sort is
    several times faster than its selection."""
    s = np.moveaxis(np.sort(np.asarray(v), axis=axis), axis, 0)
    m = s.shape[0]
    weak = type(q) in (int, float)
    virtual = np.asanyarray((m - 1) * np.true_divide(q, 100))
    prev = np.floor(virtual)
    above = virtual >= m - 1  # NumPy reads the last value there, and its weight from index -1
    i = np.where(above, -1, prev).astype(np.intp)
    j = np.where(above, -1, prev + 1).astype(np.intp)
    gamma = np.asanyarray(virtual - i, dtype=virtual.dtype)
    if weak:
        gamma = float(gamma)
    else:
        gamma = gamma.reshape(virtual.shape + (1,) * (s.ndim - 1))
    a, b = s[i], s[j]
    d = b - a
    out = np.add(a, d * gamma, out=...)
    np.subtract(b, d * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe", dtype=type(out.dtype))
    return _nan_where_nan(out, s[-1])


def median(v: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """As `np.median(v, axis=axis, keepdims=keepdims)`, bit for bit, from one sort (see `percentile`)."""
    s = np.sort(np.asarray(v), axis=axis)
    m = s.shape[axis]
    h = m // 2
    mid = np.take(s, [h] if m % 2 else [h - 1, h], axis=axis)
    out = np.mean(mid, axis=axis, keepdims=keepdims)
    last = np.take(s, [-1], axis=axis)
    return _nan_where_nan(out, last if keepdims else np.squeeze(last, axis=axis))


def _nan_where_nan(out: np.ndarray, last: np.ndarray) -> np.ndarray:
    """NaN sorts last: a slice whose last sorted value is NaN had one, and NumPy answers NaN for it."""
    if np.issubdtype(last.dtype, np.inexact):
        nan = np.isnan(last)
        if nan.any():
            out = np.where(nan, np.asarray(np.nan, out.dtype), out)
    return out[()] if np.ndim(out) == 0 else out

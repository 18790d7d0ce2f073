"""Cry-activity gate: is there a voiced, high-pitched cry in the window, or only silence, breathing or background?

Infant cries are voiced with a fundamental mostly between 250 and 800 Hz (pain cries reach higher); speech of adults
sits lower, and noise, handling and room sound are unvoiced. A window votes on the cry verdict only when enough of
its loud frames carry such a pitch. Autocorrelation per 64-ms frame, computed through the FFT for a whole batch.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from core.config import SAMPLE_RATE
from core.windows.framing import short_frames

FRAME = 1024
HOP = 512
F0_RANGE = (250.0, 1000.0)
MIN_STRENGTH = 0.5  # normalised autocorrelation peak that counts as voiced
LOUD_DB = 30.0  # frames more than this below the window's loudest frame do not count


def cry_voicing(batch: np.ndarray, content: np.ndarray | None = None) -> np.ndarray:
    """Fraction of each window's frames (over its real audio) that are loud and voiced in the cry pitch range."""
    x = np.asarray(batch, np.float32)
    fr = short_frames(x, FRAME, HOP) * np.hanning(FRAME).astype(np.float32)
    fr = fr - fr.mean(axis=-1, keepdims=True)
    spec = sfft.rfft(fr, n=2 * FRAME, axis=-1)
    ac = sfft.irfft(spec.real**2 + spec.imag**2, axis=-1)[..., :FRAME]
    lo, hi = int(SAMPLE_RATE / F0_RANGE[1]), int(SAMPLE_RATE / F0_RANGE[0])
    r = ac[..., lo - 1 : hi + 2] / np.maximum(ac[..., :1], 1e-12)
    # only a true peak counts: a low hum's autocorrelation is merely still high at short lags
    peak = (r[..., 1:-1] >= r[..., :-2]) & (r[..., 1:-1] >= r[..., 2:])
    strength = np.where(peak, r[..., 1:-1], 0.0).max(axis=-1)
    energy_db = 10.0 * np.log10(np.maximum(ac[..., 0], 1e-20))
    valid = np.ones_like(energy_db, bool)
    if content is not None:  # frames past the real audio (zero padding) are not counted
        ends = np.arange(fr.shape[1]) * HOP + FRAME
        valid = ends[None, :] <= np.maximum(np.asarray(content)[:, None] * SAMPLE_RATE, FRAME)
    loud = energy_db > (np.where(valid, energy_db, -np.inf).max(axis=1, keepdims=True) - LOUD_DB)
    voiced = (strength > MIN_STRENGTH) & loud & valid & (energy_db > -100.0)
    return voiced.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)

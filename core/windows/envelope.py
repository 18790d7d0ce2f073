"""The breath-sound envelope: band level (100-2000 Hz) every 10 ms, for placing events inside windows.

The window detector hears 2-s windows a second apart, so its timeline cannot be finer than a second; breathing is
not. A segment of the timeline is cut at the pauses between breaths and trimmed to the sound it holds by this
envelope (`core.decisions.timeline.refine`), so separate wheezes in separate breaths stay separate segments.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from core.config import SAMPLE_RATE

ENVELOPE_HOP_S = 0.01
BAND_HZ = (100.0, 2000.0)


def breath_envelope(samples: np.ndarray, sr: int = SAMPLE_RATE, frame_s: float = 0.05,
                    hop_s: float = ENVELOPE_HOP_S, smooth_s: float = 0.1) -> np.ndarray:
    """Level in dB (relative to full scale) of the 100-2000 Hz band, one value per `hop_s` from the start of the
    recording: RMS over `frame_s`, then a moving average over `smooth_s`."""
    x = np.asarray(samples, np.float64)
    hop = max(1, int(round(hop_s * sr)))
    n_out = max(1, int(np.ceil(len(x) / hop)))
    if len(x) < 32:
        return np.full(n_out, -120.0)
    y = sosfiltfilt(butter(4, BAND_HZ, "bandpass", fs=sr, output="sos"), x)
    win = max(1, int(round(frame_s * sr)))
    power = np.convolve(y * y, np.ones(win) / win, mode="same")[::hop][:n_out]
    db = 10 * np.log10(np.maximum(power, 1e-12))
    k = max(1, int(round(smooth_s / hop_s)))
    return np.convolve(db, np.ones(k) / k, mode="same")

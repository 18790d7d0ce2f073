"""Fine-time-resolution lung-sound features from a 10-ms log-mel of one 2-s window (built-in encoder, version 3).

The window statistics of `acoustic.py` run at 16-ms frames over the whole window, where a crackle (a few-ms
explosive click) or a 0.3-s wheeze barely moves a mean. These read a 64-band log-mel (50-4000 Hz, 25-ms frames,
10-ms hop) for:
- band energy in 100-250 / 250-500 / 500-1000 / 1000-2000 / 2000-4000 Hz relative to the broadband level, its
  spread and its sudden rises;
- transients: per-band 10-ms rises, broadband spectral-flux spikes and how many bands rise at once, and bumps that
  stand above their +-50 ms neighbourhood (crackles are 1-3 frame bumps, broadband, simultaneous across bands);
- tonal ridges: narrow peaks standing above +-4 neighbouring bands, and how long a ridge holds (>= 80 or 150 ms,
  drifting at most one band per 10 ms), which is what a wheeze or rhonchus is.
Measured on SPRSound with patient-grouped CV and the intra-patient test (see the respiratory model card's ablation
table). Everything is vectorised over the batch; moving averages stand in for moving medians (same figures, a
fraction of the cost).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from core.config import SAMPLE_RATE
from core.windows.framing import shared_frames
from .order_stats import median, percentile

N_FFT, HOP = 400, 160  # 25 ms, 10 ms at 16 kHz
N_MELS, FMIN, FMAX = 64, 50.0, 4000.0
GROUPS = ((100, 250), (250, 500), (500, 1000), (1000, 2000), (2000, 4000))
FLOOR_DB = 80.0  # below the window's peak: digital silence is not -200 dB of "signal"
N_FEATURES = 102


class MelDetail:
    def __init__(self):
        import librosa

        self._fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX).astype(np.float32)
        self._win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
        self._c = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]

    def logmel(self, x: np.ndarray) -> np.ndarray:
        """[n, 64, T] dB. Trailing zeros (the padding of a recording's last window) are replaced by repeating the
        real frames cyclically, so padding does not read as silence between events."""
        sf = shared_frames(x, N_FFT, HOP)  # overlapping windows share frames: each FFT runs once
        n_frames = sf.index.shape[1]
        # the mel projection runs per window: BLAS sums a stack of windows in another order than one frame list
        power = sf.per_window(np.abs(np.fft.rfft(sf.frames * self._win, axis=-1)) ** 2)
        M = (10.0 * np.log10(power @ self._fb.T + 1e-10)).transpose(0, 2, 1).astype(np.float32)
        nz = x != 0
        last = np.where(nz.any(axis=1), x.shape[1] - np.argmax(nz[:, ::-1], axis=1), x.shape[1])
        valid = np.clip(1 + (last - N_FFT) // HOP, 1, n_frames)
        for i in np.flatnonzero(valid < n_frames):
            M[i] = M[i][:, np.arange(n_frames) % valid[i]]
        return M

    def features(self, x: np.ndarray) -> np.ndarray:
        M = self.logmel(np.asarray(x, np.float32))
        n, _, T = M.shape
        M = np.maximum(M, M.max(axis=(1, 2), keepdims=True) - FLOOR_DB)
        c = self._c
        out: list[np.ndarray] = []
        P = 10.0 ** (M / 10.0)
        tot = 10.0 * np.log10(P.sum(axis=1) + 1e-12)  # [n, T] broadband level per frame
        # band energy relative to the broadband level, its spread and its sudden rises
        Eg = np.stack([10.0 * np.log10(P[:, (c >= lo) & (c < hi)].sum(axis=1) + 1e-12) for lo, hi in GROUPS], 1)
        rel = Eg - tot[:, None, :]
        q10, q50, q95 = percentile(Eg, [10, 50, 95], axis=-1)
        dE = np.diff(Eg, axis=-1)
        out += [rel.mean(-1), rel.std(-1), q95 - q50, q50 - q10, Eg.max(-1) - q50, dE.max(-1),
                percentile(dE, 99, axis=-1), *_above_mad(dE, (4, 8))]
        # per-band 10-ms rises, per band group
        D = np.diff(M, axis=2)
        for lo, hi in GROUPS:
            Dg = D[:, (c >= lo) & (c < hi)]
            med = median(Dg, axis=2, keepdims=True)
            mad = median(np.abs(Dg - med), axis=2, keepdims=True) + 1e-3
            out += [Dg.max(axis=(1, 2))[:, None], percentile(Dg.reshape(n, -1), 99, axis=1)[:, None],
                    (Dg > med + 5 * mad).mean(axis=(1, 2))[:, None]]
        # broadband (200-2000 Hz) flux spikes, and how many bands rise at once
        bb = (c >= 200) & (c < 2000)
        flux = np.maximum(D[:, bb], 0).mean(axis=1)  # [n, T-1]
        f50, f99 = percentile(flux, [50, 99], axis=1)
        simul = (D[:, bb] > 6.0).mean(axis=1)
        out += [flux.max(1)[:, None], f99[:, None], np.log((flux.max(1) + 1e-3) / (f50 + 1e-3))[:, None],
                *(v[:, None] for v in _above_mad(flux, (3, 6, 10), axis=1)),
                simul.max(1)[:, None], (simul > 0.3).mean(1)[:, None], (simul > 0.5).mean(1)[:, None]]
        # bumps above their +-50 ms neighbourhood: crackles
        Ct = M - uniform_filter1d(M, 11, axis=2, mode="nearest")
        for lo, hi in GROUPS[:4]:
            Cg = Ct[:, (c >= lo) & (c < hi)]
            out += [Cg.max(axis=(1, 2))[:, None], percentile(Cg.reshape(n, -1), 99, axis=1)[:, None],
                    (Cg > 6).mean(axis=(1, 2))[:, None]]
        bt = Ct[:, bb].mean(axis=1)
        pk = (bt[:, 1:-1] > bt[:, :-2]) & (bt[:, 1:-1] >= bt[:, 2:])
        out += [bt.max(1)[:, None], percentile(bt, 99, axis=1)[:, None], (bt > 3).mean(1)[:, None],
                (bt > 6).mean(1)[:, None], (pk & (bt[:, 1:-1] > 3)).sum(1)[:, None],
                (pk & (bt[:, 1:-1] > 5)).sum(1)[:, None]]
        # narrow peaks above +-4 neighbouring bands, and how long they hold: wheezes, rhonchi
        tb = (c >= 100) & (c < 2500)
        Cf = (M - uniform_filter1d(M, 9, axis=1, mode="nearest"))[:, tb]
        peak = np.zeros_like(Cf, bool)
        peak[:, 1:-1] = (Cf[:, 1:-1] >= Cf[:, :-2]) & (Cf[:, 1:-1] >= Cf[:, 2:])
        cfmax = Cf.max(axis=1)
        out += [median(cfmax, 1)[:, None], percentile(cfmax, 95, axis=1)[:, None]]
        out += [uniform_filter1d(Cf, w, axis=2, mode="nearest").max(axis=(1, 2))[:, None] for w in (10, 25)]
        cb = c[tb]
        for thr in (6.0, 10.0):
            R = _ridge_runs(peak & (Cf > thr))
            longest = R.max(axis=(1, 2))
            band = R.reshape(n, -1).argmax(1) // T
            out += [longest[:, None], (R >= 8).any(axis=1).mean(1)[:, None], (R >= 15).any(axis=1).mean(1)[:, None],
                    np.where(longest > 0, np.log(cb[band]), 0.0)[:, None],
                    (np.where(R >= 8, Cf, 0).sum(axis=(1, 2)) / ((R >= 8).sum(axis=(1, 2)) + 1))[:, None]]
        out.append(tot.mean(axis=1)[:, None])
        F = np.concatenate([np.asarray(v, np.float32).reshape(n, -1) for v in out], axis=1)
        return np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)


def _above_mad(v: np.ndarray, ks: tuple[float, ...], axis: int = -1) -> list[np.ndarray]:
    """Share of values above median + k * MAD, for each k."""
    med = median(v, axis=axis, keepdims=True)
    mad = median(np.abs(v - med), axis=axis, keepdims=True) + 1e-3
    return [(v > med + k * mad).mean(axis=axis) for k in ks]


def _ridge_runs(P: np.ndarray) -> np.ndarray:
    """P [n, B, T] ridge pixels -> length of the ridge ending at each pixel, allowing one band of drift a frame."""
    n, B, T = P.shape
    L = np.zeros((n, B, T), np.float32)
    prev = np.zeros((n, B), np.float32)
    for t in range(T):
        nb = prev.copy()
        nb[:, 1:] = np.maximum(nb[:, 1:], prev[:, :-1])
        nb[:, :-1] = np.maximum(nb[:, :-1], prev[:, 1:])
        cur = np.where(P[:, :, t], nb + 1, 0.0)
        L[:, :, t] = cur
        prev = cur
    return L

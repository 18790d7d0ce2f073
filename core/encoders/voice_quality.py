"""Voice-quality features of a cry, per 2-s window: the cues the pain-cry literature reports (roughness and nonlinear
phenomena), read off 40-ms frames every 10 ms.

- f0 from the normalised autocorrelation (250-2000 Hz: cries sit at 300-600 Hz, hyperphonation above 1 kHz), with
  parabolic interpolation of the peak so that frame-to-frame changes of a fraction of a sample are seen;
- harmonic-to-noise ratio from the autocorrelation peak r (Boersma 1993: 10 log10 r / (1 - r));
- jitter and shimmer at the 10-ms frame scale (relative change of the period and of the level between consecutive
  voiced frames). A 2-s window of a cry has no reliable glottal-cycle marks, so these are frame-level perturbation
  quotients, not Praat's cycle-to-cycle jitter and shimmer, and are named so;
- sub-harmonics: the level at half-integer multiples of f0 against the harmonics (period doubling);
- cepstral peak prominence (a periodic voice has a sharp cepstral peak at its period; a rough or chaotic one not);
- the share of loud frames that are voiced, unvoiced (dysphonation: noisy, chaotic phonation) and hyperphonated.

Everything is vectorised over the batch of windows (about 3 ms a window on one core). A window without voiced frames
gets zeros for the per-voiced-frame statistics and says so in its voiced share.

`WithVoiceQuality` appends the block to any encoder's embedding (the built-in one or HeAR): the cry task's encoder
(`TaskSpec.window_features`), so training and analysis of cries see the same features. Kept because it improved the
nested leave-one-infant-out figures of the pain head (scripts/cry_ablation.py).
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
from scipy import fft as sfft

from core.config import SAMPLE_RATE
from core.encoders.base import Encoder, EncoderInfo
from core.encoders.order_stats import MaskedOrder
from core.threads import map_batches
from core.windows.framing import shared_frames

VERSION = "vq-1"
FRAME = 640  # 40 ms
HOP = 160  # 10 ms
N_FFT = 1024  # zero-padded past FRAME + the longest lag: the autocorrelation does not wrap around
F0_RANGE = (250.0, 2000.0)
HYPER_F0 = 1000.0
VOICED_R = 0.45  # normalised autocorrelation peak above which a frame is voiced
LOUD_DB = 30.0  # frames within this of the window's loudest frame count as sound
N_HARMONICS = 5
EPS = 1e-10

FEATURE_NAMES = (
    "voiced share", "dysphonation share", "hyperphonation share",
    "f0 median (semitones re 100 Hz)", "f0 IQR (semitones)",
    "HNR median (dB)", "HNR p10 (dB)", "HNR p90 (dB)",
    "frame jitter median", "frame jitter p90", "frame shimmer median (dB)", "frame shimmer p90 (dB)",
    "sub-harmonic level median (dB re harmonics)", "sub-harmonic level p90 (dB re harmonics)",
    "CPP median (dB)", "CPP p10 (dB)",
)
N_FEATURES = len(FEATURE_NAMES)


def voice_quality(windows: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """[n, 32000] float32 windows -> [n, N_FEATURES] float32. The per-frame measures run once per distinct frame
    (`shared_frames`: overlapping windows of a recording share half of theirs); loudness, voicing and the
    statistics are the window's own."""
    x = np.asarray(windows, np.float32)
    if len(x) == 0:
        return np.zeros((0, N_FEATURES), np.float32)
    sf = shared_frames(x, FRAME, HOP)
    frame_db, lag, peak, f0, hnr, shr, cpp = (sf.per_window(v) for v in _frame_measures(sf.frames, sr))
    loud = frame_db > frame_db.max(axis=1, keepdims=True) - LOUD_DB
    loud &= frame_db > 10 * np.log10(EPS) + 20  # digital silence is never "loud"
    voiced = loud & (peak > VOICED_R)
    semis = 12 * np.log2(f0 / 100.0)
    both = voiced[:, 1:] & voiced[:, :-1]
    jitter = np.abs(np.diff(lag, axis=1)) / (0.5 * (lag[:, 1:] + lag[:, :-1]))
    shimmer = np.abs(np.diff(frame_db, axis=1))

    n_loud = np.maximum(loud.sum(axis=1), 1)
    has_v = voiced.any(axis=1)
    o_f0, o_hnr, o_cpp, o_shr = (MaskedOrder(v, voiced) for v in (semis, hnr, cpp, shr))
    o_jit, o_shim = MaskedOrder(jitter, both), MaskedOrder(shimmer, both)
    feats = [
        voiced.sum(axis=1) / n_loud,
        (loud & ~voiced).sum(axis=1) / n_loud,
        (voiced & (f0 > HYPER_F0)).sum(axis=1) / n_loud,
        o_f0.median(), o_f0.percentile(75) - o_f0.percentile(25),
        o_hnr.median(), o_hnr.percentile(10), o_hnr.percentile(90),
        o_jit.median(), o_jit.percentile(90),
        o_shim.median(), o_shim.percentile(90),
        o_shr.median(), o_shr.percentile(90),
        o_cpp.median(), o_cpp.percentile(10),
    ]
    out = np.stack(feats, axis=1)
    out[~has_v, 3:] = 0.0
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _frame_measures(fr: np.ndarray, sr: int) -> tuple[np.ndarray, ...]:
    """Per frame [U, FRAME] -> level (dB), period (samples), autocorrelation peak, f0, HNR, sub-harmonic level and
    cepstral peak prominence, each [U]."""
    fr = fr - fr.mean(axis=-1, keepdims=True)
    w = np.hanning(FRAME).astype(np.float32)
    spec = sfft.rfft(fr * w, n=N_FFT, axis=-1)
    power = spec.real**2 + spec.imag**2  # [U, N_FFT/2+1]
    frame_db = 10 * np.log10(power.sum(axis=-1) + EPS)

    # normalised autocorrelation, corrected for the window's own autocorrelation (Boersma 1993)
    ac = sfft.irfft(power, n=N_FFT, axis=-1)[..., :FRAME]
    wac = np.correlate(w, w, mode="full")[FRAME - 1:]
    r = ac / (ac[..., :1] + EPS) / (wac / wac[0] + EPS)
    lo, hi = int(np.floor(sr / F0_RANGE[1])), int(np.ceil(sr / F0_RANGE[0]))
    seg = r[..., lo:hi + 1]
    # the shortest lag whose local peak is within 10 % of the highest: multiples of the period peak as high, and
    # taking the highest would halve a hyperphonated f0
    inner = (seg[..., 1:-1] > seg[..., :-2]) & (seg[..., 1:-1] >= seg[..., 2:])
    near = inner & (seg[..., 1:-1] >= 0.9 * seg.max(axis=-1, keepdims=True))
    k = np.where(near.any(axis=-1), np.argmax(near, axis=-1) + 1, np.argmax(seg, axis=-1))
    k = np.clip(k, 1, seg.shape[-1] - 2)
    y0 = np.take_along_axis(seg, (k - 1)[..., None], -1)[..., 0]
    y1 = np.take_along_axis(seg, k[..., None], -1)[..., 0]
    y2 = np.take_along_axis(seg, (k + 1)[..., None], -1)[..., 0]
    denom = y0 - 2 * y1 + y2
    shift = np.where(np.abs(denom) > EPS, 0.5 * (y0 - y2) / np.where(np.abs(denom) > EPS, denom, 1.0), 0.0)
    lag = lo + k + np.clip(shift, -0.5, 0.5)
    peak = np.clip(y1 - 0.25 * (y0 - y2) * shift, 0.0, 0.999)
    f0 = sr / lag
    hnr = 10 * np.log10(peak / (1 - peak) + EPS)

    # harmonics and sub-harmonics read off the log spectrum at multiples of f0
    log_p = 10 * np.log10(power + EPS)
    bins = N_FFT / sr * f0  # bin of f0, per frame
    h = np.arange(1, N_HARMONICS + 1)
    harm_idx = np.clip(np.rint(bins[..., None] * h), 0, log_p.shape[-1] - 1).astype(int)
    sub_idx = np.clip(np.rint(bins[..., None] * (h - 0.5)), 0, log_p.shape[-1] - 1).astype(int)
    harm = np.take_along_axis(log_p, harm_idx, -1).mean(axis=-1)
    sub = np.take_along_axis(log_p, sub_idx, -1).mean(axis=-1)

    # cepstral peak prominence: the cepstral peak in the f0 range above the cepstrum's regression line there
    cseg = sfft.irfft(log_p, n=N_FFT, axis=-1)[..., lo:hi + 1]
    qc = np.arange(lo, hi + 1) - (lo + hi) / 2.0  # quefrency, centred for the regression line
    slope = (cseg * qc).sum(axis=-1) / (qc**2).sum()
    line_at = cseg.mean(axis=-1)[..., None] + slope[..., None] * qc
    cpp = (cseg - line_at).max(axis=-1)
    return frame_db, lag, peak, f0, hnr, sub - harm, cpp


class WithVoiceQuality:
    """An encoder whose embedding is another encoder's followed by the voice-quality block. It keeps the base's name
    (artefacts stay under trained/<task>/<encoder>/) and extends its version, so an artefact trained without the
    block, or a cache entry of the base alone, is never mixed with it."""

    window_features = ("voice_quality",)  # what get_encoder() was asked for (Ray workers rebuild it from this)

    def __init__(self, base: Encoder):
        self.base = base
        i = base.info
        self.info = EncoderInfo(i.name, f"{i.version}+{VERSION}", i.dim + N_FEATURES,
                                f"{i.label} + voice-quality features", i.fingerprint)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, np.float32)
        if not len(x):
            return np.concatenate([self.base.embed(x), voice_quality(x)], axis=1)
        size = int(getattr(self.base, "batch_size", 0) or 16)
        one_batch = getattr(self.base, "embed_batch", None)
        if one_batch is None:  # an encoder batching on its own device (HeAR): the block beside it
            return np.concatenate([self.base.embed(x), map_batches(voice_quality, size, x)], axis=1)
        with getattr(self.base, "one_thread_sums", nullcontext)():  # both blocks in one pass over the batches
            return map_batches(lambda b: np.concatenate([one_batch(b), voice_quality(b)], axis=1), size, x)

    def __getattr__(self, name: str):  # batch_size, device, blocks… of the base encoder
        return getattr(self.base, name)

"""The built-in, weight-free encoder: hand-designed acoustic statistics for body sounds.

It is not HeAR and is never presented as such. It summarises each 2-s window with features chosen for the two
tasks: log-mel band statistics (spectral shape, level-normalised so stethoscope gain matters less), MFCCs and
their dynamics, spectral contrast and flatness, envelope modulation (breathing/cry rhythm), transient statistics
(crackles are short, explosive clicks), tonality (wheezes and rhonchi are sustained narrow-band peaks) and
autocorrelation pitch/voicing (cries are voiced with a high fundamental; pain cries are higher and harsher).
Version 2 adds lung-sound detail, because auscultation is band-limited (SPRSound is recorded at 8 kHz, most energy
is below 2 kHz) and its adventitious sounds are brief: how far each mel band below 4 kHz rises above its own
median in the window (a 0.3-s wheeze or a crackle train barely moves a 2-s mean), the persistence of a tonal peak
(a wheeze holds its pitch for 100 ms or more; breath noise does not), and crackle statistics on 2.5-ms blocks of
the 150-3800 Hz band (a crackle is a few-ms explosive click, invisible at the 16-ms frame rate).
Version 3 appends 102 features read off a 10-ms log-mel (`mel_detail.py`): band-energy rises, transient bumps and
how many bands rise at once (crackles), narrow spectral ridges and how long they hold (wheezes, rhonchi).
Everything is vectorised over the batch so a minute of audio costs milliseconds.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy.fft import dct

from core.config import SAMPLE_RATE, WINDOW_SAMPLES
from core.windows.framing import short_frames
from core.threads import map_batches
from .base import EncoderInfo, check_windows
from .mel_detail import N_FEATURES as N_MEL_DETAIL, MelDetail
from .order_stats import MaskedOrder, median, percentile

N_FFT = 1024
HOP = 256
N_MELS = 64
N_MFCC = 20
FMIN, FMAX = 50.0, 8000.0
TONAL_BAND = (100.0, 2500.0)
PITCH_RANGE = (100.0, 1000.0)
CONTRAST_EDGES = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 8000.0)
MOD_BANDS = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 31.0))
LUNG_MEL_FMAX = 4000.0
CRACKLE_BAND = (150.0, 3800.0)
CRACKLE_BLOCK = 40  # samples: 2.5 ms
VERSION = "acoustic-3"
EPS = 1e-10


def _mel_filterbank() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX).astype(np.float32)


def _stats(v: np.ndarray) -> list[np.ndarray]:
    return [v.mean(axis=1), v.std(axis=1)]


_BLAS = None


def _ONE_BLAS_THREAD():
    """Context: BLAS on one thread. The loaded libraries are found once (threadpoolctl scans them on every
    `threadpool_limits` call: 4 ms, twice per minute of audio)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


class AcousticEncoder:
    """Deterministic features; `batch_size` bounds peak memory (about 4 MB per window in flight; 16 is also the
    fastest size on a 2-core CPU, `python -m bench` section 3)."""

    def __init__(self, batch_size: int = 16):
        self.batch_size = batch_size
        self._mel = _mel_filterbank()
        self._hann = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
        self._freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE).astype(np.float32)
        import librosa
        from scipy.signal import butter

        centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]
        self._lung_bands = np.flatnonzero(centres < LUNG_MEL_FMAX)
        self._crackle_sos = butter(4, CRACKLE_BAND, btype="bandpass", fs=SAMPLE_RATE, output="sos")
        self._mel_detail = MelDetail()
        probe = self._features(np.zeros((1, WINDOW_SAMPLES), np.float32))
        n_lung = len(self._lung_bands) + 5 + 9  # band excursions, tonal persistence, crackle statistics
        end = probe.shape[1] - N_MEL_DETAIL
        #: where the last blocks sit in the feature vector (pitch/voicing, the lung-sound block, the 10-ms detail)
        self.blocks = {"pitch": slice(end - n_lung - 5, end - n_lung), "lung": slice(end - n_lung, end),
                       "mel_detail": slice(end, end + N_MEL_DETAIL)}
        self.info = EncoderInfo(
            name="acoustic",
            version=VERSION,
            dim=probe.shape[1],
            label="Built-in acoustic features (not HeAR)",
        )

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Features of each window, batches of `batch_size` side by side on the analysis threads (`core.threads`).
        The matrix products run on one BLAS thread: multi-threaded sums differ in the last bits with the thread
        count, and the same window must give the same embedding in this process and in the worker processes of a
        batch or of dataset embedding (one thread is as fast here, `python -m bench`)."""
        x = check_windows(windows, WINDOW_SAMPLES)
        if len(x) == 0:
            return np.zeros((0, self.info.dim), np.float32)
        with self.one_thread_sums():
            return map_batches(self.embed_batch, self.batch_size, x)

    def embed_batch(self, x: np.ndarray) -> np.ndarray:
        """One batch's features on the calling thread (its caller holds `one_thread_sums()`): the seam a wrapping
        encoder maps together with its own block, so both run in one pass over the batches."""
        return self._features(x)

    @staticmethod
    def one_thread_sums():
        """Context: BLAS on one thread (see `embed`)."""
        return _ONE_BLAS_THREAD()

    def _features(self, x: np.ndarray) -> np.ndarray:
        fr = short_frames(x, N_FFT, HOP)  # [n, T, F]
        spec = sfft.rfft(fr * self._hann, axis=-1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)  # [n, T, 513]
        feats: list[np.ndarray] = []

        # Level and level-normalised log-mel statistics.
        logmel = 10.0 * np.log10(power @ self._mel.T + EPS)  # [n, T, 64]
        level = logmel.mean(axis=(1, 2))
        rel = logmel - level[:, None, None]
        p10, p90 = percentile(rel, [10, 90], axis=1)
        feats += [level[:, None], rel.mean(axis=1), rel.std(axis=1), p10, p90]
        feats.append(np.abs(np.diff(rel, axis=1)).mean(axis=1))

        # MFCCs (without c0, which is level) and their dynamics.
        mfcc = dct(logmel, type=2, norm="ortho", axis=-1)[..., 1 : N_MFCC + 1]
        feats += _stats(mfcc)
        feats.append(np.diff(mfcc, axis=1).std(axis=1))

        # Spectral shape per frame.
        f = self._freqs
        psum = power.sum(axis=-1) + EPS
        centroid = (power * f).sum(axis=-1) / psum
        bandwidth = np.sqrt((power * (f - centroid[..., None]) ** 2).sum(axis=-1) / psum)
        cum = np.cumsum(power, axis=-1)
        rolloff = f[np.argmax(cum >= 0.85 * cum[..., -1:], axis=-1)]
        band = (f >= FMIN) & (f <= 4000.0)
        pb = power[..., band] + EPS
        flatness = np.exp(np.log(pb).mean(axis=-1)) / pb.mean(axis=-1)
        for v in (centroid / 1000.0, bandwidth / 1000.0, rolloff / 1000.0, flatness):
            feats += _stats(v)

        # Octave-band spectral contrast (peak minus valley, dB).
        logp = 10.0 * np.log10(power + EPS)
        for lo, hi in zip(CONTRAST_EDGES[:-1], CONTRAST_EDGES[1:]):
            sel = logp[..., (f >= lo) & (f < hi)]
            q = percentile(sel, [10, 90], axis=-1)
            feats += _stats(q[1] - q[0])

        # Time-domain dynamics.
        signs = np.signbit(fr)
        zcr = (signs[..., 1:] != signs[..., :-1]).mean(axis=-1)
        frame_db = 10.0 * np.log10(power.sum(axis=-1) + EPS)
        feats += _stats(zcr)
        feats += [frame_db.std(axis=1), frame_db.max(axis=1) - frame_db.min(axis=1)]

        # Envelope modulation spectrum (rhythm of breaths, crackle trains, cry bursts).
        env = power.sum(axis=-1)
        env = env / (env.mean(axis=1, keepdims=True) + EPS) - 1.0
        mod = np.abs(np.fft.rfft(env, axis=1)) ** 2
        mod_f = np.fft.rfftfreq(env.shape[1], HOP / SAMPLE_RATE)
        total = mod[:, 1:].sum(axis=1) + EPS
        for lo, hi in MOD_BANDS:
            feats.append(np.log(mod[:, (mod_f >= lo) & (mod_f < hi)].sum(axis=1) / total + 1e-6))

        # Transients: positive spectral flux and impulsiveness of the differenced waveform.
        flux = np.maximum(np.diff(logp, axis=1), 0.0).mean(axis=-1)
        med = median(flux, axis=1, keepdims=True)
        mad = median(np.abs(flux - med), axis=1, keepdims=True) + EPS
        feats += _stats(flux)
        feats.append(np.log((flux.max(axis=1) + EPS) / (med[:, 0] + EPS)))
        feats.append((flux > med + 3.0 * mad).mean(axis=1))
        d = np.diff(x, axis=1)
        dc = d - d.mean(axis=1, keepdims=True)
        var = (dc**2).mean(axis=1) + EPS
        dc2 = dc * dc  # dc**4 through a float32 power is 20x slower than two products
        feats.append(np.log((dc2 * dc2).mean(axis=1) / var**2 + EPS))
        blocks = (x[:, : (x.shape[1] // 160) * 160].reshape(len(x), -1, 160) ** 2).mean(axis=-1)
        feats.append(np.log((blocks.max(axis=1) + EPS) / (median(blocks, axis=1) + EPS)))

        # Tonality: a narrow peak standing above its band (wheeze, rhonchus, cry harmonics).
        tb = (f >= TONAL_BAND[0]) & (f <= TONAL_BAND[1])
        lt = logp[..., tb]
        peakiness = lt.max(axis=-1) - median(lt, axis=-1)
        peak_f = f[tb][np.argmax(lt, axis=-1)] / 1000.0
        tonal = peakiness > 15.0
        feats += _stats(peakiness)
        feats.append(percentile(peakiness, 90, axis=1))
        feats.append(tonal.mean(axis=1))
        feats += _stats(peak_f)
        ptb = power[..., tb] + EPS
        feats.append((np.exp(np.log(ptb).mean(axis=-1)) / ptb.mean(axis=-1)).mean(axis=1))

        feats += self._pitch(power, frame_db)
        feats += self._lung(x, rel, peakiness, peak_f)
        feats.append(self._mel_detail.features(x))
        out = np.concatenate([np.atleast_2d(a.T).T if a.ndim == 1 else a for a in feats], axis=1)
        return np.nan_to_num(out.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)

    def _lung(self, x: np.ndarray, rel: np.ndarray, peakiness: np.ndarray, peak_f: np.ndarray) -> list[np.ndarray]:
        from scipy.signal import sosfiltfilt

        out: list[np.ndarray] = []
        # Band excursions: the loudest moment of each low band relative to its typical level in the window.
        low = rel[..., self._lung_bands]
        out.append(low.max(axis=1) - median(low, axis=1))

        # Tonal persistence: peakiness smoothed over 3 frames (~50 ms), and the longest runs of held tonality.
        k = np.ones(3) / 3.0
        smooth = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, peakiness)
        out += [smooth.max(axis=1), percentile(smooth, 95, axis=1)]
        steady = (peakiness > 12.0) & (np.abs(np.diff(peak_f, axis=1, prepend=peak_f[:, :1])) < 0.05)
        n_frames = peakiness.shape[1]
        for mask in (steady, smooth > 18.0, smooth > 24.0):
            out.append(_longest_run(mask) / n_frames)

        # Crackles: 2.5-ms block energies of the band-passed signal against the window's median block.
        bp = sosfiltfilt(self._crackle_sos, x.astype(np.float64), axis=1)
        nb = x.shape[1] // CRACKLE_BLOCK
        e = (bp[:, : nb * CRACKLE_BLOCK].reshape(len(x), nb, CRACKLE_BLOCK) ** 2).mean(axis=-1) + EPS
        ratio = e / median(e, axis=1, keepdims=True)
        q = percentile(ratio, [90, 99, 99.9, 100], axis=1)
        out += [np.log(v) for v in q]
        out += [(ratio > t).mean(axis=1) for t in (10.0, 30.0, 100.0)]
        jump = np.diff(np.log(e), axis=1)
        out += list(percentile(jump, [99, 99.9], axis=1))
        return out

    def _pitch(self, power: np.ndarray, frame_db: np.ndarray) -> list[np.ndarray]:
        """Autocorrelation pitch and voicing per frame (Wiener-Khinchin on the frame's power spectrum)."""
        p = power.copy()
        p[..., :2] = 0.0  # drop DC so the offset of a stethoscope does not look periodic
        ac = sfft.irfft(p, n=N_FFT, axis=-1)
        lo = int(SAMPLE_RATE / PITCH_RANGE[1])
        hi = int(SAMPLE_RATE / PITCH_RANGE[0])
        r = ac[..., lo:hi] / (ac[..., :1] + EPS)
        strength = r.max(axis=-1)
        lag = lo + np.argmax(r, axis=-1)
        f0 = SAMPLE_RATE / lag
        loud = frame_db > (frame_db.max(axis=1, keepdims=True) - 30.0)
        voiced = (strength > 0.6) & loud
        nv = voiced.sum(axis=1)
        semis = 12.0 * np.log2(f0 / 100.0)
        has = nv > 0
        f0_order = MaskedOrder(semis, voiced)  # rows without a voiced frame read 0
        med = f0_order.median()
        iqr = f0_order.percentile(75) - f0_order.percentile(25)
        with np.errstate(all="ignore"):
            both = voiced[:, 1:] & voiced[:, :-1]
            jumps = np.abs(np.diff(semis, axis=1))
            jitter = np.where(both, jumps, 0.0).sum(axis=1) / np.maximum(both.sum(axis=1), 1)
        return [
            strength.mean(axis=1),
            voiced.mean(axis=1),
            np.where(has, med, 0.0),
            np.where(has, iqr, 0.0),
            np.where(has, jitter, 0.0),
        ]


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of consecutive True per row of a [n, T] boolean array."""
    m = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    d = np.diff(m, axis=1)
    out = np.zeros(len(mask))
    for i in range(len(mask)):
        starts, ends = np.flatnonzero(d[i] == 1), np.flatnonzero(d[i] == -1)
        if len(starts):
            out[i] = (ends - starts).max()
    return out

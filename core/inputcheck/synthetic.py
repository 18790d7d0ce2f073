"""Generated sounds that are neither chest auscultation nor an infant cry, for training and measuring the input check.

No speech or music corpus ships with this project, so the "other sounds" are synthesised, each family from its own
recipe: adult speech-like babble (a glottal pulse train through vowel formants, syllables with consonant noise),
music-like tones (notes of a scale with decaying harmonics, chords, test tones), noise (white, pink, brown,
band-limited, mains hum), handling (clicks and rubbing). The input check is scored on each family by a model
trained without that family, so its figures say how it does on a kind of sound it has never heard. They are
generated, not recorded: the README says so beside them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from core.config import SAMPLE_RATE

SR = SAMPLE_RATE
FAMILIES = ("speech", "tones", "noise", "handling")
FAMILY_TEXT = {
    "speech": "adult speech-like babble (formant-synthesised syllables, 85-260 Hz voices)",
    "tones": "music-like tones (notes with harmonics, chords, steady test tones)",
    "noise": "noise (white, pink, brown, band-limited, mains hum)",
    "handling": "handling sounds (clicks, taps, rubbing)",
}
#: (F1, F2, F3) Hz of five vowels, adult averages
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


@dataclass(frozen=True)
class Generated:
    family: str
    name: str
    samples: np.ndarray  # float32 at 16 kHz


def _as_recorded(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half the sounds pass through an 8-kHz recording (nothing above 4 kHz), as SPRSound and Donate-a-cry do: a
    band limit must not be what tells a cry or a chest recording from other sounds."""
    if rng.random() < 0.5:
        from scipy.signal import resample_poly

        x = resample_poly(resample_poly(x, 1, 2), 2, 1)[: len(x)]
    return x


def _level(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scaled to a random RMS between -45 and -15 dBFS: recordings come at any level."""
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    return (x / rms * 10 ** (rng.uniform(-45, -15) / 20)).clip(-1, 1).astype(np.float32)


def _resonator(x: np.ndarray, f: float, bw: float) -> np.ndarray:
    r = np.exp(-np.pi * bw / SR)
    a = [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r]
    return lfilter([1 - r], a, x)


def speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n)
    f0_base = rng.uniform(85, 260)
    t = 0
    while t < n:
        syl = int(rng.uniform(0.12, 0.3) * SR)
        if rng.random() < 0.15:  # a pause between phrases
            t += int(rng.uniform(0.15, 0.5) * SR)
            continue
        seg = min(syl, n - t)
        f0 = f0_base * (1 + 0.15 * np.sin(np.linspace(0, rng.uniform(1, 3), seg))) * rng.uniform(0.9, 1.1)
        phase = np.cumsum(f0 * (1 + 0.01 * rng.standard_normal(seg)) / SR)
        pulses = np.diff(np.floor(phase), prepend=0.0)  # a glottal pulse train
        src = lfilter([1.0], [1.0, -0.95], pulses)  # spectral tilt of the voice source
        f1, f2, f3 = VOWELS[rng.integers(len(VOWELS))]
        v = sum(_resonator(src, f * rng.uniform(0.9, 1.1), bw) for f, bw in ((f1, 80), (f2, 110), (f3, 160)))
        env = np.sin(np.linspace(0, np.pi, seg)) ** 0.6
        cons = int(min(seg, rng.uniform(0.02, 0.08) * SR))  # a fricative or burst before the vowel
        noise = sosfilt(butter(4, [2000, 7000], "bandpass", fs=SR, output="sos"), rng.standard_normal(cons))
        seg_out = v * env
        seg_out[:cons] += noise * np.std(v) * rng.uniform(0.2, 1.0)
        out[t:t + seg] += seg_out
        t += seg
    return out + 1e-3 * np.std(out) * rng.standard_normal(n)


def tones(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n)
    kind = rng.integers(3)
    if kind == 2:  # a steady test tone or two
        t = np.arange(n) / SR
        for f in rng.uniform(100, 4000, size=rng.integers(1, 3)):
            out += np.sin(2 * np.pi * f * t)
        return out
    scale = 220 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) / 12) * 2.0 ** rng.integers(-1, 2)
    t = 0
    while t < n:
        dur = int(rng.uniform(0.12, 0.6) * SR) if kind == 0 else int(rng.uniform(0.5, 1.5) * SR)
        seg = min(dur, n - t)
        tt = np.arange(seg) / SR
        notes = rng.choice(scale, size=1 if kind == 0 else 3, replace=False)
        decay = np.exp(-tt * rng.uniform(1, 6))
        for f in notes:
            out[t:t + seg] += decay * sum(np.sin(2 * np.pi * f * k * tt) / k ** 1.5 for k in range(1, 7))
        t += seg
    return out


def noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    w = rng.standard_normal(n)
    kind = rng.integers(5)
    if kind == 0:
        return w
    if kind == 1:  # pink: 1/f power, by filtering white noise in the frequency domain
        spec = np.fft.rfft(w)
        f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 1.0)
        return np.fft.irfft(spec / np.sqrt(f), n)
    if kind == 2:  # brown
        b = np.cumsum(w)
        return b - np.convolve(b, np.ones(401) / 401, mode="same")
    if kind == 3:
        lo = rng.uniform(100, 3000)
        return sosfilt(butter(4, [lo, min(lo * rng.uniform(1.5, 4), 7900)], "bandpass", fs=SR, output="sos"), w)
    t = np.arange(n) / SR  # mains hum with harmonics over a little broadband noise
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8)) + 0.05 * w


def handling(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    out = 0.02 * rng.standard_normal(n)
    for _ in range(int(rng.uniform(3, 12) * seconds)):  # clicks and taps
        at = rng.integers(0, n - 400)
        k = rng.integers(20, 400)
        out[at:at + k] += rng.uniform(0.3, 1.0) * rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 4))
    for _ in range(int(rng.uniform(0, 3) * seconds / 4) + 1):  # rubbing: bursts of low-passed noise
        at = rng.integers(0, n // 2)
        k = int(rng.uniform(0.2, 1.5) * SR)
        burst = sosfilt(butter(2, rng.uniform(300, 2000), "lowpass", fs=SR, output="sos"), rng.standard_normal(k))
        out[at:at + k] += burst[: len(out[at:at + k])] * rng.uniform(0.2, 1.0)
    return out


RECIPES = {"speech": speech, "tones": tones, "noise": noise, "handling": handling}


def generate(family: str, count: int, seed: int = 0) -> list[Generated]:
    """`count` recordings of one family, 4-15 s each, reproducible from the seed."""
    if family not in RECIPES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    out = []
    for i in range(count):
        x = RECIPES[family](rng, float(rng.uniform(4, 15)))
        out.append(Generated(family, f"{family}_{i:03d}", _level(_as_recorded(x, rng), rng)))
    return out

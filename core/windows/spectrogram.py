"""A display spectrogram whose time axis is the windows' time axis, sized for a browser, not for a model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import SAMPLE_RATE

MAX_FRAMES = 1200  # columns sent to the browser; longer clips get a proportionally larger hop
N_MELS = 96


@dataclass(frozen=True)
class Spectrogram:
    times_s: np.ndarray  # [T] frame centres
    freqs_hz: np.ndarray  # [F] mel band centres
    db: np.ndarray  # [F, T] power in dB relative to the clip's maximum

    @property
    def shape(self) -> tuple[int, int]:
        return self.db.shape


SILENT_POWER = 1e-6  # mel power of a bin treated as silence when a whole clip is (near) digital silence


def display_spectrogram(samples: np.ndarray, source_rate: int | None = None, sr: int = SAMPLE_RATE) -> Spectrogram:
    """Log-mel up to the source's Nyquist frequency (an 8-kHz stethoscope has nothing above 4 kHz to show)."""
    import librosa

    fmax = min(sr, source_rate or sr) / 2.0
    n = len(samples)
    hop = max(160, int(np.ceil(n / MAX_FRAMES)))
    n_fft = 1024
    if n < n_fft:
        samples = np.pad(samples, (0, n_fft - n))
    mel = librosa.feature.melspectrogram(y=np.asarray(samples, np.float32), sr=sr, n_fft=n_fft, hop_length=hop,
                                         n_mels=N_MELS, fmin=20.0, fmax=fmax, center=True)
    # relative to the clip's loudest bin, but never to less than a near-silent floor (about -110 dB re a full-scale
    # sine): digital silence is drawn dark, not as a uniformly "loud" picture at 0 dB
    ref = max(float(mel.max()), SILENT_POWER)
    db = librosa.power_to_db(mel, ref=ref, amin=SILENT_POWER * 1e-8, top_db=80.0).astype(np.float32)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sr, hop_length=hop)
    freqs = librosa.mel_frequencies(n_mels=N_MELS, fmin=20.0, fmax=fmax)
    return Spectrogram(times.astype(np.float32), freqs.astype(np.float32), db)

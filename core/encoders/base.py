"""The one seam every encoder implements: [n, 32000] float32 windows in, [n, dim] float32 embeddings out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class EncoderUnavailable(RuntimeError):
    """The encoder cannot run on this install; the message says what the user can do about it."""


@dataclass(frozen=True)
class EncoderInfo:
    name: str  # "acoustic" or "hear"
    version: str  # feature/model version: artefacts trained on another version are refused
    dim: int
    label: str  # what the UI shows
    fingerprint: str = ""  # identifies the exact weights (HeAR) so caches never mix two models

    @property
    def identity(self) -> str:
        return f"{self.name}:{self.version}" + (f":{self.fingerprint}" if self.fingerprint else "")


@runtime_checkable
class Encoder(Protocol):
    info: EncoderInfo

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Embed a batch of 2-s windows; implementations batch internally as suits their device."""
        ...


def check_windows(windows: np.ndarray, win: int) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != win:
        raise ValueError(f"expected windows of shape [n, {win}], got {x.shape}")
    return x

"""Encoder registry: one shared instance per encoder per process (HeAR is loaded once)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from .base import Encoder, EncoderInfo, EncoderUnavailable

ENCODER_NAMES = ("acoustic", "hear")

_instances: dict[str, Encoder] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class HearStatus:
    available: bool
    reason: str  # why not, or where it comes from


#: feature blocks a task can append to every encoder's window embedding (`TaskSpec.window_features`)
WINDOW_FEATURES = ("voice_quality",)


def get_encoder(name: str, *, allow_download: bool = True, window_features: tuple[str, ...] = ()) -> Encoder:
    """Return the process-wide encoder, with the task's `window_features` appended to its embedding (the cry task's
    voice-quality block); HeAR failures raise EncoderUnavailable with an actionable message."""
    if name not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODER_NAMES)}")
    unknown = set(window_features) - set(WINDOW_FEATURES)
    if unknown:
        raise ValueError(f"unknown window feature block(s) {sorted(unknown)}; choose from {WINDOW_FEATURES}")
    base = _base_encoder(name, allow_download)
    if "voice_quality" not in window_features:
        return base
    from .voice_quality import WithVoiceQuality

    key = f"{name}+voice_quality"
    with _lock:
        if key not in _instances or _instances[key].base is not base:
            _instances[key] = WithVoiceQuality(base)
        return _instances[key]


def _base_encoder(name: str, allow_download: bool) -> Encoder:
    with _lock:
        if name not in _instances:
            if name == "acoustic":
                from .acoustic import AcousticEncoder

                _instances[name] = AcousticEncoder()
            else:
                from .remote import RemoteHearEncoder, remote_hear_url

                url = remote_hear_url()
                if url:  # configured to use HeAR served by Ray Serve: never load it in this process
                    _instances[name] = RemoteHearEncoder(url)
                else:
                    from .hear import HearEncoder, resolve_hear

                    _instances[name] = HearEncoder(resolve_hear(allow_download=allow_download))
        return _instances[name]


def hear_status() -> HearStatus:
    """Whether HeAR can be used right now without a download (never touches the network)."""
    if "hear" in _instances:
        return HearStatus(True, _instances["hear"].info.label)
    from .remote import remote_hear_url

    if remote_hear_url():
        try:
            enc = get_encoder("hear")
        except EncoderUnavailable as exc:
            return HearStatus(False, str(exc))
        return HearStatus(True, enc.info.label)
    from .hear import resolve_hear

    try:
        src = resolve_hear(allow_download=False)
    except EncoderUnavailable as exc:
        return HearStatus(False, str(exc))
    return HearStatus(True, f"HeAR found ({src.origin}: {src.path})")


def reset_encoders() -> None:
    """Forget loaded encoders (tests switch HEAR_MODEL_DIR between cases)."""
    with _lock:
        _instances.clear()


__all__ = ["Encoder", "EncoderInfo", "EncoderUnavailable", "HearStatus", "get_encoder", "hear_status", "reset_encoders"]

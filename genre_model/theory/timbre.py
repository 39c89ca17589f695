"""Timbre: spectral centroid, rolloff, bandwidth, flatness and zero-crossing rate."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .signal import N_FFT, Signal


@dataclass
class Stat:
    mean: float
    std: float


@dataclass
class TimbreResult:
    """Frame statistics over the non-silent frames. Frequencies in Hz; flatness 0 (tonal) to 1
    (noise-like); zero-crossing rate in crossings per sample."""

    spectral_centroid_hz: Stat
    spectral_rolloff_hz: Stat  # 85 % of the spectral energy lies below
    spectral_bandwidth_hz: Stat
    spectral_flatness: Stat
    zero_crossing_rate: Stat
    brightness: str  # "dark" / "balanced" / "bright", from the centroid


def _stat(x: np.ndarray) -> Stat:
    return Stat(round(float(np.mean(x)), 4), round(float(np.std(x)), 4)) if x.size else Stat(0.0, 0.0)


def estimate_timbre(sig: Signal) -> TimbreResult:
    import librosa

    S = sig.stft_mag
    loud = sig.rms > 0.01 * (sig.rms.max() + 1e-12)
    if not loud.any():
        loud = np.ones_like(sig.rms, bool)
    cen = librosa.feature.spectral_centroid(S=S, sr=sig.sr)[0][loud]
    roll = librosa.feature.spectral_rolloff(S=S, sr=sig.sr, roll_percent=0.85)[0][loud]
    bw = librosa.feature.spectral_bandwidth(S=S, sr=sig.sr)[0][loud]
    flat = librosa.feature.spectral_flatness(S=S)[0][loud]
    zcr = librosa.feature.zero_crossing_rate(sig.y, frame_length=N_FFT, hop_length=sig.hop)[0]
    zcr = zcr[: loud.size][loud[: zcr.size]]
    c = float(np.mean(cen)) if cen.size else 0.0
    brightness = "dark" if c < 1200 else "bright" if c > 2800 else "balanced"
    return TimbreResult(_stat(cen), _stat(roll), _stat(bw), _stat(flat), _stat(zcr), brightness)

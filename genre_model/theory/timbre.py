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


def spectral_shape(S: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    """librosa's spectral centroid, bandwidth (p = 2), rolloff (85 %) and flatness (power, amin
    1e-10) of a magnitude spectrogram ``S`` (n_bins, n_frames), in one pass; each (n_frames,).
    Centroid and bandwidth come from the first two moments (matrix products, no n_bins x n_frames
    temporaries)."""
    S = S.astype(np.float32, copy=False)
    f = freqs.astype(np.float32)
    total = np.maximum(S.sum(0, dtype=np.float64), np.finfo(np.float32).tiny)
    cen = (f @ S) / total
    bw = np.sqrt(np.maximum((f * f) @ S / total - cen ** 2, 0.0))
    cum = np.cumsum(np.ascontiguousarray(S.T), axis=1)  # frames x bins: contiguous, 4x faster
    roll = freqs[np.minimum(np.argmax(cum >= 0.85 * cum[:, -1:], axis=1), freqs.size - 1)]
    log2_p = 2 * np.log2(np.maximum(S, 1e-5))  # log of the power floored at 1e-10, as librosa
    flat = np.exp2(log2_p.mean(0, dtype=np.float64)) / np.maximum(S * S, 1e-10).mean(0, dtype=np.float64)
    return {"centroid": cen, "bandwidth": bw, "rolloff": roll, "flatness": flat}


def zero_crossing_rate(y: np.ndarray, frame_length: int = N_FFT, hop: int = 512) -> np.ndarray:
    """librosa.feature.zero_crossing_rate (centred frames, edge padding, |y| <= 1e-10 counts as
    positive) from one cumulative sum: crossings per sample, shape = (1 + len(y) // hop,)."""
    s = np.pad(y, frame_length // 2, mode="edge") < -1e-10
    cs = np.zeros(s.size + 1, np.int64)
    np.cumsum(s[1:] != s[:-1], out=cs[2:])
    starts = np.arange(1 + (s.size - frame_length) // hop) * hop
    return (cs[starts + frame_length] - cs[starts + 1]) / frame_length


def estimate_timbre(sig: Signal) -> TimbreResult:
    loud = sig.rms > 0.01 * (sig.rms.max() + 1e-12)
    if not loud.any():
        loud = np.ones_like(sig.rms, bool)
    shape = spectral_shape(sig.stft_mag[:, loud], sig.freqs)
    zcr = zero_crossing_rate(sig.y, N_FFT, sig.hop)
    zcr = zcr[: loud.size][loud[: zcr.size]]
    cen = shape["centroid"]
    c = float(np.mean(cen)) if cen.size else 0.0
    brightness = "dark" if c < 1200 else "bright" if c > 2800 else "balanced"
    return TimbreResult(_stat(cen), _stat(shape["rolloff"]), _stat(shape["bandwidth"]), _stat(shape["flatness"]),
                        _stat(zcr), brightness)

"""Energy and dynamics, with the loudness measured on the channels (:mod:`.loudness`).

Loudness comes from the audio's channels at their own sample rate (not the mono 22 kHz analysis
copy): integrated loudness (LUFS), loudness range (LU), sample peak and true peak (dBTP, the
highest channel), PLR = true peak - integrated loudness, and each channel's levels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .loudness import ChannelLevels, Loudness, db, measure_loudness
from .signal import Signal


@dataclass
class DynamicsResult:
    rms_db: float  # mean frame RMS over frames above the silence gate, dBFS
    rms_db_std: float
    onset_rate: float  # note/drum onsets per second
    energy: str  # "low" / "medium" / "high"
    integrated_lufs: float | None
    loudness_range_lu: float | None
    sample_peak_dbfs: float
    true_peak_dbtp: float
    plr_db: float | None  # peak-to-loudness ratio
    crest_factor_db: float  # sample peak over overall RMS
    dynamic_range_db: float  # 95th minus 10th percentile of 3-s short-term RMS (dB)
    reason: str = ""
    channels: list[ChannelLevels] = field(default_factory=list)  # each channel's RMS, peaks, clipping


def audible_frames(sig: Signal) -> np.ndarray:
    """Frames above the silence gate (:data:`~genre_model.theory.quality.SILENCE_GATE_DB` dBFS RMS),
    shape = (n_frames,) bool; all frames when none is (a silent track stays describable)."""
    from .quality import SILENCE_GATE_DB

    keep = db(sig.rms) > SILENCE_GATE_DB
    return keep if keep.any() else np.ones_like(keep)


def onset_rate(sig: Signal) -> float:
    """Onsets per second of audible time: peaks of the onset envelope above its mean + 1 std
    (over audible frames), divided by the time above the silence gate."""
    from scipy.signal import find_peaks

    o = sig.onset_env
    if o.max() <= 0:
        return 0.0
    keep = audible_frames(sig)[: o.size]
    ref = o[: keep.size][keep] if keep.any() else o
    peaks, _ = find_peaks(o, height=ref.mean() + ref.std(), distance=max(int(0.05 * sig.sr / sig.hop), 1))
    return len(peaks) / max(float(keep.sum()) * sig.hop / sig.sr, 1e-9)


def estimate_dynamics(sig: Signal, y_native: np.ndarray, sr_native: int, loudness: Loudness | None = None) -> DynamicsResult:
    """Energy and dynamics from the shared :class:`Signal`, loudness from ``loudness`` (measured
    here from ``y_native`` at ``sr_native`` when not given: then only the mono samples' levels)."""
    ld = loudness or measure_loudness(y_native, sr_native)
    lufs, tp = ld.integrated_lufs, ld.true_peak
    rms_frames = db(sig.rms)[audible_frames(sig)]  # digital silence does not lower the mean level
    overall_rms = float(np.sqrt(ld.mean_square))
    win = max(int(3.0 * sig.sr / sig.hop), 1)
    short = db(np.sqrt(np.convolve(sig.rms ** 2, np.ones(win) / win, mode="valid")))
    short = short[short > -70] if (short > -70).any() else short
    rate = onset_rate(sig)
    mean_db = float(np.mean(rms_frames))
    score = (mean_db + 30) / 20 + rate / 4  # about 0 (quiet, sparse) .. 2 (loud, busy)
    energy = "low" if score < 0.6 else "high" if score > 1.3 else "medium"
    return DynamicsResult(
        round(mean_db, 2), round(float(np.std(rms_frames)), 2), round(rate, 2), energy, lufs, ld.loudness_range_lu,
        round(float(db(ld.sample_peak)), 2), round(float(db(tp)), 2),
        round(float(db(tp)) - lufs, 2) if lufs is not None else None,
        round(float(db(ld.sample_peak) - db(overall_rms)), 2),
        round(float(np.percentile(short, 95) - np.percentile(short, 10)), 2) if short.size else 0.0,
        ld.reason, ld.channels,
    )

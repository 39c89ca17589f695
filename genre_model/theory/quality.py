"""Audio quality: clipping, noise floor and an SNR *estimate*, bandwidth, edge silence, DC.

There is no validated blind SNR for a finished mix: ``snr_estimate_db`` is the difference
between the loud-frame level (95th percentile of 50-ms frame RMS) and the noise floor (5th
percentile), both reported beside it. Both are taken over the frames above an absolute gate of
:data:`SILENCE_GATE_DB` (as BS.1770 gates loudness at -70 LUFS), so digital silence (a silent
tail, a gap) does not pass for a noise floor; it is reported on its own as ``silent_s``. Bandwidth is where the long-term spectrum falls 60 dB
below its peak for good; a cut well under Nyquist suggests lossy coding (MP3 encoders low-pass
at 11-19 kHz) or upsampled material.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loudness import Loudness, clipped_sample_count, db

SILENCE_DB = -60.0  # dBFS: edge silence (leading / trailing)
SILENCE_GATE_DB = -70.0  # dBFS of 50-ms frame RMS: below it a frame is (digital) silence, left out of levels


@dataclass
class QualityResult:
    clipped_samples: int  # samples inside runs of >= 3 consecutive full-scale samples, all channels
    clipping_ratio: float
    clipping: bool
    noise_floor_db: float  # 5th percentile of 50-ms frame RMS above the silence gate, dBFS
    loud_level_db: float  # 95th percentile of 50-ms frame RMS above the silence gate, dBFS
    snr_estimate_db: float  # loud_level_db - noise_floor_db: a descriptive estimate
    bandwidth_hz: float
    nyquist_hz: float
    band_limited: bool
    leading_silence_s: float
    trailing_silence_s: float
    dc_offset: float
    sample_rate: int
    issues: list[str]
    silent_s: float = 0.0  # seconds of 50-ms frames under the silence gate (anywhere in the track)


def bandwidth(y: np.ndarray, sr: int, drop_db: float = 60.0) -> float:
    """Highest frequency (Hz) where the long-term average spectrum is within ``drop_db`` of its peak."""
    n_fft = 4096
    if y.size < n_fft:
        return sr / 2
    hop = n_fft
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop][:2000]
    spec = np.mean(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2, axis=0)
    level = 10 * np.log10(spec + 1e-20)
    above = np.flatnonzero(level > level.max() - drop_db)
    return float(above[-1] * sr / n_fft) if above.size else 0.0


def estimate_quality(y: np.ndarray, sr: int, loudness: Loudness | None = None) -> QualityResult:
    """Quality measurements of mono audio ``y`` (shape = (n_samples,)) at its own rate ``sr``;
    clipping is counted on the channels when ``loudness`` (their :class:`Loudness`) is given,
    since a channel clipped alone no longer reaches full scale in the mono mix."""
    frame = max(int(0.05 * sr), 1)
    n = y.size // frame
    frames = y[: n * frame].reshape(n, frame)  # a view: no copy of a long track
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame) if n else np.zeros(1)
    level = db(rms)
    gated = level[level > SILENCE_GATE_DB] if (level > SILENCE_GATE_DB).any() else level
    floor, loud = float(np.percentile(gated, 5)), float(np.percentile(gated, 95))
    silent_s = float(np.count_nonzero(level <= SILENCE_GATE_DB) * frame / sr)
    active = np.flatnonzero(level > SILENCE_DB)
    lead = float(active[0] * frame / sr) if active.size else y.size / sr
    trail = float((n - 1 - active[-1]) * frame / sr) if active.size else 0.0
    if loudness is not None and loudness.channels:
        clipped, total = loudness.clipped_samples, loudness.n_frames * len(loudness.channels)
        where = [c.name for c in loudness.channels if c.clipped_samples]
    else:
        clipped, total, where = clipped_sample_count(y), y.size, []
    bw = bandwidth(y, sr)
    nyq = sr / 2
    band_limited = bw < 0.85 * nyq and bw < 16000
    issues = []
    ratio = clipped / max(total, 1)
    if ratio > 1e-4:
        issues.append(f"clipping: {clipped} samples at full scale ({100 * ratio:.2f} %)"
                      + (f" in {', '.join(where)}" if where and len(where) < len(loudness.channels) else ""))
    if band_limited:
        issues.append(f"band-limited to {bw / 1000:.1f} kHz (lossy encoding or upsampled audio?)")
    if loud - floor < 20:
        issues.append(f"little dynamic contrast over the noise floor ({loud - floor:.0f} dB)")
    if lead > 2:
        issues.append(f"{lead:.1f} s of silence at the start")
    if trail > 2:
        issues.append(f"{trail:.1f} s of silence at the end")
    dc = float(np.mean(y))
    if abs(dc) > 0.01:
        issues.append(f"DC offset {dc:+.3f}")
    return QualityResult(clipped, round(ratio, 6), ratio > 1e-4, round(floor, 2), round(loud, 2),
                         round(loud - floor, 2), round(bw, 1), nyq, band_limited, round(lead, 2),
                         round(trail, 2), round(dc, 5), int(sr), issues, round(silent_s, 2))

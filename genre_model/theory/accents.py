"""Beat-level accent measures shared by the tempo-octave choice and the meter.

All take a beat grid as frame indices (frames of :class:`~genre_model.theory.signal.Signal`,
43.07 frames/s).
"""
from __future__ import annotations

import numpy as np

from .signal import Signal


def offbeat_ratio(onset: np.ndarray, beats_frames: np.ndarray, fractions) -> float:
    """Mean onset strength at the given fractions of each beat interval, over the mean at beats.
    ~1 when the 'beats' are really a subdivision (off-beats as strong as beats)."""
    if beats_frames.size < 3:
        return 1.0

    def peak(f):
        f = int(round(f))
        return onset[max(f - 1, 0): f + 2].max() if 0 <= f < onset.size else 0.0

    on = np.mean([peak(b) for b in beats_frames])
    off = np.mean([peak(a + fr * (b - a)) for a, b in zip(beats_frames[:-1], beats_frames[1:]) for fr in fractions])
    return float(off / (on + 1e-12))


def is_ternary(sig: Signal, beat_frames: np.ndarray) -> bool:
    """True when the beats divide in three: more onset strength at their thirds than at their half."""
    return offbeat_ratio(sig.onset_env, beat_frames, [1 / 3, 2 / 3]) > offbeat_ratio(sig.onset_env, beat_frames, [0.5])


def harmonic_change(sig: Signal, beat_frames: np.ndarray) -> np.ndarray:
    """Chroma change at each beat: cosine distance between the mean chroma of the beat before and
    the beat after, shape = (n_beats,), 0 (same harmony) .. 1."""
    c = sig.chroma
    change = []
    for i, f in enumerate(beat_frames):
        a = beat_frames[i - 1] if i else max(f - 10, 0)
        b = beat_frames[i + 1] if i + 1 < len(beat_frames) else min(f + 10, c.shape[1])
        prev, nxt = c[:, a:f].mean(1) if f > a else c[:, f], c[:, f:b].mean(1) if b > f else c[:, f]
        den = np.linalg.norm(prev) * np.linalg.norm(nxt)
        change.append(1 - float(prev @ nxt / den) if den > 0 else 0.0)
    return np.array(change)


def zscore(x: np.ndarray) -> np.ndarray:
    """Z-score along the last axis (beats)."""
    return (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-9)


def phase_scores(accents: np.ndarray, group: int) -> np.ndarray:
    """How much each phase of a grouping of ``group`` beats stands out, shape = (group,).

    accents : z-scored accents, shape = (n_features, n_beats) or (n_beats,)
    Each phase scores the mean accent of its beats minus that of the other beats, summed over
    features; the best phase of the right grouping is the bar's downbeat.
    """
    a = np.atleast_2d(accents)
    idx = np.arange(a.shape[1]) % group
    return np.array([(a[:, idx == p].mean(1) - a[:, idx != p].mean(1)).sum() for p in range(group)])

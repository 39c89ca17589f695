"""Beat-level accent measures shared by the tempo-octave choice and the meter.

All take a beat grid as frame indices (frames of :class:`~genre_model.theory.signal.Signal`,
43.07 frames/s).
"""
from __future__ import annotations

import numpy as np

from .signal import Signal


def offbeat_ratio(onset: np.ndarray, beats_frames: np.ndarray, fractions) -> float:
    """Mean onset strength at the given fractions of each beat interval, over the mean at beats.
    ~1 when the 'beats' are really a subdivision (off-beats as strong as beats). Each strength is
    the envelope's maximum within one frame of the position."""
    if beats_frames.size < 3:
        return 1.0
    from scipy.ndimage import maximum_filter1d

    peak = maximum_filter1d(onset, 3, mode="nearest")

    def at(frames):
        f = np.round(frames).astype(int)
        ok = (f >= 0) & (f < onset.size)
        return np.where(ok, peak[np.clip(f, 0, onset.size - 1)], 0.0)

    a, b = beats_frames[:-1].astype(float), beats_frames[1:].astype(float)
    off = at(np.concatenate([a + fr * (b - a) for fr in fractions]))
    return float(off.mean() / (at(beats_frames).mean() + 1e-12))


def subdivision(onset: np.ndarray, beat_frames: np.ndarray) -> tuple[bool, float, float]:
    """(ternary, half, thirds): the :func:`offbeat_ratio` at the half and at the thirds of each
    beat, and whether the beats divide in three (more strength at the thirds than at the half)."""
    half = offbeat_ratio(onset, beat_frames, [0.5])
    thirds = offbeat_ratio(onset, beat_frames, [1 / 3, 2 / 3])
    return thirds > half, half, thirds


def harmonic_change(sig: Signal, beat_frames: np.ndarray) -> np.ndarray:
    """Chroma change at each beat: cosine distance between the mean chroma of the beat before and
    the beat after (10 frames at the edges), shape = (n_beats,), 0 (same harmony) .. 1."""
    c = sig.change_chroma
    n = c.shape[1]
    f = np.clip(np.asarray(beat_frames, int), 0, n - 1)
    if f.size == 0:
        return np.zeros(0)
    a = np.r_[max(f[0] - 10, 0), f[:-1]]
    b = np.r_[f[1:], min(f[-1] + 10, n)]
    cs = np.concatenate([np.zeros((12, 1)), np.cumsum(c, axis=1, dtype=np.float64)], axis=1)
    prev = np.where(f > a, (cs[:, f] - cs[:, a]) / np.maximum(f - a, 1), c[:, f])
    nxt = np.where(b > f, (cs[:, b] - cs[:, f]) / np.maximum(b - f, 1), c[:, f])
    den = np.linalg.norm(prev, axis=0) * np.linalg.norm(nxt, axis=0)
    return np.where(den > 0, 1 - (prev * nxt).sum(0) / np.maximum(den, 1e-300), 0.0)


def timbre_change(sig: Signal, beat_frames: np.ndarray, span: int = 2) -> np.ndarray:
    """Sound change at each beat: the Euclidean distance (dB) between the mean mel spectrum
    (:attr:`~genre_model.theory.signal.Signal.mel_db`) of the ``span`` beats after it and that
    of the ``span`` beats before it, shape = (n_beats,), 0 at the first beat (nothing before it).
    Each beat's spectrum is the mean over its own frames (:func:`~genre_model.theory.chords.beat_sync`,
    to the next beat; the last to the track's end; a beat on the same frame as the next, that
    frame's). Peaks where parts enter or leave, as they do at bar and phrase starts in loop-built
    and drum music, where no chord change marks beat 1."""
    from .chords import beat_sync

    M = sig.mel_db
    n = M.shape[1]
    f = np.clip(np.asarray(beat_frames, int), 0, n - 1)
    if f.size == 0:
        return np.zeros(0)
    bounds = np.r_[f, n]
    beat_mel = beat_sync(M, bounds)
    empty = np.diff(bounds) == 0
    beat_mel[:, empty] = M[:, f[empty]]
    cb = np.concatenate([np.zeros((M.shape[0], 1)), np.cumsum(beat_mel, axis=1)], axis=1)
    i = np.arange(f.size)
    a, b = np.maximum(i - span, 0), np.minimum(i + span, f.size)
    ok = (i > a) & (b > i)
    before = (cb[:, i] - cb[:, a]) / np.maximum(i - a, 1)
    after = (cb[:, b] - cb[:, i]) / np.maximum(b - i, 1)
    return np.where(ok, np.linalg.norm(after - before, axis=0), 0.0)


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

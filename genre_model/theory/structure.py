"""Structure: segment boundaries (novelty on a self-similarity matrix) and repetition labels.

Beat-synchronous chroma and MFCC vectors are compared with each other (cosine self-similarity);
a checkerboard kernel slid along the diagonal (Foote 2000) peaks where the music changes.
Segments are labelled A, B, C... by comparing their feature sequences: a segment that is close
to an earlier one (mean of the best-aligned similarities) takes its label, so A B A C shows
what repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .chords import beat_sync
from .signal import Signal

KERNEL_SECONDS = 8.0  # half-width of the checkerboard kernel
MIN_SEGMENT_SECONDS = 6.0
REPEAT_SIMILARITY = 0.85  # dev choice; a segment at least this similar repeats an earlier one


@dataclass
class Segment:
    start: float
    end: float
    label: str


@dataclass
class StructureResult:
    segments: list[Segment] = field(default_factory=list)
    form: str = ""  # e.g. "A B A C"
    boundaries: list[float] = field(default_factory=list)  # inner boundaries, seconds
    reason: str = ""


def _features(sig: Signal, beats: list[float]) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    n = sig.n_frames
    step = max(int(0.5 * sig.sr / sig.hop), 1)
    inner = sig.time_to_frames(beats) if len(beats) >= 8 else np.arange(step, n, step)
    bounds = np.unique(np.clip(np.concatenate([[0], inner, [n]]), 0, n))
    mfcc = librosa.feature.mfcc(S=sig.mel_db, n_mfcc=13)[1:]
    mfcc = (mfcc - mfcc.mean(1, keepdims=True)) / (mfcc.std(1, keepdims=True) + 1e-9)
    X = np.vstack([beat_sync(sig.chroma, bounds) * 2.0, beat_sync(mfcc, bounds) / 3.0])
    X = X / np.maximum(np.linalg.norm(X, axis=0, keepdims=True), 1e-9)
    return X, sig.frames_to_time(bounds)


def novelty(ssm: np.ndarray, half: int) -> np.ndarray:
    """Foote novelty of a self-similarity matrix with a Gaussian-tapered checkerboard kernel."""
    idx = np.arange(-half, half)
    g = np.exp(-0.5 * ((idx + 0.5) / (0.5 * half)) ** 2)
    kernel = np.outer(g, g) * np.sign(idx + 0.5)[:, None] * np.sign(idx + 0.5)[None, :]
    n = ssm.shape[0]
    padded = np.pad(ssm, half, mode="constant")
    nov = np.array([np.sum(padded[i:i + 2 * half, i:i + 2 * half] * kernel) for i in range(n)])
    return np.maximum(nov, 0)


def estimate_structure(sig: Signal, beats: list[float]) -> StructureResult:
    """Segments with repetition labels. Needs at least ~2 segments' worth of audio."""
    from scipy.signal import find_peaks

    if sig.duration < 2 * MIN_SEGMENT_SECONDS:
        return StructureResult([Segment(0.0, round(sig.duration, 3), "A")], "A",
                               reason="too short to have sections")
    X, times = _features(sig, beats)
    step = float(np.median(np.diff(times)))
    ssm = X.T @ X
    half = int(np.clip(round(KERNEL_SECONDS / step), 4, 64))
    nov = novelty(ssm, half)
    dist = max(int(MIN_SEGMENT_SECONDS / step), 1)
    peaks, _ = find_peaks(nov, distance=dist, height=np.median(nov) + 1.0 * nov.std())
    peaks = [p for p in peaks if times[p] > MIN_SEGMENT_SECONDS * 0.5 and times[p] < sig.duration - MIN_SEGMENT_SECONDS * 0.5]
    edges = [0] + list(peaks) + [X.shape[1]]
    # label: compare each segment with earlier labelled ones on their aligned feature sequence
    segs: list[Segment] = []
    protos: list[tuple[str, np.ndarray]] = []
    for a, b in zip(edges[:-1], edges[1:]):
        seq = X[:, a:b]
        best_label, best_sim = None, 0.0
        for label, proto in protos:
            m = min(seq.shape[1], proto.shape[1])
            sim = float(np.mean(np.sum(seq[:, :m] * proto[:, :m], axis=0)))
            if sim > best_sim:
                best_label, best_sim = label, sim
        if best_label is None or best_sim < REPEAT_SIMILARITY:
            best_label = chr(ord("A") + len(protos)) if len(protos) < 26 else "Z"
            protos.append((best_label, seq))
        end = times[b] if b < len(times) else sig.duration
        segs.append(Segment(round(float(times[a]), 3), round(float(end), 3), best_label))
    return StructureResult(segs, " ".join(s.label for s in segs), [s.start for s in segs[1:]])

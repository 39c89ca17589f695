"""Structure: segment boundaries (novelty on a self-similarity matrix) and repetition labels.

Beat-synchronous chroma and MFCC vectors are compared with each other (cosine similarity).
Boundaries are peaks of a weighted sum of two novelty curves: a checkerboard kernel slid along
the diagonal (Foote 2000) peaks where the music changes, and structure features (Serra et al.
2014: each beat's row of the time-lag recurrence matrix, smoothed) change where a repetition
starts or stops, which finds the line between a strain and its repeat (A | A) that no change in
sound marks. The weight chosen on the benchmark sources is all on the structure features.
Segments are labelled A, B, C... by comparing their feature sequences: a segment that is close
to an earlier one (mean of the best-aligned similarities) takes its label, so A B A C shows
what repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .chords import beat_sync
from .signal import Signal


@dataclass(frozen=True)
class StructureParams:
    """The segmentation's constants. The defaults were chosen by benchmarks/bench_structure.py on
    all three sources with known sections (its held-out rows choose them without the source they
    report): they give the structure features all the weight (the Foote curve is kept for
    ``BEFORE``, the method this replaced, and as a knob)."""

    sf_weight: float = 1.0  # share of the structure-feature novelty in the sum (the rest: Foote)
    embed_s: float = 1.0  # time-delay embedding before the recurrence (Serra et al.: a few s)
    neighbours: float = 0.05  # each beat's nearest neighbours in the recurrence, share of the beats
    lag_smooth_s: float = 3.0  # Gaussian sd along time of the time-lag matrix
    kernel_s: float = 8.0  # half-width of the checkerboard kernel
    prominence: float | None = 0.2  # a boundary's peak prominence on the summed novelty (0-1 scale)
    height_std: float = 1.0  # without prominence: a peak over median + this many sd
    min_segment_s: float = 6.0
    repeat_similarity: float = 0.85  # a segment at least this similar to an earlier one takes its letter
    max_letters: int | None = 8  # more kinds of section than this: the most alike are merged (readability)


PARAMS = StructureParams()
BEFORE = StructureParams(sf_weight=0.0, prominence=None, max_letters=None)


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


def beat_features(sig: Signal, beats: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Chroma and MFCC 2-13 averaged between beats (``beats`` in seconds; a 0.5-s grid when there
    are fewer than 8), each column unit length: shape = (24, n_segments), and the segment
    boundaries in seconds, shape = (n_segments + 1,). Structure and the meter's repetition read it."""
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


def structure_novelty(X: np.ndarray, step: float, params: StructureParams = PARAMS) -> np.ndarray:
    """Structure-feature novelty (Serra et al. 2014) of beat-level features ``X.shape = (d, n)``
    spaced ``step`` seconds: time-delay embedding, a mutual nearest-neighbour recurrence matrix,
    its circular time-lag form smoothed along time, and the squared change from one beat's row to
    the next. Shape (n,), >= 0."""
    from scipy.ndimage import gaussian_filter

    n = X.shape[1]
    m = max(int(round(params.embed_s / step)), 1)
    Xe = np.vstack([np.pad(X, ((0, 0), (k, 0)), mode="edge")[:, :n] for k in range(m)])
    k = max(int(params.neighbours * n), 2)
    # mutual k-nearest neighbours by cosine similarity, the diagonal band |i - j| < m left out
    # (written out: librosa.segment.recurrence_matrix(sym=True) returned empty rows late in
    # synthetic A A B B features, where every beat has an exact repeat)
    Xn = Xe / np.maximum(np.linalg.norm(Xe, axis=0, keepdims=True), 1e-9)
    sim = Xn.T @ Xn
    idx = np.arange(n)
    sim[np.abs(idx[:, None] - idx[None, :]) < m] = -np.inf
    knn = np.zeros((n, n), dtype=bool)
    knn[idx[:, None], np.argpartition(-sim, k - 1, axis=1)[:, :k]] = True
    R = (knn & knn.T & np.isfinite(sim)).astype(np.float32)
    L = R[idx[:, None], (idx[:, None] + idx[None, :]) % n]  # L[i, l]: beat i recurs l beats later
    L[:m - 1] = L[m - 1]  # the first beats' embeddings are padded: their rows would jump at m - 1
    P = gaussian_filter(L, sigma=(max(params.lag_smooth_s / step, 1.0), 0.5), mode="nearest")
    c = np.zeros(n)
    c[1:] = np.sum(np.diff(P, axis=0) ** 2, axis=1)
    return c


def novelty_curves(X: np.ndarray, step: float, params: StructureParams = PARAMS) -> tuple[np.ndarray, np.ndarray]:
    """The Foote and structure-feature novelty of beat-level features ``X.shape = (d, n)`` spaced
    ``step`` seconds, unscaled; shapes (n,), >= 0 (zeros for a curve whose weight is 0)."""
    n = X.shape[1]
    half = int(np.clip(round(params.kernel_s / step), 4, 64))
    foote = novelty(X.T @ X, half) if params.sf_weight < 1 else np.zeros(n)  # a weight of 0: not computed
    sf = structure_novelty(X, step, params) if params.sf_weight > 0 else np.zeros(n)
    return foote, sf


def pick_boundaries(foote: np.ndarray, sf: np.ndarray, times: np.ndarray, duration: float,
                    params: StructureParams = PARAMS) -> list[int]:
    """Indices into ``times`` (beat-level, seconds) of the inner boundaries: peaks of the weighted
    sum of the two novelty curves, at least ``min_segment_s`` apart and from either end. Each
    curve is scaled by its maximum away from the ends, where the embedding and the smoothing
    run off the track and the structure features always jump."""
    from scipy.signal import find_peaks

    half = params.min_segment_s * 0.5
    times = times[:len(foote)]  # the curves' own beats (``times`` may carry the end as well)
    inside = (times > half) & (times < duration - half)
    if not inside.any():
        return []
    unit = lambda c: c / c[inside].max() if c[inside].max() > 0 else c  # noqa: E731
    nov = (1 - params.sf_weight) * unit(foote) + params.sf_weight * unit(sf)  # peaks on the whole curve:
    # a decline from an end has none, where a curve cut at the ends would have one at the cut
    step = float(np.median(np.diff(times)))
    dist = max(int(params.min_segment_s / step), 1)
    if params.prominence is not None:
        peaks, _ = find_peaks(nov, distance=dist, prominence=params.prominence)
    else:
        peaks, _ = find_peaks(nov, distance=dist, height=np.median(nov) + params.height_std * nov.std())
    return [int(p) for p in peaks if inside[p]]


MAX_ALIGN_SHIFT = 2  # beats: a boundary found a beat or two off still lines a repeat up


def aligned_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of two unit-column feature sequences laid side by side from their
    starts, the best over shifts of up to MAX_ALIGN_SHIFT beats either way."""
    best = -1.0
    for s in range(-MAX_ALIGN_SHIFT, MAX_ALIGN_SHIFT + 1):
        x, y = (a[:, s:], b) if s >= 0 else (a, b[:, -s:])
        m = min(x.shape[1], y.shape[1])
        if m > 0:
            best = max(best, float(np.mean(np.sum(x[:, :m] * y[:, :m], axis=0))))
    return best


def label_segments(X: np.ndarray, times: np.ndarray, edges: list[int], duration: float,
                   repeat_similarity: float = PARAMS.repeat_similarity,
                   max_letters: int | None = PARAMS.max_letters) -> list[Segment]:
    """Segments between ``edges`` (indices into ``times``, first 0, last ``X.shape[1]``) labelled
    A, B, ...: a segment close to an earlier one (:func:`aligned_similarity` >=
    ``repeat_similarity``) takes its label. With more than ``max_letters`` kinds (a long piece
    whose themes keep coming), the two most alike kinds are merged until that many are left;
    letters follow the order of first appearance."""
    kinds: list[int] = []  # each segment's kind
    protos: list[np.ndarray] = []  # each kind's first segment
    for a, b in zip(edges[:-1], edges[1:]):
        seq = X[:, a:b]
        sims = [aligned_similarity(seq, p) for p in protos]
        if sims and max(sims) >= repeat_similarity:
            kinds.append(int(np.argmax(sims)))
        else:
            kinds.append(len(protos))
            protos.append(seq)
    alive = list(range(len(protos)))
    while max_letters is not None and len(alive) > max(max_letters, 1):
        pairs = [(aligned_similarity(protos[i], protos[j]), i, j) for n, i in enumerate(alive) for j in alive[n + 1:]]
        _, keep, drop = max(pairs)
        kinds = [keep if k == drop else k for k in kinds]
        alive.remove(drop)
    letters: dict[int, str] = {}
    segs: list[Segment] = []
    for (a, b), k in zip(zip(edges[:-1], edges[1:]), kinds):
        label = letters.setdefault(k, chr(ord("A") + len(letters)) if len(letters) < 26 else "Z")
        end = times[b] if b < len(times) else duration
        segs.append(Segment(round(float(times[a]), 3), round(float(end), 3), label))
    return segs


def segment(X: np.ndarray, times: np.ndarray, duration: float, params: StructureParams = PARAMS) -> StructureResult:
    """Structure of beat-level features ``X.shape = (d, n)`` starting at ``times`` (seconds) in a
    track of ``duration`` seconds."""
    foote, sf = novelty_curves(X, float(np.median(np.diff(times))), params)
    edges = [0] + pick_boundaries(foote, sf, times, duration, params) + [X.shape[1]]
    segs = label_segments(X, times, edges, duration, params.repeat_similarity, params.max_letters)
    return StructureResult(segs, " ".join(s.label for s in segs), [s.start for s in segs[1:]])


def estimate_structure(sig: Signal, beats: list[float], params: StructureParams = PARAMS) -> StructureResult:
    """Segments with repetition labels. Needs at least ~2 segments' worth of audio."""
    if sig.duration < 2 * params.min_segment_s:
        return StructureResult([Segment(0.0, round(sig.duration, 3), "A")], "A",
                               reason="too short to have sections")
    X, times = beat_features(sig, beats)
    return segment(X, times, sig.duration, params)

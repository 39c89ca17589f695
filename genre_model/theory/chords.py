"""Chord progression: beat-synchronous chroma, triad templates, HMM smoothing (Viterbi).

States are the 24 major/minor triads and "N" (no chord). Emissions are the cosine between a
beat's chroma and each triad template (templates include the notes' harmonics), plus the bass
chroma at the chord's root, through a softmax with a temperature; "N" scores high when the
chroma is weak or flat. The transition matrix favours staying on a chord, less so at a bar's
downbeat (chords mostly change on the bar line); how strongly it stays inside a bar is the
piece's harmonic rhythm, chosen per piece as the value under which its chroma sequence is most
likely (a chorale changes chord on every beat, a pop song once a bar). With a key, the triads of
its scale get a bonus (:func:`estimate_harmony`: chords, then the key from them, then the chords
again in that key).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .key import (PITCH_NAMES, KeyResult, estimate_key, pitch_class, scale_pitch_classes, spell,
                  triad_pitch_classes)
from .signal import Signal

# Fitted by benchmarks/fit_chords.py on three sources together: the generator's dev split, 17 Bach
# chorales and 34 Monteverdi madrigals with human analyses (benchmarks/analyses.py); each source is
# reported with the values fitted on the other two (README "Key and chords on analysed scores":
# held out, majmin WCSR chorales 80.9, generator dev 89.5, madrigals 73.9 with the downbeats on the
# low onsets and chord change (meter.downbeat_accents); 81.0, 89.3 and 73.7 with the beats tracked
# on Signal.beat_env in the 40-208 BPM range, 81.2, 88.5 and 73.5 before; the values chosen on all
# three sources stayed the same).
SELF_PROB_AT_DOWNBEAT = 0.3  # HMM probability of staying on a chord into the first step of a bar
# Candidates for staying on a chord into any other step (all steps when no downbeats are known):
# the piece's harmonic rhythm, chosen per piece by likelihood (forward algorithm)
SELF_PROB_CHOICES = (0.3, 0.5, 0.7, 0.85, 0.95, 0.99)
KEY_PRIOR = 1.0  # log-emission bonus of the triads inside the key's scale (when a key is given)
TEMPERATURE = 0.03  # softmax temperature of the template cosines
STEPS_PER_BEAT = 1  # chord decisions per beat (1 or 2: half beats)
BASS_WEIGHT = 0.05  # weight of the bass chroma at each chord's root
HARMONIC_DECAY = 0.6  # amplitude of the h-th harmonic in the templates: HARMONIC_DECAY ** (h - 1)
N_HARMONICS = 6
LABELS = [f"{PITCH_NAMES[r]}:{q}" for q in ("maj", "min") for r in range(12)] + ["N"]
ROMAN = ["I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII"]


@dataclass
class ChordSegment:
    start: float
    end: float
    label: str  # Harte-style: "C:maj", "A:min", "N"


@dataclass
class ChordResult:
    segments: list[ChordSegment] = field(default_factory=list)
    progression: list[str] = field(default_factory=list)  # most common 4-chord loop, e.g. ["I", "V", "vi", "IV"]
    progression_chords: list[str] = field(default_factory=list)
    progression_count: int = 0
    distinct_chords: int = 0
    reason: str = ""


def note_profile(pc: int) -> np.ndarray:
    """Chroma of one note with its first harmonics (the 3rd lands on the fifth, the 5th on the
    major third), shape = (12,)."""
    v = np.zeros(12)
    for h in range(1, N_HARMONICS + 1):
        v[(pc + int(round(12 * np.log2(h)))) % 12] += HARMONIC_DECAY ** (h - 1)
    return v


def templates() -> np.ndarray:
    """Unit-norm triad templates with harmonics, shape = (24, 12): 12 major then 12 minor roots."""
    rows = []
    for third in (4, 3):
        for r in range(12):
            t = note_profile(r) + note_profile((r + third) % 12) + note_profile((r + 7) % 12)
            rows.append(t / np.linalg.norm(t))
    return np.array(rows)


def beat_sync(feature: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean of ``feature`` (d, n_frames) between consecutive increasing frame ``bounds`` (within
    0..n_frames) -> (d, len(bounds)-1)."""
    bounds = np.asarray(bounds, int)
    cs = np.concatenate([np.zeros((feature.shape[0], 1)), np.cumsum(feature, axis=1, dtype=np.float64)], axis=1)
    a, b = bounds[:-1], bounds[1:]
    return (cs[:, b] - cs[:, a]) / np.maximum(b - a, 1)


def viterbi(log_emit: np.ndarray, log_trans: np.ndarray) -> np.ndarray:
    """Most likely state path. log_emit (n_states, n_steps); log_trans (n_states, n_states), or
    (n_steps, n_states, n_states) for transitions that change over time (into step t: [t])."""
    n_states, n = log_emit.shape
    score = log_emit[:, 0] - np.log(n_states)
    back = np.zeros((n_states, n), dtype=int)
    for t in range(1, n):
        cand = score[:, None] + (log_trans[t] if log_trans.ndim == 3 else log_trans)  # from x to
        back[:, t] = cand.argmax(0)
        score = cand.max(0) + log_emit[:, t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[path[t], t]
    return path


def chord_name(label: str) -> str:
    """Harte label to a lead-sheet name: ``C:maj`` -> ``C``, ``A:min`` -> ``Am`` ("N" stays)."""
    return label.replace(":maj", "").replace(":min", "m")


def spell_chord(label: str, key: KeyResult | None) -> str:
    """A Harte label with its root spelled in ``key`` (``Ab:maj`` -> ``G#:maj`` in C# minor)."""
    if label == "N" or key is None or key.tonic is None:
        return label
    root, q = label.split(":")
    return f"{spell(pitch_class(root), key.tonic)}:{q}"


def roman(label: str, key: KeyResult | None) -> str:
    """Roman numeral of a chord relative to ``key``'s tonic, on the major scale's degrees (so in
    A minor, C is bIII and G is bVII; upper case major, lower case minor)."""
    if label == "N" or key is None or key.tonic is None:
        return label
    root, q = label.split(":")
    numeral = ROMAN[(pitch_class(root) - pitch_class(key.tonic)) % 12]
    return numeral if q == "maj" else numeral.lower()


def transitions(self_prob: float) -> np.ndarray:
    """Log transition matrix, shape = (25, 25): stay with ``self_prob``, else any other state."""
    k = len(LABELS)
    trans = np.full((k, k), (1 - self_prob) / (k - 1))
    np.fill_diagonal(trans, self_prob)
    return np.log(trans)


def forward_log_likelihood(log_emit: np.ndarray, log_trans: np.ndarray) -> float:
    """log P(observations) of an HMM with a uniform start (the forward algorithm, scaled), the
    arguments as :func:`viterbi`'s."""
    emit = np.exp(log_emit - log_emit.max(axis=0, keepdims=True))
    shift = float(log_emit.max(axis=0).sum())
    trans = np.exp(log_trans)
    alpha = emit[:, 0] / emit.shape[0]
    total = 0.0
    for t in range(1, emit.shape[1]):
        norm = alpha.sum()
        total += np.log(norm)
        alpha = (alpha / norm) @ (trans[t] if trans.ndim == 3 else trans) * emit[:, t]
    return total + float(np.log(alpha.sum())) + shift


def harmonic_rhythm(log_emit: np.ndarray, trans_for) -> float:
    """The piece's probability of staying on a chord from one step to the next: the one of
    :data:`SELF_PROB_CHOICES` under which its emissions ``log_emit`` (n_states, n_steps) are most
    likely; ``trans_for(p)`` gives the log transitions for a candidate ``p``."""
    return max(SELF_PROB_CHOICES, key=lambda p: forward_log_likelihood(log_emit, trans_for(p)))


def diatonic_triads(key: KeyResult) -> np.ndarray:
    """1 for the states (:data:`LABELS`) whose triad lies inside ``key``'s scale (minor: natural
    minor plus the leading tone), else 0; shape = (25,)."""
    scale = scale_pitch_classes(pitch_class(key.tonic), key.mode)
    return np.array([float(triad_pitch_classes(label) <= scale) for label in LABELS[:-1]] + [0.0])


def estimate_chords(sig: Signal, beats: list[float], key: KeyResult | None = None,
                    downbeats: list[float] | None = None) -> ChordResult:
    """Chords over time on the beat grid (0.5-s grid when there are no beats). With ``downbeats``
    (seconds), chords change more readily at the start of a bar than inside it; with a ``key``,
    its scale's triads are favoured (:data:`KEY_PRIOR`) and the progression is written in it."""
    n = sig.n_frames
    if beats and len(beats) >= 2:
        b = np.asarray(beats, float)
        steps = [b] + [b[:-1] + k / STEPS_PER_BEAT * np.diff(b) for k in range(1, STEPS_PER_BEAT)]
        inner = sig.time_to_frames(np.sort(np.concatenate(steps)))
    else:
        inner = np.arange(0, n, max(int(0.5 * sig.sr / sig.hop), 1))
    bounds = np.unique(np.clip(np.concatenate([[0], inner, [n]]), 0, n))
    C = beat_sync(sig.chroma, bounds)
    B = beat_sync(sig.bass_chroma, bounds)
    energy = beat_sync(sig.rms[None], bounds)[0]
    norms = np.linalg.norm(C, axis=0)
    cos = templates() @ (C / np.maximum(norms, 1e-9))
    cos += BASS_WEIGHT * (B / np.maximum(B.max(0, keepdims=True), 1e-9))[np.r_[0:12, 0:12]]
    flat = C.min(0) / (C.max(0) + 1e-9)  # 1 = all pitch classes equal: no chord
    quiet = energy < 0.05 * (energy.max() + 1e-12)
    n_score = np.where(quiet | (norms < 1e-6), 1.0 + BASS_WEIGHT, 0.55 + 0.4 * flat)
    emit = np.vstack([cos, n_score]) / TEMPERATURE
    emit = emit - np.logaddexp.reduce(emit, axis=0)
    if key is not None and key.tonic is not None and KEY_PRIOR:
        emit = emit + KEY_PRIOR * diatonic_triads(key)[:, None]
    bar_starts = np.isin(bounds, sig.time_to_frames(downbeats))[:-1, None, None] if downbeats else None

    def trans_for(self_prob: float) -> np.ndarray:
        inside = transitions(self_prob)
        return inside if bar_starts is None else np.where(bar_starts, transitions(SELF_PROB_AT_DOWNBEAT), inside)

    path = viterbi(emit, trans_for(harmonic_rhythm(emit, trans_for)))
    times = sig.frames_to_time(bounds)
    segments: list[ChordSegment] = []
    for i, s in enumerate(path):
        if segments and segments[-1].label == LABELS[s]:
            segments[-1].end = round(float(times[i + 1]), 3)
        else:
            segments.append(ChordSegment(round(float(times[i]), 3), round(float(times[i + 1]), 3), LABELS[s]))
    result = ChordResult(segments, distinct_chords=len({s.label for s in segments if s.label != "N"}))
    seq = [s.label for s in segments if s.label != "N"]
    if len(seq) >= 4:
        grams = Counter(tuple(seq[i:i + 4]) for i in range(len(seq) - 3))
        best_gram, count = grams.most_common(1)[0]
        result.progression_chords = list(best_gram)
        result.progression = [roman(c, key) for c in best_gram]
        result.progression_count = count
    elif not seq:
        result.reason = "no chords heard (no stable harmony)"
    return result


def estimate_harmony(sig: Signal, beats: list[float], downbeats: list[float] | None = None
                     ) -> tuple[ChordResult, KeyResult]:
    """Chords and key that agree: chords, the key from them (with the chroma and bass), then the
    chords again with that key's triads favoured; labels and progression spelled in the key."""
    first = estimate_chords(sig, beats, downbeats=downbeats)
    key = estimate_key(sig.chroma, chords=[(s.label, s.end - s.start) for s in first.segments], bass=sig.bass_chroma)
    chords = estimate_chords(sig, beats, key, downbeats) if key.tonic is not None and KEY_PRIOR else first
    for seg in chords.segments:  # spelled in the key: the dominant of C# minor is G#, not Ab
        seg.label = spell_chord(seg.label, key)
    chords.progression_chords = [spell_chord(c, key) for c in chords.progression_chords]
    chords.progression = [roman(c, key) for c in chords.progression_chords]
    return chords, key

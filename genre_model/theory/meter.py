"""Meter (time signature) and downbeats from accents on the beat grid.

Six readings of the tracked beats compete: 2, 3 or 4 beats per bar, each with binary or
ternary subdivision (2/4, 3/4, 4/4, 6/8, 9/8, 12/8, the tactus being the quarter or the dotted
quarter). Each is scored by a conditional logit (weights fitted by benchmarks/fit_meter.py on
every rhythm source and reported per source with weights fitted on the others) over:

* ``contrast``: how much the strongest phase of that grouping stands out in each of three
  beat-level accents (onset strength, bass onset strength, harmonic change; z-scored), summed
  over the accents and scaled like a t statistic so that groupings of 2, 3 and 4 compare
  (each accent may peak on its own phase: a snare's low end can make the bass accent fall on
  beat 2; the downbeat is the best phase of the accents summed);
* ``half_bar``: whether beat 1 outweighs beat 3 of a 4-grouping (4/4 and 12/8 rather than 2/4
  and 6/8, whose "beat 3" is a downbeat too), signed for the candidate;
* ``subdivision``: log of onset strength at the thirds over the half of each beat, signed (+ for
  ternary readings);
* biases for 2 and 3 beats per bar and for ternary subdivision.

When no grouping's accents stand out (``MIN_ACCENT``) the meter is "not determinable".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .signal import Signal
from .accents import harmonic_change, phase_scores, subdivision, zscore
from .tempo import TempoResult

MIN_BEATS = 8
MIN_ACCENT = 0.5  # summed z-score contrast of the best bar phase; below it no bar is audible


@dataclass
class MeterResult:
    """Time signature ("4/4", "3/4", "6/8", ...) or None, with downbeat times in seconds."""

    time_signature: str | None
    beats_per_bar: int | None
    subdivision: str | None  # "binary" or "ternary"
    confidence: float  # 0..1: the logit's probability of this signature among the six
    downbeats: list[float] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def _at(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return np.array([env[max(f - 2, 0): f + 3].max() if f < env.size else 0.0 for f in frames])


def beat_accents(sig: Signal, beat_frames: np.ndarray) -> np.ndarray:
    """Z-scored accent features per beat, shape = (3, n_beats): onset, bass onset, chroma change."""
    return zscore(np.stack([_at(sig.onset_env, beat_frames), _at(sig.bass_onset_env, beat_frames),
                            harmonic_change(sig, beat_frames)]))


CANDIDATES = (("2/4", 2, False), ("3/4", 3, False), ("4/4", 4, False),
              ("6/8", 2, True), ("9/8", 3, True), ("12/8", 4, True))
# fitted by benchmarks/fit_meter.py on every rhythm source (L2 0.1)
METER_WEIGHTS = {"contrast": 1.88, "half_bar": 0.25, "subdivision": 6.1, "two": -0.27, "three": -0.54, "ternary": -1.46}


def meter_features(sig: Signal, beat_frames: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray], dict[str, float]]:
    """Features of the six :data:`CANDIDATES`, shape = (6, len(METER_WEIGHTS)); the phase scores
    of each grouping (beats per bar -> (group,)); and the raw measures (for the report)."""
    acc = beat_accents(sig, beat_frames)
    phases = {g: phase_scores(acc, g) for g in (2, 3, 4)}
    p4 = int(phases[4].argmax())
    half = float((phases[4][p4] - phases[4][(p4 + 2) % 4]) / (abs(phases[4]).max() + 1e-9))
    _, r2, r3 = subdivision(sig.onset_env, beat_frames)
    sub = float(np.log(max(r3, 1e-3) / max(r2, 1e-3)))
    # per accent, how much its strongest phase of the grouping stands out, summed over accents and
    # scaled like a t statistic (the best of g phases over n/g beats each; sqrt(g-1)/g, 1 at g=2)
    contrast = {g: float(sum(phase_scores(a, g).max() for a in acc)) * 2 * np.sqrt(g - 1) / g for g in (2, 3, 4)}
    X = []
    for _, g, ternary in CANDIDATES:
        X.append([contrast[g], half if g == 4 else (-half if g == 2 else 0.0), sub if ternary else -sub,
                  float(g == 2), float(g == 3), float(ternary)])
    raw = {"contrast_2": float(phases[2].max()), "contrast_3": float(phases[3].max()), "contrast_4": float(phases[4].max()),
           "half_bar": half, "offbeat_half": r2, "offbeat_thirds": r3}
    return np.array(X), phases, raw


def estimate_meter(sig: Signal, tempo: TempoResult) -> MeterResult:
    if tempo.bpm is None or len(tempo.beats) < MIN_BEATS:
        return MeterResult(None, None, None, 0.0, reason="not enough beats to group into bars")
    frames = sig.time_to_frames(tempo.beats)
    X, phases, raw = meter_features(sig, frames)
    scores = {k: round(v, 3) for k, v in raw.items()}
    if max(raw["contrast_3"], raw["contrast_4"]) < MIN_ACCENT:
        return MeterResult(None, None, None, 0.0, scores=scores,
                           reason="beats are evenly accented: no bar grouping can be heard")
    z = X @ np.array(list(METER_WEIGHTS.values()))
    p = np.exp(z - z.max())
    p /= p.sum()
    best = int(p.argmax())
    signature, bpb, ternary = CANDIDATES[best]
    phase = int(phases[bpb].argmax())
    downbeats = [tempo.beats[i] for i in range(phase, len(tempo.beats), bpb)]
    return MeterResult(signature, bpb, "ternary" if ternary else "binary", round(float(p[best]), 3), downbeats,
                       scores | {c[0]: round(float(q), 3) for c, q in zip(CANDIDATES, p)})

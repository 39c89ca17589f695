"""Meter (time signature) and downbeats from accents on the beat grid.

Beats per bar: for 3 and 4 (2 is read as 4, its accents recur at 4 too), each phase is scored
by how much stronger that beat is than the others on three beat-level accent features
(onset strength, bass onset strength, harmonic change); the meter whose best phase stands out
more wins. Subdivision: onset strength at the thirds of the beat vs at its half.
2 beats per bar with ternary subdivision is 6/8; 4 binary is 4/4; 3 binary is 3/4.
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
    confidence: float
    downbeats: list[float] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def _at(env: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return np.array([env[max(f - 2, 0): f + 3].max() if f < env.size else 0.0 for f in frames])


def beat_accents(sig: Signal, beat_frames: np.ndarray) -> np.ndarray:
    """Z-scored accent features per beat, shape = (3, n_beats): onset, bass onset, chroma change."""
    return zscore(np.stack([_at(sig.onset_env, beat_frames), _at(sig.bass_onset_env, beat_frames),
                            harmonic_change(sig, beat_frames)]))


def estimate_meter(sig: Signal, tempo: TempoResult) -> MeterResult:
    if tempo.bpm is None or len(tempo.beats) < MIN_BEATS:
        return MeterResult(None, None, None, 0.0, reason="not enough beats to group into bars")
    frames = sig.time_to_frames(tempo.beats)
    acc = beat_accents(sig, frames)
    s3, s4 = phase_scores(acc, 3), phase_scores(acc, 4)
    scores = {"3": float(s3.max()), "4": float(s4.max())}
    if max(scores.values()) < MIN_ACCENT:
        return MeterResult(None, None, None, 0.0, scores={k: round(v, 3) for k, v in scores.items()},
                           reason="beats are evenly accented: no bar grouping can be heard")
    bpb, phases = (3, s3) if scores["3"] > scores["4"] else (4, s4)
    phase = int(phases.argmax())
    ternary, r2, r3 = subdivision(sig.onset_env, frames)
    if ternary and bpb == 4:
        bpb, phases = 2, phase_scores(acc, 2)
        phase = int(phases.argmax())
        signature = "6/8"
    elif ternary:
        signature = "9/8"
    else:
        signature = f"{bpb}/4"
    margin = abs(scores["3"] - scores["4"]) / (abs(scores["3"]) + abs(scores["4"]) + 1e-9)
    downbeats = [tempo.beats[i] for i in range(phase, len(tempo.beats), bpb)]
    return MeterResult(signature, bpb, "ternary" if ternary else "binary", round(float(margin), 3),
                       downbeats, {k: round(v, 3) for k, v in scores.items()} | {"offbeat_half": round(r2, 3), "offbeat_thirds": round(r3, 3)})

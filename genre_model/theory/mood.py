"""Mood: a descriptive heuristic, not a validated model.

Valence leans on mode (major brighter than minor), tempo and spectral brightness; arousal on
loudness, onset rate and tempo. The quadrant of (valence, arousal) names the mood. The inputs
that drove it are kept in the result so a reader can judge it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MoodResult:
    label: str | None  # "happy / energetic", "calm / peaceful", "tense / aggressive", "sad / melancholic"
    valence: float  # -1 .. 1
    arousal: float  # -1 .. 1
    inputs: dict = field(default_factory=dict)
    method: str = "heuristic (mode, tempo, brightness, loudness, onset rate); not a trained model"
    reason: str = ""


def estimate_mood(mode: str | None, bpm: float | None, centroid_hz: float, rms_db: float,
                  onset_rate: float) -> MoodResult:
    inputs = {"mode": mode, "tempo_bpm": bpm, "spectral_centroid_hz": round(centroid_hz, 1),
              "rms_db": rms_db, "onset_rate_per_s": onset_rate}
    tempo_term = np.tanh(((bpm or 100) - 100) / 40)
    bright = np.tanh((centroid_hz - 2000) / 1000)
    mode_term = {"major": 0.5, "minor": -0.5}.get(mode or "", 0.0)
    valence = float(np.clip(mode_term + 0.25 * tempo_term + 0.25 * bright, -1, 1))
    arousal = float(np.clip(0.4 * np.tanh((rms_db + 22) / 8) + 0.3 * np.tanh((onset_rate - 2.5) / 1.5)
                            + 0.3 * tempo_term, -1, 1))
    if mode is None and bpm is None:
        return MoodResult(None, round(valence, 3), round(arousal, 3), inputs,
                          reason="neither key nor tempo could be heard")
    label = ("happy / energetic" if arousal >= 0 else "calm / peaceful") if valence >= 0 else \
            ("tense / aggressive" if arousal >= 0 else "sad / melancholic")
    return MoodResult(label, round(valence, 3), round(arousal, 3), inputs)

"""Key and scale: tonic and mode from chroma correlated with rotated key profiles."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Key profiles, index 0 = tonic. Sources: Krumhansl & Kessler (1982); Temperley (1999,
# "Kostka-Payne"); EDMA (Faraldo 2016, as in Essentia); Aarden (2003).
PROFILES = {
    "krumhansl": ([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88],
                  [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    "temperley": ([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0],
                  [5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0]),
    "edma": ([16.80, 0.86, 7.62, 1.87, 10.47, 8.83, 1.91, 12.56, 1.52, 6.05, 1.48, 5.96],
             [18.16, 0.69, 7.16, 12.99, 1.43, 10.71, 1.15, 14.42, 7.09, 1.63, 7.15, 4.08]),
    "aarden": ([17.77, 0.15, 14.93, 0.16, 19.80, 11.36, 0.29, 22.06, 0.15, 8.15, 0.23, 4.95],
               [18.26, 0.74, 14.05, 16.86, 0.70, 14.44, 0.70, 18.62, 4.57, 1.93, 7.38, 1.76]),
}
DEFAULT_PROFILE = "edma"  # best of the four on the dev split (benchmarks/theory_dataset.py)
# Tonal-centre cues from the chord sequence (dev-split choice): a key gains TONIC_SHARE_WEIGHT x
# the fraction of time its tonic triad sounds, and FIRST_CHORD_BONUS when that triad opens the
# piece; only keys within RERANK_WINDOW of the best profile fit can win this way (the cues settle
# relative/dominant ambiguities, they cannot invent a key).
TONIC_SHARE_WEIGHT, FIRST_CHORD_BONUS, RERANK_WINDOW = 0.25, 0.1, 0.15
MIN_TONALITY = 0.05  # chroma contrast below this: no pitched content to speak of
MIN_PITCH_CLASSES = 4  # a key needs at least this many pitch classes sounding (>= 25 % of the top one)


@dataclass
class KeyResult:
    """Estimated key. ``label`` is like ``"A minor"``; ``None`` when not determinable."""

    label: str | None
    tonic: str | None
    mode: str | None
    confidence: float  # 0..1: margin of the best key's correlation over the runner-up, scaled
    correlation: float  # Pearson r of the chroma with the best key profile
    candidates: list[tuple[str, float]] = field(default_factory=list)  # top 3 (label, r)
    profile: str = DEFAULT_PROFILE
    reason: str = ""


def key_templates(profile: str = DEFAULT_PROFILE) -> tuple[np.ndarray, list[str]]:
    """All 24 rotated profiles, shape = (24, 12), and their labels (12 major then 12 minor)."""
    major, minor = (np.asarray(p, float) for p in PROFILES[profile])
    rows, labels = [], []
    for mode, prof in (("major", major), ("minor", minor)):
        for t in range(12):
            rows.append(np.roll(prof, t))
            labels.append(f"{PITCH_NAMES[t]} {mode}")
    return np.array(rows), labels


def estimate_key(chroma: np.ndarray, profile: str = DEFAULT_PROFILE,
                 chords: list[tuple[str, float]] | None = None) -> KeyResult:
    """Key from a chromagram, optionally helped by the chord sequence.

    Parameters
    ----------
    chroma : shape = (12, n_frames), C first (or an already averaged (12,) vector)
    profile : one of :data:`PROFILES`
    chords : ``(Harte label, duration in s)`` in time order ("C:maj", "A:min", "N"...), e.g.
        from :func:`genre_model.theory.chords.estimate_chords`; how long each tonic triad sounds
        and which chord opens the piece are cues to the tonal centre.
    """
    c = chroma.mean(axis=1) if chroma.ndim == 2 else np.asarray(chroma, float)
    if not np.any(c > 0) or (c.max() - c.min()) / (c.max() + 1e-12) < MIN_TONALITY:
        return KeyResult(None, None, None, 0.0, 0.0, profile=profile,
                         reason="no stable pitch content (noise, percussion or silence)")
    active = int(np.sum(c >= 0.25 * c.max()))
    if active < MIN_PITCH_CLASSES:
        return KeyResult(None, None, None, 0.0, 0.0, profile=profile,
                         reason=f"only {active} pitch class(es) sound: a tone, not a key")
    seq = [(c, d) for c, d in (chords or []) if c != "N"]
    if chords is not None and len({c for c, _ in seq}) < 2:
        return KeyResult(None, None, None, 0.0, 0.0, profile=profile,
                         reason="no harmonic motion (one sustained tone or chord fits several keys)")
    templates, labels = key_templates(profile)
    cz = (c - c.mean()) / (c.std() + 1e-12)
    tz = (templates - templates.mean(1, keepdims=True)) / templates.std(1, keepdims=True)
    r = tz @ cz / 12.0
    score = r.copy()
    if seq:
        triads = [f"{l.split()[0]}:{'maj' if l.endswith('major') else 'min'}" for l in labels]
        total = sum(d for _, d in seq) or 1.0
        share = np.array([sum(d for c, d in seq if c == t) / total for t in triads])
        opens = np.array([t == seq[0][0] for t in triads], dtype=float)
        near = r >= r.max() - RERANK_WINDOW
        score += near * (TONIC_SHARE_WEIGHT * share + FIRST_CHORD_BONUS * opens)
    order = np.argsort(-score)
    best, second = r[order[0]], r[order[1]]
    if best < 0.3:
        return KeyResult(None, None, None, 0.0, float(best), profile=profile,
                         candidates=[(labels[i], round(float(r[i]), 3)) for i in order[:3]],
                         reason=f"chroma fits no key profile (best r = {best:.2f})")
    tonic, mode = labels[order[0]].split()
    confidence = float(np.clip((score[order[0]] - score[order[1]]) / 0.15, 0, 1) * np.clip(best, 0, 1))
    return KeyResult(labels[order[0]], tonic, mode, round(confidence, 3), round(float(best), 3),
                     [(labels[i], round(float(r[i]), 3)) for i in order[:3]], profile)

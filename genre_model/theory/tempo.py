"""Tempo (with the octave problem handled) and beat times.

Tempo: the autocorrelation of the onset envelope, summed over the first metrical multiples of
each candidate period (a comb, so the tactus whose multiples are all strong wins over a lone
subdivision), weighted by a broad log-normal prior; then the octave (x1/3 ... x3) is settled by
a conditional logit over the metrical relatives of that period (bass on the off-beats,
salience, prior, subdivision, and harmonic rhythm: every how many beats the harmony moves).
Beats: dynamic programming (Ellis 2007) over the onset envelope with the chosen period,
written in numpy (no numba compilation on a cold start).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .accents import harmonic_change, phase_scores, subdivision, zscore
from .signal import Signal

MIN_BPM, MAX_BPM = 40.0, 240.0
# Chosen by grid search on the dev split of benchmarks/theory_dataset.py (held-out split untouched):
PRIOR_BPM, PRIOR_OCTAVES = 110.0, 0.75  # log-normal prior on the tactus
# Octave choice: a conditional logit over the metrical relatives of the best period; the weights
# were fitted on the dev split (benchmarks/fit_octave.py), the features are octave_features'.
OCTAVE_WEIGHTS = {
    "log2_bpm": 0.76, "log2_bpm_sq": -1.37, "salience": 3.6, "bass_half": -3.43, "bass_thirds": -5.94,
    "ternary": -2.0, "ternary_log2_bpm": -4.34,
    "harmonic_every_2": -4.28, "harmonic_every_3": 0.33, "harmonic_every_4": 1.25, "harmonic_every_6": -1.2,
    "ternary_harmonic_every_2": 0.92, "ternary_harmonic_every_3": -0.0, "ternary_harmonic_every_4": -2.41,
    "ternary_harmonic_every_6": 0.42,
}
OCTAVE_FACTORS = (1 / 3, 1 / 2, 2 / 3, 1.0, 1.5, 2.0, 3.0)
MIN_PULSE_CLARITY = 0.25  # below: no steady pulse. Measured: white noise <= 0.13 (20 seeds), rendered music >= 0.53
MIN_ONSET_P95 = 0.8  # dB of spectral flux: steady tones stay under ~0.4 (noise is caught by clarity)


@dataclass
class TempoResult:
    """Tempo in BPM of the tactus (None when not determinable) and beat times in seconds."""

    bpm: float | None
    confidence: float  # 0..1, pulse clarity: how periodic the onset envelope is at this tempo
    beats: list[float] = field(default_factory=list)
    alternatives: list[float] = field(default_factory=list)  # half/double readings, BPM
    reason: str = ""


def _acf(o: np.ndarray) -> np.ndarray:
    o = o - o.mean()
    n = 1 << int(np.ceil(np.log2(2 * o.size)))
    f = np.fft.rfft(o, n)
    ac = np.fft.irfft(f * np.conj(f), n)[: o.size]
    return ac / (ac[0] + 1e-12)


def _ac_at(ac: np.ndarray, lag: float) -> float:
    i = int(round(lag))
    if i + 1 >= ac.size or i < 1:
        return 0.0
    return float(ac[max(i - 1, 1): i + 2].max())


def _comb_salience(ac: np.ndarray, lags: np.ndarray) -> np.ndarray:
    return np.array([sum(_ac_at(ac, k * L) / k ** 0.5 for k in (1, 2, 3, 4)) for L in lags])


def track_beats(onset: np.ndarray, period: float, tightness: float = 100.0) -> np.ndarray:
    """Beat frames by dynamic programming for a fixed ``period`` (frames per beat).

    Returns
    -------
    np.ndarray of int frame indices, shape = (n_beats,)
    """
    o = onset / (onset.std() + 1e-12)
    width = max(int(period / 8), 1)
    win = np.exp(-0.5 * (np.arange(-2 * width, 2 * width + 1) / width) ** 2)
    local = np.convolve(o, win, mode="same") - o.mean()
    n = local.size
    offsets = np.arange(-int(round(2 * period)), -int(round(period / 2)) + 1)
    penalty = -tightness * np.log(-offsets / period) ** 2
    cum = np.zeros(n)
    back = np.full(n, -1)
    lo, hi = int(offsets[0]), int(offsets[-1])
    for i in range(n):
        if i + hi < 0:  # no earlier beat fits
            cum[i] = local[i]
            continue
        start = max(i + lo, 0)
        cand = cum[start: i + hi + 1] + penalty[start - (i + lo):]
        j = int(cand.argmax())
        if cand[j] > 0:
            cum[i] = local[i] + cand[j]
            back[i] = start + j
        else:
            cum[i] = local[i]
    # last beat: the best-scoring frame within one period of the end
    tail = max(n - int(period) - 1, 0)
    i = tail + int(cum[tail:].argmax())
    beats = []
    while i >= 0:
        beats.append(i)
        i = back[i]
    beats = np.array(beats[::-1])
    # trim weak beats at the edges (fade-in / reverb tail)
    strong = local[beats] > 0.5 * np.median(local[beats]) if beats.size else beats
    if beats.size and strong.any():
        first, last = np.argmax(strong), len(strong) - np.argmax(strong[::-1])
        beats = beats[first:last]
    return beats


HARMONIC_GROUPS = (2, 3, 4, 6)  # beats per chord change tried by octave_features


def octave_features(sig: Signal, ac: np.ndarray, smax: float, bpm: float, frames: np.ndarray) -> dict[str, float]:
    """What tells a tempo reading (its BPM and tracked beat ``frames``) from its half, double,
    third or triple:

    * ``log2_bpm``, ``log2_bpm_sq``: distance from the prior's centre, and ``ternary_log2_bpm``
      the same for readings whose beats divide in three (compound tactus are slower);
    * ``salience``: log comb salience relative to the best period's;
    * ``bass_half``, ``bass_thirds``: bass onsets on the half / thirds of each beat relative to the
      beats: ~1 when the reading is too slow (its beats are really every other or third beat);
    * ``ternary``: 1 when the beats divide in three (onsets at the thirds beat the half);
    * ``harmonic_every_<g>`` (binary readings) and ``ternary_harmonic_every_<g>``: how much one
      beat in ``g`` stands out in chroma change (z-scored phase contrast). Chords mostly change
      once a bar, so a binary reading whose harmony moves every 2 beats is likely too slow, one
      whose harmony moves every 6 too fast.
    """
    p = float(np.log2(bpm / PRIOR_BPM))
    s = float(_comb_salience(ac, np.array([60.0 * sig.sr / sig.hop / bpm]))[0])
    ternary = float(subdivision(sig.onset_env, frames)[0])
    _, bass_half, bass_thirds = subdivision(sig.bass_onset_env, frames)
    change = zscore(harmonic_change(sig, frames))
    contrast = {g: float(phase_scores(change, g).max()) if change.size >= 2 * g else 0.0 for g in HARMONIC_GROUPS}
    return {
        "log2_bpm": p, "log2_bpm_sq": p * p, "salience": float(np.log(max(s, 1e-3) / smax)),
        "bass_half": bass_half, "bass_thirds": bass_thirds,
        "ternary": ternary, "ternary_log2_bpm": ternary * p,
        **{f"harmonic_every_{g}": (1 - ternary) * c for g, c in contrast.items()},
        **{f"ternary_harmonic_every_{g}": ternary * c for g, c in contrast.items()},
    }


@dataclass
class OctaveCandidate:
    """One metrical reading of the pulse: its BPM, tracked beat frames and octave features."""

    bpm: float
    frames: np.ndarray
    features: dict[str, float]

    @property
    def score(self) -> float:
        return sum(OCTAVE_WEIGHTS[k] * v for k, v in self.features.items())


def octave_candidates(sig: Signal) -> tuple[list[OctaveCandidate], float] | TempoResult:
    """The metrical relatives (x1/3 ... x3) of the most salient period and the pulse clarity, or a
    TempoResult saying why no tempo can be determined."""
    o = sig.onset_env
    fps = sig.sr / sig.hop
    if sig.duration < 4.0:
        return TempoResult(None, 0.0, reason="too short (under 4 s) to find a pulse in")
    if o.size == 0 or np.percentile(o, 95) < MIN_ONSET_P95:
        return TempoResult(None, 0.0, reason="no clear onsets (a steady tone, noise or silence)")
    ac = _acf(o)
    bpms = np.arange(MIN_BPM, MAX_BPM + 0.5, 0.5)
    sal = _comb_salience(ac, 60.0 * fps / bpms)
    prior = np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    best = float(bpms[int(np.argmax(sal * prior))])
    # pulse clarity: autocorrelation at the best period or its first multiples (in slow compound
    # meters the strongest repetition can sit one metrical level up)
    clarity = float(np.clip(max(_ac_at(ac, k * 60.0 * fps / best) for k in (1, 2, 3)), 0, 1))
    if clarity < MIN_PULSE_CLARITY:
        return TempoResult(None, round(clarity, 3), reason=f"no steady pulse (clarity {clarity:.2f})")
    smax = float(sal.max())
    out = []
    for factor in OCTAVE_FACTORS:
        bpm = best * factor
        if MIN_BPM <= bpm <= MAX_BPM:
            frames = track_beats(o, 60.0 * fps / bpm)
            out.append(OctaveCandidate(bpm, frames, octave_features(sig, ac, smax, bpm, frames)))
    return out, clarity


def estimate_tempo(sig: Signal) -> TempoResult:
    """Tempo and beats of a track (see module docstring)."""
    found = octave_candidates(sig)
    if isinstance(found, TempoResult):
        return found
    candidates, clarity = found
    candidates.sort(key=lambda c: -c.score)
    bpm, beats = candidates[0].bpm, candidates[0].frames
    times = sig.frames_to_time(beats)
    if times.size >= 4:  # refine BPM from the tracked beats: least-squares period, sub-frame precise
        period = float(np.polyfit(np.arange(times.size), times, 1)[0])
        if abs(period * bpm / 60.0 - 1) < 0.1:
            bpm = 60.0 / period
    alternatives = sorted({round(c.bpm, 1) for c in candidates[1:3]})
    return TempoResult(round(bpm, 2), round(clarity, 3), [round(float(t), 3) for t in times], alternatives)

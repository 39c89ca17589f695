"""Scoring of the theory analysers against rendered ground truth, with mir_eval's metrics.

Used by benchmarks/bench_theory.py (the table) and for choosing methods on the dev split.
"""
from __future__ import annotations

import numpy as np

import mir_eval

from benchmarks.synth import Truth

OCTAVE_FACTORS = (1.0, 2.0, 0.5, 3.0, 1 / 3)


def tempo_acc(est: float | None, ref: float) -> tuple[float, float]:
    """(Acc1, Acc2): within 4 %; within 4 % of ref x {1, 2, 1/2, 3, 1/3}."""
    if not est:
        return 0.0, 0.0
    ok = [abs(est - ref * f) <= 0.04 * ref * f for f in OCTAVE_FACTORS]
    return float(ok[0]), float(any(ok))


def key_score(est: str | None, ref: str) -> float:
    return float(mir_eval.key.weighted_score(ref, est)) if est else 0.0


def beat_f(est: list[float], ref: list[float]) -> float:
    return float(mir_eval.beat.f_measure(np.asarray(ref), np.asarray(est, dtype=float)))


def chord_majmin(est_segments: list[tuple[float, float, str]], truth: Truth) -> tuple[float, float]:
    """(majmin score, duration) for duration-weighted averaging (WCSR)."""
    ref_iv = np.array([[a, b] for a, b, _ in truth.chords])
    ref_lab = [l for _, _, l in truth.chords]
    est_iv = np.array([[a, b] for a, b, _ in est_segments])
    est_lab = [l for _, _, l in est_segments]
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(), ref_iv.max(), "N", "N")
    iv, ref_l, est_l = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    durations = mir_eval.util.intervals_to_durations(iv)
    comp = mir_eval.chord.majmin(ref_l, est_l)
    return float(mir_eval.chord.weighted_accuracy(comp, durations)), float(ref_iv.max() - ref_iv.min())


def boundary_f(est_bounds: list[float], truth: Truth, window: float = 3.0) -> float:
    ref = np.array(truth.sections + [truth.duration])
    ref_iv = np.stack([ref[:-1], ref[1:]], 1)
    est = np.unique(np.clip(np.r_[0.0, est_bounds, truth.duration], 0, truth.duration))
    est_iv = np.stack([est[:-1], est[1:]], 1)
    _, _, f = mir_eval.segment.detection(ref_iv, est_iv, window=window, trim=True)
    return float(f)

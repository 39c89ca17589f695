"""Fit the key weights (genre_model.theory.key.KEY_WEIGHTS) on the dev split.

For every dev clip of benchmarks/theory_dataset.py the 24 keys are scored by a conditional logit
on ``key.key_features`` (profile fit of the chroma and of the bass chroma, tonic / dominant /
diatonic share of the estimated chords, opening chord); the label is the true key
(benchmarks/clogit.py: L2-regularised maximum likelihood, 5-fold CV on dev, held-out only reported).

    python benchmarks/fit_key.py               # prints CV accuracy and the weights to paste
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clogit import main  # noqa: E402
from benchmarks.synth import Truth  # noqa: E402
from benchmarks.theory_dataset import split_of  # noqa: E402
from genre_model.theory import key as K  # noqa: E402
from genre_model.theory.report import analyze_signal, decode_measured  # noqa: E402


def readings(item: tuple[Path, Truth]) -> tuple[str, np.ndarray, np.ndarray]:
    """(split, features (24, n_features), is-the-true-key (24,)) of one clip."""
    wav, truth = item
    y, sr, loudness = decode_measured(wav)
    report, sig = analyze_signal(y, sr, loudness=loudness)
    chords = [(s.label, s.end - s.start) for s in report.chords.segments]
    X = K.key_features(sig.chroma.mean(1), K.DEFAULT_PROFILE, sig.bass_chroma.mean(1), chords)
    _, labels = K.key_templates()
    return split_of(truth.seed), X, np.array([label == truth.key for label in labels])


if __name__ == "__main__":
    main(readings, K.KEY_WEIGHTS, "KEY_WEIGHTS", "key (exact)")

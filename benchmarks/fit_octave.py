"""Fit the tempo-octave weights (genre_model.theory.tempo.OCTAVE_WEIGHTS) on the dev split.

For every dev clip of benchmarks/theory_dataset.py, the analyser's metrical readings of the pulse
(x1/3 ... x3 of the most salient period) are scored by a conditional logit (softmax over the
readings of one clip) on ``tempo.octave_features``; the label is the reading within 6 % of the
true tactus (benchmarks/clogit.py: L2-regularised maximum likelihood; 5-fold cross-validation on
dev says how well it generalises; the held-out split is only reported, never fitted).

    python benchmarks/fit_octave.py            # prints CV accuracy and the weights to paste
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.clogit import main  # noqa: E402
from benchmarks.synth import Truth  # noqa: E402
from benchmarks.theory_dataset import split_of  # noqa: E402
from genre_model.audio import decode_audio  # noqa: E402
from genre_model.theory import tempo as T  # noqa: E402
from genre_model.theory.signal import SR, Signal  # noqa: E402


def readings(item: tuple[Path, Truth]) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(split, features (n_readings, n_features), is-correct (n_readings,)) of one clip."""
    wav, truth = item
    found = T.octave_candidates(Signal(decode_audio(wav, target_sr=SR)[0]))
    if isinstance(found, T.TempoResult):
        return None
    cands, _ = found
    X = np.array([[c.features[k] for k in T.OCTAVE_WEIGHTS] for c in cands])
    y = np.array([abs(c.bpm / truth.tempo - 1) < 0.06 for c in cands])
    return split_of(truth.seed), X, y


if __name__ == "__main__":
    main(readings, T.OCTAVE_WEIGHTS, "OCTAVE_WEIGHTS", "octave choice")

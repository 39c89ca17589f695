"""Fit the meter weights (genre_model.theory.meter.METER_WEIGHTS), leave-one-source-out.

For every item of the rhythm sources (as benchmarks/fit_octave.py: generator dev split, rendered
scores, charted recordings) the tempo and beats are estimated, and the six signatures
(``meter.CANDIDATES``) are scored by a conditional logit on ``meter.meter_features``; the label
is the true time signature. Items whose tempo is wrong by more than 6 % are left out of fitting
(their beats are not the tactus) but count as errors in the held-out accuracy.

    python benchmarks/fit_meter.py [--lam 0.1]
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_rhythm import chart_items, generator_items, score_items  # noqa: E402
from benchmarks.clogit import accuracy, fit, loso  # noqa: E402
from benchmarks.common import write_fit  # noqa: E402
from genre_model.audio import decode_audio  # noqa: E402
from genre_model.theory import meter as M  # noqa: E402
from genre_model.theory.signal import SR, Signal  # noqa: E402
from genre_model.theory.tempo import estimate_tempo  # noqa: E402

LOSO_WEIGHTS = Path(__file__).resolve().parent / ".cache" / "meter-loso.json"
LABELS = [c[0] for c in M.CANDIDATES]


def readings(item):
    wav, truth = item
    sig = Signal(decode_audio(wav, target_sr=SR)[0])
    t = estimate_tempo(sig)
    y = np.array([lab == truth.meter for lab in LABELS])
    if t.bpm is None or len(t.beats) < M.MIN_BEATS or abs(t.bpm / truth.tempo - 1) > 0.06:
        return truth.source, np.zeros((len(LABELS), len(M.METER_WEIGHTS))), y & False
    X, _, _ = M.meter_features(sig, sig.time_to_onset_frames(t.beats))
    return truth.source, X, y


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="fit METER_WEIGHTS leave-one-source-out")
    ap.add_argument("--lam", type=float, default=0.1)
    args = ap.parse_args()
    items = generator_items("dev") + score_items() + chart_items()
    with ProcessPoolExecutor(2) as ex:
        rows = list(ex.map(readings, items, chunksize=2))
        test = list(ex.map(readings, generator_items("test"), chunksize=2))
    held, w = loso(rows, args.lam)
    names = list(M.METER_WEIGHTS)
    now = np.array(list(M.METER_WEIGHTS.values()))
    print("meter: accuracy on each source with weights fitted on the other sources (wrong tempo = error)")
    for s in held:
        sub = [(X, y) for r, X, y in rows if r == s]
        print(f"  {s:10s} n={len(sub):3d}  held-out {held[s]:.3f}  (tempo right: {np.mean([y.any() for _, y in sub]):.3f}; "
              f"weights in the code now {accuracy(now, sub):.3f})")
    loso_w = {src: fit([(X, y) for s, X, y in rows if s != src and y.any()], args.lam) for src in held}
    write_fit(LOSO_WEIGHTS, {src: dict(zip(names, map(float, v))) for src, v in loso_w.items()})
    print(f"  generator test split (fitted on scores + charts): {accuracy(loso_w['generator'], [(X, y) for _, X, y in test]):.3f}")
    print("METER_WEIGHTS =", json.dumps({k: round(float(v), 2) for k, v in zip(names, w)}))

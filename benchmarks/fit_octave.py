"""Fit the tempo-octave weights (genre_model.theory.tempo.OCTAVE_WEIGHTS), leave-one-source-out.

For every item of the rhythm sources (benchmarks/bench_rhythm.py: the generator's dev split,
rendered scores, charted recordings), the analyser's metrical readings of the pulse (x1/3 ... x3
of the most salient period) are scored by a conditional logit (softmax over one item's readings)
on ``tempo.octave_features``; the label is the reading within 4 % of the true tactus, the
tolerance of tempo Acc1 (6 % labelled near misses too; generator test split 75.0 against 79.2)
(benchmarks/clogit.py: L2-regularised maximum likelihood). Each source is reported with weights
fitted on the other sources only; the weights to ship are fitted on all of them. The generator's
held-out split (its test clips) is never fitted: it is reported with the weights fitted on the
other sources, like any other row.

    python benchmarks/fit_octave.py [--lam 0.1]   # prints held-out accuracy per source, the weights
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
from genre_model.theory import tempo as T  # noqa: E402
from genre_model.theory.signal import SR, Signal  # noqa: E402


LOSO_WEIGHTS = Path(__file__).resolve().parent / ".cache" / "octave-loso.json"  # per source: fitted without it


def readings(item) -> tuple[str, np.ndarray, np.ndarray, float] | None:
    """(source, features (n_readings, n_features), is-correct (n_readings,), true BPM) of one item."""
    wav, truth = item
    found = T.octave_candidates(Signal(decode_audio(wav, target_sr=SR)[0]))
    if isinstance(found, T.TempoResult):
        return truth.source, np.zeros((0, len(T.OCTAVE_WEIGHTS))), np.zeros(0, bool), truth.tempo
    cands, _ = found
    X = np.array([[c.features[k] for k in T.OCTAVE_WEIGHTS] for c in cands])
    y = np.array([abs(c.bpm / truth.tempo - 1) < 0.04 for c in cands])
    return truth.source, X, y, truth.tempo


def collect(workers: int = 2):
    items = ([(w, t) for w, t in generator_items("dev")] + score_items() + chart_items())
    test = generator_items("test")
    with ProcessPoolExecutor(workers) as ex:
        rows = list(ex.map(readings, items, chunksize=2))
        test_rows = list(ex.map(readings, test, chunksize=2))
    return rows, test_rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="fit OCTAVE_WEIGHTS leave-one-source-out")
    ap.add_argument("--lam", type=float, default=0.1, help="L2 weight")
    ap.add_argument("--drop", default="", help="features to leave out (comma-separated prefixes), to compare")
    ap.add_argument("--cached", action="store_true", help="reuse the readings of the last run")
    args = ap.parse_args()
    import pickle

    cache = Path(__file__).resolve().parent / ".cache" / "octave-readings.pkl"
    if args.cached and cache.exists():
        rows, test_rows = pickle.loads(cache.read_bytes())
    else:
        rows, test_rows = collect()
        cache.write_bytes(pickle.dumps((rows, test_rows)))
    names = list(T.OCTAVE_WEIGHTS)
    keep = np.array([not any(n.startswith(d) for d in args.drop.split(",") if d) for n in names])
    rows = [(s, X[:, keep] if X.shape[0] else X[:, keep], y, t) for s, X, y, t in rows]
    test_rows = [(s, X[:, keep], y, t) for s, X, y, t in test_rows]
    fit_rows = [(s, X, y) for s, X, y, _ in rows if X.shape[0]]
    held, w = loso(fit_rows, args.lam)
    now = np.array(list(T.OCTAVE_WEIGHTS.values()))[keep]
    n = {s: sum(1 for r in rows if r[0] == s) for s in held}
    reach = {s: np.mean([y.any() for r, _, y, _ in rows if r == s]) for s in held}
    print("octave choice: accuracy on each source with weights fitted on the other sources "
          "(items without a pulse count as errors; 'reachable' = a reading within 4 % exists)")
    for s in held:
        print(f"  {s:10s} n={n[s]:3d}  held-out {held[s]:.3f}  reachable {reach[s]:.3f}  "
              f"(weights in the code now: {accuracy(now, [(X, y) for r, X, y, _ in rows if r == s and X.shape[0]]):.3f})")
    loso_w = {src: fit([(X, y) for s, X, y in fit_rows if s != src and y.any()], args.lam) for src in held}
    if not args.drop:
        write_fit(LOSO_WEIGHTS, {src: dict(zip(names, map(float, v))) for src, v in loso_w.items()})
    gen_w = fit([(X, y) for s, X, y in fit_rows if s != "generator" and y.any()], args.lam)
    test = [(X, y) for _, X, y, _ in test_rows if X.shape[0]]
    print(f"  generator test split (fitted on scores + charts): {accuracy(gen_w, test):.3f}")
    full = dict.fromkeys(names, 0.0) | {k: round(float(v), 2) for k, v in zip(np.array(names)[keep], w)}
    print("OCTAVE_WEIGHTS =", json.dumps(full))

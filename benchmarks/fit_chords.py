"""Fit the chord HMM's few parameters leave-one-source-out, on independent sources.

    python benchmarks/fit_chords.py [--limit N]

Sources: the generator's DEV split (its test split is never fitted), the analysed Bach chorales
and the analysed Monteverdi madrigals (benchmarks/analyses.py). Each piece is analysed once
(chroma, bass chroma, beats, downbeats cached in memory); then every grid point re-runs only the
two chord passes and the key between them (genre_model.theory.chords.estimate_harmony; the key with
weights fitted without the piece's source: run fit_key.py first). For each source the table shows the grid point chosen on the OTHER two sources and its
WCSR on this one (held out), beside the shipped parameters and the all-source choice; the held-out
choices go to benchmarks/.cache/chords-loso.json, which bench_harmony.py applies per source.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks import theory_eval as ev
from benchmarks.common import print_table, read_fit, write_fit

LOSO = Path(__file__).resolve().parent / ".cache" / "chords-loso.json"  # read by bench_harmony.py
GRID = {
    "STEPS_PER_BEAT": [1, 2],
    "SELF_PROB_AT_DOWNBEAT": [0.3, 0.5],
    "TEMPERATURE": [0.02, 0.03, 0.05],
    "BASS_WEIGHT": [0.05, 0.1, 0.2],
    "KEY_PRIOR": [0.0, 1.0, 2.0],
}


def items(limit: int | None):
    from benchmarks.analyses import build
    from benchmarks.theory_dataset import N_CLIPS, _clip, split_of

    gen = [("generator", *_clip(s)) for s in range(N_CLIPS) if split_of(s) == "dev"][: limit or 96]
    out = gen
    analysed = build()
    for source in ("chorales", "madrigals"):
        out += [(source, w, t) for w, t in analysed if t.source == source][:limit]
    return out


def _features(job):
    from genre_model.audio import decode_audio
    from genre_model.theory.report import analyze_signal

    source, wav, truth = job
    y, sr = decode_audio(str(wav), target_sr=None)
    report, sig = analyze_signal(y, sr)
    keep = SimpleNamespace(chroma=sig.chroma, bass_chroma=sig.bass_chroma, rms=sig.rms, n_frames=sig.n_frames,
                           sr=sig.sr, hop=sig.hop)
    return source, keep, report.tempo.beats, report.meter.downbeats, truth.chords


def _score(sig, beats, downbeats, chords) -> tuple[float, float]:
    from genre_model.theory.chords import estimate_harmony
    from genre_model.theory.signal import Signal

    sig.frames_to_time = lambda f: Signal.frames_to_time(sig, f)
    sig.time_to_frames = lambda t: Signal.time_to_frames(sig, t)
    got, _ = estimate_harmony(sig, beats, downbeats)
    return ev.chord_majmin([(s.start, s.end, s.label) for s in got.segments], SimpleNamespace(chords=chords))


def evaluate(feats, params: dict) -> dict[str, float]:
    """Majmin WCSR per source under the chord ``params``; the key that the second chord pass favours
    is found with the key weights fitted without that source (fit_key.py's file, when present)."""
    import genre_model.theory.chords as C
    import genre_model.theory.key as K
    from benchmarks.fit_key import LOSO_WEIGHTS

    key_loso = read_fit(LOSO_WEIGHTS) or {}
    shipped_key = dict(K.KEY_WEIGHTS)
    for k, v in params.items():
        setattr(C, k, v)
    acc: dict[str, list] = {}
    for source, sig, beats, downbeats, chords in feats:
        K.KEY_WEIGHTS.update(key_loso.get(source, shipped_key))
        acc.setdefault(source, []).append(_score(sig, beats, downbeats, chords))
    K.KEY_WEIGHTS.update(shipped_key)
    return {s: sum(a * d for a, d in v) / sum(d for _, d in v) for s, v in acc.items()}


_FEATS: list = []


def _init(feats) -> None:
    _FEATS[:] = feats


def _evaluate_point(params: dict) -> dict[str, float]:
    return evaluate(_FEATS, params)


def main() -> None:
    import genre_model.theory.chords as C

    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    with ProcessPoolExecutor(2) as pool:
        feats = list(pool.map(_features, items(args.limit), chunksize=2))
    shipped = {k: getattr(C, k) for k in GRID}
    points = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    with ProcessPoolExecutor(2, initializer=_init, initargs=(feats,)) as pool:
        scores = list(pool.map(_evaluate_point, points))
    sources = sorted({f[0] for f in feats})
    base = evaluate(feats, shipped)
    rows, loso = [], {}
    for held in sources:
        others = [s for s in sources if s != held]
        best = max(range(len(points)), key=lambda i: np.mean([scores[i][s] for s in others]))
        loso[held] = points[best]
        rows.append([held, f"{100 * base[held]:.1f}", f"{100 * scores[best][held]:.1f}",
                     ", ".join(f"{k}={v}" for k, v in points[best].items())])
    write_fit(LOSO, loso)
    allbest = max(range(len(points)), key=lambda i: np.mean([scores[i][s] for s in sources]))
    print_table(["source", "WCSR shipped params", "WCSR held out (fitted on the others)", "chosen on the others"], rows)
    print("\nall sources: " + ", ".join(f"{k}={v}" for k, v in points[allbest].items()) + " -> "
          + ", ".join(f"{s} {100 * scores[allbest][s]:.1f}" for s in sources))


if __name__ == "__main__":
    main()

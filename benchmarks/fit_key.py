"""Fit the key weights (genre_model.theory.key.KEY_WEIGHTS), leave-one-source-out.

Sources: the generator's dev split (benchmarks/theory_dataset.py), the analysed Bach chorales and
the analysed Monteverdi madrigals (benchmarks/analyses.py: human analyses, real compositions).
For every item the 24 keys are scored by a conditional logit on ``key.key_features`` (profile fit
of the chroma and of the bass chroma, the bass at the tonic against its fifth, tonic / dominant /
diatonic share of the estimated chords, the opening chord's root); the label is the true key
(benchmarks/clogit.py: L2-regularised maximum likelihood). Each source is reported with weights
fitted on the other sources only, and those weights are written to ``key-loso.json`` for
bench_harmony.py; the weights to ship are fitted on all three. The generator's test split is
never fitted: it is reported with the weights fitted without the generator, and with the shipped
weights (clips held out, its source in the fit).

    python benchmarks/fit_key.py [--lam 0.1] [--cached]   # held-out accuracy per source, the weights
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import theory_eval as ev  # noqa: E402
from benchmarks.clogit import fit  # noqa: E402
from benchmarks.common import write_fit  # noqa: E402
from genre_model.theory import key as K  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
LOSO_WEIGHTS = CACHE / "key-loso.json"  # per source: the weights fitted without it (read by bench_harmony.py)


def readings(job) -> dict:
    """What the key logit sees of one item: mean chroma and bass chroma (12,), the first pass's chords
    (genre_model.theory.chords.estimate_harmony: the key is read before the chords are redone in it)."""
    source, split, wav, key = job
    from genre_model.theory.chords import estimate_chords
    from genre_model.theory.report import analyze_signal, decode_measured

    y, sr, loudness = decode_measured(wav)
    report, sig = analyze_signal(y, sr, loudness=loudness)
    first = estimate_chords(sig, report.tempo.beats, downbeats=report.meter.downbeats)  # what the key reads
    return {"source": source, "split": split, "key": key, "chroma": sig.chroma.mean(1),
            "bass": sig.bass_chroma.mean(1), "chords": [(s.label, s.end - s.start) for s in first.segments]}


def collect(workers: int = 2) -> list[dict]:
    from benchmarks.analyses import build as analysed
    from benchmarks.theory_dataset import build as generated, split_of

    clips, _ = generated(workers)
    jobs = [("generator", split_of(t.seed), w, t.key) for w, t in clips]
    jobs += [(t.source, "all", w, t.key) for w, t in analysed()]
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(readings, jobs, chunksize=4))


def features(r: dict) -> tuple[np.ndarray, np.ndarray]:
    """(features (24, n_features), is-the-true-key (24,)) of one item's readings."""
    X = K.key_features(r["chroma"], K.DEFAULT_PROFILE, r["bass"], r["chords"])
    tonic, mode = r["key"].split()
    truth = K.key_name(K.pitch_class(tonic), mode)
    return X, np.array([K.key_name(i % 12, "minor" if i >= 12 else "major") == truth for i in range(len(X))])


def weighted_score(w: np.ndarray, rows: list[dict]) -> float:
    """Mean MIREX weighted key score (0-100) of the keys the weights pick."""
    out = []
    for r in rows:
        i = int(np.argmax(features(r)[0] @ w))
        out.append(ev.key_score(K.key_name(i % 12, "minor" if i >= 12 else "major"), r["key"]))
    return 100 * float(np.mean(out))


def main() -> None:
    ap = argparse.ArgumentParser(description="fit KEY_WEIGHTS leave-one-source-out")
    ap.add_argument("--lam", type=float, default=0.1, help="L2 weight")
    ap.add_argument("--cached", action="store_true", help="reuse the readings of the last run")
    args = ap.parse_args()
    cache = CACHE / "key-readings.pkl"
    if args.cached and cache.exists():
        rows = pickle.loads(cache.read_bytes())
    else:
        rows = collect()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(rows))
    fitted = [r for r in rows if r["split"] != "test"]
    sources = ["generator", "chorales", "madrigals"]
    reported = {s: [r for r in rows if r["source"] == s and r["split"] != "dev"] for s in sources}
    now = np.array(list(K.KEY_WEIGHTS.values()))
    loso = {}
    print("key weighted score (MIREX) per source, with weights fitted on the other sources "
          "(generator: its test split)")
    for src in sources:
        w = fit([features(r) for r in fitted if r["source"] != src], args.lam)
        loso[src] = dict(zip(K.KEY_WEIGHTS, map(float, w)))
        print(f"  {src:10s} n={len(reported[src]):3d}  held out {weighted_score(w, reported[src]):.1f}  "
              f"(weights in the code now: {weighted_score(now, reported[src]):.1f})")
    write_fit(LOSO_WEIGHTS, loso)
    w = fit([features(r) for r in fitted], args.lam)
    print(f"  generator test split with the weights fitted on all three (its dev split in the fit): "
          f"{weighted_score(w, reported['generator']):.1f}")
    print("KEY_WEIGHTS =", json.dumps({k: round(float(v), 2) for k, v in zip(K.KEY_WEIGHTS, w)}))


if __name__ == "__main__":
    main()

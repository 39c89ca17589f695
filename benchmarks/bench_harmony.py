"""Key and chords per independent source, with baselines in the same run.

    python benchmarks/bench_harmony.py [--limit N] [--systems ours,librosa,essentia]

Sources (each its own row):

* ``generator``: the held-out test split of benchmarks/theory_dataset.py (our own MIDI generator);
* ``chorales``: 19 Bach chorales with human Roman-numeral analyses (benchmarks/analyses.py);
* ``madrigals``: 47 Monteverdi madrigals with human analyses (same module).

Systems: ``ours`` (genre_model.theory.analyze, with the chord HMM's parameters and the key logit's
weights fitted on the other two sources: run benchmarks/fit_chords.py and fit_key.py first), ``librosa`` (chroma_cqt; the Krumhansl profile for
the key; per-beat best triad template for chords: the plain recipe, see bench_theory.py) and
``essentia`` (KeyExtractor with its default profile; ChordsDetection on HPCP, 2-s windows; AGPL,
benchmark-only: ``pip install -r requirements-bench.txt``).

Columns: key weighted score (MIREX: 1 same key, 0.5 fifth, 0.3 relative, 0.2 parallel), the
share of exactly right keys, and chord majmin WCSR (duration-weighted over the pieces; mir_eval
leaves reference chords other than maj/min and their sevenths out).
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import soundfile as sf

from benchmarks import theory_eval as ev
from benchmarks.common import print_table, read_fit


def generator_items(limit: int | None = None):
    from benchmarks.theory_dataset import N_CLIPS, _clip, split_of

    seeds = [s for s in range(N_CLIPS) if split_of(s) == "test"][:limit]
    return [("generator", *_clip(s)) for s in seeds]


def analysed_items(limit: int | None = None):
    from benchmarks.analyses import build

    items = build()
    out = []
    for source in ("chorales", "madrigals"):
        out += [(source, wav, t) for wav, t in items if t.source == source][:limit]
    return out


def held_out_parameters(source: str) -> bool:
    """Load into the analysers the chord HMM's parameters and the key logit's weights fitted
    without ``source`` (fit_chords.py and fit_key.py write them); False (shipped values,
    in-sample) when either file or the source is missing, or a file was fitted on other analyser
    code (:func:`benchmarks.common.read_fit`)."""
    import genre_model.theory.chords as C
    import genre_model.theory.key as K
    from benchmarks.fit_chords import LOSO
    from benchmarks.fit_key import LOSO_WEIGHTS

    chords_fit, key_fit = read_fit(LOSO), read_fit(LOSO_WEIGHTS)
    if chords_fit is None or key_fit is None:
        return False
    chords, key = chords_fit.get(source), key_fit.get(source)
    if chords is None or key is None:
        return False
    for k, v in chords.items():
        setattr(C, k, v)
    K.KEY_WEIGHTS.update(key)
    return True


def ours(wav: Path) -> dict:
    from genre_model.theory import analyze

    r = analyze(str(wav))
    return {"key": r.key.label, "chords": [(s.start, s.end, s.label) for s in r.chords.segments]}


def librosa_recipe(wav: Path) -> dict:
    from benchmarks.bench_theory import _load, librosa_baseline

    got = librosa_baseline(*_load(wav))
    return {"key": got["key"], "chords": got["chords"]}


_ESSENTIA_ROOTS = {"A#": "Bb", "C#": "C#", "D#": "Eb", "F#": "F#", "G#": "Ab"}


def essentia_recipe(wav: Path) -> dict:
    import essentia.standard as es

    y, sr = sf.read(wav, dtype="float32")
    y = np.ascontiguousarray(y.mean(1) if y.ndim == 2 else y)
    if sr != 44100:
        import soxr

        y, sr = soxr.resample(y, sr, 44100).astype(np.float32), 44100
    key, scale, _ = es.KeyExtractor(sampleRate=sr)(y)
    frame, hop = 4096, 2048
    window, spectrum = es.Windowing(type="blackmanharris62"), es.Spectrum()
    peaks = es.SpectralPeaks(orderBy="magnitude", magnitudeThreshold=1e-5, minFrequency=40, maxFrequency=5000,
                             maxPeaks=60, sampleRate=sr)
    hpcp = es.HPCP(sampleRate=sr)
    pcp = [hpcp(*peaks(spectrum(window(f)))) for f in es.FrameGenerator(y, frameSize=frame, hopSize=hop)]
    labels, _ = es.ChordsDetection(hopSize=hop, sampleRate=sr, windowSize=2)(np.array(pcp, dtype=np.float32))
    t = hop / sr
    segs = []
    for i, lab in enumerate(labels):
        minor = lab.endswith("m")
        root = lab[:-1] if minor else lab
        segs.append((i * t, (i + 1) * t, f"{_ESSENTIA_ROOTS.get(root, root)}:{'min' if minor else 'maj'}"))
    return {"key": f"{_ESSENTIA_ROOTS.get(key, key)} {scale}", "chords": segs}


SYSTEMS = {"ours": ours, "librosa": librosa_recipe, "essentia": essentia_recipe}


def _run(job):
    system, source, wav, truth, shipped = job
    if system == "ours" and not shipped and not held_out_parameters(source):
        raise SystemExit("run benchmarks/fit_chords.py and benchmarks/fit_key.py first: ours is reported with "
                         "chord and key parameters fitted on the other sources")
    est = SYSTEMS[system](wav)
    key = ev.key_score(est["key"], truth.key)
    wcsr, dur = ev.chord_majmin(est["chords"], SimpleNamespace(chords=truth.chords))
    return system, source, key, float(est["key"] is not None and key == 1.0), wcsr, dur


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="pieces per source at most")
    ap.add_argument("--systems", default="ours,librosa,essentia")
    ap.add_argument("--shipped", action="store_true",
                    help="ours with its shipped chord parameters (in-sample rows; e.g. an older release)")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    if "essentia" in systems:
        try:
            import essentia  # noqa: F401
        except ImportError:
            print("(essentia not installed: pip install -r requirements-bench.txt; its rows are left out)")
            systems.remove("essentia")
    items = generator_items(args.limit) + analysed_items(args.limit)
    jobs = [(s, source, wav, t, args.shipped) for source, wav, t in items for s in systems]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_run, jobs, chunksize=4))
    rows = []
    for source in ("generator", "chorales", "madrigals"):
        for s in systems:
            got = [r for r in results if r[0] == s and r[1] == source]
            if not got:
                continue
            keys, exact = np.mean([r[2] for r in got]), np.mean([r[3] for r in got])
            wcsr = np.sum([r[4] * r[5] for r in got]) / np.sum([r[5] for r in got])
            note = ""
            if s == "ours" and args.shipped:
                note = "shipped parameters"
            elif s == "ours":
                note = "chords and key: fitted on the other sources"
            rows.append([source, s, len(got), f"{100 * keys:.1f}", f"{100 * exact:.1f}", f"{100 * wcsr:.1f}", note])
    print_table(["source", "system", "n", "key weighted", "key exact %", "chords majmin WCSR", "note"], rows)


if __name__ == "__main__":
    main()

"""Accuracy and speed of the music-theory report, on rendered music with known ground truth.

    python benchmarks/bench_theory.py [--limit N]

Accuracy rows: our analysers vs the plain librosa recipe (librosa.beat.beat_track; chroma_cqt +
Krumhansl templates for key; chroma_cqt + triad templates, frame argmax on librosa's beats, for
chords; librosa has no meter estimator, so its row guesses 4/4, the most common meter). Metrics
from mir_eval: key weighted score (MIREX), tempo Acc1 (4 %) / Acc2 (octave errors allowed),
beat F-measure (70 ms), meter accuracy, chord majmin WCSR, boundary hit rate F at 3 s.
"dev" is the split methods and parameters were chosen on; "test" is held out.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import soundfile as sf

from benchmarks import theory_eval as ev
from benchmarks.common import print_table
from benchmarks.synth import Truth, make_piece
from benchmarks.theory_dataset import CACHE, build, split_of


def _load(wav: Path) -> np.ndarray:
    y, sr = sf.read(wav, dtype="float32")
    return (y.mean(1) if y.ndim == 2 else y), sr


def librosa_baseline(y: np.ndarray, sr: int) -> dict:
    import librosa

    from genre_model.theory.chords import LABELS, beat_sync
    from genre_model.theory.key import estimate_key

    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=512)
    times = librosa.frames_to_time(beats, sr=sr, hop_length=512)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512)
    key = estimate_key(chroma, profile="krumhansl").label
    bounds = np.unique(np.r_[0, beats, chroma.shape[1]])
    C = beat_sync(chroma, bounds)
    T = []
    for third in (4, 3):
        for r in range(12):
            t = np.zeros(12)
            t[[r, (r + third) % 12, (r + 7) % 12]] = 1
            T.append(t / np.sqrt(3))
    lab = (np.array(T) @ (C / np.maximum(np.linalg.norm(C, axis=0), 1e-9))).argmax(0)
    bt = librosa.frames_to_time(bounds, sr=sr, hop_length=512)
    segs = [(bt[i], bt[i + 1], LABELS[l]) for i, l in enumerate(lab)]
    return {"bpm": float(np.atleast_1d(tempo)[0]), "beats": list(times), "key": key, "meter": "4/4",
            "chords": segs, "bounds": None}


def ours(path: Path) -> dict:
    from genre_model.theory import analyze

    r = analyze(path)
    return {"bpm": r.tempo.bpm, "beats": r.tempo.beats, "key": r.key.label, "meter": r.meter.time_signature,
            "chords": [(s.start, s.end, s.label) for s in r.chords.segments], "bounds": r.structure.boundaries}


def evaluate_one(args) -> dict:
    wav, truth_d, kind = args
    truth = Truth(**truth_d)
    y, sr = _load(wav)
    out = {"split": split_of(truth.seed) if kind == "clip" else "forms", "kind": kind}
    for name, est in (("ours", ours(wav)), ("librosa", librosa_baseline(y, sr))):
        a1, a2 = ev.tempo_acc(est["bpm"], truth.tempo)
        cs, dur = ev.chord_majmin(est["chords"], truth)
        out[name] = {"key": ev.key_score(est["key"], truth.key), "acc1": a1, "acc2": a2,
                     "beat_f": ev.beat_f(est["beats"], truth.beats), "meter": float(est["meter"] == truth.meter),
                     "chord": cs, "dur": dur}
        if kind == "form":
            bounds = est["bounds"]
            if bounds is None:  # librosa: agglomerative segmentation into as many parts as the form has
                import librosa

                chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512)
                b = librosa.segment.agglomerative(chroma, len(truth.form))
                bounds = list(librosa.frames_to_time(b, sr=sr, hop_length=512)[1:])
            out[name]["bound_f"] = ev.boundary_f(bounds, truth)
    return out


def accuracy(limit: int | None) -> None:
    clips, forms = build()
    jobs = [(w, t.to_dict(), "clip") for w, t in clips[:limit]] + [(w, t.to_dict(), "form") for w, t in forms[:limit]]
    with ProcessPoolExecutor(2) as ex:
        results = list(ex.map(evaluate_one, jobs, chunksize=4))
    rows = []
    for split in ("dev", "test"):
        sub = [r for r in results if r["split"] == split]
        forms_ = [r for r in results if r["kind"] == "form"]
        for name in ("ours", "librosa"):
            m = [r[name] for r in sub]
            wcsr = sum(x["chord"] * x["dur"] for x in m) / sum(x["dur"] for x in m)
            bf = np.mean([r[name]["bound_f"] for r in forms_]) if forms_ else float("nan")
            rows.append([split, name, len(m), *(f"{np.mean([x[k] for x in m]):.3f}" for k in ("key", "acc1", "acc2", "beat_f", "meter")),
                         f"{wcsr:.3f}", f"{bf:.3f}" if split == "test" else "-"])
    print("Accuracy on rendered music (FluidR3 GM soundfont); goals: key >= 0.90, Acc1 >= 0.95, "
          "meter >= 0.90, beat F >= 0.90, chord majmin >= 0.80\n")
    print_table(["split", "method", "clips", "key (MIREX)", "tempo Acc1", "tempo Acc2", "beat F", "meter",
                 "chord majmin WCSR", f"boundary F@3s ({len([r for r in results if r['kind'] == 'form'])} form pieces)"], rows)


def speed() -> None:
    from genre_model.theory import analyze

    tmp = CACHE / "speed"
    wav30, _ = make_piece(777, tmp, seconds=30.0, meter="4/4", drums=True)
    wav240, _ = make_piece(778, tmp, seconds=240.0, form="ABACABAC", meter="4/4", drums=True)
    import soxr

    y, sr = sf.read(wav240, dtype="float32")
    wav44 = tmp / "song-44k.wav"
    sf.write(wav44, soxr.resample(y, sr, 44100), 44100)  # 44.1 kHz, the usual upload rate
    inputs = [("30-s clip", wav30), ("4-min song", wav240), ("4-min song, 44.1 kHz", wav44)]
    from benchmarks.real_music import wesnoth_tracks

    battle = [t for t in wesnoth_tracks() if t.endswith("/battle.ogg")]
    if battle:  # what people upload: a real 44.1 kHz stereo recording
        z, zr = sf.read(battle[0], dtype="float32", frames=240 * 44100)
        sf.write(tmp / "battle-4min-stereo.wav", z, zr)
        inputs.append(("4-min real recording, 44.1 kHz stereo WAV", tmp / "battle-4min-stereo.wav"))
    analyze(wav30)
    rows = []
    for name, wav in inputs:
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            analyze(wav)
            ts.append(time.perf_counter() - t)
        rows.append([name, f"{statistics.median(ts):.3f}", f"{min(ts):.3f}"])
    code = ("import time; t=time.perf_counter(); from genre_model.theory import analyze; "
            f"analyze({str(wav30)!r}); print(time.perf_counter()-t)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t
    rows.append(["process start -> first report (30-s clip, cold)", f"{wall:.3f}", f"in-process {float(out.stdout.split()[-1]):.3f}"])
    print("\nSpeed (this machine, warm unless stated); goals: 30-s clip <= 0.5 s, 4-min song <= 3 s\n")
    print_table(["input", "median s", "min s / note"], rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    if not args.skip_accuracy:
        accuracy(args.limit)
    speed()

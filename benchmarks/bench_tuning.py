"""Tuning estimates on real recordings: do excerpts agree with their whole track, and does a track
played sharp read that much sharper?

There is no tuning truth for these recordings, so two consistencies are measured instead, on
Debian's ``wesnoth-music`` orchestral tracks (real recordings no one here made):

* **excerpt vs whole**: each 45-s excerpt (starting at 0, 45, 90 and 135 s where the track is that
  long) against the same system's reading of the whole track, in cents;
* **played sharp**: each excerpt and whole track resampled to sound ``SHIFT`` cents sharp (as a tape
  or a sampler read faster) against the system's reading of the original: the error from ``SHIFT``.

Systems, on the same signal: ``ours`` (``Signal.tuning``: the magnitude-weighted circular mean of the
peak deviations, ``genre_model.theory.signal.tuning_of_peaks``), ``librosa`` (``librosa.pitch_tuning``
on the same peaks, i.e. ``librosa.estimate_tuning``'s answer: the top bin of a 1-cent histogram),
``essentia`` (``TuningFrequencyExtractor``, AGPL: a benchmark-only extra, left out when missing).
Rendered scores are not used: FluidSynth's instrument samples sit up to ~15 cents off A440 by
themselves, so 0 is not their truth.

    python benchmarks/bench_tuning.py [--tracks 24] [--workers 2]
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import print_table  # noqa: E402

EXCERPT_S, STARTS_S, SHIFT = 45, (0, 45, 90, 135), 30.0  # s, s, cents


def essentia_cents(y: np.ndarray, sr: int) -> float | None:
    try:
        import essentia.standard as es
    except ImportError:
        return None
    freq = es.TuningFrequencyExtractor(frameSize=4096, hopSize=2048)(y.astype(np.float32))
    f = float(np.median(freq)) if len(freq) else 440.0
    return 1200 * np.log2(f / 440.0)


def readings(y: np.ndarray, sr: int) -> dict[str, float]:
    """Cents per system for one signal."""
    import librosa

    from genre_model.theory.signal import Signal, strong_peaks, tuning_of_peaks

    pitch, mag = Signal(y, sr).tuning_peaks()
    strong = strong_peaks(pitch, mag)[0]
    out = {"ours": 100 * tuning_of_peaks(pitch, mag),
           "librosa": 100 * float(librosa.pitch_tuning(strong, resolution=0.01)) if strong.size else 0.0}
    e = essentia_cents(y, sr)
    if e is not None:
        out["essentia"] = e
    return out


def one_track(path: str) -> tuple[str, list[tuple[str, float, dict]]]:
    """[(excerpt name, shift in cents, {system: cents})] for one track."""
    import soxr

    from genre_model.audio import decode_audio
    from genre_model.theory.signal import SR

    y = decode_audio(path, target_sr=SR)[0]
    parts = [("whole", y)] + [(f"{s}s", y[s * SR:(s + EXCERPT_S) * SR]) for s in STARTS_S
                              if y.size >= (s + EXCERPT_S) * SR]
    out = []
    for name, seg in parts:
        for shift in (0.0, SHIFT):
            x = seg if not shift else soxr.resample(seg, SR * 2 ** (shift / 1200), SR).astype(np.float32)
            out.append((name, shift, readings(x, SR)))
    return Path(path).name, out


def wrap(cents: float) -> float:
    return (cents + 50) % 100 - 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from benchmarks.real_music import INSTALL_HINT, wesnoth_tracks

    tracks = wesnoth_tracks()[: args.tracks]
    if not tracks:
        sys.exit(f"no real recordings installed: {INSTALL_HINT}")
    with ProcessPoolExecutor(args.workers) as ex:
        results = list(ex.map(one_track, tracks))
    systems = list(results[0][1][0][2])
    rows = []
    for s in systems:
        vs_whole, sharp = [], []
        for _, res in results:
            d = {(n, sh): r[s] for n, sh, r in res}
            vs_whole += [abs(wrap(v - d[("whole", 0.0)])) for (n, sh), v in d.items() if sh == 0 and n != "whole"]
            sharp += [abs(wrap(v - d[(n, 0.0)] - SHIFT)) for (n, sh), v in d.items() if sh]
        q = lambda e: f"{np.median(e):.1f} / {np.percentile(e, 90):.1f} / {np.max(e):.1f}"  # noqa: E731
        rows.append([s, len(results), q(vs_whole), len(vs_whole), q(sharp), len(sharp)])
    print("wesnoth-music tracks; |cents| median / 90th percentile / max")
    print_table(["system", "tracks", f"{EXCERPT_S}-s excerpt vs whole track", "n",
                 f"played {SHIFT:.0f} cents sharp: error", "n"], rows)


if __name__ == "__main__":
    main()

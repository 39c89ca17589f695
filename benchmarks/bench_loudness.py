"""Loudness on real stereo recordings: this package (libebur128 through pyebur128, channels kept,
streamed while decoding) against ffmpeg's ``ebur128`` filter (the reference a mastering engineer
would reach for) and pyloudnorm 0.2, in one run; and what the old mono downmix read.

    python benchmarks/bench_loudness.py [--tracks 8]

Columns: integrated loudness (LUFS), loudness range (LU) and true peak (dBTP) from each meter,
the difference to ffmpeg, and seconds. "ours" is genre_model.theory.report.decode_measured
(decode + meter, whole track); "pyloudnorm" measures the decoded channels in memory (float64);
"mono" is what the report read before the channels were kept (pyloudnorm on the mono downmix).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

from benchmarks.common import print_table


def ffmpeg_loudness(path: str) -> tuple[float, float, float]:
    """(integrated LUFS, LRA LU, true peak dBTP) from ffmpeg's ebur128 filter (peak=true)."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-i", str(path),
                          "-af", "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True)
    tail = out.stderr[out.stderr.rfind("Summary"):]
    if not tail:
        raise RuntimeError(f"ffmpeg ebur128 failed on {path}: {out.stderr[-300:]}")

    def grab(key: str) -> float:
        return float(re.search(key + r":\s+(-?[\d.]+|-inf)", tail).group(1))

    return grab("I"), grab("LRA"), grab("Peak")


def main() -> None:
    import pyloudnorm
    import soundfile as sf

    from benchmarks.real_music import INSTALL_HINT, wesnoth_tracks
    from genre_model.theory.report import decode_measured

    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=8)
    args = ap.parse_args()
    tracks = wesnoth_tracks()[:: 5][: args.tracks]
    if not tracks:
        sys.exit(f"needs real recordings: {INSTALL_HINT}")
    rows, d_ours, d_pln = [], [], []
    for path in tracks:
        t = time.perf_counter()
        fI, fL, fP = ffmpeg_loudness(path)
        t_ff = time.perf_counter() - t
        t = time.perf_counter()
        _, _, ld = decode_measured(path)
        t_ours = time.perf_counter() - t
        y, sr = sf.read(path, dtype="float64", always_2d=True)
        meter = pyloudnorm.Meter(sr)
        t = time.perf_counter()
        pI, pL = meter.integrated_loudness(y), meter.loudness_range(y)
        t_pln = time.perf_counter() - t
        mono = meter.integrated_loudness(y.mean(axis=1))
        oI, oL, oP = ld.integrated_lufs, ld.loudness_range_lu, 20 * np.log10(ld.true_peak)
        d_ours.append(oI - fI)
        d_pln.append(pI - fI)
        rows.append([Path(path).name, f"{y.shape[0] / sr:.0f}", y.shape[1],
                     f"{fI:.1f} / {fL:.1f} / {fP:.1f}", f"{t_ff:.2f}",
                     f"{oI:.2f} / {oL:.2f} / {oP:.2f}", f"{oI - fI:+.2f}", f"{oL - fL:+.1f}", f"{oP - fP:+.2f}", f"{t_ours:.2f}",
                     f"{pI:.2f} / {pL:.2f}", f"{pI - fI:+.2f}", f"{t_pln:.2f}", f"{mono:.2f} ({mono - fI:+.1f})"])
    print_table(["track", "s", "ch", "ffmpeg I / LRA / TP", "ffmpeg s", "ours I / LRA / TP", "ours dI", "ours dLRA",
                 "ours dTP", "ours s (decode+meter)", "pyloudnorm I / LRA", "pyloudnorm dI", "pyloudnorm s (meter only)",
                 "mono downmix I (d)"], rows)
    print(f"\nintegrated loudness against ffmpeg (ffmpeg prints 0.1 LU steps): ours max |d| "
          f"{np.max(np.abs(d_ours)):.2f} LU, pyloudnorm max |d| {np.max(np.abs(d_pln)):.2f} LU over {len(rows)} tracks")


if __name__ == "__main__":
    main()

